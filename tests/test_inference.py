"""cpose_jax.inference: predict (flip, shapes, jit), the model spec, the batched loop, and
loading a saved checkpoint with no experiment code (a TrainState written by the library's own
Checkpointer)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from cpose_jax import inference, models
from cpose_jax.skeleton import H36M17
from cpose_jax.train.checkpoint import Checkpointer
from cpose_jax.train.state import TrainState, init_net_state


class _Lifter:
    """Stand-in 'module': pose = (u, v, u*v) per joint; equivariant under the flip."""

    @staticmethod
    def apply(variables, x, *, train, rngs=None):
        del variables, train, rngs
        return jnp.concatenate([x, x[..., :1] * x[..., 1:]], axis=-1)


_V = {"lifter": {"params": {}}}


def test_predict_flip_averages_mirrored_prediction():
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(4, 17, 2)), jnp.float32)
    conf = jnp.ones((4, 17))
    plain = inference.predict(_V, {"lifter": _Lifter()}, x, conf)
    flipped = inference.predict(_V, {"lifter": _Lifter()}, x, conf, skeleton=H36M17, flip=True)
    # The stand-in maps mirrored input to the mirrored output of (u, v, u v) except that the
    # third coordinate u*v changes sign under u -> -u while flip_pose keeps z: so the flip
    # average keeps x, y and zeroes z.
    np.testing.assert_allclose(flipped["pose_3d"][..., :2], plain["pose_3d"][..., :2], atol=1e-6)
    np.testing.assert_allclose(flipped["pose_3d"][..., 2], 0.0, atol=1e-6)
    with pytest.raises(ValueError, match="skeleton"):
        inference.predict(_V, {"lifter": _Lifter()}, x, conf, flip=True)


def test_predict_is_jittable_and_checks_shapes():
    x = jnp.ones((4, 17, 2))
    out = jax.jit(lambda a: inference.predict(_V, {"lifter": _Lifter()}, a, a[..., 0]))(x)
    assert out["pose_3d"].shape == (4, 17, 3)
    with pytest.raises(ValueError, match="confidence"):
        inference.predict(_V, {"lifter": _Lifter()}, x, jnp.ones((4, 16)))


def test_batched_apply_pads_to_buckets_and_drops_padding():
    calls = []

    def fn(batch):
        calls.append(len(batch["x"]))
        return {"y": batch["x"] * 2, "nested": {"z": batch["x"][:, :1]}}

    x = np.arange(23 * 2, dtype=np.float32).reshape(23, 2)
    out = inference.batched_apply(fn, {"x": x}, batch_size=8, buckets=(4, 8))
    assert calls == [8, 8, 8]  # 8 + 8 + 7 (padded to 8)
    np.testing.assert_array_equal(out["y"], x * 2)
    np.testing.assert_array_equal(out["nested/z"], x[:, :1])
    calls.clear()
    inference.batched_apply(fn, {"x": x[:3]}, batch_size=8, buckets=(4, 8))
    assert calls == [4]
    assert inference.bucket_sizes(1024) == (64, 256, 1024)


def _tiny_modules():
    j = 17
    return {
        "refiner": models.Refiner(j, features=8, num_blocks=0, dropout=0.1),
        "lifter": models.MartinezLifter(j, features=16, num_blocks=1, dropout=0.1),
        "camera": models.CameraBranch(j, features=8, num_blocks=0, principal_point_prior=(0.1, 0)),
    }


def test_spec_round_trip_is_json():
    modules = _tiny_modules()
    spec = json.loads(json.dumps(inference.model_spec(modules, skeleton="h36m17", name="t")))
    rebuilt = inference.modules_from_spec(spec)
    assert list(rebuilt) == ["refiner", "lifter", "camera"]
    for name, module in modules.items():
        assert rebuilt[name] == module  # flax modules compare by their fields
    spec["networks"]["lifter"]["class"] = "os.system"
    with pytest.raises(inference.ModelLoadError, match="unknown network"):
        inference.modules_from_spec(spec)


def test_load_pose_model_from_a_saved_state(tmp_path):
    """Save a TrainState (+ spec) like a run does; load it back with no experiment code and
    predict exactly what the in-memory networks predict."""
    modules = _tiny_modules()
    tx = optax.adam(1e-3)
    x2, conf = jnp.zeros((2, 17, 2)), jnp.ones((2, 17))
    args = {"refiner": (x2, conf), "lifter": (x2,), "camera": (x2,)}
    nets = {
        n: init_net_state(m, tx, jax.random.key(i), *args[n])
        for i, (n, m) in enumerate(modules.items())
    }
    # Non-trivial BatchNorm statistics, so a missing batch_stats restore would show.
    nets["lifter"] = nets["lifter"].replace(
        batch_stats=jax.tree_util.tree_map(lambda s: s + 0.3, nets["lifter"].batch_stats)
    )
    state = TrainState(step=jnp.asarray(7, jnp.int32), nets=nets)
    ckpt = Checkpointer(tmp_path)
    ckpt.save(7, state, {"step": 7, "stage": "s"})
    ckpt.close()
    spec = inference.model_spec(modules, skeleton="h36m17", input_2d="detections", name="tiny")
    with pytest.raises(inference.ModelLoadError, match=r"model_spec\.json"):
        inference.load_pose_model(tmp_path)
    (tmp_path / inference.SPEC_FILE).write_text(json.dumps(spec))

    model = inference.load_pose_model(tmp_path)  # no best/: falls back to the latest
    assert model.networks == ("refiner", "lifter", "camera") and model.step == 7
    assert model.kind.startswith("latest") and model.name == "tiny"
    rng = np.random.default_rng(0)
    kp = rng.uniform(100, 900, (5, 17, 2)).astype(np.float32)
    c = rng.uniform(0, 1, (5, 17)).astype(np.float32)
    size = np.asarray([1000.0, 800.0], np.float32)
    got = inference.predict_pixels(model, kp, c, size, batch_size=4)
    want = inference.make_pixel_predict(model)(
        inference.variables_of(state),
        {"keypoints_2d": kp, "confidence": c, "image_size": np.tile(size, (5, 1))},
    )
    assert set(got) == {"pose_3d", "intrinsics", "translation", "reprojection",
                        "keypoints_2d_refined"}  # fmt: skip
    for k, v in want.items():
        np.testing.assert_allclose(got[k], np.asarray(v), rtol=1e-6, atol=1e-6, err_msg=k)
    empty = inference.predict_pixels(model, kp[:0], c[:0], size)
    assert empty["pose_3d"].shape == (0, 17, 3)
    with pytest.raises(ValueError, match=r"\(N, 17, 2\)"):
        inference.predict_pixels(model, kp[..., :1], c, size)
    with pytest.raises(inference.ModelLoadError, match="no checkpoint at step 3"):
        inference.load_pose_model(tmp_path, "3")
