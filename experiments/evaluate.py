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
  `lab_val`, `rig2_test`, `wild_test`, `wild_stress_test` for synthetic
  runs; `data.tests` for file runs).
  `--pck-sets` (default: the config's `data.pck_sets`, plus names containing '3dhp'): sets
  scored like MPI-INF-3DHP (PCK@150 mm and AUC, every metric on the 14-joint 3DHP subset).
* Each set is evaluated with ground-truth 2D input ('gt') and, where it stores detections next
  to ground truth (`keypoints_2d_gt`), with detected 2D + confidences ('detections'); models
  with a refiner are also evaluated with the refiner bypassed ('..._no_refiner'). `--flip`:
  test-time flip augmentation for every setting.
* Output (`--output DIR`, default `<first workdir>/eval`): `evaluation.json` (every number, per
  set, setting and action; no NaN/Infinity tokens: a missing number is null) and
  `evaluation.md`, both written all or nothing at the end (`cpose_jax.atomic_io`); existing files
  are refused before any work unless `--overwrite`:
  - Table 4 layout: a row per model, MPJPE and PA-MPJPE (mm) per set (+ PCK, AUC % for
    3DHP-like sets), ground-truth 2D input, full model;
  - Table 5 layout: a row per model with and without the refiner, MPJPE per set with detected
    and with ground-truth 2D input;
  - per-action MPJPE / PA-MPJPE of every set that has `action` ids.

Exit status 0, or 2 with a one-line `error: ...` and nothing written (missing workdir or
checkpoint, bad dataset, existing output without `--overwrite`).
Loading, prediction and the evaluation loop are the library's (`cpose_jax.inference`,
`cpose_jax.evaluation.evaluate_model`); `load_model` here adds the spec of old work directories.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cpose_jax import atomic_io, evaluation, inference


class EvaluateError(ValueError):
    """A user-facing problem (bad path, missing checkpoint); the message is one line."""


def load_model(workdir: str | Path, *, checkpoint: str = "best") -> inference.PoseModel:
    """`cpose_jax.inference.load_pose_model`, also for work directories older than the model
    spec (`model_spec.json`): their spec is derived from the run's config (config.json or the
    checkpoint's meta) through `build.build_modules`, the one place networks are built."""
    spec = None
    try:
        if inference.read_spec(workdir) is None and Path(workdir).is_dir():
            spec = _derived_spec(Path(workdir), str(checkpoint))
        return inference.load_pose_model(workdir, str(checkpoint), spec=spec)
    except inference.ModelLoadError as e:
        raise EvaluateError(str(e)) from None


def _derived_spec(workdir: Path, checkpoint: str) -> dict:
    import ml_collections

    from cpose_jax.train import checkpoint as ckpt
    from experiments import build

    config_dict = None
    if (workdir / "config.json").exists():
        config_dict = json.loads((workdir / "config.json").read_text())
    else:
        step_dir, _ = ckpt.find_checkpoint(workdir, checkpoint)
        config_dict = ckpt.read_meta(step_dir).get("config")
    if not isinstance(config_dict, dict):
        raise EvaluateError(f"{workdir}: no model_spec.json and no run config to derive it from")
    try:
        return build.model_spec(ml_collections.ConfigDict(_with_defaults(config_dict)))
    except (build.ConfigError, AttributeError, KeyError) as e:
        raise EvaluateError(
            f"{workdir}: cannot rebuild the networks from its config ({e})"
        ) from None


def _with_defaults(stored: dict) -> dict:
    """A run config saved by an older version with the keys added since filled in from today's
    defaults (`configs_common.base_config`): options are added opt-in, their defaults keep the
    old behaviour, so the networks of an old run rebuild as they were trained."""
    from experiments import configs_common

    def merge(default, old):
        out = dict(old)
        for k, v in default.items():
            if k not in out:
                out[k] = v
            elif isinstance(v, dict) and isinstance(out[k], dict):
                out[k] = merge(v, out[k])
        return out

    return merge(configs_common.base_config().to_dict(), stored)


def run_config(model: inference.PoseModel):
    """The run's experiment config (ConfigDict) of a loaded model."""
    import ml_collections

    if model.run_config is None:
        raise EvaluateError(f"{model.workdir}: no config.json (the run's config)")
    return ml_collections.ConfigDict(model.run_config)


def default_test_sets(config) -> tuple[dict[str, str], tuple[str, ...]]:
    """The test sets a run's config evaluates on ({name: path}) and its PCK (3DHP-like) sets."""
    from experiments import datasets

    try:
        tests, pck = datasets.test_sets(config)
    except datasets.ConfigError as e:
        raise EvaluateError(str(e)) from None
    if not tests:
        raise EvaluateError("the run's config has no test sets (data.tests): pass --dataset")
    return tests, pck


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
    models: Mapping[str, inference.PoseModel],
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
                fns[pck] = evaluation.model_scorer(model, flip=flip, pck=pck)
            res[name] = {}
            for inp in ("gt", "detections"):
                if d[inp] is None:
                    continue
                per = evaluation.evaluate_model(
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
            "config": model.name,
            "checkpoint": model.description,
            "step": model.step,
            "networks": list(model.networks),
            "trained_input_2d": model.spec["trained_input_2d"],
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
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
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
        first_dir = Path(next(iter(workdirs.values())))
        out_dir = Path(args.output) if args.output else first_dir / "eval"
        targets = (out_dir / "evaluation.json", out_dir / "evaluation.md")
        atomic_io.check_targets(targets, overwrite=args.overwrite)
        models = {}
        for label, path in workdirs.items():
            model = load_model(path, checkpoint=args.checkpoint)
            if label.startswith("#"):  # unlabelled: the config name (made unique)
                name = model.name
                label = name if name not in models else f"{name}_{label[1:]}"
            models[label] = model
        first = next(iter(models.values()))
        if args.dataset:
            sets = _parse_named(args.dataset, "--dataset")
            pck = tuple(n for n in sets if "3dhp" in n.lower())
        else:
            sets, pck = default_test_sets(run_config(first))
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
    except (EvaluateError, atomic_io.OutputError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    result["seconds"] = round(time.time() - t0, 2)
    report = markdown_report(result)
    try:
        atomic_io.write_files(
            {
                targets[0]: atomic_io.json_bytes(atomic_io.finite_or_null(result)),
                targets[1]: report,
            }
        )
    except OSError as e:  # e.g. a full disk: nothing was left behind
        print(f"error: cannot write {out_dir} ({type(e).__name__}: {e})", file=sys.stderr)
        return 2
    print(report)
    print(f"written {targets[0]} and {targets[1]} in {result['seconds']:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
