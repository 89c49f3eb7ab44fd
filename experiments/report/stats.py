"""Numbers from the runs: mean ± std over seeds, paired per-seed changes, the scale
statistics, the selection gap, the generator's fakes at the end of training and the budget
check's rankings, and the per-movement scores pooled into movement groups."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from cpose_jax.data import synthetic_motion
from experiments.report.settings import BY_NAME, SETS

#: The synthetic world's movement groups (`cpose_jax.data.synthetic_motion`), in table order.
MOVEMENT_GROUPS = (
    ("rare", synthetic_motion.RARE),
    ("everyday", synthetic_motion.EVERYDAY),
    ("sport", synthetic_motion.SPORT),
)


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


def value(run: dict, set_name: str, metric: str) -> float | None:
    """A run's `metric` on a test set, or on one movement group of it (`'wild_test/rare'`, from
    the run's per-movement scores); None when the run has no such number."""
    s, _, group = set_name.partition("/")
    res = run.get("movements", {}).get(s, {}).get(group) if group else run["results"].get(s)
    return None if res is None else res.get(metric)


def paired_changes(
    runs: dict, a: str, b: str, s: str, metric: str = "mpjpe", *, relative: bool = False
) -> dict[int, float]:
    """{seed: b - a} over the seeds on which both settings have the number: mm (or the
    metric's unit), or with `relative` in % of a's value. The one place where rows are paired
    by seed. `s`: a test set or a movement group of one (see `value`)."""
    by_seed = {r["seed"]: value(r, s, metric) for r in runs.get(a, [])}
    out = {}
    for r in runs.get(b, []):
        base, this = by_seed.get(r["seed"]), value(r, s, metric)
        if base is not None and this is not None:
            out[r["seed"]] = 100.0 * (this - base) / base if relative else this - base
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


def total_steps(stages: Sequence[dict]) -> int:
    return sum(s["epochs"] * s["steps_per_epoch"] for s in stages)


#: The generator's fakes as `experiments.run` logs them (`cpose_jax.diagnostics`,
#: `train/generator/*` in metrics.jsonl): (key, panel title).
FAKE_STATS = (
    ("train/generator/fake_root_depth_median", "root depth, median (m)"),
    ("train/generator/fake_extent_ratio", "2D extent / real 2D extent (medians)"),
    ("train/generator/fake_torso_down_fraction", "share upside down (torso > 90° from up)"),
    ("train/generator/usable_fraction", "share usable as augmented pairs"),
)
END_ROWS = 5  # "at the end of training": the mean of the last 5 logged values


def fakes_at_end(run: dict) -> dict[str, float]:
    """{stat key: mean of its last `END_ROWS` logged values} for the statistics the run logs."""
    out = {}
    for key, _ in FAKE_STATS:
        values = [r[key] for r in run["train_rows"] if key in r]
        if values:
            out[key] = float(np.mean(values[-END_ROWS:]))
    return out


def movement_groups(per_action: dict[str, dict]) -> dict[str, dict[str, float]]:
    """Per-movement means (`experiments.evaluate`'s `per_action`) pooled into
    `MOVEMENT_GROUPS`: {group: {metric: mean over the group's poses, 'num_samples'}}; a group
    without poses is left out, a movement outside the groups ignored."""
    out = {}
    for group, movements in MOVEMENT_GROUPS:
        parts = [per_action[m] for m in movements if per_action.get(m, {}).get("num_samples")]
        n = sum(p["num_samples"] for p in parts)
        if not n:
            continue
        metrics = [
            k for k in parts[0] if k != "num_samples" and None not in (p.get(k) for p in parts)
        ]
        out[group] = {k: sum(p[k] * p["num_samples"] for p in parts) / n for k in metrics}
        out[group]["num_samples"] = n
    return out
