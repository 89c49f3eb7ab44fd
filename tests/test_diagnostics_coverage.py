"""Coverage of the generator's fakes beyond the training poses: the sample, hand values, the
epoch-end function of a training run and the loop's `Stage.epoch_fn`."""

import json
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from cpose_jax import diagnostics as dg
from cpose_jax.data.synthetic_coverage import pose_coverage
from cpose_jax.models import PoseGenerator
from cpose_jax.skeleton import H36M17
from cpose_jax.train import loop, steps
from cpose_jax.train.state import NetState, TrainState

WRIST = H36M17.joint_index("RWrist")  # not one of the joints that define the pelvis frame


def views(base, n_views, seed=0):
    """Each pose of `base (N, 17, 3)` seen by `n_views` cameras: turned about a random axis,
    its root 3-6 m in front of the camera. Returns (N * n_views, 17, 3), view-major."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n_views):
        rot = Rotation.random(len(base), random_state=rng).as_matrix()
        root = np.stack([rng.uniform(-0.5, 0.5, len(base)), rng.uniform(-0.5, 0.5, len(base)),
                         rng.uniform(3, 6, len(base))], -1)  # fmt: skip
        out.append(np.einsum("nab,njb->nja", rot, base) + root[:, None])
    return np.concatenate(out).astype(np.float32)


def distinct_poses(n, seed=0):
    return 0.3 * np.random.default_rng(seed).normal(size=(n, 17, 3))


def test_coverage_sample_counts_a_pose_seen_by_several_cameras_once():
    poses = views(distinct_poses(50), 4)  # 50 distinct poses, 200 rows
    k = np.tile(np.arange(200, dtype=np.float32)[:, None], (1, 4))
    s = dg.coverage_sample(poses, k, num_reference=1000, num_sources=40, seed=1)
    # 50 distinct poses (a few more after float32 rounding noise splits some): half of them
    # sources, the rest references; none of a source's views among the references, so every
    # source is away from every reference.
    assert 25 <= len(s.sources) <= 30 and 20 <= len(s.reference) <= 30
    rows = [np.flatnonzero((poses == p).all((1, 2)))[0] for p in s.sources]
    np.testing.assert_array_equal(s.intrinsics[:, 0], rows)  # each source keeps its camera
    assert pose_coverage(s.sources, s.reference).min() > 50.0
    assert s.real_mm == pytest.approx(float(np.median(pose_coverage(s.sources, s.reference))))
    want = np.median(pose_coverage(s.sources, s.reference, normalise_bones=True))
    assert s.real_pose_mm == pytest.approx(float(want))
    small = dg.coverage_sample(poses, k, num_reference=10, num_sources=5)
    assert small.sources.shape[0] == 5 and small.reference.shape[0] == 10
    with pytest.raises(ValueError, match="17-joint"):
        dg.coverage_sample(poses[:, :16], k)


def test_fake_coverage_hand_values():
    # References: 8 poses. Fakes: the first 4 of them turned and moved (0 mm away after pelvis
    # alignment), then the wrist of fake i moved by 15 * (i + 1) mm: the wrist is one of the 15
    # compared joints and does not set the pelvis frame, so fake i is (i + 1) mm from its
    # reference (the nearest: the others are ~200 mm away). The references are rounded to
    # 10 µm before comparing: atol 0.02 mm.
    ref = views(distinct_poses(8, seed=2), 1, seed=3)
    fakes = views(ref[:4] - ref[:4, :1], 1, seed=4)
    sample = dg.CoverageSample(ref[:4], np.zeros((4, 4), np.float32), ref, real_mm=7.0)
    np.testing.assert_allclose(dg.fake_coverage(fakes, sample)["coverage_mm"], 0.0, atol=0.02)
    moved = fakes.copy()
    moved[:, WRIST] += np.asarray([0.6, 0.0, -0.8])[None] * 0.015 * np.arange(1, 5)[:, None]
    out = dg.fake_coverage(moved, sample, usable=[True, False, True, True])
    np.testing.assert_allclose(out["coverage_mm"], 2.5, atol=0.02)  # median of 1, 2, 3, 4
    np.testing.assert_allclose(out["coverage_usable_mm"], 3.0, atol=0.02)  # of 1, 3, 4
    assert out["real_coverage_mm"] == 7.0
    assert "coverage_usable_mm" not in dg.fake_coverage(moved, sample, usable=[False] * 4)


def test_fake_coverage_with_bones_normalised_sees_the_pose_not_the_build():
    # Fakes = the references with every bone 20 % longer (what the generator's BL stage does):
    # far as they are, 0 mm away once both are set to the mean body's bone lengths.
    ref = views(distinct_poses(6, seed=7), 1, seed=8)
    parents = [max(p, 0) for p in H36M17.parents]
    longer = np.zeros_like(ref)
    for j in range(1, 17):
        longer[:, j] = longer[:, parents[j]] + 1.2 * (ref[:, j] - ref[:, parents[j]])
    sample = dg.CoverageSample(ref[:3], np.zeros((3, 4), np.float32), ref, real_mm=7.0)
    out = dg.fake_coverage(longer[:3], sample)
    assert out["coverage_mm"] > 20.0
    np.testing.assert_allclose(out["pose_coverage_mm"], 0.0, atol=0.05)
    assert np.isnan(out["real_pose_coverage_mm"])  # not given to this hand-made sample


def test_coverage_fn_of_an_identity_generator_is_the_real_coverage():
    # Every head of the generator zeroed: BA adds no offset, BL no ratio, RT no rotation and
    # ('source') the source's own root: the fakes are the sources, their coverage the real one.
    poses = views(distinct_poses(40, seed=5), 2, seed=6)
    k = np.tile(np.asarray([[2.3, 2.3, 0.0, 0.0]], np.float32), (len(poses), 1))
    sample = dg.coverage_sample(poses, k, num_sources=16)
    model = PoseGenerator(
        "h36m17", translation="source", rotation="upright", features=8, num_blocks=0, noise_dim=4
    )
    v = model.init(
        {"params": jax.random.key(0), "noise": jax.random.key(1)}, poses[:2], train=False
    )
    params = jax.tree_util.tree_map_with_path(
        lambda p, x: jnp.zeros_like(x) if p[-2].key == "head" else x, v["params"]
    )
    state = SimpleNamespace(nets={"generator": NetState(params, v["batch_stats"], None)})
    gan = steps.GanSettings(max_aug_coord=1.0, min_aug_depth=0.1)
    out = steps.make_coverage_fn(model, sample, gan=gan)(state)
    assert set(out) == {
        f"train/generator/{k}"
        for k in (
            "coverage_mm",
            "coverage_usable_mm",
            "real_coverage_mm",
            "pose_coverage_mm",
            "real_pose_coverage_mm",
        )
    }
    np.testing.assert_allclose(out["train/generator/coverage_mm"], sample.real_mm, rtol=1e-4)
    assert out["train/generator/real_coverage_mm"] == sample.real_mm
    np.testing.assert_allclose(
        out["train/generator/pose_coverage_mm"], sample.real_pose_mm, rtol=1e-4
    )
    # Usable: every joint within |X/Z| * 2.3 <= 1, i.e. the in-view sources.
    x2 = 2.3 * sample.sources[..., :2] / sample.sources[..., 2:]
    ok = np.abs(x2).max((1, 2)) <= 1.0
    want = np.median(pose_coverage(sample.sources[ok], sample.reference))
    np.testing.assert_allclose(out["train/generator/coverage_usable_mm"], want, rtol=1e-4)


def test_epoch_fn_runs_at_epoch_ends_and_its_values_are_logged(tmp_path):
    calls = []

    def step(state, batch, rng):
        return state.replace(step=state.step + 1), {"train/x/loss": jnp.float32(1.0)}

    def epoch_fn(state, epoch):
        calls.append((int(state.step), epoch))
        return {"train/x/coverage": 10.0 * epoch} if epoch % 2 == 0 else {}

    stage = loop.Stage("s", epochs=4, steps_per_epoch=3, step_fn=step, batch_fn=lambda i: None,
                       txs={}, reset_nets=(), epoch_fn=epoch_fn)  # fmt: skip
    state = TrainState(step=jnp.zeros((), jnp.int32), nets={})
    options = loop.LoopOptions(workdir=str(tmp_path), seed_key=jax.random.PRNGKey(0), meta={},
                               progress=False, tensorboard=False)  # fmt: skip
    loop.run_stages(state, [stage], options)
    assert calls == [(3, 1), (6, 2), (9, 3), (12, 4)]
    records = [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]
    logged = [(r["step"], r["train/x/coverage"]) for r in records if "train/x/coverage" in r]
    assert logged == [(6, 20.0), (12, 40.0)]
