"""The diagnostics that load seed 0's selected models and predict: the scale diagnostic and
the refiner diagnostic."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from experiments.report.figures import colour
from experiments.report.settings import BY_NAME


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
