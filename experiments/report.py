"""The experiment report that decides issue 14: Tables 4 and 5 on the synthetic world, over
seeds, the "Done when" criteria computed from them, and a check at twice the budget.

    python -m experiments.report                      # train every run (resumable), write report
    python -m experiments.report --aggregate-only     # re-write the report from finished runs
    python -m experiments.report --dry-run            # print the training commands
    python -m experiments.report --runs-dir runs/report_x2 --epoch-scale 0.06 --seeds 0 \\
        --settings supervised,poseaug,joint_paper,joint \\
        --output runs/report_x2/RESULTS.md                # the budget check's runs (2x)

Runs `experiments.run` once per (setting, seed), seed-major, into
`<runs-dir>/<setting>/seed<k>` (default `runs/report`); a finished run (its `results.json`
exists) is skipped and an interrupted one resumes, so re-running the command after a crash
loses nothing. Then it reads every run's `results.json` (the model selected on lab validation)
and `metrics.jsonl` (the validation curve, the test sets scored at every validation with
`eval.test_samples_each_epoch`, and the generator's fake statistics) and writes, all at once:

* `RESULTS.md` (`--output`, default `experiments/RESULTS.md`): what every row is; Table 4
  (ground-truth 2D: the methods, then two controls) and Table 5 (detected 2D, with and without
  the refiner), mean ± std over seeds; the **Decision**: issue 14's criteria (`CRITERIA`)
  evaluated per seed, PASS / FAIL / PENDING with the counts; paired per-seed differences that
  split ours' gain (`COMPARISONS`); the **budget check**: seed 0 at the report budget and at 2x
  (`--check-dir`, default `<runs-dir>_x2`) and whether the ranking of the Table 4 methods moves;
  model selection vs a test-set oracle; the scale / rotation / pose decomposition and the scale
  diagnostic; the generator's fakes; the refiner diagnostic; curves; budget and wall time; the
  analysis written by hand in `experiments/report_analysis.md` (kept separate so a regeneration
  refreshes every number without touching the prose, which cites them);
* `results/` beside it: `summary.json` (every number of every run, the decision, the budget
  check, the diagnostics), `curves.png`, `curves_detected.png` (seed 0's validation curves),
  `error_decomposition.png`, `scale_diagnostic.png`, `fakes.png` (the fakes over training).

`--no-diagnostics` skips the two diagnostics that load models and predict (seconds instead of
minutes). Every setting gets the same overrides (`command`): the seed, the report's epoch scale
and the test tracking; the world (`data.synthetic.seed = 0`) is the same for all, so seeds vary
the initialisation, data order, dropout and GAN noise only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cpose_jax import atomic_io
from experiments import datasets

REPO = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Setting:
    name: str  # run directory and row key
    label: str  # row label in the tables
    config: str  # experiments/<file>.py[:variants]
    group: str  # 'table4' (methods) | 'ablation' (Table 4's controls) | 'table5' (detected 2D)
    overrides: tuple[str, ...] = ()

    @property
    def full_label(self) -> str:
        """The label outside its own table (Table 5 rows share names with Table 4's)."""
        return self.label + (", detected 2D" if self.group == "table5" else "")


#: The methods of issue 14's decision: PoseAug as released (`poseaug.py:faithful`), the paper's
#: method as written (`joint.py:paper_method`) and ours (`joint.py`, the README's main command:
#: the paper plus departures A-F of its docstring).
POSEAUG = "experiments/poseaug.py:faithful"
JOINT = "experiments/joint.py"
PAPER = "experiments/joint.py:paper_method"
SIZE_BLIND = "--config.model.lifter.input_norm=root_scale"
NO_2D_ONLY = "--config.stages.end_to_end.use_2d_only=False"

SETTINGS: tuple[Setting, ...] = (
    Setting("supervised", "supervised (lifter only)", "experiments/supervised.py", "table4"),
    Setting("poseaug", "PoseAug (as released)", POSEAUG, "table4"),
    Setting("joint_paper", "CameraPose (the paper as written)", PAPER, "table4"),
    Setting("joint", "CameraPose (ours, the default)", JOINT, "table4"),
    # Controls: is ours' gain the size-blind input (D) or the camera branch and the 2D-only
    # data? PoseAug with the same input; ours without the 2D-only batches.
    Setting("poseaug_blind", "PoseAug, size-blind lifter", POSEAUG, "ablation", (SIZE_BLIND,)),
    Setting(
        "joint_no2d", "CameraPose (ours) without 2D-only data", JOINT, "ablation", (NO_2D_ONLY,)
    ),
    Setting("poseaug_det", "PoseAug (as released)", f"{POSEAUG},detected", "table5"),
    Setting("poseaug_det_ref", "PoseAug + refiner", f"{POSEAUG},detected,refiner", "table5"),
    Setting(
        "joint_det_noref",
        "CameraPose (ours) without refiner",
        f"{JOINT}:detected,no_refiner",
        "table5",
    ),
    Setting("joint_det", "CameraPose (ours)", f"{JOINT}:detected", "table5"),
)
BY_NAME = {s.name: s for s in SETTINGS}

#: The report's budget (applied to every setting alike): 3% of a pass over the 40k lab pairs
#: per "epoch" (4-5 steps of 256), every stage keeping its length in epochs.
EPOCH_SCALE = 0.03
TEST_SAMPLES_EACH_EPOCH = 1024
SETS = datasets.SYNTHETIC_TESTS
# Table columns: (set, metric, header).
COLUMNS = (
    ("lab_val", "mpjpe", "lab MPJPE"),
    ("lab_val", "pa_mpjpe", "lab PA"),
    ("rig2_test", "mpjpe", "rig2 MPJPE"),
    ("rig2_test", "pck", "rig2 PCK"),
    ("rig2_test", "auc", "rig2 AUC"),
    ("wild_test", "mpjpe", "wild MPJPE"),
    ("wild_test", "pa_mpjpe", "wild PA"),
)


def command(setting: Setting, seed: int, runs_dir: Path, epoch_scale: float) -> list[str]:
    return [
        sys.executable,
        "-m",
        "experiments.run",
        f"--config={setting.config}",
        f"--workdir={runs_dir / setting.name / f'seed{seed}'}",
        f"--config.seed={seed}",
        f"--config.stages.epoch_scale={epoch_scale}",
        f"--config.eval.test_samples_each_epoch={TEST_SAMPLES_EACH_EPOCH}",
        "--config.train.progress=False",
        *setting.overrides,
    ]


def train_all(settings, seeds, runs_dir: Path, epoch_scale: float, dry_run: bool) -> None:
    # Seed-major, in the order given: an interrupted report has whole seeds of every setting.
    todo = [(s, k) for k in seeds for s in settings]
    for i, (setting, seed) in enumerate(todo):
        workdir = runs_dir / setting.name / f"seed{seed}"
        cmd = command(setting, seed, runs_dir, epoch_scale)
        shown = " ".join(["python", *cmd[1:]])
        if dry_run:
            print(shown)
            continue
        if (workdir / "results.json").exists():
            print(f"[{i + 1}/{len(todo)}] {setting.name} seed {seed}: done, skipped", flush=True)
            continue
        workdir.mkdir(parents=True, exist_ok=True)
        print(f"[{i + 1}/{len(todo)}] {setting.name} seed {seed}: {shown}", flush=True)
        t0 = time.time()
        with open(workdir / "report.log", "a") as log:
            rc = subprocess.call(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        wall = time.time() - t0
        if rc != 0:
            print(f"  failed (exit {rc}); see {workdir / 'report.log'}", flush=True)
            continue
        # Wall time of this (last) invocation; a resumed run's earlier part is not counted.
        atomic_io.write_files(
            {workdir / "wall.json": atomic_io.json_bytes({"wall_seconds": round(wall, 1)})}
        )
        print(f"  {wall / 60:.1f} min", flush=True)


# ------------------------------------------------------------------------------ aggregation


def read_run(workdir: Path) -> dict | None:
    """One finished run: final metrics, selection, budget, wall time and curves."""
    res_path = workdir / "results.json"
    if not res_path.exists():
        return None
    res = json.loads(res_path.read_text())
    run = {"results": res["results"], "model": res["model"], "train_s": res["train_seconds"]}
    wall = workdir / "wall.json"
    run["wall_s"] = json.loads(wall.read_text())["wall_seconds"] if wall.exists() else None
    run["stages"] = res["stages"]  # [{name, epochs, steps_per_epoch}], as experiments.run ran
    run["batch"] = res["batch_size"]
    rows = []
    metrics_path = workdir / "metrics.jsonl"
    if metrics_path.exists():
        for line in metrics_path.read_text().splitlines():
            if line.strip():
                rows.append(json.loads(line))
    run["curve"] = [r for r in rows if "val/mpjpe" in r]
    run["train_rows"] = [r for r in rows if any(k.startswith("train/") for k in r)]
    run["best_step"] = res["selected"]["step"] if "select_metric" in res["selected"] else None
    return run


def scale_stats(res: dict) -> tuple[float, float]:
    """(bias %, spread %) of the per-pose optimal scale s: exp(E log s) - 1 and std(log s)."""
    mean = res["log_scale"]
    var = max(res["log_scale_sq"] - mean**2, 0.0)
    return 100.0 * (math.exp(mean) - 1.0), 100.0 * math.sqrt(var)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1)) if len(v) > 1 else 0.0


def fmt(values: Sequence[float], digits: int = 1) -> str:
    if not values:
        return "-"
    m, s = mean_std(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def selection_gap(run: dict) -> dict[str, dict[str, float]]:
    """Claim 3: per test set, MPJPE of the validation-selected epoch vs the best epoch for that
    set (an oracle that peeks at the test set), both on the tracked test subset."""
    curve, out = run["curve"], {}
    if not curve or run["best_step"] is None:
        return out
    at_best = next((r for r in curve if r["step"] == run["best_step"]), None)
    for s in SETS:
        key = f"test/{s}/mpjpe"
        values = [r[key] for r in curve if key in r]
        if at_best is None or key not in at_best or not values:
            continue
        out[s] = {"selected": at_best[key], "oracle": min(values)}
    return out


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


def paired_changes(
    runs: dict, a: str, b: str, s: str, metric: str = "mpjpe", *, relative: bool = False
) -> dict[int, float]:
    """{seed: b - a} over the seeds both settings finished: mm (or the metric's unit), or with
    `relative` in % of a's value. The one place where rows are paired by seed."""
    by_seed = {r["seed"]: r["results"][s][metric] for r in runs.get(a, [])}
    out = {}
    for r in runs.get(b, []):
        if r["seed"] in by_seed:
            base, value = by_seed[r["seed"]], r["results"][s][metric]
            out[r["seed"]] = 100.0 * (value - base) / base if relative else value - base
    return dict(sorted(out.items()))


def paired_diff(
    runs: dict, a: str, b: str, s: str, metric: str = "mpjpe", *, relative: bool = False
) -> str:
    """b - a per seed (same seeds): mean ± std (mm, or % of a), and on how many seeds b is lower."""
    diffs = list(paired_changes(runs, a, b, s, metric, relative=relative).values())
    if not diffs:
        return "- (no runs)"
    lower = sum(d < 0 for d in diffs)
    return f"{fmt(diffs)} {'%' if relative else 'mm'} (lower on {lower}/{len(diffs)} seeds)"


# ---------------------------------------------------------------------------- the decision

METRIC_NAMES = {"mpjpe": "MPJPE", "pa_mpjpe": "PA-MPJPE", "n_mpjpe": "N-MPJPE"}
SET_NAMES = {"lab_val": "lab", "rig2_test": "rig2", "wild_test": "wild"}


@dataclasses.dataclass(frozen=True)
class Check:
    """One per-seed test of a row against its baseline: the change row - baseline on
    `set_name`'s `metric` (mm, or with `relative` % of the baseline) must be ≤ `bound`;
    `bound = 0` means "lower" and is strict (a tie does not lower anything)."""

    set_name: str
    metric: str
    bound: float
    relative: bool = False

    def passes(self, change: float) -> bool:
        return change < 0.0 if self.bound == 0.0 else change <= self.bound

    @property
    def name(self) -> str:
        return f"{SET_NAMES.get(self.set_name, self.set_name)} {METRIC_NAMES[self.metric]}"

    @property
    def unit(self) -> str:
        return "%" if self.relative else "mm"

    def describe(self) -> str:
        if self.bound == 0.0:
            return f"{self.name} lower"
        if self.bound < 0.0:
            return f"{self.name} ≥ {-self.bound:g} {self.unit} lower"
        return f"{self.name} at most {self.bound:g} {self.unit} higher"


@dataclasses.dataclass(frozen=True)
class Criterion:
    """One item of issue 14's "Done when", evaluated on the seeds `row` and `baseline` share.

    A seed passes when every check passes on it. With `min_pass` the criterion passes when at
    least `min_pass` of `of` seeds pass (with more seeds than `of`, the same fraction); with
    `min_pass=None` when every check passes on the mean change over the seeds. Fewer than `of`
    paired seeds: PENDING. `decides=False`: shown beside the criteria, not one of them."""

    key: str
    text: str
    row: str
    baseline: str
    checks: tuple[Check, ...]
    min_pass: int | None = 4
    of: int = 5
    decides: bool = True

    def needs(self) -> str:
        checks = " and ".join(c.describe() for c in self.checks)
        if self.min_pass is None:
            return f"mean over {self.of} seeds: {checks}"
        return f"{checks}, on ≥ {self.min_pass} of {self.of} seeds"


REFINER_CHECKS = (Check("lab_val", "mpjpe", 0.0), Check("wild_test", "mpjpe", 0.0))
#: Issue 14's "Done when" on the synthetic world (the other two items, "the default joint.py
#: is the best variant" and the real-motion check, are not decided by this report).
CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "a",
        "ours beats PoseAug (as released) on the wild test set",
        "joint",
        "poseaug",
        (Check("wild_test", "mpjpe", -10.0, True), Check("wild_test", "pa_mpjpe", -5.0, True)),
    ),
    Criterion(
        "b",
        "ours is within 2 mm of PoseAug (as released) on lab",
        "joint",
        "poseaug",
        (Check("lab_val", "mpjpe", 2.0),),
        min_pass=None,
    ),
    Criterion(
        "c",
        "with detected 2D the refiner lowers lab and wild error (ours)",
        "joint_det",
        "joint_det_noref",
        REFINER_CHECKS,
    ),
    Criterion(
        "c'",
        "the same for PoseAug (reported, not a criterion)",
        "poseaug_det_ref",
        "poseaug_det",
        REFINER_CHECKS,
        decides=False,
    ),
)


def evaluate_criterion(runs: dict, criterion: Criterion) -> dict:
    """Per-seed changes, which seeds pass, and the verdict 'PASS' | 'FAIL' | 'PENDING'.

    Returns {'changes': {check name: {seed: change}}, 'seeds': [...], 'seed_passes':
    {seed: bool}, 'passed': k, 'n': n, 'mean': {check name: mean change}, 'verdict': ...}."""
    changes = {
        c.name: paired_changes(
            runs, criterion.baseline, criterion.row, c.set_name, c.metric, relative=c.relative
        )
        for c in criterion.checks
    }
    seeds = sorted(set.intersection(*(set(v) for v in changes.values())))
    seed_passes = {k: all(c.passes(changes[c.name][k]) for c in criterion.checks) for k in seeds}
    passed, n = sum(seed_passes.values()), len(seeds)
    means = {
        c.name: float(np.mean([changes[c.name][k] for k in seeds])) if seeds else math.nan
        for c in criterion.checks
    }
    if n < criterion.of:
        verdict = "PENDING"
    elif criterion.min_pass is None:
        ok = all(c.passes(means[c.name]) for c in criterion.checks)
        verdict = "PASS" if ok else "FAIL"
    else:
        verdict = "PASS" if passed * criterion.of >= criterion.min_pass * n else "FAIL"
    return {
        "changes": changes,
        "seeds": seeds,
        "seed_passes": seed_passes,
        "passed": passed,
        "n": n,
        "mean": means,
        "verdict": verdict,
    }


def decide(runs: dict, criteria: Sequence[Criterion] = CRITERIA) -> dict:
    """Every criterion's evaluation, and the overall verdict of the deciding ones: FAIL if one
    fails, else PENDING if one is pending, else PASS."""
    out = {c.key: evaluate_criterion(runs, c) for c in criteria}
    verdicts = [out[c.key]["verdict"] for c in criteria if c.decides]
    overall = "FAIL" if "FAIL" in verdicts else "PENDING" if "PENDING" in verdicts else "PASS"
    return {"criteria": out, "overall": overall}


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


#: Paired comparisons beside the decision: (row, baseline, the question they answer).
COMPARISONS = (
    ("joint", "poseaug", "ours vs PoseAug as released (criteria a, b in mm)"),
    ("joint", "joint_paper", "ours vs the paper as written: what our departures buy"),
    ("joint", "joint_no2d", "ours vs ours without 2D-only data: what the 2D-only data buys"),
    (
        "joint",
        "poseaug_blind",
        "ours vs PoseAug with the same size-blind input: what the camera branch and the "
        "2D-only data buy beyond the input",
    ),
    ("poseaug_blind", "poseaug", "size-blind vs plain input for PoseAug: what the input buys"),
    ("poseaug", "supervised", "PoseAug vs the supervised lifter: what augmentation buys"),
)
COMPARED = (("wild_test", "mpjpe"), ("wild_test", "pa_mpjpe"), ("lab_val", "mpjpe"))


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


# ------------------------------------------------------------------------ the budget check

#: The measures by which the budget check ranks Table 4's methods.
RANKED_BY = (("wild_test", "mpjpe"), ("wild_test", "pa_mpjpe"), ("lab_val", "mpjpe"))
CHECK_SEED = 0


def budget_check(runs: dict, check_runs: dict, names: Sequence[str]) -> dict:
    """Seed `CHECK_SEED` of every setting at the report budget (`runs`) and at the doubled one
    (`check_runs`), and whether the order of the `names` present in both (best first) is the
    same at both budgets on each measure of `RANKED_BY`.

    Returns {'settings': [...], 'ranked': [...], 'rankings': {'<set>/<metric>': {'report':
    [names], 'x2': [names], 'same': bool}}, 'same': bool | None (None: fewer than 2 ranked)}."""

    def seed_run(group):
        return next((r for r in group if r["seed"] == CHECK_SEED), None)

    both = {
        name: (seed_run(runs.get(name, [])), seed_run(check_runs.get(name, []))) for name in BY_NAME
    }
    both = {n: v for n, v in both.items() if None not in v}
    ranked = [n for n in names if n in both]
    rankings = {}
    for s, m in RANKED_BY:
        order = {
            budget: sorted(ranked, key=lambda n, i=i: both[n][i]["results"][s][m])
            for i, budget in enumerate(("report", "x2"))
        }
        rankings[f"{s}/{m}"] = {**order, "same": order["report"] == order["x2"]}
    same = all(r["same"] for r in rankings.values()) if len(ranked) > 1 else None
    return {"settings": list(both), "ranked": ranked, "rankings": rankings, "same": same}


def budget_check_table(runs: dict, check_runs: dict, check: dict) -> str:
    rows = []
    for name in check["settings"]:
        pair = [
            next(r for r in group.get(name, []) if r["seed"] == CHECK_SEED)
            for group in (runs, check_runs)
        ]
        cells = [BY_NAME[name].full_label]
        cells.append(" → ".join(str(_steps(r["stages"])) for r in pair))
        for s, m in RANKED_BY:
            cells.append(" → ".join(f"{r['results'][s][m]:.1f}" for r in pair))
        rows.append(cells)
    headers = [f"{SET_NAMES[s]} {METRIC_NAMES[m]}" for s, m in RANKED_BY]
    return table(rows, ["setting (seed 0)", "steps", *headers])


def _steps(stages: Sequence[dict]) -> int:
    return sum(s["epochs"] * s["steps_per_epoch"] for s in stages)


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
        steps = _steps(group[0]["stages"])
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


def colour(name: str) -> str:
    """A setting's colour, the same in every figure (the settings' order in the colour cycle)."""
    return f"C{list(BY_NAME).index(name) % 10}"


def plot_curves(runs: dict, names: Sequence[str]):
    """Validation curves of seed 0 per setting (a matplotlib Figure)."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(15, 4.2), dpi=110)
    panels = [
        ("val/mpjpe", "lab validation MPJPE (mm)"),
        ("test/wild_test/mpjpe", f"wild_test MPJPE (mm, first {TEST_SAMPLES_EACH_EPOCH})"),
        ("test/wild_test/log_scale", "wild_test mean log optimal scale"),
    ]
    axes = fig.subplots(1, len(panels))
    for name in names:
        group = [r for r in runs.get(name, []) if r["seed"] == 0] or runs.get(name, [])[:1]
        if not group:
            continue
        curve = group[0]["curve"]
        for ax, (key, _) in zip(axes, panels):
            pts = [(r["step"], r[key]) for r in curve if key in r]
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, label=BY_NAME[name].full_label, lw=1.2, color=colour(name))
    for ax, (_, title) in zip(axes, panels):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("global step (validation runs in the last stage only)")
        ax.grid(alpha=0.3)
    axes[0].set_ylim(top=min(axes[0].get_ylim()[1], 250))
    axes[1].set_ylim(top=min(axes[1].get_ylim()[1], 400))
    if axes[0].get_legend_handles_labels()[0]:
        axes[0].legend(fontsize=8)
    fig.suptitle("Validation curves, seed 0 (each point: one validation at an epoch end)")
    fig.tight_layout()
    return fig


def plot_decomposition(runs: dict, names: Sequence[str]):
    """Stacked horizontal bars per method and set: PA-MPJPE (pose shape), N-MPJPE - PA (mostly
    the pose's rotation about its root), MPJPE - N-MPJPE (global scale); means over seeds."""
    from matplotlib.figure import Figure

    names = [n for n in names if runs.get(n)]
    fig = Figure(figsize=(14, 1.2 + 0.45 * len(names)), dpi=110)
    axes = fig.subplots(1, len(SETS), sharey=True)
    y = np.arange(len(names))[::-1]
    for ax, s in zip(axes, SETS):
        parts = []
        for name in names:
            res = [r["results"][s] for r in runs[name]]
            m, n, p = (mean_std([x[k] for x in res])[0] for k in ("mpjpe", "n_mpjpe", "pa_mpjpe"))
            parts.append((p, n - p, m - n))
        pose, rot, scale = (np.array(v) for v in zip(*parts)) if parts else ([], [], [])
        ax.barh(y, pose, label="PA-MPJPE (pose shape)")
        ax.barh(y, rot, left=pose, label="N-MPJPE - PA (rotation, mostly)")
        ax.barh(y, scale, left=pose + rot, label="MPJPE - N-MPJPE (scale)")
        ax.set_title(s)
        ax.set_xlabel("mm (mean over seeds)")
        ax.grid(axis="x", alpha=0.3)
    axes[0].set_yticks(y, [BY_NAME[n].full_label for n in names], fontsize=8)
    fig.legend(*axes[0].get_legend_handles_labels(), loc="upper center", ncol=3, fontsize=9)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    return fig


#: The generator's fakes as `experiments.run` logs them (`cpose_jax.diagnostics`,
#: `train/generator/*` in metrics.jsonl): (key, panel title).
FAKE_STATS = (
    ("train/generator/fake_root_depth_median", "root depth, median (m)"),
    ("train/generator/fake_extent_ratio", "2D extent / real 2D extent (medians)"),
    ("train/generator/fake_torso_down_fraction", "share upside down (torso > 90° from up)"),
    ("train/generator/usable_fraction", "share usable as augmented pairs"),
)
FAKES_PLOTTED = ("poseaug", "joint_paper", "joint")  # seed 0 of each in the figure
END_ROWS = 5  # "at the end of training": the mean of the last 5 logged values


def fakes_at_end(run: dict) -> dict[str, float]:
    """{stat key: mean of its last `END_ROWS` logged values} for the statistics the run logs."""
    out = {}
    for key, _ in FAKE_STATS:
        values = [r[key] for r in run["train_rows"] if key in r]
        if values:
            out[key] = float(np.mean(values[-END_ROWS:]))
    return out


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


def plot_fakes(runs: dict, names: Sequence[str] = FAKES_PLOTTED):
    """The generator's fakes over training, seed 0 of each setting: one panel per statistic of
    `FAKE_STATS`, x = global step; a dotted line (same colour) where the end-to-end stage
    starts. None when no run logs them."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(16, 3.8), dpi=110)
    axes = fig.subplots(1, len(FAKE_STATS))
    plotted = False
    for name in names:
        group = [r for r in runs.get(name, []) if r["seed"] == 0]
        if not group:
            continue
        run = group[0]
        stages = [s["name"] for s in run["stages"]]
        e2e = (
            _steps(run["stages"][: stages.index("end_to_end")]) if "end_to_end" in stages else None
        )
        for ax, (key, _) in zip(axes, FAKE_STATS):
            pts = [(r["step"], r[key]) for r in run["train_rows"] if key in r]
            if not pts:
                continue
            ax.plot(*zip(*pts), color=colour(name), lw=1.0, label=BY_NAME[name].full_label)
            if e2e is not None:
                ax.axvline(e2e, color=colour(name), ls=":", lw=0.8)
            plotted = True
    if not plotted:
        return None
    for ax, (_, title) in zip(axes, FAKE_STATS):
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("global step")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("The generator's fakes over training, seed 0 (dotted: end-to-end stage starts)")
    fig.tight_layout()
    return fig


def _predict(model, arrays: dict) -> dict:
    """A loaded model's outputs on model-space `arrays`."""
    from cpose_jax import inference

    fn = inference.make_predict(model)
    inputs = {k: arrays[k] for k in ("keypoints_2d", "confidence")}
    return inference.batched_apply(lambda b: fn(model.variables, b), inputs, batch_size=2048)


#: The GT-2D models of the scale diagnostic (seed 0): the Table 4 rows with a GAN and the controls.
DIAGNOSED = ("poseaug", "joint_paper", "joint", "poseaug_blind", "joint_no2d")
SMALL, LARGE = 0.2, 0.5  # 2D extent (normalized screen units) of a "far" / "near" person


def scale_diagnostic(runs_dir: Path) -> tuple[dict, object]:
    """Why the 2D-only data shrinks the predictions: per-pose optimal scale vs the person's 2D
    size, and the camera branch's focal/depth ratio vs the truth, on seed 0's selected models.

    Returns ``(numbers, figure)``: {setting: {set: {'small', 'large', 'all'}: median log s}}
    plus the data facts, and a three-panel matplotlib Figure (None when no run is there).
    """
    from matplotlib.figure import Figure

    from cpose_jax import evaluation
    from experiments import evaluate

    loaded = {}
    for name in DIAGNOSED:
        workdir = runs_dir / name / "seed0"
        if (workdir / "results.json").exists():
            loaded[name] = evaluate.load_model(workdir)
    if not loaded:
        return {}, None
    first = next(iter(loaded.values()))
    paths, _ = evaluate.default_test_sets(evaluate.run_config(first))
    sets = {s: evaluate.load_test_set(paths[s])["gt"] for s in ("lab_val", "wild_test")}

    def extent(arrays):
        kp = arrays["keypoints_2d"]
        return (kp.max(1) - kp.min(1)).max(-1)

    def f_over_d(intrinsics, translation):
        return intrinsics[:, 0] / translation[:, 2]

    out: dict = {"data": {}}
    fig = Figure(figsize=(15, 4.4), dpi=110)
    ax_scale, ax_cam, ax_data = fig.subplots(1, 3)
    bins = np.quantile(extent(sets["wild_test"]), np.linspace(0, 1, 11))
    for name, model in loaded.items():
        out[name] = {}
        for set_name, arrays in sets.items():
            pred = _predict(model, arrays)
            log_s = np.asarray(
                evaluation.per_sample_metrics(pred["pose_3d"], arrays["pose_3d"])["log_scale"]
            )
            ext = extent(arrays)
            out[name][set_name] = {
                "all": float(np.median(log_s)),
                "small": float(np.median(log_s[ext < SMALL])) if np.any(ext < SMALL) else None,
                "large": float(np.median(log_s[ext > LARGE])) if np.any(ext > LARGE) else None,
            }
            if set_name == "wild_test":
                idx = np.digitize(ext, bins[1:-1])
                centers = [np.median(ext[idx == b]) for b in range(len(bins) - 1)]
                meds = [np.median(log_s[idx == b]) for b in range(len(bins) - 1)]
                ax_scale.plot(
                    centers, meds, "o-", color=colour(name), label=BY_NAME[name].full_label
                )
                if "intrinsics" in pred:
                    true = f_over_d(arrays["intrinsics"], arrays["translation"])
                    est = f_over_d(pred["intrinsics"], pred["translation"])
                    ax_cam.scatter(
                        true,
                        est,
                        s=2,
                        alpha=0.3,
                        color=colour(name),
                        label=BY_NAME[name].full_label,
                    )
                    out[name]["camera_f_over_d_wild_median"] = float(np.median(est))
    ax_scale.axhline(0.0, color="k", lw=0.8)
    ax_scale.set_xscale("log")
    lab_extent = float(np.median(extent(sets["lab_val"])))
    ax_scale.set_xlabel(
        f"person's 2D extent (normalized screen units; lab median {lab_extent:.2f})"
    )
    ax_scale.set_ylabel("median log optimal scale (> 0: prediction too small)")
    ax_scale.set_title("wild_test: scale error vs apparent size", fontsize=10)
    ax_scale.legend(fontsize=8)
    lim = [0.0, ax_cam.get_xlim()[1]]  # the identity over the range of the data
    ax_cam.plot(lim, lim, "k--", lw=0.8, label="truth")
    ax_cam.set_xlabel("true focal / depth (normalized focal / m)")
    ax_cam.set_ylabel("camera branch's focal / depth")
    ax_cam.set_title("wild_test: camera branch vs truth", fontsize=10)
    ax_cam.legend(fontsize=8, markerscale=4)
    for set_name, arrays in sets.items():
        ratio = f_over_d(arrays["intrinsics"], arrays["translation"])
        out["data"][set_name] = {
            "f_over_d_median": float(np.median(ratio)),
            "extent_median": float(np.median(extent(arrays))),
            "root_depth_median": float(np.median(arrays["translation"][:, 2])),
        }
        ax_data.hist(ratio, bins=60, range=(0, 1), alpha=0.5, density=True, label=set_name)
    cam = evaluate.run_config(first).model.camera
    prior = cam.focal_prior / cam.depth_prior
    out["data"]["prior_f_over_d"] = prior
    ax_data.axvline(prior, color="k", lw=1.2, label=f"camera prior {prior:.3f}")
    ax_data.set_xlabel("true focal / depth")
    ax_data.set_title("what sets a person's 2D size", fontsize=10)
    ax_data.legend(fontsize=8)
    fig.tight_layout()
    return out, fig


#: The detected-2D models with a refiner (seed 0) of the refiner diagnostic.
REFINED = ("poseaug_det_ref", "joint_det")


def refiner_diagnostic(runs_dir: Path) -> dict:
    """Does the refiner bring detected 2D closer to the truth? Mean 2D joint error in pixels of
    the detections and of the refined keypoints the lifter sees, per set and confidence band,
    for seed 0's selected models with a refiner."""

    from cpose_jax.data import pipeline, schema
    from experiments import evaluate

    out: dict = {}
    for name in REFINED:
        workdir = runs_dir / name / "seed0"
        if not (workdir / "results.json").exists():
            continue
        model = evaluate.load_model(workdir)
        paths, _ = evaluate.default_test_sets(evaluate.run_config(model))
        out[name] = {}
        for set_name in ("lab_val", "wild_test"):
            ds = schema.load_dataset(paths[set_name])
            arrays = pipeline.to_model_space(ds, input_2d="detections")
            pred = _predict(model, arrays)
            half_width = np.asarray(ds["image_size"], np.float64)[:, 0, None, None] / 2  # px/unit
            gt = arrays["keypoints_2d_gt"]
            err_in = np.linalg.norm((arrays["keypoints_2d"] - gt) * half_width, axis=-1)
            err_out = np.linalg.norm((pred["keypoints_2d_refined"] - gt) * half_width, axis=-1)
            conf = arrays["confidence"]
            bands = {"all": conf >= 0, "conf < 0.5": conf < 0.5, "conf >= 0.5": conf >= 0.5}
            out[name][set_name] = {
                band: {"detected": float(err_in[m].mean()), "refined": float(err_out[m].mean())}
                for band, m in bands.items()
                if m.any()
            }
    return out


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


# ------------------------------------------------------------------------- RESULTS.md text

_STAGE_WORDS = {"warmup": "warm-up", "end_to_end": "end-to-end"}


def setting_facts(settings: Sequence[Setting] = SETTINGS) -> dict:
    """What the text states about the settings, read from the configs `experiments.run` trains
    (loaded with each setting's overrides): stage lengths in epochs per setting, the validation
    subset, the world's split sizes and the number of validations (epochs of the last stage)."""
    from experiments import configs_common

    configs = {st.name: configs_common.load_config(st.config, st.overrides) for st in settings}
    stages = {
        name: {s: (c.stages[s].epochs, c.stages[s].lr) for s in datasets.stage_names(c)}
        for name, c in configs.items()
    }
    sizes = {datasets.synthetic_sizes(c)["lab_val"] for c in configs.values()}
    train_sizes = {datasets.synthetic_sizes(c)["lab_train"] for c in configs.values()}
    return {
        "stages": stages,
        "val_samples": sorted({c.eval.val_max_samples for c in configs.values()}),
        "lab_val": sorted(sizes),
        "lab_train": sorted(train_sizes),
        "validations": sorted({list(st.values())[-1][0] for st in stages.values()}),
    }


def _joined(values: Sequence, unit: str = "") -> str:
    return " / ".join(f"{v}{unit}" for v in values) or "-"


def _stage_lengths(stages: dict) -> str:
    return ", ".join(f"{_STAGE_WORDS.get(s, s)} {epochs}" for s, (epochs, _) in stages.items())


ROLES = {"table4": "method", "ablation": "control", "table5": "detected 2D"}


def rows_table(settings: Sequence[Setting] = SETTINGS) -> str:
    """Every setting: its name (run directory), label, role and what `experiments.run` gets."""
    rows = [
        [f"`{st.name}`", st.label, ROLES[st.group], f"`{' '.join([st.config, *st.overrides])}`"]
        for st in settings
    ]
    return table(rows, ["setting", "row", "role", "config and overrides"])


def _intro_md(seeds: Sequence[int], missing: Sequence[str], facts: dict) -> str:
    seeds_txt = ", ".join(str(s) for s in seeds)
    val, lab = _joined(facts["val_samples"]), _joined(facts["lab_val"])
    missing_note = f"\n**Missing runs** (not finished): {', '.join(missing)}\n" if missing else ""
    cfg = {name: " ".join([st.config, *st.overrides]) for name, st in BY_NAME.items()}
    return f"""# CameraPose on the synthetic world: issue 14's decision, {len(seeds)} seeds

Generated by `python -m experiments.report` (train every run, then this file);
`python -m experiments.report --aggregate-only` rewrites it from finished runs. Every cell is
mean ± sample std over seeds {seeds_txt} (training seed: init, data order, dropout, GAN noise;
the world is the same). Errors in mm, PCK@150 mm and AUC in %, lower is better except PCK/AUC.
Every number is the model **selected on lab validation** (first {val} of `lab_val`), as in the
paper; `lab` is the whole `lab_val` ({lab} poses: validation and test coincide, as Human3.6M
S9/S11 do in the paper), `rig2` the 3DHP-like second rig (14-joint protocol), `wild` the
3DPW-like wild test set.

The methods: **PoseAug as released** is `{cfg["poseaug"]}`, PoseAug's released code
re-implemented (`experiments/poseaug.py`'s docstring lists what it copies and what still
differs). **Ours** is `{cfg["joint"]}`, the config of the README's main command: the paper
plus the departures listed in `experiments/joint.py`'s docstring (among them one update per
iteration, the camera loss on real pairs, PoseAug's supervised pretraining and a size-blind
lifter input). **The paper as written** is `{cfg["joint_paper"]}`. The two
controls give PoseAug ours' size-blind input and take the 2D-only batches from ours: together
they split ours' gain into the input, the camera branch and the 2D-only data. Every row:

{rows_table()}
{missing_note}"""


def _table4_md(runs: dict, names: Sequence[str]) -> str:
    controls = [BY_NAME[n].label for n in names if BY_NAME[n].group == "ablation"]
    return f"""## Table 4: ground-truth 2D input

{results_table(runs, names)}

The last {len(controls)} rows ({"; ".join(controls)}) are controls, not methods."""


def _table5_md(runs: dict, names: Sequence[str]) -> str:
    return f"""## Table 5: detected 2D input (synthetic detector with confidences)

{results_table(runs, names)}"""


def _verdict_text(decision: dict, criteria: Sequence[Criterion] = CRITERIA) -> str:
    parts = ", ".join(
        f"({c.key}) {decision['criteria'][c.key]['verdict']}" for c in criteria if c.decides
    )
    return f"**{decision['overall']}** ({parts})"


def _decision_md(runs: dict, decision: dict, seeds: Sequence[int]) -> str:
    return f"""## Decision: issue 14's "Done when" on the synthetic world

Each criterion compares a row with its baseline on the same seed (row − baseline, in mm or in %
of the baseline); a seed passes (✓) when every check of the criterion holds on it. PENDING:
fewer paired seeds than the criterion counts. Computed from the runs, never typed.

{decision_table(decision, seeds)}

Verdict on the synthetic part: {_verdict_text(decision)}. Not decided here: whether the default
`joint.py` is the best variant (compare its row with the paper as written and the controls) and
the check on real motion (outside the project). Where a criterion fails, the experiments that
explain it: for (a) and (b) the paired differences below (the controls split ours' gain into
the input, the camera branch and the 2D-only data), the scale diagnostic and the generator's
fakes; for (c) the refiner diagnostic (what the refiner does to the detections).

## Paired differences (same seed, row − baseline: mean ± std, lower on k of n seeds)

{comparisons_table(runs)}"""


def _budget_check_md(runs: dict, check_runs: dict, check: dict, check_dir: Path) -> str:
    if not check["settings"]:
        return f"""## Budget check: the same runs at twice the budget

No seed-{CHECK_SEED} run in both the report and `{check_dir}` yet."""
    lines = []
    for key, r in check["rankings"].items():
        s, m = key.split("/")
        name = f"{SET_NAMES[s]} {METRIC_NAMES[m]}"
        if r["same"]:
            lines.append(f"- {name}: the same, {' < '.join(r['report'])}")
        else:
            lines.append(
                f"- {name}: **differs**: {' < '.join(r['report'])} at the report budget, "
                f"{' < '.join(r['x2'])} at 2x"
            )
    if check["same"] is None:
        statement = "Fewer than two Table 4 methods in both: no ranking to compare."
    else:
        word = "is the same on every measure" if check["same"] else "**moves** on a measure"
        statement = (
            f"The ranking of the Table 4 methods present at both budgets "
            f"({', '.join(check['ranked'])}) {word} (best first):"
        )
    return f"""## Budget check: the same runs at twice the budget

Seed {CHECK_SEED} of each setting at the report budget and at twice it (`{check_dir}`:
`stages.epoch_scale` doubled, every stage keeping its length in epochs; steps per epoch are
rounded, so the step counts are those that ran); "a → b": report budget → 2x.

{budget_check_table(runs, check_runs, check)}

{statement}

{chr(10).join(lines)}"""


def _fakes_md(runs: dict, diag: dict) -> str:
    depth = diag.get("data", {}).get("lab_val", {}).get("root_depth_median")
    lab = f" (lab_val: {depth:.1f} m)" if depth is not None else ""
    return f"""## The generator's fakes

Statistics of the generator's fakes logged during training (`cpose_jax.diagnostics`): their
median root depth{lab}, their median 2D extent over the real poses' (1: the same apparent
size), the share whose 2D torso points more than 90° from image-up (upright people: ~0), and
the share usable as augmented pairs (in view and in front of the camera). At the end of
training (mean of the last {END_ROWS} logged values), mean ± std over seeds:

{fakes_table(runs)}

![fakes over training](results/fakes.png)"""


def _selection_md(runs: dict, names: Sequence[str], facts: dict) -> str:
    n = facts["validations"]
    n = f"{n[0]}" if len(n) == 1 else f"{n[0]}-{n[-1]}"
    return f"""## Model selection: lab validation vs the best epoch per test set

The paper's third claim: one model selected on lab validation generalizes. Selected vs the
best epoch per test set (an oracle that looks at the test set). MPJPE on the first
{TEST_SAMPLES_EACH_EPOCH} poses of each test set, scored at every validation; gap = selected -
oracle (≥ 0; the oracle's minimum over ~{n} noisy points is itself optimistic by a few mm):

{selection_table(runs, names)}"""


def _decomposition_md(runs: dict, names: Sequence[str], diag: dict) -> str:
    data = diag.get("data", {})
    nan = float("nan")
    return f"""## Where the error comes from: scale, rotation, pose

MPJPE ≥ N-MPJPE (after the best per-pose scale) ≥ PA-MPJPE (after the best rotation, scale and
translation). Scale bias = exp(mean log s) - 1 for the per-pose optimal scale s
(`cpose_jax.metrics.optimal_scale`; > 0: predictions too small); spread = std of log s.

{decomposition_table(runs, names)}

![error decomposition](results/error_decomposition.png)

Scale error by the person's apparent size (seed 0's selected models; median over poses of
s - 1 for the optimal scale s; "far": 2D extent < {SMALL}, "near": > {LARGE} in normalized
screen units), and the camera branch's focal/depth ratio on wild_test. Data: median true
focal/depth {data.get("lab_val", {}).get("f_over_d_median", nan):.3f} on
lab_val, {data.get("wild_test", {}).get("f_over_d_median", nan):.3f} on
wild_test; the camera prior (focal_prior / depth_prior) is
{data.get("prior_f_over_d", nan):.3f}.

{diagnostic_table(diag) if diag else "(diagnostic not run)"}

{"![scale diagnostic](results/scale_diagnostic.png)" if diag else ""}"""


def _refiner_md(ref_diag: dict) -> str:
    return f"""## What the refiner does to detected 2D

Mean 2D joint error (pixels) against the ground-truth 2D, of the synthetic detections the
model receives and of the refined keypoints its lifter sees, split by the detector's
confidence (seed 0's selected models):

{refiner_table(ref_diag) if ref_diag else "(diagnostic not run)"}"""


def _curves_md(runs_dir: Path) -> str:
    return f"""## Training curves (seed 0)

![curves, ground-truth 2D](results/curves.png)
![curves, detected 2D](results/curves_detected.png)

TensorBoard: `tensorboard --logdir {runs_dir}` (every run writes `tb/`; `metrics.jsonl` holds
the same numbers)."""


def _budget_md(runs: dict, runs_dir: Path, epoch_scale: float, facts: dict) -> str:
    batches = _joined(sorted({r["batch"] for g in runs.values() for r in g}))
    lab_train = _joined([f"{n / 1e3:.0f}k" for n in facts["lab_train"]])
    st = facts["stages"]
    lengths = (
        f"{_stage_lengths(st['joint'])} for ours; the paper as written: "
        f"{_stage_lengths(st['joint_paper'])}; PoseAug: {_stage_lengths(st['poseaug'])}; "
        f"supervised {_joined([epochs for epochs, _ in st['supervised'].values()])}"
    )
    budget = textwrap.fill(
        f"Every run: batch {batches}, `stages.epoch_scale = {epoch_scale}` (an epoch is "
        f"{epoch_scale:.0%} of a pass over the {lab_train} lab pairs), the paper's stage "
        f"lengths in epochs ({lengths}), "
        "validation (+ test tracking) after every epoch of the last stage. Wall time is the whole "
        "`experiments.run` call on the 2-core CPU (world cached, compile cache warm after the "
        "first run of a setting), including evaluation.",
        width=96,
        break_on_hyphens=False,
    )
    commands = "\n".join(
        " ".join(["python", *command(s, 0, runs_dir, epoch_scale)[1:]]) for s in SETTINGS
    )
    return f"""## Budget and wall time

{budget}

{budget_table(runs, SETTINGS)}

Commands (seed k, all settings alike; `--dry-run` prints all of them):

```
{commands}
```"""


#: Rows of Table 4 (methods, then controls) and of Table 5, in SETTINGS order.
TABLE4_ROWS = tuple(s.name for s in SETTINGS if s.group in ("table4", "ablation"))
TABLE5_ROWS = tuple(s.name for s in SETTINGS if s.group == "table5")
#: The methods the budget check ranks.
RANKED = tuple(s.name for s in SETTINGS if s.group == "table4")


def results_markdown(
    runs: dict,
    *,
    seeds: Sequence[int],
    missing: Sequence[str],
    runs_dir: Path,
    check_runs: dict,
    check_dir: Path,
    epoch_scale: float,
    diag: dict,
    ref_diag: dict,
    analysis: str,
    facts: dict,
) -> str:
    """RESULTS.md: the sections in order, each from its own function; every number comes from
    the runs (`read_run`), the diagnostics or the settings' configs (`setting_facts`)."""
    t4, t5 = TABLE4_ROWS, TABLE5_ROWS
    sections = [
        _intro_md(seeds, missing, facts),
        _table4_md(runs, t4),
        _table5_md(runs, t5),
        _decision_md(runs, decide(runs), seeds),
        _budget_check_md(runs, check_runs, budget_check(runs, check_runs, RANKED), check_dir),
        _selection_md(runs, t4 + t5, facts),
        _decomposition_md(runs, t4 + t5, diag),
        _fakes_md(runs, diag),
        _refiner_md(ref_diag),
        _curves_md(runs_dir),
        _budget_md(runs, runs_dir, epoch_scale, facts),
        f"## Analysis\n\n{analysis}",
    ]
    return sections[0] + "\n" + "\n\n".join(sections[1:])


def read_runs(runs_dir: Path, seeds: Sequence[int]) -> tuple[dict[str, list[dict]], list[str]]:
    """({setting: [run, ...] in seed order, each with its 'seed'}, ['<setting>/seed<k>' not
    finished]) for every setting of SETTINGS under `runs_dir/<setting>/seed<k>`."""
    runs: dict[str, list[dict]] = {}
    missing = []
    for st in SETTINGS:
        for seed in seeds:
            run = read_run(runs_dir / st.name / f"seed{seed}")
            if run is None:
                missing.append(f"{st.name}/seed{seed}")
                continue
            run["seed"] = seed
            runs.setdefault(st.name, []).append(run)
    return runs, missing


def default_check_dir(runs_dir: Path) -> Path:
    """Where the budget check's 2x runs live: `<runs-dir>_x2` (runs/report -> runs/report_x2)."""
    return runs_dir.with_name(runs_dir.name + "_x2")


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs-dir", default="runs/report")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--settings", default=",".join(BY_NAME), help="comma-separated")
    parser.add_argument("--epoch-scale", type=float, default=EPOCH_SCALE)
    parser.add_argument("--output", default=str(REPO / "experiments" / "RESULTS.md"))
    parser.add_argument("--aggregate-only", action="store_true")
    parser.add_argument(
        "--check-dir", default=None, help="the 2x-budget runs (default: <runs-dir>_x2)"
    )
    parser.add_argument(
        "--no-diagnostics",
        action="store_true",
        help="skip the diagnostics that load models (scale, refiner): quick, tables only",
    )
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    unknown = [n for n in args.settings.split(",") if n not in BY_NAME]
    if unknown:
        print(f"error: unknown settings {unknown}; known: {', '.join(BY_NAME)}", file=sys.stderr)
        return 2
    settings = [BY_NAME[n] for n in args.settings.split(",")]
    runs_dir = Path(args.runs_dir)
    if not args.aggregate_only:
        train_all(settings, seeds, runs_dir, args.epoch_scale, args.dry_run)
        if args.dry_run:
            return 0
    check_dir = Path(args.check_dir) if args.check_dir else None
    aggregate(
        runs_dir,
        seeds,
        Path(args.output),
        args.epoch_scale,
        diagnose=not args.no_diagnostics,
        check_dir=check_dir,
    )
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
