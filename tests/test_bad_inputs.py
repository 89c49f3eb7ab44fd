"""Bad input never yields a wrong number or a half-written file (issue 15).

Table-driven: every malformed input of `experiments.infer`, the converters, `experiments.evaluate`
and `experiments.run` ends in ONE line `error: ...` on stderr, exit status 2, and leaves nothing
behind (the folder holds exactly the inputs the test wrote). The CLIs run in-process
(`main(argv)`) except `experiments.run` (absl flags: a subprocess, refused before JAX starts
work, about 1 s each). Cases that need inference use the session's tiny trained model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]


def _coco17(center, scale=100.0):
    """A plausible standing COCO-17 person (pixels) around `center`."""
    pts = np.array(
        [
            [0, -1.6], [-0.08, -1.66], [0.08, -1.66], [-0.16, -1.6], [0.16, -1.6],
            [-0.35, -1.3], [0.35, -1.3], [-0.45, -0.8], [0.45, -0.8], [-0.5, -0.35], [0.5, -0.35],
            [-0.2, -0.3], [0.2, -0.3], [-0.22, 0.4], [0.22, 0.4], [-0.24, 1.1], [0.24, 1.1],
        ]
    )  # fmt: skip
    return pts * scale + np.asarray(center, float)


def _det(center=(960, 540), scale=200.0, **kw):
    """A detector result (keypoint scores 0.9); `kw` replaces fields."""
    xy = _coco17(center, scale)
    trip = np.concatenate([xy, np.full((17, 1), 0.9)], -1).reshape(-1).tolist()
    return {"image_id": 1, "category_id": 1, "keypoints": trip, "score": 0.8, **kw}


def _files(folder: Path) -> list[str]:
    """Every file and folder under `folder` (hidden temporary files included)."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


def _one_line_error(capsys, message: str) -> str:
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err, err
    assert "error:" in err and message in err, err
    return err


# ----------------------------------------------------------------------------- infer inputs

_DETS_1080P = [_det((960, 540)), _det((400, 500), 150)]  # people well inside a 1920x1080 image


def _write_input(path: Path, content) -> None:
    if isinstance(content, np.ndarray):
        np.save(path, content)
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content if isinstance(content, str) else json.dumps(content))


def _truncated_npz() -> bytes:
    import io

    buf = io.BytesIO()
    np.savez(buf, keypoints=np.ones((50, 17, 3)), image_size=np.full((50, 2), 100.0))
    return buf.getvalue()[:400]


def _h36m_order_npy() -> np.ndarray:
    return np.concatenate([np.full((3, 17, 2), 50.0), np.ones((3, 17, 1))], -1)


INFER_CASES = [
    # (name, input file, content, extra argv, message)
    ("image size too small", "d.json", _DETS_1080P, ["--image-size", "100", "100"],
     "keypoints lie outside the declared image size"),
    ("image size 1x1", "d.json", _DETS_1080P, ["--image-size", "1", "1"],
     "outside its image"),
    ("coordinates 1e38", "d.json", [_det(), _det((1e38, 1e38), 1.0)],
     ["--image-size", "1920", "1080"], "far outside its image"),
    ("non-numeric score", "d.json", [_det(score="high")],
     ["--image-size", "1920", "1080"], "entry 0: score: must be a number"),
    ("string bbox", "d.json", [_det(bbox=["1", "2", "3", "4"])],
     ["--image-size", "1920", "1080"], "entry 0: bbox[2] (width): must be a number"),
    ("string keypoint", "d.json", [dict(_det(), keypoints=["a"] * 51)],
     ["--image-size", "1920", "1080"], "entry 0: keypoints: element 0 must be a number"),
    ("keypoints a number", "d.json", [dict(_det(), keypoints=5)],
     ["--image-size", "1920", "1080"], "entry 0: keypoints: must be a list of numbers"),
    ("truncated npz", "d.npz", _truncated_npz(), [], "file (truncated?)"),
    ("ambiguous joint count", "d.npy", _h36m_order_npy(), ["--image-size", "100", "100"],
     "17 joints per person fit layouts"),
    ("unknown figure format", "d.json", _DETS_1080P,
     ["--image-size", "1920", "1080", "--figures", "{tmp}/f.jpg"], "unsupported figure format"),
    ("figure people not numbers", "d.json", _DETS_1080P,
     ["--image-size", "1920", "1080", "--figures", "{tmp}/figs/", "--figure-people=abc"],
     "--figure-people must be comma-separated"),
    ("figure people out of range", "d.json", _DETS_1080P,
     ["--image-size", "1920", "1080", "--figures", "{tmp}/figs/", "--figure-people=0,7"],
     "--figure-people [7] out of range"),
    ("output folder is a file", "d.json", _DETS_1080P,
     ["--image-size", "1920", "1080", "--output={tmp}/d.json/x"], "is a file, not a folder"),
]  # fmt: skip


@pytest.mark.parametrize("case", INFER_CASES, ids=[c[0] for c in INFER_CASES])
def test_infer_bad_input_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    from experiments import infer

    _, name, content, extra, message = case
    _write_input(tmp_path / name, content)
    before = _files(tmp_path)
    extra = [e.replace("{tmp}", str(tmp_path)) for e in extra]
    argv = [f"--workdir={tmp_path / 'no_model'}", f"--input={tmp_path / name}"]
    if not any(e.startswith("--output") for e in extra):
        argv.append(f"--output={tmp_path / 'out'}")
    assert infer.main([*argv, *extra]) == 2
    _one_line_error(capsys, message)
    assert _files(tmp_path) == before


def test_infer_existing_output_needs_overwrite(tmp_path, capsys):
    from experiments import infer

    _write_input(tmp_path / "d.json", _DETS_1080P)
    (tmp_path / "out.npz").write_bytes(b"old")
    argv = [f"--workdir={tmp_path / 'no_model'}", f"--input={tmp_path / 'd.json'}"]
    assert infer.main([*argv, f"--output={tmp_path / 'out'}", "--image-size", "1920", "1080"]) == 2
    _one_line_error(capsys, "out.npz: output exists; pass --overwrite")
    assert (tmp_path / "out.npz").read_bytes() == b"old" and not (tmp_path / "out.json").exists()


def test_infer_output_names_and_all_or_nothing(trained, tmp_path, capsys, monkeypatch):
    from cpose_jax import atomic_io
    from experiments import infer

    _write_input(tmp_path / "d.json", _DETS_1080P)
    base = [f"--workdir={trained['workdir']}", f"--input={tmp_path / 'd.json'}"]
    base += ["--image-size", "1920", "1080"]
    # Names are taken as given (a dotted name keeps every part); DIR/ is a folder.
    assert infer.main([*base, f"--output={tmp_path / 'run.2024.v2'}"]) == 0
    assert (tmp_path / "run.2024.v2.json").is_file() and (tmp_path / "run.2024.v2.npz").is_file()
    assert infer.main([*base, f"--output={tmp_path / 'res'}/", "--figures", f"{tmp_path}/f/"]) == 0
    assert sorted(p.name for p in (tmp_path / "res").iterdir()) == [
        "predictions.json",
        "predictions.npz",
    ]
    assert [p.name for p in (tmp_path / "f").iterdir()] == ["people_000.png"]
    doc = json.loads((tmp_path / "res" / "predictions.json").read_text())
    assert doc["num_people"] == 2
    # Existing outputs: refused without --overwrite, replaced with it.
    assert infer.main([*base, f"--output={tmp_path / 'res'}/"]) == 2
    _one_line_error(capsys, "output exists; pass --overwrite")
    assert infer.main([*base, f"--output={tmp_path / 'res'}/", "--overwrite"]) == 0

    # A full disk while writing the second file: rc 2, one line, no output and no temp file.
    before = _files(tmp_path)
    real_fdopen = os.fdopen
    calls = {"n": 0}

    class _Full:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(28, "No space left on device")

    def fdopen(fd, *a, **k):
        calls["n"] += 1
        f = real_fdopen(fd, *a, **k)
        return _Full(f) if calls["n"] == 2 else f

    monkeypatch.setattr(atomic_io.os, "fdopen", fdopen)
    capsys.readouterr()
    assert infer.main([*base, f"--output={tmp_path / 'full'}"]) == 2
    _one_line_error(capsys, "No space left on device")
    assert _files(tmp_path) == before
    monkeypatch.undo()

    # Non-finite predictions are refused, never written as NaN / Infinity JSON tokens.
    model = infer.load_model(trained["workdir"])
    kp = infer.load_keypoints(tmp_path / "d.json", image_size=(1920, 1080))
    out = infer.infer(model, kp)
    out["pose_3d"] = out["pose_3d"].copy()
    out["pose_3d"][1, 3, 0] = np.inf
    with pytest.raises(ValueError, match=r"non-finite outputs .*pose_3d.* 1 of 2"):
        infer.output_files(model, kp, out)


def test_no_usable_keypoints_one_rule(tmp_path):
    # The same file through infer's reader, data_prep.detections and data_prep.coco: the person
    # whose keypoints are all NaN / score 0 is skipped by all three and counted.
    from cpose_jax.io_keypoints import load_keypoints
    from data_prep import coco, detections

    nan = dict(_det(), keypoints=[float("nan")] * 51)
    zero = dict(_det(), keypoints=[0.0, 0.0, 0.0] * 17)
    good = _det()
    path = tmp_path / "r.json"
    path.write_text(json.dumps([good, nan, zero]).replace("NaN", "null"))
    kp = load_keypoints(path, image_size=(1920, 1080))
    assert len(kp) == 1 and kp.skipped == {"no_keypoints": 2}
    d = detections.convert_results_json(path, image_size=(1920, 1080))
    assert len(d) == 1 and d.meta["skipped"]["no_keypoints"] == 2
    anns = [dict(a, id=i, bbox=[0, 0, 10, 10]) for i, a in enumerate([good, zero])]
    anns[0]["keypoints"] = [v if (i % 3) != 2 else 2 for i, v in enumerate(good["keypoints"])]
    ann_file = tmp_path / "ann.json"
    ann_file.write_text(
        json.dumps({"images": [{"id": 1, "width": 1920, "height": 1080}], "annotations": anns})
    )
    c = coco.convert(ann_file)
    assert len(c) == 1 and c.meta["skipped"]["no_keypoints"] == 1
    # An all-NaN detections file: nothing usable, a one-line error and no output.
    np.save(tmp_path / "nan.npy", np.full((4, 17, 3), np.nan))
    out = tmp_path / "o.npz"
    rc = detections.main(["--npy", str(tmp_path / "nan.npy"), "--image-size", "9", "9",
                          "--out", str(out)])  # fmt: skip
    assert rc == 2 and not out.exists()


# ------------------------------------------------------------------------------ converters


def _coco_ann(**change):
    ann = {"id": 1, "image_id": 1, "category_id": 1, "keypoints": [10, 10, 2] * 17,
           "bbox": [0, 0, 50, 50], "iscrowd": 0}  # fmt: skip
    ann.update(change)
    return {"images": [{"id": 1, "width": 100, "height": 100}], "annotations": [ann]}


def _mpii(**change):
    person = {"image": "a.jpg", "joints": [[10.0, 10.0]] * 16, "joints_vis": [1] * 16,
              "center": [50, 50], "scale": 1.0}  # fmt: skip
    person.update(change)
    return [person]


def _skipose_h5(path: Path, three_d):
    with h5py.File(path, "w") as f:
        f["3D"] = three_d
        f["2D"] = np.zeros((1, 34))
        f["cam_intrinsic"] = np.eye(3)[None]
        for key in ("seq", "cam", "subj"):
            f[key] = np.zeros(1)


CONVERTER_CASES = [
    # (name, module, file name, content, argv after the input, message)
    ("coco keypoints a number", "coco", "a.json", _coco_ann(keypoints=5), [],
     "entry 0: keypoints: must be a list of numbers"),
    ("coco string bbox", "coco", "a.json", _coco_ann(bbox=["0", "0", "5", "5"]), [],
     "entry 0: bbox[2] (width): must be a number"),
    ("coco annotation not an object", "coco", "a.json",
     {"images": [], "annotations": [5]}, [], "entry 0: expected an object"),
    ("coco string image width", "coco", "a.json",
     dict(_coco_ann(), images=[{"id": 1, "width": "wide", "height": 100}]), [],
     "images[0]: width: must be a number"),
    ("mpii scalar joints_vis", "mpii", "m.json", _mpii(joints_vis=1), ["--image-size", "9", "9"],
     "entry 0 (a.jpg): joints_vis: must be a list of 16 values"),
    ("mpii list image", "mpii", "m.json", _mpii(image=["a.jpg"]), ["--image-size", "9", "9"],
     "entry 0: image: must be a file name"),
    ("mpii string joints", "mpii", "m.json", _mpii(joints=[["a", "b"]] * 16),
     ["--image-size", "9", "9"], "entry 0 (a.jpg): joints: must be numeric"),
    ("detections string score", "detections", "r.json",
     [dict(_det((50, 50), 10), score="x")], ["--image-size", "100", "100"],
     "entry 0: score: must be a number"),
    ("detections wrong image size", "detections", "r.json", _DETS_1080P,
     ["--image-size", "100", "100"], "keypoints lie outside the declared image size"),
    ("skipose scalar 3D", "skipose", "labels.h5", 5.0, [],
     "dataset '3D': expected an array of >= 1 dimensions"),
]  # fmt: skip

_INPUT_FLAG = {"coco": "--ann", "mpii": "--json", "detections": "--results", "skipose": "--labels"}


@pytest.mark.parametrize("case", CONVERTER_CASES, ids=[c[0] for c in CONVERTER_CASES])
def test_converter_bad_input_one_line_exit_2_nothing_written(case, tmp_path, capsys):
    import importlib

    _, module, name, content, extra, message = case
    path = tmp_path / name
    if name.endswith(".h5"):
        _skipose_h5(path, content)
    else:
        path.write_text(json.dumps(content))
    before = _files(tmp_path)
    mod = importlib.import_module(f"data_prep.{module}")
    argv = [_INPUT_FLAG[module], str(path), *extra, "--out", str(tmp_path / "out.npz")]
    assert mod.main(argv) == 2
    _one_line_error(capsys, message)
    assert _files(tmp_path) == before


# -------------------------------------------------------------------------------- evaluate


def test_evaluate_refuses_existing_outputs_before_work(tmp_path, capsys):
    from experiments import evaluate

    out = tmp_path / "eval"
    out.mkdir()
    (out / "evaluation.md").write_text("old")
    argv = [f"--workdir={tmp_path / 'missing'}", f"--output={out}"]
    assert evaluate.main(argv) == 2
    _one_line_error(capsys, "evaluation.md: output exists; pass --overwrite")
    assert _files(tmp_path) == ["eval", "eval/evaluation.md"]


def test_evaluate_refuses_a_dataset_not_in_metres(trained, tmp_path, capsys):
    # metres divided by 1000 again (the 3DHP mistake that scored PA-MPJPE 0.23 mm)
    from cpose_jax.data import schema
    from experiments import evaluate

    ds = schema.load_dataset(trained["world"] / "lab_val.npz")
    arrays = {k: ds[k][:8] for k in ("keypoints_2d", "confidence", "image_size", "pose_3d")}
    arrays["pose_3d"] = arrays["pose_3d"] / 1000
    arrays["pose_3d"][..., 2] += 4.0
    np.savez(
        tmp_path / "small.npz",
        format_version=1,
        skeleton="h36m17",
        meta="{}",
        **arrays,
    )
    before = _files(tmp_path)
    argv = [f"--workdir={trained['workdir']}", f"--dataset=x={tmp_path / 'small.npz'}"]
    assert evaluate.main([*argv, f"--output={tmp_path / 'o'}"]) == 2
    _one_line_error(capsys, "key 'pose_3d': median bone length")
    assert _files(tmp_path) == before


# ------------------------------------------------------------------------------ run configs


def _run(tmp_path, *args):
    env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=str(ROOT))
    env["XLA_FLAGS"] = "--xla_force_host_platform_device_count=1"
    return subprocess.run(
        [sys.executable, "-m", "experiments.run", f"--workdir={tmp_path / 'w'}", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip


TINY = "--config=experiments/joint.py:tiny"
CONFIG_CASES = [
    ("batch_size 0", [TINY, "--config.train.batch_size=0"], "train.batch_size=0: must be >= 1"),
    ("negative lr", [TINY, "--config.stages.warmup.lr=-0.001"], "stages.warmup.lr=-0.001"),
    ("negative lr scale", [TINY, "--config.optim.lifter.lr_scale=-1.0"],
     "optim.lifter.lr_scale=-1.0: must be a finite number >= 0"),
    ("too many devices", [TINY, "--config.train.num_devices=64"],
     "train.num_devices=64 but only 1 device(s)"),
    ("missing config file", ["--config=experiments/nope.py"],
     "no such config file 'experiments/nope.py'"),
    ("unknown variant", ["--config=experiments/joint.py:smoke,bogus"],
     "unknown config variant 'bogus'"),
    ("missing data file", [TINY, "--config.data.source=files",
                           "--config.data.paired=/nonexistent.npz",
                           "--config.stages.order=pretrain"], "/nonexistent.npz"),
]  # fmt: skip


@pytest.mark.parametrize("case", CONFIG_CASES, ids=[c[0] for c in CONFIG_CASES])
def test_config_error_one_line_exit_2_nothing_written(case, tmp_path):
    _, args, message = case
    proc = _run(tmp_path, *args)
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, err[-2000:])
    assert "\n" not in err and "Traceback" not in err and message in err, err
    assert _files(tmp_path) == []


def test_changed_architecture_refused_before_config_is_overwritten(tmp_path):
    # A finished workdir: its config.json and checkpoints. A re-run with another lifter width
    # must refuse before touching config.json (it describes the checkpoints).
    sys.path.insert(0, str(ROOT))
    from experiments import joint

    workdir = tmp_path / "w"
    (workdir / "checkpoints" / "100").mkdir(parents=True)
    config_json = joint.get_config("tiny").to_json_best_effort(indent=1)
    (workdir / "config.json").write_text(config_json)
    before = _files(tmp_path)
    proc = _run(tmp_path, TINY, "--config.model.lifter.features=64")
    err = proc.stderr.strip()
    assert proc.returncode == 2 and "\n" not in err, err
    assert "holds checkpoints of another architecture" in err and "lifter.features" in err, err
    assert (workdir / "config.json").read_text() == config_json and _files(tmp_path) == before
    # Dropping the GAN stages removes networks from the state: also refused.
    proc = _run(tmp_path, TINY, "--config.stages.order=pretrain")
    assert proc.returncode == 2 and "GAN networks True -> False" in proc.stderr, proc.stderr
    assert (workdir / "config.json").read_text() == config_json and _files(tmp_path) == before


def test_resuming_a_checkpoint_of_another_state_layout_is_a_clear_error(tmp_path):
    """A checkpoint whose optimizer state has another structure (here: optax.flatten's one
    vector per network) is refused with a CheckpointError that says why and what still
    works, not orbax's bare tree-structure message."""
    import jax.numpy as jnp

    from cpose_jax.train import optim
    from cpose_jax.train.checkpoint import Checkpointer, CheckpointError

    params = {"dense": {"kernel": jnp.ones((3, 2)), "bias": jnp.zeros(2)}}
    old = {"params": params, "opt": optim.make_optimizer(1e-3, flatten=True).init(params)}
    new = {"params": params, "opt": optim.make_optimizer(1e-3).init(params)}
    ckpt = Checkpointer(tmp_path)
    ckpt.save(7, old, {"step": 7})
    assert ckpt.restore_latest(old)[1] == {"step": 7}  # the same layout restores
    with pytest.raises(CheckpointError, match="does not match this run's training state") as e:
        ckpt.restore_latest(new)
    msg = str(e.value)
    assert "laid out differently" in msg and "experiments.evaluate" in msg
    assert "new work directory" in msg
    assert "\n" not in str(e.value)
    ckpt.close()
