"""experiments.run end to end in subprocesses: kill -9 + resume == uninterrupted, two
processes with jax.distributed == one process, clean config errors; non-finite loss in-process.

All runs share one tiny config (`joint.py:tiny,detected`, two cheap stages) and one persistent
XLA compile cache, so repeated runs of the same programs do not compile again.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import orbax.checkpoint as ocp
import pytest

from cpose_jax.train import checkpoint, loop
from cpose_jax.train.state import tree_all_finite
from experiments import build, joint

ROOT = Path(__file__).resolve().parents[1]
VARIANT = "tiny,detected"
# Two cheap stages: refiner (8 steps), then lifter + camera supervised (3 epochs = 24 steps).
OVERRIDES = [
    "--config.stages.order=refiner,pretrain",
    "--config.stages.pretrain.epochs=3",
    "--config.stages.pretrain.train_camera=True",
]
TOTAL_STEPS = 32


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    base = tmp_path_factory.mktemp("run")
    return {"world": str(base / "world"), "xla": str(base / "xla")}


def _env(devices: int) -> dict:
    env = dict(os.environ)
    # conftest.py's fast-compiling flags (the tests compare runs, not speed), then the devices.
    env["XLA_FLAGS"] = (
        f"{os.environ['XLA_FLAGS']} --xla_backend_optimization_level=0"
        f" --xla_force_host_platform_device_count={devices}"
    )
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cmd(shared, workdir, *extra) -> list[str]:
    return [
        "timeout", "-k", "5", "-s", "KILL", "240",
        sys.executable, "-m", "experiments.run",
        f"--config=experiments/joint.py:{VARIANT}",
        f"--workdir={workdir}",
        f"--config.data.synthetic.cache_dir={shared['world']}",
        f"--config.train.compilation_cache={shared['xla']}",
        *OVERRIDES,
        *extra,
    ]  # fmt: skip


def _run(shared, workdir, *extra, devices=2, check=True):
    proc = subprocess.run(
        _cmd(shared, workdir, *extra),
        cwd=ROOT,
        env=_env(devices),
        capture_output=True,
        text=True,
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"rc={proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return proc


def _final_params(workdir: Path, step: int = TOTAL_STEPS) -> dict:
    """The networks of a saved state, restored onto this process's first device (whatever
    topology saved it)."""
    path = workdir / "checkpoints" / str(step) / "state"
    ckptr = ocp.StandardCheckpointer()
    tree = ckptr.metadata(path).item_metadata.tree
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    target = jax.tree_util.tree_map(
        lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree
    )
    return jax.tree_util.tree_map(np.asarray, ckptr.restore(path, target)["nets"])


def _assert_trees_close(a, b, atol):
    leaves_a, tree_a = jax.tree_util.tree_flatten(a)
    leaves_b, tree_b = jax.tree_util.tree_flatten(b)
    assert tree_a == tree_b
    worst = max(float(np.max(np.abs(x - y))) if x.size else 0.0 for x, y in zip(leaves_a, leaves_b))
    assert worst <= atol, worst


@pytest.fixture(scope="module")
def reference(shared, tmp_path_factory):
    """The uninterrupted run: one process, two devices."""
    full = tmp_path_factory.mktemp("full")
    _run(shared, full)
    return full


def test_killed_run_resumes_to_the_same_parameters(shared, reference, tmp_path):
    full = reference
    assert (
        sorted(int(p.name) for p in (full / "checkpoints").iterdir() if p.name.isdigit())[-1]
        == TOTAL_STEPS
    )
    results = json.loads((full / "results.json").read_text())
    assert set(results["results"]) == {"lab_val", "rig2_test", "wild_test", "wild_stress_test"}
    assert "results.md" in os.listdir(full) and (full / "metrics.jsonl").stat().st_size > 0

    # SIGKILL after step 22: mid-stage (pretrain runs steps 8..31), between checkpoints (20, 24).
    killed = tmp_path / "killed"
    proc = _run(shared, killed, "--config.train.kill_at_step=22", check=False)
    assert proc.returncode in (-9, 137), proc.stderr[-2000:]
    steps = sorted(int(p.name) for p in (killed / "checkpoints").iterdir() if p.name.isdigit())
    assert steps[-1] == 20
    resumed = _run(shared, killed)
    assert "resumed from step 20" in resumed.stdout
    _assert_trees_close(_final_params(full), _final_params(killed), atol=1e-6)

    # The log reads as the uninterrupted run's (no record falls between checkpoint 20 and the
    # kill here; tests/test_logging.py checks that such records and a cut line are dropped).
    def logged_steps(workdir):
        lines = (workdir / "metrics.jsonl").read_text().splitlines()
        return [json.loads(line)["step"] for line in lines]

    assert logged_steps(killed) == logged_steps(full)
    # Running a finished run again only re-evaluates, with the same table.
    again = _run(shared, killed)
    assert "resumed from step 32" in again.stdout
    assert (killed / "results.md").read_text() == (full / "results.md").read_text()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_equal_one_process(shared, reference, tmp_path):
    """2 processes x 1 device (gloo over localhost) == 1 process x 2 devices, same batches."""
    multi = tmp_path / "multi"
    port = _free_port()
    procs = [
        subprocess.Popen(
            _cmd(
                shared,
                multi,
                f"--coordinator_address=127.0.0.1:{port}",
                f"--coordinator_bind_address=127.0.0.1:{port}",
                "--num_processes=2",
                f"--process_id={i}",
            ),
            cwd=ROOT,
            env=_env(1),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [p.communicate() for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, f"{out[-2000:]}\n{err[-4000:]}"
    assert "devices 2 (2 process(es))" in outs[0][0]
    _assert_trees_close(_final_params(reference), _final_params(multi), atol=1e-5)
    got = json.loads((multi / "results.json").read_text())["results"]
    want = json.loads((reference / "results.json").read_text())["results"]
    for name in want:
        assert got[name]["mpjpe"] == pytest.approx(want[name]["mpjpe"], rel=1e-4)


def test_unknown_config_key_is_a_clean_error(shared, tmp_path):
    proc = _run(shared, tmp_path / "w", "--config.train.no_such_key=1", check=False, devices=1)
    assert proc.returncode == 2
    assert "no_such_key" in proc.stderr and "Traceback" not in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "experiments.run", "--config=experiments/joint.py:nonsense"],
        cwd=ROOT, env=_env(1), capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 2 and "unknown config variant 'nonsense'" in proc.stderr


def test_nonfinite_loss_stops_and_keeps_the_last_good_checkpoint(shared, tmp_path):
    config = joint.get_config(VARIANT)
    config.data.synthetic.cache_dir = shared["world"]
    config.stages.order = "refiner,pretrain"
    config.stages.pretrain.train_camera = False  # the lifter alone (joint.py's default: + camera)
    config.stages.pretrain.lr = float("nan")  # the first lifter update makes every param NaN
    config.train.num_devices = 1
    run = build.build_run(config)
    options = loop.LoopOptions(
        workdir=str(tmp_path), seed_key=jax.random.PRNGKey(0), meta={}, sync_every=4,
        checkpoint_every=4, progress=False, tensorboard=False,
    )  # fmt: skip
    with pytest.raises(loop.NonFiniteLossError) as err:
        loop.run_stages(run.state, run.stages, options)
    msg = str(err.value)
    # Step 8 (the first pretrain step) has a finite loss and NaN params after it; step 9's
    # loss is the first non-finite one.
    assert "network 'lifter'" in msg and "at step 9" in msg and "stage 'pretrain'" in msg
    ckpt = checkpoint.Checkpointer(tmp_path)
    assert ckpt.latest_step() == 8  # the refiner stage's end; nothing saved after the NaN
    state, meta = ckpt.restore_latest(run.state)
    assert bool(tree_all_finite(state)) and meta["stage"] == "refiner"
    with pytest.raises(checkpoint.NonFiniteStateError):
        bad = jax.tree_util.tree_map(lambda x: x * np.nan, state)
        ckpt.save(100, bad, {})
    ckpt.close()


# The README's "use a trained model" script: ten lines, library only.
LOAD_AND_PREDICT = """
import sys
from cpose_jax import inference
from cpose_jax.io_keypoints import load_keypoints

model = inference.load_pose_model(sys.argv[1])  # a workdir of experiments.run, best checkpoint
people = load_keypoints(sys.argv[2])  # COCO-style JSON -> Human3.6M-17 keypoints, pixels
out = inference.predict_pixels(model, people.keypoints_2d, people.confidence, people.image_size)
for image_id, pose in zip(people.image_id, out["pose_3d"]):
    print(image_id, pose.round(5).tolist())  # (17, 3) metres, root-relative, camera frame
"""


def _coco_person(cx: float, cy: float, s: float) -> list[float]:
    """A standing COCO-17 person (nose, eyes, ears, shoulders, elbows, wrists, hips, knees,
    ankles) around (cx, cy), s pixels per unit; the left ear unlabelled (visibility 0)."""
    xy = [(0, -4), (-0.2, -4.2), (0.2, -4.2), (-0.4, -4), (0.4, -4), (-1, -3), (1, -3),
          (-1.3, -1.5), (1.3, -1.5), (-1.4, 0), (1.4, 0), (-0.6, 0), (0.6, 0), (-0.6, 2),
          (0.6, 2), (-0.6, 4), (0.6, 4)]  # fmt: skip
    out = []
    for j, (x, y) in enumerate(xy):
        out += [cx + s * x, cy + s * y, 0.0 if j == 3 else 0.9]
    return out


def test_installed_package_loads_the_run_and_predicts(reference, tmp_path):
    """Done-when of issue 16: the package as pip installs it (setuptools' build_py with this
    pyproject.toml: the files a wheel of this pure-Python package holds), on its own outside
    the checkout, loads the workdir the main command trained and prints 3D poses for a
    COCO-style JSON. (A full `pip install <checkout>` into a fresh venv needs PyPI or a build
    backend with bdist_wheel; tests have neither.)"""
    site = tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q",
         "egg_info", "-e", str(tmp_path), "build_py", "-d", str(site)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    assert (site / "cpose_jax" / "train" / "recipe.py").is_file()
    assert not (site / "experiments").exists() and not (site / "data_prep").exists()
    people = [
        {"image_id": 7, "keypoints": _coco_person(500, 420, 40), "image_size": [1000, 800]},
        {"image_id": 8, "keypoints": _coco_person(300, 500, 25), "image_size": [1000, 800]},
    ]
    (tmp_path / "people.json").write_text(json.dumps(people))
    (tmp_path / "predict.py").write_text(LOAD_AND_PREDICT)
    assert len(LOAD_AND_PREDICT.strip().splitlines()) <= 10
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "XLA_FLAGS")}
    env.update(PYTHONPATH=str(site), JAX_PLATFORMS="cpu")
    proc = subprocess.run(
        [sys.executable, "predict.py", str(reference), "people.json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    lines = proc.stdout.strip().splitlines()
    assert [line.split(" ", 1)[0] for line in lines] == ["7", "8"]
    poses = np.asarray([json.loads(line.split(" ", 1)[1]) for line in lines])
    assert poses.shape == (2, 17, 3) and np.all(np.isfinite(poses))
    assert np.all(poses[:, 0] == 0) and np.abs(poses).max() > 0.05  # root-relative, not empty
    # The same numbers as the checkout's code on the same model.
    from cpose_jax import inference
    from cpose_jax.io_keypoints import load_keypoints

    model = inference.load_pose_model(reference)
    kp = load_keypoints(tmp_path / "people.json")
    want = inference.predict_pixels(model, kp.keypoints_2d, kp.confidence, kp.image_size)
    np.testing.assert_allclose(poses, want["pose_3d"], atol=2e-5)
    # Outside the checkout only the package exists: no experiment code.
    probe = subprocess.run(
        [sys.executable, "-c", "import cpose_jax; print(cpose_jax.__file__); import experiments"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert probe.stdout.startswith(str(site)) and "No module named 'experiments'" in probe.stderr
