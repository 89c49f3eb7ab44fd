"""The markdown tables of RESULTS.md, one function per table."""

from __future__ import annotations

import math
from collections.abc import Sequence

from experiments.report.criteria import (
    COMPARED,
    COMPARISONS,
    CRITERIA,
    METRIC_NAMES,
    SET_NAMES,
)
from experiments.report.diagnostics import DIAGNOSED, LARGE, SMALL
from experiments.report.settings import (
    BY_NAME,
    COLUMNS,
    SETS,
    SETTINGS,
    WORLDS,
    Setting,
    named_in,
)
from experiments.report.stats import (
    CHECK_SEED,
    FAKE_STATS,
    MOVEMENT_GROUPS,
    RANKED_BY,
    fakes_at_end,
    fmt,
    paired_changes,
    paired_diff,
    scale_stats,
    selection_gap,
    total_steps,
    value,
)


def table(rows: list[list[str]], headers: Sequence[str]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def results_table(runs: dict, names: Sequence[str]) -> str:
    rows = []
    for name in names:
        group = runs.get(name, [])
        cells = [BY_NAME[name].label, str(len(group))]
        for s, metric, _ in COLUMNS:
            cells.append(fmt([r["results"][s][metric] for r in group if metric in r["results"][s]]))
        rows.append(cells)
    return table(rows, ["method", "seeds", *(h for _, _, h in COLUMNS)])


def decision_table(decision: dict, seeds: Sequence[int], criteria=CRITERIA) -> str:
    """One row per criterion: the per-seed changes (✓: the seed passes), their means, the
    number of seeds passing and the verdict."""
    rows = []
    for c in criteria:
        ev = decision["criteria"][c.key]
        cells = [f"({c.key}) {c.text}", f"`{c.row}` − `{c.baseline}`", c.needs()]
        for k in seeds:
            if k not in ev["seed_passes"]:
                cells.append("-")
                continue
            values = " / ".join(f"{ev['changes'][x.name][k]:+.1f} {x.unit}" for x in c.checks)
            cells.append(f"{values} {'✓' if ev['seed_passes'][k] else '✗'}")
        cells.append(
            " / ".join(f"{fmt(list(ev['changes'][x.name].values()))} {x.unit}" for x in c.checks)
        )
        cells.append(f"{ev['passed']}/{ev['n']}")
        cells.append(f"**{ev['verdict']}**" if c.decides else f"({ev['verdict']})")
        rows.append(cells)
    headers = ["criterion", "row − baseline", "needs", *(f"seed {k}" for k in seeds)]
    return table(rows, [*headers, "mean ± std", "seeds passing", "verdict"])


def comparisons_table(runs: dict) -> str:
    rows = [
        [
            question,
            f"`{row}` − `{base}`",
            *(paired_diff(runs, base, row, s, m) for s, m in COMPARED),
        ]
        for row, base, question in COMPARISONS
    ]
    headers = [f"{SET_NAMES[s]} {METRIC_NAMES[m]}" for s, m in COMPARED]
    return table(rows, ["question", "row − baseline", *headers])


def budget_check_table(runs: dict, check_runs: dict, check: dict) -> str:
    rows = []
    for name in check["settings"]:
        pair = [
            next(r for r in group.get(name, []) if r["seed"] == CHECK_SEED)
            for group in (runs, check_runs)
        ]
        cells = [BY_NAME[name].full_label]
        cells.append(" → ".join(str(total_steps(r["stages"])) for r in pair))
        for s, m in RANKED_BY:
            cells.append(" → ".join(f"{r['results'][s][m]:.1f}" for r in pair))
        rows.append(cells)
    headers = [f"{SET_NAMES[s]} {METRIC_NAMES[m]}" for s, m in RANKED_BY]
    return table(rows, ["setting (seed 0)", "steps", *headers])


def decomposition_table(runs: dict, names: Sequence[str]) -> str:
    rows = []
    for name in names:
        group = runs.get(name, [])
        for s in ("lab_val", "wild_test"):
            res = [r["results"][s] for r in group]
            if not res:
                continue
            bias = [scale_stats(x)[0] for x in res]
            spread = [scale_stats(x)[1] for x in res]
            rows.append(
                [
                    BY_NAME[name].full_label,
                    s,
                    fmt([x["mpjpe"] for x in res]),
                    fmt([x["n_mpjpe"] for x in res]),
                    fmt([x["pa_mpjpe"] for x in res]),
                    fmt(bias),
                    fmt(spread),
                ]
            )
    return table(
        rows,
        ["method", "set", "MPJPE", "N-MPJPE", "PA-MPJPE", "scale bias %", "scale spread %"],
    )


def selection_table(runs: dict, names: Sequence[str]) -> str:
    rows = []
    for name in names:
        gaps = [selection_gap(r) for r in runs.get(name, [])]
        cells = [BY_NAME[name].full_label]
        for s in SETS:
            sel = [g[s]["selected"] for g in gaps if s in g]
            ora = [g[s]["oracle"] for g in gaps if s in g]
            cells += [fmt(sel), fmt(ora), fmt([a - b for a, b in zip(sel, ora)])]
        rows.append(cells)
    headers = ["method"]
    for s in SETS:
        headers += [f"{s} selected", f"{s} oracle", f"{s} gap"]
    return table(rows, headers)


def budget_table(runs: dict, settings: Sequence[Setting]) -> str:
    rows = []
    for st in settings:
        group = runs.get(st.name, [])
        if not group:
            continue
        stages = ", ".join(
            f"{s['name']}:{s['epochs']}x{s['steps_per_epoch']}" for s in group[0]["stages"]
        )
        steps = total_steps(group[0]["stages"])
        walls = [r["wall_s"] / 60 for r in group if r["wall_s"]]
        rows.append(
            [
                st.full_label,
                f"`{stages}`",
                str(steps),
                f"{steps * group[0]['batch'] / 1e3:.0f}k",
                fmt(walls),
                " ".join(f"{r['seed']}:{r['model'].split('(')[-1].rstrip(')')}" for r in group),
            ]
        )
    return table(
        rows,
        ["setting", "stages (epochs x steps/epoch)", "steps", "pairs seen", "wall min", "selected"],
    )


def fakes_table(runs: dict) -> str:
    """Every setting whose runs log the fakes: each statistic at the end of training, mean ±
    std over seeds."""
    rows = []
    for st in SETTINGS:
        ends = [fakes_at_end(r) for r in runs.get(st.name, [])]
        if not any(ends):
            continue
        cells = [st.full_label, str(len(ends))]
        cells += [fmt([e[k] for e in ends if k in e], 2) for k, _ in FAKE_STATS]
        rows.append(cells)
    return table(rows, ["setting", "seeds", *(title for _, title in FAKE_STATS)])


def refiner_table(diag: dict) -> str:
    rows = []
    for name, sets in diag.items():
        for set_name, bands in sets.items():
            for band, v in bands.items():
                rows.append(
                    [
                        BY_NAME[name].full_label,
                        set_name,
                        band,
                        f"{v['detected']:.1f}",
                        f"{v['refined']:.1f}",
                        f"{v['refined'] - v['detected']:+.1f}",
                    ]
                )
    return table(rows, ["model (seed 0)", "set", "joints", "detected px", "refined px", "change"])


def diagnostic_table(diag: dict) -> str:
    rows = []
    for name in DIAGNOSED:
        if name not in diag:
            continue
        cells = [BY_NAME[name].full_label]
        for set_name in ("lab_val", "wild_test"):
            d = diag[name][set_name]
            for key in ("all", "small", "large"):
                v = d[key]
                cells.append("-" if v is None else f"{100 * (math.exp(v) - 1):+.1f} %")
        cam = diag[name].get("camera_f_over_d_wild_median")
        cells.append("-" if cam is None else f"{cam:.3f}")
        rows.append(cells)
    headers = ["model (seed 0)"]
    for set_name in ("lab_val", "wild_test"):
        headers += [f"{set_name} all", f"{set_name} far (<{SMALL})", f"{set_name} near (>{LARGE})"]
    headers.append("camera f/d on wild (median)")
    return table(rows, headers)


ROLES = {"table4": "method", "ablation": "control", "table5": "detected 2D"}


def rows_table(settings: Sequence[Setting] = SETTINGS) -> str:
    """Every setting: its name (run directory), label, role and what `experiments.run` gets."""
    rows = [
        [f"`{st.name}`", st.label, ROLES[st.group], f"`{' '.join([st.config, *st.overrides])}`"]
        for st in settings
    ]
    return table(rows, ["setting", "row", "role", "config and overrides"])


def movement_table(runs: dict, names: Sequence[str], set_name: str = "wild_test") -> str:
    """One row per setting and movement group with numbers: `set_name`'s MPJPE and PA-MPJPE
    on the group's poses in every world (the setting's runs there), mean ± std over seeds."""
    rows = []
    for name in names:
        by_world = [runs.get(named_in(w, name), []) for w in WORLDS]
        for group, _ in MOVEMENT_GROUPS:
            key = f"{set_name}/{group}"
            if all(value(r, key, "mpjpe") is None for g in by_world for r in g):
                continue
            poses = sorted({value(r, key, "num_samples") for g in by_world for r in g} - {None})
            cells = [BY_NAME[name].label, group, " / ".join(str(int(n)) for n in poses)]
            for g in by_world:
                scored = [r for r in g if value(r, key, "mpjpe") is not None]
                cells.append(str(len(scored)))
                cells += [fmt([value(r, key, m) for r in scored]) for m in ("mpjpe", "pa_mpjpe")]
            rows.append(cells)
    headers = ["method", "movements", "poses"]
    for w in WORLDS:
        headers += [f"{w.label}: seeds", "MPJPE", "PA-MPJPE"]
    return table(rows, headers)


def per_seed_table(
    runs: dict, pairs: Sequence[tuple[str, str, str]], measures, seeds: Sequence[int]
) -> str:
    """One row per (label, row, baseline) pair and measure (set, metric): row − baseline on
    each seed, and their mean ± std with the number of seeds on which the row is lower."""
    rows = []
    for label, row, base in pairs:
        for s, m in measures:
            changes = paired_changes(runs, base, row, s, m)
            cells = [label, f"`{row}` − `{base}`", f"{SET_NAMES.get(s, s)} {METRIC_NAMES[m]}"]
            cells += [f"{changes[k]:+.1f}" if k in changes else "-" for k in seeds]
            cells.append(paired_diff(runs, base, row, s, m))
            rows.append(cells)
    headers = ["world", "row − baseline", "measure", *(f"seed {k}" for k in seeds)]
    return table(rows, [*headers, "mean ± std"])
