"""Evaluate trained checkpoints: the paper's Table 4 and Table 5 layouts, per action, as JSON
and markdown.

    python -m experiments.evaluate --workdir=runs/joint
    python -m experiments.evaluate --workdir=joint=runs/joint --workdir=base=runs/supervised \\
        --dataset h36m=h36m_val.npz --dataset 3dhp=3dhp_test.npz --pck-sets 3dhp --flip

* `--workdir [LABEL=]DIR` (repeatable): a training work directory (`experiments.run`). Only
  what inference needs is read from its checkpoint: the refiner / lifter / camera `params` and
  `batch_stats` (an orbax partial restore; optimizer states, the GAN networks and the fake pool
  stay on disk), placed on this process's first device whatever device count trained it.
  `--checkpoint best|latest|STEP` (default best: the model selected by validation MPJPE, as in
  the paper; falls back to the latest checkpoint when no validation ran).
* Test sets: `--dataset NAME=PATH` (repeatable; prepared `.npz` files of the data schema with
  `pose_3d`), else the test sets of the first workdir's config (the synthetic world's
  `lab_val`, `rig2_test`, `wild_test`, `wild_stress_test` for synthetic runs; `data.tests` for
  file runs).
  `--pck-sets` (default: the config's `data.pck_sets`, plus names containing '3dhp'): sets
  scored like MPI-INF-3DHP (PCK@150 mm and AUC, every metric on the 14-joint 3DHP subset).
* Each set is evaluated with ground-truth 2D input ('gt') and, where it stores detections next
  to ground truth (`keypoints_2d_gt`), with detected 2D + confidences ('detections'); models
  with a refiner are also evaluated with the refiner bypassed ('..._no_refiner'). `--flip`:
  test-time flip augmentation for every setting.
* Output (`--output DIR`, default `<first workdir>/eval`): `evaluation.json` (every number, per
  set, setting and action) and `evaluation.md`:
  - Table 4 layout: a row per model, MPJPE and PA-MPJPE (mm) per set (+ PCK, AUC % for
    3DHP-like sets), ground-truth 2D input, full model;
  - Table 5 layout: a row per model with and without the refiner, MPJPE per set with detected
    and with ground-truth 2D input;
  - per-action MPJPE / PA-MPJPE of every set that has `action` ids.

Exit status 0, or 2 with a one-line `error: ...` (missing workdir or checkpoint, bad dataset).
The shared helpers (`load_model`, `make_apply`, `batched`) also serve `experiments.infer`.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

POSE_NETS = ("refiner", "lifter", "camera")


class EvaluateError(ValueError):
    """A user-facing problem (bad path, missing checkpoint); the message is one line."""


# ------------------------------------------------------------------------------ model loading


@dataclasses.dataclass
class LoadedModel:
    """The inference part of a trained run.

    modules: flax modules by name (subset of refiner, lifter, camera); variables: per network
    `{'params', 'batch_stats'?}` on one device; config: the run's ConfigDict; step: global
    training step of the checkpoint; description: e.g. 'best by val/mpjpe = 52.1 mm (step 900)'.
    """

    workdir: Path
    config: Any
    modules: dict[str, Any]
    variables: dict[str, Any]
    skeleton: Any
    step: int
    kind: str
    description: str

    @property
    def networks(self) -> tuple[str, ...]:
        return tuple(n for n in POSE_NETS if n in self.modules)


def _step_dir(workdir: Path, checkpoint: str) -> tuple[Path, str]:
    def steps(folder: Path) -> list[int]:
        if not folder.is_dir():
            return []
        # orbax writes into '<step>.orbax-checkpoint-tmp-*' and renames when complete, so a
        # purely numeric folder is a finished checkpoint.
        return sorted(
            int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / "state").is_dir()
        )

    best, latest = steps(workdir / "best"), steps(workdir / "checkpoints")
    if checkpoint == "best":
        if best:
            return workdir / "best" / str(best[-1]), "best"
        if latest:
            return workdir / "checkpoints" / str(latest[-1]), "latest (no best checkpoint)"
    elif checkpoint == "latest":
        if latest:
            return workdir / "checkpoints" / str(latest[-1]), "latest"
    elif checkpoint.isdigit():
        if int(checkpoint) in latest:
            return workdir / "checkpoints" / checkpoint, f"step {checkpoint}"
        if int(checkpoint) in best:
            return workdir / "best" / checkpoint, f"step {checkpoint} (best)"
        raise EvaluateError(
            f"{workdir}: no checkpoint at step {checkpoint}; have {latest} (+ best {best})"
        )
    else:
        raise EvaluateError(f"--checkpoint must be best, latest or a step, got {checkpoint!r}")
    if not workdir.is_dir():
        raise EvaluateError(f"{workdir}: no such work directory")
    raise EvaluateError(
        f"{workdir}: no complete checkpoint under checkpoints/ or best/ (train with "
        "python -m experiments.run first)"
    )


def load_model(workdir: str | Path, *, checkpoint: str = "best") -> LoadedModel:
    """Restores the refiner/lifter/camera variables of a run (partial restore, one device)."""
    import jax
    import ml_collections
    import orbax.checkpoint as ocp
    from absl import logging as absl_logging

    from cpose_jax.skeleton import get_skeleton
    from experiments import build

    absl_logging.set_verbosity(absl_logging.ERROR)  # orbax is chatty at INFO/WARNING
    workdir = Path(workdir).resolve()  # orbax reads metadata wrongly from relative paths
    step_dir, kind = _step_dir(workdir, str(checkpoint))
    meta_file = step_dir / "meta" / "metadata"
    try:
        meta = json.loads(meta_file.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise EvaluateError(f"{meta_file}: cannot read the checkpoint's metadata ({e})") from None
    config_dict = meta.get("config")
    if config_dict is None and (workdir / "config.json").exists():
        config_dict = json.loads((workdir / "config.json").read_text())
    if not isinstance(config_dict, dict):
        raise EvaluateError(f"{step_dir}: checkpoint metadata has no run config")
    config = ml_collections.ConfigDict(config_dict)
    try:
        all_modules = build.build_modules(config)
    except (build.ConfigError, AttributeError, KeyError) as e:
        raise EvaluateError(
            f"{step_dir}: cannot rebuild the networks from its config ({e})"
        ) from None
    modules = {n: all_modules[n] for n in POSE_NETS if n in all_modules}

    ckptr = ocp.PyTreeCheckpointer()
    tree = ckptr.metadata(step_dir / "state")
    tree = getattr(tree, "item_metadata", tree)
    tree = getattr(tree, "tree", tree)
    nets = tree.get("nets", {}) if isinstance(tree, Mapping) else {}
    missing = [n for n in modules if n not in nets]
    if missing:
        raise EvaluateError(f"{step_dir}: the checkpoint lacks networks {missing}")
    wanted = {
        "nets": {
            n: {k: nets[n][k] for k in ("params", "batch_stats") if nets[n].get(k)} for n in modules
        }
    }
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree_util.tree_map(
        lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype, sharding=sharding), wanted
    )
    restore_args = jax.tree_util.tree_map(lambda m: ocp.ArrayRestoreArgs(sharding=sharding), wanted)
    restored = ckptr.restore(
        step_dir / "state",
        args=ocp.args.PyTreeRestore(item=target, restore_args=restore_args, partial_restore=True),
    )
    variables = {n: dict(restored["nets"][n]) for n in modules}
    step = int(meta.get("step", int(step_dir.name)))
    desc = f"{kind} checkpoint, step {step}"
    if "best_metric" in meta:
        desc += f", {meta.get('select_metric', 'val')} = {float(meta['best_metric']):.2f} mm"
    return LoadedModel(
        workdir=workdir,
        config=config,
        modules=modules,
        variables=variables,
        skeleton=get_skeleton(config.skeleton),
        step=step,
        kind=kind,
        description=desc,
    )


# ------------------------------------------------------------------------------- batched apply


def make_apply(model: LoadedModel, *, flip: bool = False, refiner: bool = True) -> Callable:
    """`apply(variables, keypoints_2d, confidence) -> predict outputs` (model space), jittable.

    refiner=False bypasses a refiner the model has (Table 5 ablation on one checkpoint).
    """
    from cpose_jax.predict import predict

    modules = {n: m for n, m in model.modules.items() if refiner or n != "refiner"}
    skel = model.skeleton

    def apply(variables, keypoints_2d, confidence):
        vs = {n: variables[n] for n in modules}
        return predict(vs, modules, keypoints_2d, confidence, skeleton=skel, flip=flip)

    return apply


def bucket_sizes(batch_size: int, *, smallest: int = 64) -> tuple[int, ...]:
    """Padded batch sizes: powers of 4 times `smallest`, capped by (and ending at) batch_size."""
    sizes, b = [], smallest
    while b < batch_size:
        sizes.append(b)
        b *= 4
    return (*sizes, batch_size)


def batched(
    fn: Callable[..., Mapping[str, Any]],
    arrays: Mapping[str, np.ndarray],
    *,
    batch_size: int,
    buckets: Sequence[int] | None = None,
) -> dict[str, np.ndarray]:
    """Applies a jitted `fn(**batch) -> {key: (B, ...)}` to `arrays` (leading axis N) in chunks of
    `batch_size`, padding each chunk (by repeating its last row) to the smallest of `buckets`
    (default: only `batch_size`) that holds it, so `fn` compiles once per bucket. Returns the
    concatenated host outputs, padding removed; nested output dicts come back flat
    (`{'a': {'b': x}}` -> key `'a/b'`).
    """
    import jax

    buckets = tuple(sorted(buckets or (batch_size,)))
    n = len(next(iter(arrays.values())))
    outs: dict[str, list[np.ndarray]] = {}
    pending = []
    for lo in range(0, n, batch_size):
        m = min(batch_size, n - lo)
        size = next(b for b in buckets if b >= m)
        idx = np.minimum(np.arange(lo, lo + size), lo + m - 1)
        out = fn(**{k: np.asarray(v[idx]) for k, v in arrays.items()})
        pending.append((m, out))
        if len(pending) >= 4:  # bounded queue of dispatched batches
            _drain(pending, outs, jax)
    _drain(pending, outs, jax)
    if not outs:
        return {}
    return {k: np.concatenate(v, 0) for k, v in outs.items()}


def _drain(pending, outs, jax):
    for m, out in jax.device_get(pending):
        for k, v in _flatten(out).items():
            outs.setdefault(k, []).append(np.asarray(v)[:m])
    pending.clear()


def _flatten(tree: Mapping, prefix: str = "") -> dict[str, Any]:
    """{'a': {'b': x}} -> {'a/b': x} (nested outputs of `batched` come back flat)."""
    flat = {}
    for k, v in tree.items():
        if isinstance(v, Mapping):
            flat.update(_flatten(v, f"{prefix}{k}/"))
        else:
            flat[f"{prefix}{k}"] = v
    return flat


# --------------------------------------------------------------------------------- evaluation


def _per_sample_fn(model: LoadedModel, *, flip: bool, pck: bool):
    """Jitted `fn(keypoints_2d, confidence, pose_3d) -> {variant: {metric: (B,)}}` with variant
    '' (full model) and, when the model has a refiner, '_no_refiner' (bypassed): one compiled
    program per (model, flip, pck) serves every set and both 2D inputs."""
    import jax

    from cpose_jax import metrics
    from cpose_jax.evaluation import per_sample_metrics

    joints = metrics.joint_preset("3dhp14", model.skeleton) if pck else None
    variants = {"": make_apply(model, flip=flip)}
    if "refiner" in model.modules:
        variants["_no_refiner"] = make_apply(model, flip=flip, refiner=False)

    @jax.jit
    def fn(variables, keypoints_2d, confidence, pose_3d):
        out = {}
        for suffix, apply in variants.items():
            pred = apply(variables, keypoints_2d, confidence)["pose_3d"]
            out[suffix] = per_sample_metrics(pred, pose_3d, joints=joints, pck=pck)
        return out

    return fn


def _means(per_sample: Mapping[str, np.ndarray], index=None) -> dict[str, float]:
    out = {}
    for k, v in per_sample.items():
        v = np.asarray(v, np.float64)
        out[k] = float(v.mean() if index is None else v[index].mean())
    out["num_samples"] = int(len(next(iter(per_sample.values()))) if index is None else index.sum())
    return out


def evaluate_set(
    model: LoadedModel,
    arrays: Mapping[str, np.ndarray],
    *,
    pck: bool,
    flip: bool,
    batch_size: int,
    actions: np.ndarray | None = None,
    fn: Callable | None = None,
) -> dict[str, dict[str, Any]]:
    """Mean metrics (mm / %) over a model-space set: {'': full model, '_no_refiner': refiner
    bypassed (models with a refiner)}, each with `per_action` means when `actions` ids `(N,)`
    are given. fn: a `_per_sample_fn(model, flip, pck)` to reuse."""
    fn = fn or _per_sample_fn(model, flip=flip, pck=pck)
    per = batched(
        lambda **b: fn(model.variables, **b),
        {k: arrays[k] for k in ("keypoints_2d", "confidence", "pose_3d")},
        batch_size=batch_size,
    )
    results = {}
    for suffix in {k.split("/")[0] for k in per}:
        mine = {k.split("/", 1)[1]: v for k, v in per.items() if k.split("/")[0] == suffix}
        res = _means(mine)
        if actions is not None:
            res["per_action"] = {
                str(a): _means(mine, actions == a) for a in sorted(set(actions.tolist()))
            }
        results[suffix] = res
    return results


def default_test_sets(config) -> tuple[dict[str, str], tuple[str, ...]]:
    """The test sets a run's config evaluates on ({name: path}) and its PCK (3DHP-like) sets."""
    pck = tuple(s.strip() for s in config.data.pck_sets.split(",") if s.strip())
    d = config.data
    if d.tests:
        tests = {}
        for item in d.tests.split(","):
            name, _, path = item.partition("=")
            tests[name.strip()] = path.strip()
        return tests, pck
    if d.source != "synthetic":
        raise EvaluateError("the run's config has no test sets (data.tests): pass --dataset")
    from cpose_jax.data import synthetic
    from experiments import build

    world = build.synthetic_world(config)
    return {k: str(world[k]) for k in synthetic.TEST_SPLITS}, pck


def load_test_set(path: str | Path, *, max_samples: int = 0) -> dict[str, Any]:
    """A prepared set -> {'gt': model-space arrays, 'detections': ... or None, 'actions'}."""
    from cpose_jax.data import pipeline, schema

    try:
        ds = schema.load_dataset(path)
    except (schema.DatasetError, OSError) as e:
        raise EvaluateError(str(e).splitlines()[0]) from None
    if not ds.has_3d:
        raise EvaluateError(f"{path}: no pose_3d; evaluation needs 3D ground truth")
    if max_samples and len(ds) > max_samples:
        ds = ds.select(np.arange(max_samples))
    out = {"gt": pipeline.to_model_space(ds, input_2d="gt"), "detections": None, "actions": None}
    if "keypoints_2d_gt" in ds:
        out["detections"] = pipeline.to_model_space(ds, input_2d="detections")
    if "action" in ds:
        out["actions"] = np.asarray(ds["action"]).astype(str)
    out["num_samples"] = len(ds)
    return out


def evaluate_models(
    models: Mapping[str, LoadedModel],
    sets: Mapping[str, str],
    *,
    pck_sets: Sequence[str] = (),
    flip: bool = False,
    batch_size: int = 1024,
    max_samples: int = 0,
) -> dict[str, Any]:
    """Every model on every set and setting; the JSON-able result (see the module docstring)."""
    data = {name: load_test_set(p, max_samples=max_samples) for name, p in sets.items()}
    out: dict[str, Any] = {
        "flip": flip,
        "sets": {
            n: {
                "path": str(sets[n]),
                "num_samples": d["num_samples"],
                "pck": n in pck_sets,
                "has_detections": d["detections"] is not None,
            }
            for n, d in data.items()
        },
        "models": {},
    }
    for label, model in models.items():
        res: dict[str, Any] = {}
        fns: dict[bool, Callable] = {}
        for name, d in data.items():
            pck = name in pck_sets
            if pck not in fns:
                fns[pck] = _per_sample_fn(model, flip=flip, pck=pck)
            res[name] = {}
            for inp in ("gt", "detections"):
                if d[inp] is None:
                    continue
                per = evaluate_set(
                    model,
                    d[inp],
                    pck=pck,
                    flip=flip,
                    batch_size=batch_size,
                    actions=d["actions"],
                    fn=fns[pck],
                )
                for suffix in sorted(per):
                    res[name][inp + suffix] = per[suffix]
        out["models"][label] = {
            "workdir": str(model.workdir),
            "config": model.config.name,
            "checkpoint": model.description,
            "step": model.step,
            "networks": list(model.networks),
            "trained_input_2d": model.config.data.input_2d,
            "results": res,
        }
    return out


# ------------------------------------------------------------------------------------ tables


def _get(res: Mapping, set_name: str, setting: str, metric: str):
    return res.get(set_name, {}).get(setting, {}).get(metric)


def table4(result: Mapping[str, Any]) -> str:
    """Paper Table 4 layout: ground-truth 2D input, full model; a row per model."""
    from cpose_jax.evaluation import markdown_table

    cols = []
    for name, info in result["sets"].items():
        cols += [(name, "mpjpe", "MPJPE"), (name, "pa_mpjpe", "PA-MPJPE")]
        if info["pck"]:
            cols += [(name, "pck", "PCK"), (name, "auc", "AUC")]
    rows = [
        [label] + [_get(m["results"], s, "gt", k) for s, k, _ in cols]
        for label, m in result["models"].items()
    ]
    return markdown_table(rows, ["method"] + [f"{s} {h}" for s, _, h in cols])


def table5(result: Mapping[str, Any]) -> str:
    """Paper Table 5 layout: with / without the refiner; MPJPE with detected and GT 2D input."""
    from cpose_jax.evaluation import markdown_table

    cols = []
    for name, info in result["sets"].items():
        if info["has_detections"]:
            cols.append((name, "detections", "MPJPE det"))
        cols.append((name, "gt", "MPJPE GT"))
    rows = []
    for label, m in result["models"].items():
        has_ref = "refiner" in m["networks"]
        for suffix, tag in (("", "w/ refiner"), ("_no_refiner", "w/o refiner")):
            if not has_ref and suffix:
                continue
            name = f"{label} {tag if has_ref else '(no refiner)'}"
            rows.append([name] + [_get(m["results"], s, i + suffix, "mpjpe") for s, i, _ in cols])
    return markdown_table(rows, ["method"] + [f"{s} {h}" for s, _, h in cols])


def action_tables(result: Mapping[str, Any]) -> str:
    """Per-action MPJPE / PA-MPJPE (GT 2D input, full model), a table per set and model."""
    from cpose_jax.evaluation import markdown_table

    parts = []
    for label, m in result["models"].items():
        for name, res in m["results"].items():
            per = res.get("gt", {}).get("per_action")
            if not per:
                continue
            rows = [[a, v["num_samples"], v["mpjpe"], v["pa_mpjpe"]] for a, v in per.items()]
            rows.append(
                ["**all**", res["gt"]["num_samples"], res["gt"]["mpjpe"], res["gt"]["pa_mpjpe"]]
            )
            parts.append(
                f"### {label} on {name}\n\n"
                + markdown_table(rows, ["action", "samples", "MPJPE (mm)", "PA-MPJPE (mm)"])
            )
    return "\n\n".join(parts)


def markdown_report(result: Mapping[str, Any]) -> str:
    lines = ["# Evaluation", ""]
    for label, m in result["models"].items():
        lines.append(
            f"- **{label}**: `{m['workdir']}` ({m['config']}, {m['checkpoint']}; networks "
            f"{', '.join(m['networks'])}; trained on {m['trained_input_2d']} 2D)"
        )
    sets = ", ".join(
        f"{n} ({s['num_samples']}{', 3DHP-like: 14 joints, PCK/AUC' if s['pck'] else ''})"
        for n, s in result["sets"].items()
    )
    lines += [f"- test sets: {sets}", f"- flip test-time augmentation: {result['flip']}", ""]
    lines += [
        "## Table 4 layout (ground-truth 2D input; mm, PCK/AUC in %)",
        "",
        table4(result),
        "",
        "## Table 5 layout (effect of the refinement network; MPJPE mm)",
        "",
        "'w/o refiner' bypasses the refiner of the same checkpoint; the paper's row is a model "
        "trained without one (e.g. `experiments/joint.py:detected,no_refiner`): pass its workdir "
        "as another `--workdir`.",
        "",
        table5(result),
        "",
    ]
    actions = action_tables(result)
    if actions:
        lines += ["## Per action (ground-truth 2D input)", "", actions, ""]
    return "\n".join(lines)


# --------------------------------------------------------------------------------------- CLI


def _parse_named(items: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for item in items:
        name, sep, path = item.partition("=")
        if not sep:
            name, path = Path(item).stem, item
        if not name or not path:
            raise EvaluateError(f"{what} must be NAME=PATH or PATH, got {item!r}")
        if name in out:
            raise EvaluateError(f"{what} name {name!r} given twice")
        out[name] = path
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m experiments.evaluate",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--workdir", action="append", required=True, help="[LABEL=]DIR, repeatable")
    p.add_argument("--dataset", action="append", default=[], help="NAME=PATH.npz, repeatable")
    p.add_argument("--pck-sets", default=None, help="comma-separated 3DHP-like set names")
    p.add_argument("--flip", action="store_true", help="test-time flip augmentation")
    p.add_argument("--checkpoint", default="best", help="best | latest | STEP")
    p.add_argument("--output", default=None, help="output folder (default <workdir>/eval)")
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--max-samples", type=int, default=0, help="first N samples of each set")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    t0 = time.time()
    try:
        if args.batch_size < 1:
            raise EvaluateError(f"--batch-size must be >= 1, got {args.batch_size}")
        workdirs = {}
        for item in args.workdir:
            label, sep, path = item.partition("=")
            if not sep:
                label, path = "", item
            workdirs[label or f"#{len(workdirs)}"] = path
        models = {}
        for label, path in workdirs.items():
            model = load_model(path, checkpoint=args.checkpoint)
            if label.startswith("#"):  # unlabelled: the config name (made unique)
                name = model.config.name
                label = name if name not in models else f"{name}_{label[1:]}"
            models[label] = model
        first = next(iter(models.values()))
        if args.dataset:
            sets = _parse_named(args.dataset, "--dataset")
            pck = tuple(n for n in sets if "3dhp" in n.lower())
        else:
            sets, pck = default_test_sets(first.config)
        if args.pck_sets is not None:
            pck = tuple(s.strip() for s in args.pck_sets.split(",") if s.strip())
        unknown = [s for s in pck if s not in sets and args.pck_sets is not None]
        if unknown:
            raise EvaluateError(f"--pck-sets names unknown sets {unknown}; sets: {sorted(sets)}")
        result = evaluate_models(
            models,
            sets,
            pck_sets=pck,
            flip=args.flip,
            batch_size=args.batch_size,
            max_samples=args.max_samples,
        )
    except EvaluateError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["seconds"] = round(time.time() - t0, 2)
    out_dir = Path(args.output) if args.output else first.workdir / "eval"
    out_dir.mkdir(parents=True, exist_ok=True)
    report = markdown_report(result)
    (out_dir / "evaluation.json").write_text(json.dumps(_finite(result), indent=1))
    (out_dir / "evaluation.md").write_text(report)
    print(report)
    print(f"written {out_dir / 'evaluation.json'} and {out_dir / 'evaluation.md'} "
          f"in {result['seconds']:.1f} s")  # fmt: skip
    return 0


def _finite(x):
    """JSON has no NaN/Inf: write null."""
    if isinstance(x, dict):
        return {k: _finite(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_finite(v) for v in x]
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x


if __name__ == "__main__":
    sys.exit(main())
