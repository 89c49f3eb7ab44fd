"""Refiner, lifters and camera branch: shapes, parameter counts, invariants, train/eval behaviour.

Reference parameter counts are worked out by hand from the reference architectures
(research/poseaug.md §1.7). Flax counts BatchNorm's scale and bias as params (PyTorch's
``weight``/``bias`` parameters) and its running mean/var as ``batch_stats`` (PyTorch buffers), so
the ``params`` totals below compare directly with PyTorch's ``sum(p.numel() for p in
model.parameters())``.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cpose_jax.models import CameraBranch, MartinezLifter, Refiner, VideoPose3DLifter
from cpose_jax.models.layers import Dropout, dropout_keep_mask, positive_around


def count(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def abstract_init(model, *args):
    """Variables' shapes without computing anything (fast even for 8 M parameters)."""
    return jax.eval_shape(lambda: model.init(jax.random.key(0), *args, train=False))


def kp(j, prefix=(2,), seed=0):
    """Normalized 2D keypoints ``prefix + (j, 2)`` (numpy draws: no JAX RNG to compile)."""
    x = np.random.default_rng(seed).uniform(-0.8, 0.8, (*prefix, j, 2))
    return jnp.asarray(x, jnp.float32)


def numpy_init(model, *args, scale=1.0):
    """Variables shaped like ``model.init``'s with generic values drawn in numpy.

    He-normal kernels (times ``scale``; zero-initialised layers get random weights too), zero
    biases, identity BatchNorm. Compiling JAX's random initialisers costs seconds per network
    on CPU; only the tests about the initial state use ``model.init``.
    """
    shapes = jax.eval_shape(lambda *a: model.init(jax.random.key(0), *a, train=False), *args)
    rng = np.random.default_rng(0)

    def make(path, s):
        name = path[-1].key
        if name == "kernel":
            w = rng.normal(size=s.shape) * np.sqrt(2.0 / s.shape[0]) * scale
            return jnp.asarray(w, s.dtype)
        return (jnp.ones if name in ("scale", "var") else jnp.zeros)(s.shape, s.dtype)

    return jax.tree_util.tree_map_with_path(make, shapes)


# ----------------------------------------------------------------------------- parameter counts


def dense(n_in, n_out, bias=True):
    return n_in * n_out + (n_out if bias else 0)


BN = 2 * 1024  # scale + bias per BatchNorm(1024); running mean + var go to batch_stats


@pytest.mark.parametrize("j", [16, 17])
def test_martinez_parameter_count(j):
    # Reference (PoseAug `mlp`, --stages 2, 16 joints): "about 4.29 M".
    # in: Linear(32, 1024) = 33,792; BN 2,048; per block 2 x (Linear(1024,1024) 1,049,600 + BN
    # 2,048) = 2,103,296, x2 blocks = 4,206,592; out Linear(1024, 45) = 46,125.
    # 33,792 + 2,048 + 4,206,592 + 46,125 = 4,288,557. BN layers: 1 + 2*2 = 5.
    ref = dense(2 * j, 1024) + BN + 2 * 2 * (dense(1024, 1024) + BN) + dense(1024, 3 * (j - 1))
    if j == 16:
        assert ref == 4_288_557
    v = abstract_init(MartinezLifter(j), kp(j))
    assert count(v["params"]) == ref
    assert count(v["batch_stats"]) == 5 * 2 * 1024


@pytest.mark.parametrize("j", [16, 17])
def test_videopose3d_parameter_count(j):
    # Reference (PoseAug `videopose`, TemporalModelOptimized1f, filter_widths [1]*5, 16 joints):
    # "about 8.49 M". expand conv(32->1024, k=1, no bias) 32,768; BN 2,048; 4 blocks x 2 x
    # (conv 1x1 no bias 1,048,576 + BN 2,048) = 8,404,992; shrink conv(1024->45, bias) 46,125.
    # 32,768 + 2,048 + 8,404,992 + 46,125 = 8,485,933. BN layers: 1 + 4*2 = 9.
    ref = (
        dense(2 * j, 1024, False)
        + BN
        + 4 * 2 * (dense(1024, 1024, False) + BN)
        + dense(1024, 3 * (j - 1))
    )
    if j == 16:
        assert ref == 8_485_933
    v = abstract_init(VideoPose3DLifter(j), kp(j))
    assert count(v["params"]) == ref
    assert count(v["batch_stats"]) == 9 * 2 * 1024


def test_refiner_and_camera_parameter_counts():
    # No reference code exists for CameraPose; counts from the paper's description (§3.1-3.2):
    # refiner (16 joints, 1 residual block, width 512): in Linear(16*2 + 16 -> 512) 25,088, BN
    # 1,024, block 2 x (262,656 + 1,024) = 527,360, out Linear(512 -> 32) 16,416: 569,888.
    # camera (2 blocks): in Linear(32 -> 512) 16,896, BN 1,024, 2 blocks 1,054,720,
    # out Linear(512 -> 7) 3,591: 1,076,231.
    v = abstract_init(Refiner(16), kp(16), jnp.ones((2, 16)))
    assert count(v["params"]) == 569_888
    v = abstract_init(CameraBranch(16), kp(16))
    assert count(v["params"]) == 1_076_231


# ----------------------------------------------------------------------------- shapes


@pytest.mark.parametrize(("j", "prefix"), [(16, ()), (17, (2, 3))])
def test_output_shapes_any_prefix(j, prefix):
    x, c = kp(j, prefix), jnp.ones((*prefix, j))
    for model, args in [
        (Refiner(j), (x, c)),
        (MartinezLifter(j), (x,)),
        (VideoPose3DLifter(j), (x,)),
    ]:
        v = abstract_init(model, *args)
        out = jax.eval_shape(lambda v, a, m=model: m.apply(v, *a, train=False), v, args)
        assert out.shape == (*prefix, j, 2 if isinstance(model, Refiner) else 3)
    cam = CameraBranch(j)
    v = abstract_init(cam, x)
    out = jax.eval_shape(lambda v, x: cam.apply(v, x, train=False), v, x)
    assert out["intrinsics"].shape == (*prefix, 4)
    assert out["translation"].shape == (*prefix, 3)


def test_wrong_shapes_raise():
    with pytest.raises(ValueError, match=r"\(\.\.\., 16, 2\)"):
        abstract_init(MartinezLifter(16), kp(17))
    with pytest.raises(ValueError, match="17, 2"):
        abstract_init(CameraBranch(17), kp(16))
    with pytest.raises(ValueError, match="confidence"):
        abstract_init(Refiner(16), kp(16), jnp.ones((2, 17)))


# ----------------------------------------------------------------------------- behaviour


@pytest.fixture(scope="module")
def lifter():
    """A small Martinez lifter (real architecture, narrower) with BN and dropout."""
    model = MartinezLifter(17, features=64, num_blocks=2, dropout=0.5)
    return model, numpy_init(model, kp(17))


def test_batched_equals_looped_and_root_is_zero(lifter):
    model, v = lifter
    x = kp(17, (2, 3), seed=1)
    y = model.apply(v, x, train=False)
    flat = model.apply(v, x.reshape(6, 17, 2), train=False)
    np.testing.assert_allclose(y.reshape(6, 17, 3), flat, rtol=1e-6, atol=1e-6)
    single = model.apply(v, x[1, 2], train=False)
    np.testing.assert_allclose(single, y[1, 2], rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(y[..., 0, :]) == 0.0)  # root exactly zero
    assert float(jnp.abs(y[..., 1:, :]).max()) > 0  # the rest is not


def test_videopose3d_root_is_zero_and_jit_equals_eager():
    model = VideoPose3DLifter(16, features=32, num_blocks=2)
    x = kp(16, (4,))
    v = numpy_init(model, x)
    y = model.apply(v, x, train=False)
    y_jit = jax.jit(lambda v, x: model.apply(v, x, train=False))(v, x)
    np.testing.assert_allclose(y, y_jit, rtol=1e-5, atol=1e-6)
    assert np.all(np.asarray(y[:, 0]) == 0.0)


@pytest.mark.parametrize("cls", [MartinezLifter, VideoPose3DLifter])
def test_root_scale_input_makes_the_lifter_blind_to_2d_size_and_position(cls):
    x = kp(17, (3,), seed=3)
    plain = cls(17, features=32, num_blocks=1)
    blind = cls(17, features=32, num_blocks=1, input_norm="root_scale")
    v = numpy_init(plain, x)  # same parameter shapes: the option adds no parameters
    moved = 0.5 * x + jnp.asarray([0.2, -0.1])
    a = blind.apply(v, x, train=False)
    np.testing.assert_allclose(blind.apply(v, moved, train=False), a, rtol=1e-4, atol=1e-5)
    b = plain.apply(v, x, train=False)
    assert float(jnp.abs(plain.apply(v, moved, train=False) - b).max()) > 1e-3
    with pytest.raises(ValueError, match="input_norm"):
        cls(17, input_norm="bogus").apply(v, x, train=False)


def test_eval_is_deterministic_and_independent_of_batch(lifter):
    model, v = lifter
    x = kp(17, (4,), seed=2)
    a = model.apply(v, x, train=False)
    b = model.apply(v, x, train=False)
    np.testing.assert_array_equal(a, b)
    # Eval uses running statistics: a sample's output does not depend on the others.
    c = model.apply(v, x.at[1:].set(0.0), train=False)
    np.testing.assert_allclose(a[0], c[0], rtol=1e-6, atol=1e-6)


def test_train_uses_batch_stats_updates_them_and_dropout_follows_rng(lifter):
    model, v = lifter
    x = kp(17, (4,), seed=3)

    def run(x, seed):
        return model.apply(
            v, x, train=True, rngs={"dropout": jax.random.key(seed)}, mutable=["batch_stats"]
        )

    y1, upd1 = run(x, 0)
    y1_again, upd1_again = run(x, 0)
    y2, _ = run(x, 1)
    np.testing.assert_array_equal(y1, y1_again)  # same params + rng -> same output
    jax.tree_util.tree_map(np.testing.assert_array_equal, upd1, upd1_again)
    assert float(jnp.abs(y1 - y2).max()) > 1e-4  # dropout masks differ with the rng
    # batch_stats moved from their initial values (mean 0, var 1), by momentum 0.9.
    old = v["batch_stats"]["DenseBlock_0"]["BatchNorm_0"]["mean"]
    new = upd1["batch_stats"]["DenseBlock_0"]["BatchNorm_0"]["mean"]
    assert float(jnp.abs(new - old).max()) > 1e-4
    # Batch statistics: in train mode sample 0's output depends on the other samples.
    y3, _ = run(x.at[1:].set(0.0), 0)
    assert float(jnp.abs(y1[0] - y3[0]).max()) > 1e-4
    # Train without a dropout rng is an error, eval needs none.
    with pytest.raises(Exception, match="dropout"):
        model.apply(v, x, train=True, mutable=["batch_stats"])


# ----------------------------------------------------------------------------- refiner


@pytest.fixture(scope="module")
def refiner():
    model = Refiner(17, features=64, dropout=0.0)
    x, c = kp(17, (3,)), jnp.full((3, 17), 1.0 / 17)
    v = model.init(jax.random.key(0), x, c, train=False)
    return model, v


def test_refiner_starts_as_identity(refiner):
    model, v = refiner
    x, c = kp(17, (3,), seed=4), jnp.full((3, 17), 1.0 / 17)
    np.testing.assert_array_equal(model.apply(v, x, c, train=False), x)
    # Zero-initialised last layer still gets a gradient, so training leaves the identity.
    g = jax.grad(lambda p: jnp.sum(model.apply({**v, "params": p}, x + 0.1, c, train=False) ** 2))(
        v["params"]
    )
    assert float(jnp.abs(g["out"]["kernel"]).max()) > 0


def test_refiner_ignores_zero_confidence_coordinates(refiner):
    model, _ = refiner
    x = kp(17, (3,), seed=6)
    v = numpy_init(model, x, jnp.ones((3, 17)))  # random output layer too: the test can fail
    c = jnp.asarray(np.random.default_rng(7).uniform(0.2, 1.0, (3, 17)), jnp.float32)
    c = c.at[:, 13].set(0.0)  # LWrist missing
    c = c / c.sum(-1, keepdims=True)  # Eq. 3
    x_bad = x.at[:, 13].set(jnp.array([37.0, -1e6])).at[0, 13].set(jnp.nan)
    for train in (False, True):
        kw = dict(train=train, mutable=["batch_stats"]) if train else dict(train=train)

        def run(x, v=v, kw=kw, train=train):
            y = model.apply(v, x, c, **kw)
            return y[0] if train else y

        y, y_bad = run(x), run(x_bad)
        np.testing.assert_array_equal(y, y_bad)  # every joint, the missing one included
        assert np.isfinite(np.asarray(y_bad)).all()
        # A confident joint's coordinates, in contrast, do reach other joints' outputs.
        # (One sample only: a shift shared by the whole batch is removed by train-mode BN.)
        y_moved = run(x.at[0, 3].add(0.3))
        assert float(jnp.abs(y_moved[0, 0] - y[0, 0]).max()) > 1e-4


# ----------------------------------------------------------------------------- camera


@pytest.fixture(scope="module")
def camera():
    model = CameraBranch(16, features=64, focal_prior=2.29, depth_prior=5.0)
    v = model.init(jax.random.key(0), kp(16), train=False)
    return model, v


def test_camera_initial_output_equals_priors(camera):
    model, v = camera
    x = kp(16, (2, 3), seed=8)
    out = model.apply(v, x, train=False)
    np.testing.assert_allclose(
        out["intrinsics"], jnp.broadcast_to(jnp.array([2.29, 2.29, 0, 0]), (2, 3, 4)), rtol=1e-6
    )
    np.testing.assert_allclose(out["translation"][..., 2], 5.0, rtol=1e-6)
    # root_ray: the predicted root reprojects exactly onto the observed 2D root (Eq. 7 by hand).
    t, k = out["translation"], out["intrinsics"]
    uv = k[..., :2] * t[..., :2] / t[..., 2:] + k[..., 2:]
    np.testing.assert_allclose(uv, x[..., 0, :], rtol=1e-5, atol=1e-6)
    other = CameraBranch(
        16,
        features=64,
        focal_prior=1.5,
        depth_prior=8.0,
        principal_point_prior=(0.1, -0.2),
        root_ray=False,
    )
    out = other.apply(v, x, train=False)
    np.testing.assert_allclose(out["intrinsics"][0, 0], [1.5, 1.5, 0.1, -0.2], rtol=1e-6)
    np.testing.assert_allclose(out["translation"][0, 0], [0.0, 0.0, 8.0], atol=1e-6)


def test_camera_focal_and_depth_positive_for_any_input(camera):
    model, _ = camera
    # Random, 10x too large weights everywhere, including the zero-initialised output layer.
    v = numpy_init(model, kp(16), scale=10.0)
    x = jnp.concatenate([kp(16, (4,), seed=10) * s for s in (1.0, 1e3, -1e5, 1e6)])
    for train in (False, True):
        kw = dict(rngs={"dropout": jax.random.key(0)}, mutable=["batch_stats"]) if train else {}
        out = model.apply(v, x, train=train, **kw)
        out = out[0] if train else out
        f, tz = out["intrinsics"][:, :2], out["translation"][:, 2]
        assert np.isfinite(np.asarray(f)).all() and np.isfinite(np.asarray(tz)).all()
        assert float(f.min()) > 0 and float(tz.min()) > 0
        # Bounded by prior * e^±log_range, and the outputs are far from the prior: the
        # parameterisation, not luck, keeps them positive.
        assert float(f.max()) <= 2.29 * np.exp(3.0) * (1 + 1e-5)
        assert float(jnp.abs(jnp.log(f / 2.29)).max()) > 1.0


def test_positive_around_extremes_and_gradient():
    raw = jnp.array([-jnp.inf, -1e30, -50.0, 0.0, 0.5, 50.0, 1e30, jnp.inf])
    y = positive_around(raw, 5.0, log_range=3.0)
    assert np.isfinite(np.asarray(y)).all() and float(y.min()) > 0
    np.testing.assert_allclose(y[3], 5.0)
    np.testing.assert_allclose(
        y[jnp.array([0, 7])], [5.0 * np.exp(-3.0), 5.0 * np.exp(3.0)], rtol=1e-6
    )
    # Near the prior it is multiplicative: d/da at 0 equals the prior.
    np.testing.assert_allclose(jax.grad(lambda a: positive_around(a, 5.0, log_range=3.0))(0.0), 5.0)
    with pytest.raises(ValueError):
        positive_around(raw, -1.0, log_range=3.0)


@pytest.mark.parametrize("rate", [0.25, 0.5, 0.1875, 0.01171875, 0.1, 0.3])
@pytest.mark.parametrize("shape", [(512, 1024), (301, 7)])
def test_dropout_keep_mask_drops_the_rate(rate, shape):
    """Each entry kept with probability 1 - rate, from 1- to 16-bit chunks (dyadic rates; 3/256
    takes 8) or one 32-bit draw (others); within 5 standard errors over every entry."""
    keep = np.asarray(dropout_keep_mask(jax.random.key(1), rate, shape))
    assert keep.shape == shape and keep.dtype == bool
    n = keep.size
    assert abs((1.0 - keep.mean()) - rate) < 5 * np.sqrt(rate * (1 - rate) / n)
    # Neighbouring entries (the chunks of one word) are independent: their joint drop rate.
    flat = keep.reshape(-1)[: n - n % 2].reshape(-1, 2)
    both = np.mean(~flat[:, 0] & ~flat[:, 1])
    assert abs(both - rate**2) < 5 * np.sqrt(rate**2 * (1 - rate**2) / len(flat))


def test_dropout_keep_mask_is_the_chunks_of_one_draw():
    """Rate 0.25 (2-bit chunks, 16 per word) and 0.1875 (4-bit, 8 per word): entry k of a
    row is kept where chunk k (counted from the low bits) of the row's 32-bit words is >= the
    threshold, worked out in numpy from the same draw."""
    key = jax.random.key(2)
    for rate, bits, threshold in ((0.25, 2, 1), (0.1875, 4, 3)):
        per_word = 32 // bits
        words = np.asarray(jax.random.bits(key, (6, 2), jnp.uint32)).astype(np.uint64)
        chunks = [(words >> (bits * i)) & (2**bits - 1) for i in range(per_word)]
        expected = np.stack(chunks, axis=-1).reshape(6, 2 * per_word) >= threshold
        got = dropout_keep_mask(key, rate, (6, 2 * per_word))
        np.testing.assert_array_equal(np.asarray(got), expected)
        jitted = jax.jit(lambda k, r=rate, w=per_word: dropout_keep_mask(k, r, (6, 2 * w)))
        np.testing.assert_array_equal(np.asarray(jitted(key)), expected)


def test_dropout_module_scales_kept_entries_and_is_identity_in_eval():
    x = jnp.asarray(np.random.default_rng(0).normal(size=(64, 32)), jnp.float32)
    y = Dropout(0.25).apply({}, x, rngs={"dropout": jax.random.key(0)})
    kept = np.asarray(y) != 0
    np.testing.assert_allclose(np.asarray(y)[kept], np.asarray(x)[kept] / 0.75, rtol=1e-6)
    assert 0.6 < kept.mean() < 0.9  # 2048 entries, rate 0.25
    np.testing.assert_array_equal(Dropout(0.25, deterministic=True).apply({}, x), x)
    np.testing.assert_array_equal(Dropout(0.0).apply({}, x), x)
    with pytest.raises(ValueError, match="rate"):
        dropout_keep_mask(jax.random.key(0), 1.0, (2, 2))
