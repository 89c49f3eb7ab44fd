"""The aggregation: read the runs, compute every number, and write RESULTS.md, its figures
and summary.json all at once."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from cpose_jax import atomic_io
from experiments.report.criteria import WORLD_COMPARED, decide, world_comparisons
from experiments.report.diagnostics import refiner_diagnostic, scale_diagnostic
from experiments.report.figures import plot_curves, plot_decomposition, plot_fakes
from experiments.report.markdown import results_markdown
from experiments.report.runs import default_check_dir, read_runs
from experiments.report.settings import (
    RANKED,
    REPO,
    TABLE4_ROWS,
    TABLE5_ROWS,
    WORLDS,
    setting_facts,
)
from experiments.report.stats import (
    CHECK_SEED,
    budget_check,
    fakes_at_end,
    paired_changes,
    selection_gap,
)


def aggregate(
    runs_dir: Path,
    seeds: Sequence[int],
    out_md: Path,
    epoch_scale: float,
    diagnose: bool = True,
    *,
    check_dir: Path | None = None,
) -> dict:
    """Read the runs (and seed 0 of the 2x runs in `check_dir`, default
    `default_check_dir(runs_dir)`), write `out_md` and `<its folder>/results/` (figures,
    summary.json) all at once; return the summary. `diagnose=False` skips the diagnostics
    that load models (scale, refiner)."""
    runs, missing = read_runs(runs_dir, seeds)
    check_dir = default_check_dir(runs_dir) if check_dir is None else check_dir
    check_runs, _ = read_runs(check_dir, [CHECK_SEED])
    out_dir = out_md.parent / "results"
    t4, t5 = list(TABLE4_ROWS), list(TABLE5_ROWS)
    figures = {
        "curves.png": plot_curves(runs, t4),
        "curves_detected.png": plot_curves(runs, t5),
        "error_decomposition.png": plot_decomposition(runs, t4 + t5),
        "fakes.png": plot_fakes(runs),
    }
    diag, figures["scale_diagnostic.png"] = scale_diagnostic(runs_dir) if diagnose else ({}, None)
    ref_diag = refiner_diagnostic(runs_dir) if diagnose else {}
    summary = {
        name: [
            {
                "seed": r["seed"],
                "model": r["model"],
                "results": r["results"],
                "wall_s": r["wall_s"],
                "selection": selection_gap(r),
                "fakes_at_end": fakes_at_end(r),
                "movements": r["movements"],
            }
            for r in group
        ]
        for name, group in runs.items()
    }
    summary["decision"] = decide(runs)
    summary["budget_check"] = budget_check(runs, check_runs, RANKED)
    summary["budget_check"]["x2"] = {
        name: group[0]["results"] for name, group in check_runs.items()
    }
    summary["world_comparisons"] = [
        {
            "world": world.name,
            "row": row,
            "baseline": base,
            "changes": {
                f"{s}/{m}": paired_changes(runs, base, row, s, m) for s, m in WORLD_COMPARED
            },
        }
        for world in WORLDS
        for _, row, base in world_comparisons(world)
    ]
    summary["scale_diagnostic"] = diag
    summary["refiner_diagnostic"] = ref_diag

    analysis_path = REPO / "experiments" / "report_analysis.md"
    analysis = analysis_path.read_text() if analysis_path.exists() else "(no analysis yet)\n"
    md = results_markdown(
        runs,
        seeds=seeds,
        missing=missing,
        runs_dir=runs_dir,
        check_runs=check_runs,
        check_dir=check_dir,
        epoch_scale=epoch_scale,
        diag=diag,
        ref_diag=ref_diag,
        analysis=analysis,
        facts=setting_facts(),
    )
    # Everything at once, all or nothing (a crash while plotting leaves the old report intact).
    files = {out_dir / n: atomic_io.figure_bytes(f) for n, f in figures.items() if f is not None}
    files[out_dir / "summary.json"] = atomic_io.json_bytes(atomic_io.finite_or_null(summary))
    files[out_md] = md
    atomic_io.write_files(files)
    return summary
