"""experiments.report: aggregation over seeds, claim statistics, selection gap (fake run dirs)."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from experiments import report


def _res(mpjpe, pa, scale=1.0, pck=None):
    out = {
        "mpjpe": mpjpe,
        "n_mpjpe": 0.5 * (mpjpe + pa),
        "pa_mpjpe": pa,
        "log_scale": math.log(scale),
        "log_scale_sq": math.log(scale) ** 2,
        "num_samples": 8,
    }
    if pck is not None:
        out.update(pck=pck, auc=pck / 2)
    return out


def _write_run(root, name, seed, wild, lab=50.0, curve=None, best_step=20):
    d = root / name / f"seed{seed}"
    d.mkdir(parents=True)
    results = {
        "lab_val": _res(lab, 40.0),
        "rig2_test": _res(120.0, 80.0, pck=70.0),
        "wild_test": _res(wild, 100.0, scale=1.1),
        "wild_stress_test": _res(wild + 80.0, 150.0, scale=1.2),
    }
    model = f"best by val/mpjpe = {lab:.2f} mm (step {best_step}, stage end_to_end, epoch 2)"
    selected = {"step": best_step, "stage": "end_to_end", "epoch": 2}
    selected |= {"select_metric": "val/mpjpe", "best_metric": lab}
    stages = [
        {"name": "warmup", "epochs": 2, "steps_per_epoch": 10},
        {"name": "end_to_end", "epochs": 3, "steps_per_epoch": 10},
    ]
    doc = {"config": name, "model": model, "selected": selected, "stages": stages}
    doc |= {"batch_size": 256, "results": results, "train_seconds": 60}
    (d / "results.json").write_text(json.dumps(doc))  # the fields experiments.run writes
    (d / "wall.json").write_text(json.dumps({"wall_seconds": 120.0 + seed}))
    rows = [{"step": 5, "train/lifter/loss": 1.0}] + (curve or [])
    (d / "metrics.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")


def test_aggregate_tables_claims_and_selection(tmp_path):
    runs = tmp_path / "runs"
    wild = {"poseaug": (200.0, 210.0), "joint": (190.0, 206.0)}
    for name, values in wild.items():
        for seed, w in enumerate(values):
            curve = [
                {"step": 10, "val/mpjpe": 60.0, "test/wild_test/mpjpe": w - 5},
                {"step": 20, "val/mpjpe": 50.0, "test/wild_test/mpjpe": w},
                {"step": 30, "val/mpjpe": 55.0, "test/wild_test/mpjpe": w + 3},
            ]
            _write_run(runs, name, seed, w, curve=curve)
    out = tmp_path / "doc" / "RESULTS.md"
    summary = report.aggregate(runs, [0, 1], out, 0.03, diagnose=False)
    md = out.read_text()

    # mean ± sample std over the two seeds, worked out by hand: poseaug wild 205.0 ± 7.1.
    assert f"205.0 ± {np.std([200, 210], ddof=1):.1f}" in md
    assert "198.0 ± 11.3" in md  # joint wild: (190 + 206) / 2, std 11.31
    # Paired differences joint - poseaug: -10 and -4 -> -7.0 ± 4.2, lower on 2/2 seeds.
    assert "-7.0 ± 4.2 mm (lower on 2/2 seeds)" in md
    # Selection: val is best at step 20, the wild oracle is step 10 (5 mm lower).
    sel = summary["joint"][0]["selection"]["wild_test"]
    assert sel == {"selected": 190.0, "oracle": 185.0}
    assert "5.0 ± 0.0" in md
    # Scale bias of a 1.1 optimal scale: +10 %, no spread.
    assert "10.0 ± 0.0" in md
    # Budget: 2*10 + 3*10 steps of 256 pairs; wall 2.0 min mean over seeds (120 s, 121 s).
    assert "| 50 | 13k | 2.0 ± 0.0 |" in md and "`warmup:2x10, end_to_end:3x10`" in md
    assert "Every run: batch 256," in md
    assert "**Missing runs**" in md and "supervised/seed0" in md
    for fig in ("curves.png", "curves_detected.png", "error_decomposition.png"):
        assert (out.parent / "results" / fig).stat().st_size > 1000
    assert (
        json.loads((out.parent / "results" / "summary.json").read_text())["poseaug"][1]["seed"] == 1
    )


def test_text_facts_come_from_the_settings_configs():
    """Stage lengths and the number of validations in the text follow the configs."""
    settings = [
        dataclasses.replace(s, overrides=(*s.overrides, "--config.stages.end_to_end.epochs=7"))
        if s.name == "joint"
        else s
        for s in report.SETTINGS
    ]
    facts = report.setting_facts(settings)
    assert facts["stages"]["joint"]["end_to_end"][0] == 7
    assert facts["validations"] == [7, 48, 50, 75]  # joint; PoseAug; supervised; the others
    budget = report._budget_md({}, report.REPO / "runs", 0.03, facts)
    assert "refiner 100, warm-up 10, end-to-end 7 for CameraPose" in " ".join(budget.split())
    assert "minimum over ~7-75" in report._selection_md({}, report.TABLE4_ROWS, facts)
    assert "(first 4096 of `lab_val`)" in report._intro_md([0], [], facts)


def test_dry_run_lists_every_command(capsys):
    assert report.main(["--dry-run", "--seeds", "0,1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 * len(report.SETTINGS)
    assert all("--config.stages.epoch_scale=0.03" in line for line in lines)
    assert sum("use_2d_only=False" in line for line in lines) == 4  # no2d, no2d_blind
    assert sum("order=refiner,pretrain" in line for line in lines) == 2
    assert sum("input_norm=root_scale" in line for line in lines) == 6  # three blind settings


def test_unknown_setting_is_an_error(capsys):
    assert report.main(["--dry-run", "--settings", "joint,nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.parametrize("values", [[1.0], [1.0, 3.0]])
def test_mean_std(values):
    m, s = report.mean_std(values)
    assert m == pytest.approx(np.mean(values))
    assert s == pytest.approx(np.std(values, ddof=1) if len(values) > 1 else 0.0)


def test_scale_diagnostic_on_a_trained_run(tmp_path, tmp_path_factory):
    """The diagnostic loads the selected model, and its numbers match a direct computation."""
    from test_evaluate import trained_workdir

    from cpose_jax import inference
    from cpose_jax.data import pipeline, schema
    from experiments import evaluate

    trained = trained_workdir(tmp_path_factory)
    runs = tmp_path / "runs"
    (runs / "joint").mkdir(parents=True)
    (runs / "joint" / "seed0").symlink_to(trained["workdir"], target_is_directory=True)
    stub = trained["workdir"] / "results.json"
    stub.write_text("{}")
    try:
        diag, fig = report.scale_diagnostic(runs)
    finally:
        stub.unlink()
    assert set(diag) == {"data", "joint"} and len(fig.axes) == 3

    wild_path = trained["world"] / "wild_test.npz"
    ds = schema.load_dataset(wild_path)
    arrays = pipeline.to_model_space(ds, input_2d="gt")
    model = evaluate.load_model(trained["workdir"])
    batch = {k: arrays[k] for k in ("keypoints_2d", "confidence")}
    pred = np.asarray(inference.make_predict(model)(model.variables, batch)["pose_3d"])
    gt = arrays["pose_3d"]
    s = (pred * gt).sum((1, 2)) / (pred * pred).sum((1, 2))
    # A poorly trained model can point some poses the wrong way (s <= 0): clipped at 1e-3.
    log_s = np.log(np.clip(s, 1e-3, None))
    np.testing.assert_allclose(diag["joint"]["wild_test"]["all"], np.median(log_s), rtol=1e-3)
    # Data fact from the raw file: focal in half-widths over the root depth.
    raw_f = np.asarray(ds["intrinsics"])[:, 0] / (np.asarray(ds["image_size"])[:, 0] / 2)
    ratio = raw_f / np.asarray(ds["pose_3d"])[:, 0, 2]
    np.testing.assert_allclose(
        diag["data"]["wild_test"]["f_over_d_median"], np.median(ratio), rtol=1e-4
    )
