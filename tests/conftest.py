"""Test-wide set-up: XLA flags, the real-data samples, the session's tiny trained model, and how
pytest-xdist shares the tests between its workers (pyproject.toml runs one worker per core).

XLA_FLAGS must be set before JAX initialises its backend; pytest imports conftest.py first, in
the main process and in every xdist worker (which inherits the main process's environment):

- four fake CPU devices, so sharded code can be checked against one device. Unsharded code
  still runs on device 0 exactly as it would on a one-device machine.
- unoptimised code from XLA's older CPU emitters, where this jaxlib has them (newer ones dropped
  the flag, and XLA aborts on a flag it does not know: a child process tries it first). The
  programs compile in well under half the time; the tests check results (to tolerances that
  hold across XLA's code generators), not the speed of the code.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# mmpose's test samples of Human3.6M, MPI-INF-3DHP, MPII and COCO (read in place, never copied);
# the tests that need them skip where the folder is absent.
REALDATA = REPO.parent / "shared" / "realdata"

_FAST_COMPILE = ("--xla_cpu_use_fusion_emitters=false", "--xla_backend_optimization_level=0")


def _jax_accepts(xla_flags: str) -> bool:
    env = dict(os.environ, XLA_FLAGS=xla_flags, JAX_PLATFORMS="cpu")
    probe = [sys.executable, "-c", "import jax; jax.devices()"]
    return subprocess.run(probe, env=env, capture_output=True, timeout=300).returncode == 0


_FOUR_DEVICES = "--xla_force_host_platform_device_count=4"
_flags = os.environ.get("XLA_FLAGS", "")
if not _flags.endswith(_FOUR_DEVICES):  # else set by the main process of an xdist worker
    if _jax_accepts(" ".join((_flags, *_FAST_COMPILE))):
        _flags = " ".join((_flags, *_FAST_COMPILE))
    # Last, so that it wins over a device count already in XLA_FLAGS.
    os.environ["XLA_FLAGS"] = f"{_flags} {_FOUR_DEVICES}".strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")


@pytest.fixture(scope="session")
def realdata():
    """`realdata('h36m/cameras.pkl')`: the path of a real-data sample; skips the test if absent."""

    def path(relative: str) -> Path:
        p = REALDATA / relative
        if not p.exists():
            pytest.skip(f"real data sample {p} not available")
        return p

    return path


@pytest.fixture(scope="session")
def trained(tmp_path_factory) -> dict:
    """{'workdir', 'world', 'state', 'modules', 'config', 'steps'}: ONE tiny run per session
    (per xdist worker: the tests that use it share one worker, see below), trained in-process
    with the training code (`experiments.build` + `cpose_jax.train.loop`): the joint config's
    `tiny,detected` variant reduced to the supervised lifter + camera stage (72 steps, 2 fake
    devices, so the checkpoint is sharded differently from the 1-device evaluation)."""
    import jax

    from cpose_jax.train import loop, parallel
    from experiments import build, joint

    base = tmp_path_factory.mktemp("trained")
    cfg = joint.get_config("tiny,detected")
    cfg.stages.order = "pretrain"  # refiner present (identity-like at init), lifter + camera
    cfg.stages.pretrain.epochs = 2
    cfg.stages.pretrain.lr = 3e-3
    cfg.stages.pretrain.train_camera = True
    cfg.stages.epoch_scale = 6.0  # 400 pairs / 64 = 6 batches -> 36 steps per epoch
    cfg.train.batch_size = 64
    cfg.train.num_devices = 2
    cfg.train.checkpoint_every = 1000
    cfg.data.synthetic.cache_dir = str(base / "world")
    # No rare movements (the paper's "unseen poses" setting): a 32-unit lifter trained for 72
    # steps on 400 pairs learns the everyday poses that test_infer's accuracy check uses.
    cfg.data.synthetic.rare_fraction = 0.0
    run = build.build_run(cfg)
    workdir = base / "workdir"
    options = loop.LoopOptions(
        workdir=str(workdir),
        seed_key=parallel.replicate(jax.random.PRNGKey(0), run.mesh),
        meta={"config": json.loads(cfg.to_json_best_effort())},
        sync_every=4,
        checkpoint_every=1000,
        validate_fn=run.validate_fn,
        state_sharding=parallel.replicated(run.mesh),
        progress=False,
        tensorboard=False,
    )
    result = loop.run_stages(run.state, run.stages, options)
    (workdir / "config.json").write_text(cfg.to_json_best_effort(indent=1))
    return {
        "workdir": workdir,
        "world": next((base / "world").iterdir()),
        "state": jax.device_get(result.state),
        "modules": run.modules,
        "config": cfg,
        "steps": sum(s.num_steps for s in run.stages),
    }


# xdist (`--dist loadgroup`): each group runs on one worker, so module and session fixtures are
# built once. A group is a test file, except that every test of the trained model is in one
# group. The groups that take longest are handed out first, so that the workers end together.
_LONGEST_FIRST = ("test_train_steps.py", "test_benchmark.py", "test_run.py", "trained")


def _group(item) -> str:
    return "trained" if "trained" in item.fixturenames else item.path.name


@pytest.hookimpl(tryfirst=True)  # before xdist's own hook reads the groups
def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(_LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(_group(item), len(rank)))  # stable: file order kept
    for item in items:
        item.add_marker(pytest.mark.xdist_group(_group(item)))
