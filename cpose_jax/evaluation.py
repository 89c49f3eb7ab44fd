"""Metrics over whole datasets and the paper's results tables (Table 4 / Table 5 layout).

Every pose set is scored with MPJPE (Protocol #1), N-MPJPE (scale-aligned) and PA-MPJPE
(Protocol #2) in millimetres, plus two scale diagnostics (`log_scale`, `log_scale_sq`: the mean
of log s and of (log s)² for the per-pose optimal scale s of `metrics.optimal_scale`);
3DHP-like sets (`pck=True`) also get 3D PCK@150mm and AUC (0..150 mm) in percent, on the joint
subset given (the 14-joint 3DHP protocol: `metrics.joint_preset('3dhp14', skeleton)`).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax import metrics
from cpose_jax.inference import PoseModel, batched_apply, predict

METRICS = ("mpjpe", "n_mpjpe", "pa_mpjpe", "pck", "auc")
_HEADERS = {
    "mpjpe": "MPJPE (mm)",
    "n_mpjpe": "N-MPJPE (mm)",
    "pa_mpjpe": "PA-MPJPE (mm)",
    "pck": "PCK@150 (%)",
    "auc": "AUC (%)",
}


def per_sample_metrics(
    pred_3d: jax.Array,
    target_3d: jax.Array,
    *,
    joints: Sequence[int] | None = None,
    pck: bool = False,
) -> dict[str, jax.Array]:
    """Per-pose metrics `(B,)` of root-relative poses `(B, J, 3)` in metres (mm / %)."""
    log_scale = jnp.log(jnp.clip(metrics.optimal_scale(pred_3d, target_3d, joints=joints), 1e-3))
    out = {
        "mpjpe": metrics.mpjpe(pred_3d, target_3d, joints=joints),
        "n_mpjpe": metrics.n_mpjpe(pred_3d, target_3d, joints=joints),
        "pa_mpjpe": metrics.pa_mpjpe(pred_3d, target_3d, joints=joints),
        "log_scale": log_scale,
        "log_scale_sq": jnp.square(log_scale),
    }
    if pck:
        out["pck"] = metrics.pck(pred_3d, target_3d, joints=joints)
        out["auc"] = metrics.auc(pred_3d, target_3d, joints=joints)
    return out


@functools.lru_cache(maxsize=64)
def _scorer(predict_fn, joints: tuple[int, ...] | None, pck: bool):
    @jax.jit
    def scores(variables, batch):
        pred = predict_fn(variables, batch["keypoints_2d"], batch["confidence"])["pose_3d"]
        return per_sample_metrics(pred, batch["pose_3d"], joints=joints, pck=pck)

    return scores


def evaluate_arrays(
    predict_fn: Callable[[Any, jax.Array, jax.Array], Mapping[str, jax.Array]],
    variables: Any,
    arrays: Mapping[str, np.ndarray],
    *,
    batch_size: int,
    joints: Sequence[int] | None = None,
    pck: bool = False,
    place_fn: Callable[[dict[str, np.ndarray]], Any] | None = None,
    fetch_fn: Callable[[Any], Any] | None = None,
) -> dict[str, float]:
    """Mean metrics of a model over a model-space dataset (in order, every sample once).

    predict_fn(variables, keypoints_2d, confidence) -> {'pose_3d': (B, J, 3), ...}: jittable
      (e.g. `functools.partial(predict.predict, modules=...)` adapted); it is compiled once per
      (predict_fn, joints, pck) together with the metrics, so keep the same function object
      across calls. The last batch is padded; padding is ignored.
    variables: the model variables passed to predict_fn (a pytree of arrays).
    arrays: model-space arrays with `keypoints_2d, confidence, pose_3d` (N samples).
    place_fn: puts a host batch on devices (default: `jax.device_put`); a data-parallel run
      passes its sharded placement (and its per-process row selection).
    fetch_fn: device -> host numpy (default `jax.device_get`; multi-process: an allgather).
    Returns: {'mpjpe', 'n_mpjpe', 'pa_mpjpe', 'log_scale', 'log_scale_sq'[, 'pck', 'auc'],
      'num_samples'} (dataset means).
    """
    keys = ("keypoints_2d", "confidence", "pose_3d")
    for key in keys:
        if key not in arrays:
            raise ValueError(f"evaluation needs {key!r}; have {sorted(arrays)}")
    n = len(arrays["pose_3d"])
    if n == 0:
        raise ValueError("cannot evaluate an empty dataset")
    scores = _scorer(predict_fn, None if joints is None else tuple(int(j) for j in joints), pck)
    per_sample = batched_apply(
        lambda batch: scores(variables, batch),
        {k: arrays[k] for k in keys},
        batch_size=batch_size,
        place_fn=place_fn or jax.device_put,
        fetch_fn=fetch_fn,
    )
    result = {}
    for k, v in per_sample.items():
        # Batch by batch, in float64 (the sums of a long set stay exact to the last digits).
        v = np.asarray(v, np.float64)
        total = 0.0
        for lo in range(0, n, batch_size):
            total += float(np.sum(v[lo : lo + batch_size]))
        result[k] = total / n
    result["num_samples"] = n
    return result


def _means(per_sample: Mapping[str, np.ndarray], index=None) -> dict[str, float]:
    out = {}
    for k, v in per_sample.items():
        v = np.asarray(v, np.float64)
        out[k] = float(v.mean() if index is None else v[index].mean())
    out["num_samples"] = int(len(next(iter(per_sample.values()))) if index is None else index.sum())
    return out


def model_scorer(model: PoseModel, *, flip: bool, pck: bool) -> Callable:
    """Jitted `fn(variables, batch) -> {variant: {metric: (B,)}}` of a loaded model, for
    variant '' (full model) and, when the model has a refiner, '_no_refiner' (bypassed, the
    Table 5 ablation on one checkpoint): one compiled program per (model, flip, pck)."""
    joints = metrics.joint_preset("3dhp14", model.skeleton) if pck else None
    variants = {"": model.modules}
    if "refiner" in model.modules:
        variants["_no_refiner"] = {n: m for n, m in model.modules.items() if n != "refiner"}

    @jax.jit
    def fn(variables, batch):
        out = {}
        for suffix, mods in variants.items():
            pred = predict(
                {n: variables[n] for n in mods},
                mods,
                batch["keypoints_2d"],
                batch["confidence"],
                skeleton=model.skeleton,
                flip=flip,
            )["pose_3d"]
            out[suffix] = per_sample_metrics(pred, batch["pose_3d"], joints=joints, pck=pck)
        return out

    return fn


def evaluate_model(
    model: PoseModel,
    arrays: Mapping[str, np.ndarray],
    *,
    pck: bool,
    flip: bool,
    batch_size: int,
    actions: np.ndarray | None = None,
    fn: Callable | None = None,
) -> dict[str, dict[str, Any]]:
    """Mean metrics (mm / %) of a loaded model over a model-space set (`keypoints_2d,
    confidence, pose_3d`): {'': full model, '_no_refiner': refiner bypassed (models with a
    refiner)}, each with `per_action` means when `actions` ids `(N,)` are given.
    fn: a `model_scorer(model, flip=, pck=)` to reuse (keeps its compiled programs)."""
    fn = fn or model_scorer(model, flip=flip, pck=pck)
    per = batched_apply(
        lambda batch: fn(model.variables, batch),
        {k: arrays[k] for k in ("keypoints_2d", "confidence", "pose_3d")},
        batch_size=batch_size,
    )
    results = {}
    for suffix in sorted({k.split("/")[0] for k in per}):
        mine = {k.split("/", 1)[1]: v for k, v in per.items() if k.split("/")[0] == suffix}
        res = _means(mine)
        if actions is not None:
            res["per_action"] = {
                str(a): _means(mine, actions == a) for a in sorted(set(actions.tolist()))
            }
        results[suffix] = res
    return results


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int | np.integer):
        return str(int(value))
    return f"{float(value):.2f}"


def markdown_table(rows: Sequence[Sequence[Any]], headers: Sequence[str]) -> str:
    """A GitHub-markdown table; floats with 2 decimals, None as '-'."""
    cells = [[str(h) for h in headers]] + [
        [_fmt(c) if not isinstance(c, str) else c for c in row] for row in rows
    ]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["| " + " | ".join(c.ljust(w) for c, w in zip(cells[0], widths)) + " |"]
    lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in cells[1:]:
        lines.append("| " + " | ".join(c.rjust(w) for c, w in zip(row, widths)) + " |")
    return "\n".join(lines)


def results_table(results: Mapping[str, Mapping[str, float]]) -> str:
    """One model: a row per test set, columns MPJPE, PA-MPJPE, PCK, AUC ('-' where not scored).

    results: {set name: evaluate_arrays(...) output}, in display order.
    """
    rows = []
    for name, res in results.items():
        rows.append([name, int(res.get("num_samples", 0))] + [res.get(m) for m in METRICS])
    return markdown_table(rows, ["test set", "samples"] + [_HEADERS[m] for m in METRICS])


def paper_table(
    models: Mapping[str, Mapping[str, Mapping[str, float]]],
    columns: Sequence[tuple[str, str]],
) -> str:
    """Table 4/5 layout: a row per model, a column per (test set, metric).

    models: {model name: {set name: metrics}}; columns: [(set name, metric), ...], e.g.
    [('lab_test', 'mpjpe'), ('rig2_test', 'mpjpe'), ('wild_test', 'pa_mpjpe')].
    """
    headers = ["method"] + [f"{s} ({_HEADERS[m].split(' ')[0]})" for s, m in columns]
    rows = [[name] + [res.get(s, {}).get(m) for s, m in columns] for name, res in models.items()]
    return markdown_table(rows, headers)


def summarize_for_json(results: Mapping[str, Mapping[str, float]]) -> dict:
    return {
        s: {k: (float(v) if not isinstance(v, int) else v) for k, v in r.items()}
        for s, r in results.items()
    }


__all__ = [
    "METRICS",
    "evaluate_arrays",
    "evaluate_model",
    "markdown_table",
    "model_scorer",
    "paper_table",
    "per_sample_metrics",
    "results_table",
    "summarize_for_json",
]
