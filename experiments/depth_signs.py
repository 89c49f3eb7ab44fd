"""How often a trained model lifts a bone pointing the wrong way in depth, per movement group.

    python -m experiments.depth_signs --workdir=ours=runs/joint --workdir=no2d=runs/joint_no2d \\
        [--set wild_test] [--dataset NAME=PATH.npz] [--output depth_signs.json]

A reprojection (Eq. 7, Eq. 17) cannot tell whether a bone points toward or away from the
camera: both give the same 2D. This counts, on a test set with 3D ground truth and movement
labels, the share of bones whose predicted depth direction is the other one
(`cpose_jax.metrics.bone_depth_sign_errors`, bones at least 5 cm deep), for each movement
group of the synthetic world (rare: floor and inverted; everyday; sport) and per bone for the
rare group. Ground-truth 2D input, the best checkpoint of each work directory.
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


def sign_error_rates(model: inference.PoseModel, test: dict, *, batch_size: int = 1024) -> dict:
    """{'groups': {group: % of counted bones wrong}, 'rare_bones': {bone child joint: %},
    'all': %} of one model on one loaded test set (`evaluate.load_test_set`)."""
    fn = inference.make_predict(model)
    arrays = {k: test["gt"][k] for k in ("keypoints_2d", "confidence")}
    pred = inference.batched_apply(
        lambda batch: fn(model.variables, batch), arrays, batch_size=batch_size
    )["pose_3d"]
    wrong, counted = (
        np.asarray(x)
        for x in metrics.bone_depth_sign_errors(pred, test["gt"]["pose_3d"], model.skeleton)
    )
    rate = lambda rows: float(100 * wrong[rows].sum() / max(counted[rows].sum(), 1))
    actions = test["actions"]
    out = {"all": rate(slice(None)), "groups": {}, "rare_bones": {}}
    for group, movements in GROUPS.items():
        rows = np.isin(actions, movements) if actions is not None else np.zeros(len(pred), bool)
        if rows.any():
            out["groups"][group] = rate(rows)
    rare = np.isin(actions, GROUPS["rare"]) if actions is not None else None
    if rare is not None and rare.any():
        names = model.skeleton.joint_names[1:]
        w, c = wrong[rare].sum(0), np.maximum(counted[rare].sum(0), 1)
        out["rare_bones"] = {n: float(100 * a / b) for n, a, b in zip(names, w, c)}
    return out


def main(argv: Sequence[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", action="append", required=True, help="[LABEL=]DIR, repeatable")
    p.add_argument("--set", default="wild_test", help="the test set to score (default wild_test)")
    p.add_argument("--dataset", default="", help="NAME=PATH.npz instead of the config's sets")
    p.add_argument("--output", default="", help="write the numbers as JSON here")
    args = p.parse_args(argv)
    results = {}
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
        results[label or path] = sign_error_rates(model, test)
    groups = list(GROUPS)
    print(f"| model | all | {' | '.join(groups)} |  (% of bones >= 5 cm deep, wrong sign)")
    print("|---" * (len(groups) + 2) + "|")
    for label, r in results.items():
        cells = [f"{r['groups'][g]:.1f}" if g in r["groups"] else "-" for g in groups]
        print(f"| {label} | {r['all']:.1f} | {' | '.join(cells)} |")
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=1)
    return results


if __name__ == "__main__":
    main()
