"""Tests for cpose_jax.data.pipeline: model-space normalisation, shuffling, sharding, mixing."""

import threading
import time

import numpy as np
import pytest

from cpose_jax import geometry
from cpose_jax.data import pipeline, synthetic
from cpose_jax.data.schema import Dataset


@pytest.fixture(scope="module")
def lab():
    arrays, _ = synthetic.generate_split("lab_val", 100, seed=1)
    return Dataset(arrays, skeleton_name="h36m17")


@pytest.fixture(scope="module")
def wild2d():
    arrays, _ = synthetic.generate_split("wild_2d", 36, seed=1)
    return Dataset(arrays, skeleton_name="h36m17")


def test_model_space_shapes_dtypes_and_meaning(lab, wild2d):
    m = pipeline.to_model_space(lab)
    n, j = len(lab), 17
    want = dict(
        keypoints_2d=(n, j, 2), confidence=(n, j), keypoints_2d_gt=(n, j, 2), valid=(n, j),
        pose_3d=(n, j, 3), translation=(n, 3), intrinsics=(n, 4),
    )  # fmt: skip
    assert {k: v.shape for k, v in m.items()} == want
    assert all(v.dtype == np.float32 for v in m.values())
    assert np.all(m["pose_3d"][:, 0] == 0.0)  # root exactly 0
    np.testing.assert_allclose(m["translation"], lab["pose_3d"][:, 0], rtol=1e-6)
    np.testing.assert_array_equal(m["confidence"], lab["confidence"].astype(np.float32))
    assert np.all(m["valid"] == 1.0)
    # Normalized screen coords (DESIGN §1): u = x/w*2 - 1 by hand for 1000x1000 images.
    np.testing.assert_allclose(
        m["keypoints_2d"][..., 0], lab["keypoints_2d"][..., 0] / 1000 * 2 - 1, atol=1e-6
    )
    # Model-space geometry is consistent: project(pose_3d + t, f_n, c_n) == normalized GT 2D.
    uv = np.asarray(geometry.project(m["pose_3d"] + m["translation"][:, None], m["intrinsics"]))
    np.testing.assert_allclose(uv, m["keypoints_2d_gt"], atol=2e-5)
    # GT as input: confidences become label indicators.
    g = pipeline.to_model_space(lab, input_2d="gt")
    np.testing.assert_array_equal(g["keypoints_2d"], g["keypoints_2d_gt"])
    np.testing.assert_array_equal(g["confidence"], g["valid"])
    # 2D-only data: only the four 2D keys.
    w = pipeline.to_model_space(wild2d)
    assert set(w) == set(pipeline.UNPAIRED_KEYS)
    with pytest.raises(ValueError, match="input_2d"):
        pipeline.to_model_space(lab, input_2d="noisy")


def test_missing_labels_give_zero_valid_and_confidence():
    n = 3
    conf = np.ones((n, 17))
    conf[0, 5] = 0.0
    ds = Dataset(
        dict(
            keypoints_2d=np.full((n, 17, 2), 100.0),
            confidence=conf,
            image_size=np.tile([640.0, 480.0], (n, 1)),
        ),
        skeleton_name="h36m17",
    )
    m = pipeline.to_model_space(ds, input_2d="gt")
    assert m["valid"][0, 5] == 0 and m["confidence"][0, 5] == 0 and m["valid"].sum() == n * 17 - 1
    # v = y/w*2 - h/w
    np.testing.assert_allclose(m["keypoints_2d"][0, 0], [100 / 640 * 2 - 1, 100 / 640 * 2 - 0.75])


def test_normalization_round_trip(lab):
    m = pipeline.to_model_space(lab)
    back = pipeline.from_model_space(m, lab["image_size"])
    np.testing.assert_allclose(back["keypoints_2d"], lab["keypoints_2d"], atol=2e-4)
    np.testing.assert_allclose(back["keypoints_2d_gt"], lab["keypoints_2d_gt"], atol=2e-4)
    np.testing.assert_allclose(back["pose_3d"], lab["pose_3d"], atol=2e-6)
    np.testing.assert_allclose(back["intrinsics"], lab["intrinsics"], rtol=1e-6)


def _toy(n=50):
    return dict(x=np.arange(n, dtype=np.float32)[:, None] * [1.0, -1.0], i=np.arange(n))


def test_shuffling_is_deterministic_per_seed_and_epoch():
    a = pipeline.Loader(_toy(), global_batch_size=8, seed=3)
    b = pipeline.Loader(_toy(), global_batch_size=8, seed=3)
    assert a.steps_per_epoch == 6  # 50 // 8, remainder dropped
    e0 = [x["i"] for x in a.epoch(0)]
    assert all(len(i) == 8 for i in e0)
    np.testing.assert_array_equal(np.concatenate(e0), np.concatenate([x["i"] for x in b.epoch(0)]))
    flat = np.concatenate(e0)
    assert len(np.unique(flat)) == 48  # no repeats within an epoch
    e1 = np.concatenate([x["i"] for x in a.epoch(1)])
    assert not np.array_equal(flat, e1)
    c = pipeline.Loader(_toy(), global_batch_size=8, seed=4)
    assert not np.array_equal(flat, np.concatenate([x["i"] for x in c.epoch(0)]))
    np.testing.assert_array_equal(
        flat, pipeline.epoch_permutation(50, seed=3, epoch=0)[:48]
    )  # documented order
    # Rows stay together across keys.
    batch = a.get_batch(2, 1)
    np.testing.assert_array_equal(batch["x"][:, 0], batch["i"])
    # Resuming at a step gives the uninterrupted stream.
    it = a.iterate(0)
    stream = [next(it)["i"] for _ in range(14)]
    resumed = a.iterate(9)
    for s in range(9, 14):
        np.testing.assert_array_equal(next(resumed)["i"], stream[s])
    unshuffled = pipeline.Loader(_toy(), global_batch_size=8, shuffle=False)
    np.testing.assert_array_equal(next(iter(unshuffled))["i"], np.arange(8))


@pytest.mark.parametrize("procs", [2, 4])
def test_process_shards_partition_the_global_batch(procs):
    single = pipeline.Loader(_toy(), global_batch_size=8, seed=7)
    shards = [
        pipeline.Loader(_toy(), global_batch_size=8, seed=7, process_index=p, process_count=procs)
        for p in range(procs)
    ]
    for step in (0, 3, 6, 13):  # across epochs
        parts = [s.at_step(step)["i"] for s in shards]
        assert all(len(p) == 8 // procs for p in parts)
        np.testing.assert_array_equal(np.concatenate(parts), single.at_step(step)["i"])
    # Evaluation order: no shuffle, keep the remainder; processes cover every sample once.
    ev = [
        pipeline.Loader(
            _toy(), global_batch_size=8, shuffle=False, drop_remainder=False,
            process_index=p, process_count=procs,
        )
        for p in range(procs)
    ]  # fmt: skip
    assert ev[0].steps_per_epoch == 7
    seen = np.concatenate([b["i"] for p in ev for b in p.epoch(0)])
    np.testing.assert_array_equal(np.sort(seen), np.arange(50))
    with pytest.raises(ValueError, match="multiple of process_count"):
        pipeline.Loader(_toy(), global_batch_size=6, process_count=4)
    with pytest.raises(ValueError, match="fewer than one global batch"):
        pipeline.Loader(_toy(5), global_batch_size=8)


def test_mixed_loader_cycles_the_2d_set_independently(lab, wild2d):
    paired = pipeline.Loader(
        pipeline.to_model_space(lab), global_batch_size=16, seed=0, keys=pipeline.PAIRED_KEYS
    )
    unpaired = pipeline.Loader(
        pipeline.to_model_space(wild2d), global_batch_size=16, seed=0, keys=pipeline.UNPAIRED_KEYS
    )
    mixed = pipeline.MixedLoader(paired, unpaired)
    assert mixed.steps_per_epoch == 6 and unpaired.steps_per_epoch == 2
    steps = list(mixed.epoch(0)) + list(mixed.epoch(1))
    assert len(steps) == 12
    for s, (p, u) in enumerate(steps):
        assert set(p) == set(pipeline.PAIRED_KEYS) and set(u) == set(pipeline.UNPAIRED_KEYS)
        assert p["pose_3d"].shape == (16, 17, 3) and u["keypoints_2d"].shape == (16, 17, 2)
        np.testing.assert_array_equal(u["keypoints_2d"], unpaired.at_step(s)["keypoints_2d"])
        np.testing.assert_array_equal(p["keypoints_2d"], paired.at_step(s)["keypoints_2d"])
    # The 2D-only set wrapped around 6 times in 12 steps, reshuffled each time.
    assert not np.array_equal(steps[0][1]["keypoints_2d"], steps[2][1]["keypoints_2d"])
    resumed = mixed.iterate(7)
    np.testing.assert_array_equal(next(resumed)[1]["confidence"], steps[7][1]["confidence"])


def test_prefetch_same_stream_bounded_and_errors_propagate():
    loader = pipeline.Loader(_toy(), global_batch_size=8, seed=1)
    want = [b["i"] for b in loader.epoch(0)]
    got = [b["i"] for b in pipeline.prefetch(loader.epoch(0), size=2)]
    assert len(got) == len(want) and all(np.array_equal(a, b) for a, b in zip(got, want))
    # transform runs in the producer thread.
    doubled = list(pipeline.prefetch(range(5), transform=lambda x: 2 * x))
    assert doubled == [0, 2, 4, 6, 8]

    produced = []

    def endless():
        k = 0
        while True:
            produced.append(k)
            yield k
            k += 1

    pf = pipeline.prefetch(endless(), size=3)
    assert next(pf) == 0
    time.sleep(0.3)
    assert len(produced) <= 1 + 3 + 1  # consumed + queue + one waiting to be put
    pf.close()
    assert not pf._thread.is_alive()

    def broken():
        yield 1
        raise RuntimeError("bad shard")

    pf = pipeline.prefetch(broken())
    assert next(pf) == 1
    with pytest.raises(RuntimeError, match="bad shard"):
        next(pf)
    with pytest.raises(StopIteration):
        next(pf)
    assert threading.active_count() < 50
