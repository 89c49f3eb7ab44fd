"""experiments.evaluate on a tiny trained checkpoint (conftest.py's `trained`, the session's
tiny run): the CLI's numbers equal metrics computed directly from the training state's
predictions; partial restore; clean errors.
"""

from __future__ import annotations

import json
from pathlib import Path

import jax
import numpy as np
import pytest


def _direct(trained, path, *, refiner=True, flip=False, input_2d="gt", pck=False):
    """Per-sample metrics from the in-memory training state (no checkpoint, no CLI code)."""
    from cpose_jax import metrics
    from cpose_jax.data import pipeline, schema
    from cpose_jax.inference import predict, variables_of
    from cpose_jax.skeleton import H36M17

    arrays = pipeline.to_model_space(schema.load_dataset(path), input_2d=input_2d)
    names = ("refiner", "lifter", "camera") if refiner else ("lifter", "camera")
    mods = {n: trained["modules"][n] for n in names}
    run = jax.jit(lambda v, k, c: predict(v, mods, k, c, skeleton=H36M17, flip=flip))
    out = run(variables_of(trained["state"], names), arrays["keypoints_2d"], arrays["confidence"])
    joints = metrics.joint_preset("3dhp14", H36M17) if pck else None
    res = {
        "mpjpe": np.asarray(metrics.mpjpe(out["pose_3d"], arrays["pose_3d"], joints=joints)),
        "pa_mpjpe": np.asarray(metrics.pa_mpjpe(out["pose_3d"], arrays["pose_3d"], joints=joints)),
    }
    if pck:
        res["pck"] = np.asarray(metrics.pck(out["pose_3d"], arrays["pose_3d"], joints=joints))
        res["auc"] = np.asarray(metrics.auc(out["pose_3d"], arrays["pose_3d"], joints=joints))
    return res


def test_cli_reproduces_direct_metrics(trained, tmp_path, capsys):
    from cpose_jax.data import schema
    from experiments import evaluate

    world = trained["world"]
    out = tmp_path / "eval"
    rc = evaluate.main(
        [
            f"--workdir=tiny={trained['workdir']}",
            f"--dataset=lab={world / 'lab_val.npz'}",
            f"--dataset=rig2_3dhp={world / 'rig2_test.npz'}",
            "--checkpoint=latest",
            "--flip",
            "--batch-size=32",  # several batches, the last one padded
            f"--output={out}",
        ]
    )
    assert rc == 0
    result = json.loads((out / "evaluation.json").read_text())
    md = (out / "evaluation.md").read_text()
    assert "Table 4" in md and "Table 5" in md and "Per action" in md
    assert capsys.readouterr().out.count("| method") == 2
    res = result["models"]["tiny"]["results"]
    assert result["sets"]["rig2_3dhp"]["pck"] and not result["sets"]["lab"]["pck"]
    assert set(res["lab"]) == {"gt", "gt_no_refiner", "detections", "detections_no_refiner"}

    cases = [
        ("lab", "gt", dict(input_2d="gt")),
        ("lab", "detections_no_refiner", dict(input_2d="detections", refiner=False)),
        ("rig2_3dhp", "detections", dict(input_2d="detections", pck=True)),
    ]
    for set_name, setting, kw in cases:
        direct = _direct(
            trained,
            world / f"{set_name.split('_')[0]}_{'val' if set_name == 'lab' else 'test'}.npz",
            flip=True,
            **kw,
        )
        got = res[set_name][setting]
        assert got["num_samples"] == len(direct["mpjpe"])
        for k, v in direct.items():
            np.testing.assert_allclose(
                got[k], v.mean(), rtol=1e-4, atol=1e-3, err_msg=f"{set_name} {setting} {k}"
            )
        if set_name == "lab" and setting == "gt":
            actions = schema.load_dataset(world / "lab_val.npz")["action"].astype(str)
            for a, v in got["per_action"].items():
                np.testing.assert_allclose(
                    v["mpjpe"], direct["mpjpe"][actions == a].mean(), rtol=1e-4
                )
                assert v["num_samples"] == int((actions == a).sum())
    # The refiner matters on detections with missing joints only; the settings are distinct runs.
    assert res["lab"]["gt"]["mpjpe"] < 400.0  # trained: well below the ~450 mm of a zero pose


def test_default_sets_and_partial_restore(trained, tmp_path):
    from experiments import evaluate

    model = evaluate.load_model(trained["workdir"], checkpoint="latest")
    assert model.networks == ("refiner", "lifter", "camera")
    assert model.step == trained["steps"]
    # Only params/batch_stats of the pose networks, on one device, equal to the trained state.
    for name, variables in model.variables.items():
        assert set(variables) <= {"params", "batch_stats"}
        want = trained["state"].nets[name].variables()
        for a, b in zip(jax.tree_util.tree_leaves(variables), jax.tree_util.tree_leaves(want)):
            assert len(a.sharding.device_set) == 1
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))

    sets, pck = evaluate.default_test_sets(evaluate.run_config(model))
    assert list(sets) == ["lab_val", "rig2_test", "wild_test", "wild_stress_test"]
    assert pck == ("rig2_test",)
    rc = evaluate.main(
        [f"--workdir={trained['workdir']}", f"--output={tmp_path}", "--max-samples=16"]
    )
    assert rc == 0
    result = json.loads((tmp_path / "evaluation.json").read_text())
    assert result["sets"]["rig2_test"]["pck"] and result["sets"]["wild_test"]["num_samples"] == 16
    (label,) = result["models"]
    assert np.isfinite(result["models"][label]["results"]["wild_test"]["gt"]["pa_mpjpe"])


def test_old_run_config_without_newer_keys_still_rebuilds(tmp_path):
    """A work directory from before the model spec whose config lacks keys added since (here
    model.generator.translation) rebuilds its networks with today's defaults."""
    from experiments import build, configs_common, evaluate

    cfg = configs_common.base_config().to_dict()
    want = build.model_spec(configs_common.base_config())
    del cfg["model"]["generator"]["translation"]
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    assert evaluate._derived_spec(tmp_path, "best") == want


def test_clean_errors(trained, tmp_path, capsys):
    from cpose_jax.data import schema
    from experiments import evaluate

    no3d = tmp_path / "no3d.npz"
    schema.save_dataset(
        no3d,
        keypoints_2d=np.zeros((2, 17, 2)),
        confidence=np.ones((2, 17)),
        image_size=np.full((2, 2), 100.0),
        skeleton="h36m17",
    )
    cases = [
        ([f"--workdir={tmp_path / 'missing'}"], "no such work directory"),
        ([f"--workdir={trained['workdir']}", "--checkpoint=999999"], "no checkpoint at step"),
        ([f"--workdir={trained['workdir']}", f"--dataset=x={no3d}"], "no pose_3d"),
        ([f"--workdir={trained['workdir']}", f"--dataset=x={tmp_path / 'nope.npz'}"], "nope.npz"),
    ]
    for argv, message in cases:
        assert evaluate.main([*argv, f"--output={tmp_path / 'o'}"]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error:") and message in err and "\n" not in err, err


def test_relative_workdir(trained, monkeypatch):
    """`--workdir=runs/joint` (relative, as documented) restores the same networks."""
    from experiments import evaluate

    workdir = Path(trained["workdir"])
    monkeypatch.chdir(workdir.parent)
    model = evaluate.load_model(workdir.name, checkpoint="latest")
    assert set(model.networks) == {"refiner", "lifter", "camera"}
    assert model.step == trained["steps"]


def test_depth_signs_command(trained, tmp_path, capsys):
    """`python -m experiments.depth_signs`: per movement group the share of bones lifted with
    the wrong depth direction, as a table and JSON; the groups' rates pool to the whole set's
    (their counted bones weight them); an unknown set is a one-line error."""
    from experiments import depth_signs

    out = tmp_path / "signs.json"
    res = depth_signs.main([f"--workdir=tiny={trained['workdir']}", f"--output={out}"])
    r = res["tiny"]
    assert json.loads(out.read_text())["tiny"] == r
    assert "| tiny |" in capsys.readouterr().out
    assert r["groups"] and all(0 <= v <= 100 for v in r["groups"].values())
    assert min(r["groups"].values()) <= r["all"] <= max(r["groups"].values())
    with pytest.raises(SystemExit, match="no test set 'nope'"):
        depth_signs.main([f"--workdir={trained['workdir']}", "--set=nope"])
    # The fixture's world has no rare movements: nothing to draw, said in one line.
    with pytest.raises(SystemExit, match="no rare movements"):
        depth_signs.main([f"--workdir={trained['workdir']}", f"--figure={tmp_path / 'f.png'}"])
