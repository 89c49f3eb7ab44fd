"""How often a trained model lifts a bone pointing the wrong way in depth, per movement group.

    python -m experiments.depth_signs --workdir=ours=runs/joint --workdir=no2d=runs/joint_no2d \\
        [--set wild_test] [--dataset NAME=PATH.npz] [--output depth_signs.json] [--figure f.png]

A reprojection (Eq. 7, Eq. 17) cannot tell whether a bone points toward or away from the
camera: both give the same 2D. This counts, on a test set with 3D ground truth and movement
labels, the share of bones whose predicted depth direction is the other one
(`cpose_jax.metrics.bone_depth_sign_errors`, bones at least 5 cm deep), for each movement
group of the synthetic world (rare: floor and inverted; everyday; sport) and per bone for the
rare group. Ground-truth 2D input, the best checkpoint of each work directory. `--figure`
draws a few rare poses, the truth beside each model's lift, from the camera and from the side.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import numpy as np

from cpose_jax import inference, metrics
from cpose_jax.data import synthetic_motion
from experiments import evaluate

GROUPS = {
    "rare": synthetic_motion.RARE,
    "everyday": synthetic_motion.EVERYDAY,
    "sport": synthetic_motion.SPORT,
}


def predict_set(model: inference.PoseModel, test: dict, *, batch_size: int = 1024) -> np.ndarray:
    """The model's root-relative 3D `(N, J, 3)` (metres) on a loaded test set's ground-truth
    2D (`evaluate.load_test_set`)."""
    fn = inference.make_predict(model)
    arrays = {k: test["gt"][k] for k in ("keypoints_2d", "confidence")}
    out = inference.batched_apply(
        lambda batch: fn(model.variables, batch), arrays, batch_size=batch_size
    )
    return np.asarray(out["pose_3d"])


def _group_rows(test: dict, group: str) -> np.ndarray:
    """`(N,)` bool: the test set's rows of a movement group (none without movement labels)."""
    actions = test["actions"]
    if actions is None:
        return np.zeros(len(test["gt"]["pose_3d"]), bool)
    return np.isin(actions, GROUPS[group])


def sign_error_rates(pred: np.ndarray, test: dict, skeleton) -> dict:
    """{'groups': {group: % of counted bones wrong}, 'rare_bones': {bone child joint: %},
    'all': %} of predictions `pred (N, J, 3)` on a loaded test set."""
    wrong, counted = (
        np.asarray(x) for x in metrics.bone_depth_sign_errors(pred, test["gt"]["pose_3d"], skeleton)
    )
    rate = lambda rows: float(100 * wrong[rows].sum() / max(counted[rows].sum(), 1))
    out = {"all": rate(slice(None)), "groups": {}, "rare_bones": {}}
    for group in GROUPS:
        rows = _group_rows(test, group)
        if rows.any():
            out["groups"][group] = rate(rows)
    rare = _group_rows(test, "rare")
    if rare.any():
        names = skeleton.joint_names[1:]
        w, c = wrong[rare].sum(0), np.maximum(counted[rare].sum(0), 1)
        out["rare_bones"] = {n: float(100 * a / b) for n, a, b in zip(names, w, c)}
    return out


def rare_pose_figure(preds: dict[str, np.ndarray], test: dict, skeleton, *, num: int = 4):
    """A row per rare pose (`num`, evenly spaced over the set's rare rows): the truth and each
    model's lift, each from the camera and from the side."""
    from matplotlib.figure import Figure

    from cpose_jax import viz

    rows = np.flatnonzero(_group_rows(test, "rare"))
    if not len(rows):
        raise evaluate.EvaluateError("the set has no rare movements to draw")
    rows = rows[np.linspace(0, len(rows) - 1, min(num, len(rows))).astype(int)]
    poses = {"truth": np.asarray(test["gt"]["pose_3d"]), **preds}
    views = (("camera", -90.0), ("side", 0.0))
    cols = len(poses) * len(views)
    fig = Figure(figsize=(2.2 * cols, 2.3 * len(rows)))
    for r, row in enumerate(rows):
        for m, (label, pose) in enumerate(poses.items()):
            for v, (view, azim) in enumerate(views):
                ax = fig.add_subplot(
                    len(rows), cols, r * cols + m * len(views) + v + 1, projection="3d"
                )
                title = f"{label}, {view}" if r == 0 else None
                viz.draw_3d(ax, pose[row], skeleton=skeleton, azim=azim, title=title)
    return fig


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", action="append", required=True, help="[LABEL=]DIR, repeatable")
    p.add_argument("--set", default="wild_test", help="the test set to score (default wild_test)")
    p.add_argument("--dataset", default="", help="NAME=PATH.npz instead of the config's sets")
    p.add_argument("--output", default="", help="write the numbers as JSON here")
    p.add_argument("--figure", default="", help="draw rare poses (truth and each model) here")
    args = p.parse_args(argv)
    results, preds = {}, {}
    for item in args.workdir:
        label, _, path = item.rpartition("=")
        try:
            model = evaluate.load_model(path)
            if args.dataset:
                name, _, set_path = args.dataset.partition("=")
            else:
                name = args.set
                sets, _ = evaluate.default_test_sets(evaluate.run_config(model))
                if name not in sets:
                    raise evaluate.EvaluateError(
                        f"no test set {name!r}; the run has {sorted(sets)}"
                    )
                set_path = sets[name]
            test = evaluate.load_test_set(set_path)
        except (ValueError, OSError) as e:
            sys.exit(f"error: {e}")
        preds[label or path] = predict_set(model, test)
        results[label or path] = sign_error_rates(preds[label or path], test, model.skeleton)
    groups = list(GROUPS)
    print(f"| model | all | {' | '.join(groups)} |  (% of bones >= 5 cm deep, wrong sign)")
    print("|---" * (len(groups) + 2) + "|")
    for label, r in results.items():
        cells = [f"{r['groups'][g]:.1f}" if g in r["groups"] else "-" for g in groups]
        print(f"| {label} | {r['all']:.1f} | {' | '.join(cells)} |")
    if args.figure:
        from cpose_jax import viz

        try:
            viz.save_figure(rare_pose_figure(preds, test, model.skeleton), args.figure)
        except evaluate.EvaluateError as e:
            sys.exit(f"error: {e}")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
