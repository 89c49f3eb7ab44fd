"""The generator's upright rotation and source-relative placement (`rotation="upright"`,
`translation="source"`): hand values, the bounds that keep fakes in view and the right way up,
finite gradients at angle 0."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cpose_jax.models import PoseGenerator
from cpose_jax.models.generator import upright_rotation
from cpose_jax.skeleton import H36M17

RNGS = {"params": jax.random.key(0), "noise": jax.random.key(1)}
SMALL = dict(features=16, num_blocks=0, noise_dim=4)


def standing_poses(n, seed=0):
    """(n, 17, 3) camera-frame poses, metres: a random skeleton whose Spine and Thorax are 0.25
    and 0.5 m straight above the root (camera y points down), roots 3-7 m deep, within 12° of
    the optical axis."""
    rng = np.random.default_rng(seed)
    x = 0.2 * rng.normal(size=(n, 17, 3))
    x[:, 0] = 0.0
    x[:, H36M17.joint_index("Spine")] = [0.0, -0.25, 0.0]
    x[:, H36M17.joint_index("Thorax")] = [0.0, -0.5, 0.0]
    root = np.stack([rng.uniform(-0.2, 0.2, n), rng.uniform(-0.2, 0.2, n), np.ones(n)], -1)
    root *= rng.uniform(3.0, 7.0, (n, 1))
    return jnp.asarray(x + root[:, None], jnp.float32)


def init(model, x, seed=0, scale=1.0):
    """Variables with normal kernels of std `scale * sqrt(2 / fan_in)` (large `scale`: the
    heads' tanh saturate, the mappings' extremes)."""
    shapes = jax.eval_shape(lambda x: model.init(RNGS, x, train=False), x)
    rng = np.random.default_rng(seed)

    def make(path, s):
        if path[-1].key == "kernel":
            w = rng.normal(size=s.shape) * scale * np.sqrt(2.0 / s.shape[0])
            return jnp.asarray(w, s.dtype)
        return (jnp.ones if path[-1].key in ("scale", "var") else jnp.zeros)(s.shape, s.dtype)

    return jax.tree_util.tree_map_with_path(make, shapes)


def apply(model, v, x):
    out, _ = model.apply(v, x, train=True, rngs={"noise": RNGS["noise"]}, mutable=["batch_stats"])
    return out


def test_upright_rotation_hand_values():
    c, s = np.cos(0.3), np.sin(0.3)
    # yaw pi/2 about y: x -> -z, z -> x, y kept (x' = R x, right-handed).
    r = np.asarray(upright_rotation(jnp.asarray([0.0, np.pi / 2, 0.0])))
    np.testing.assert_allclose(r, [[0, 0, 1], [0, 1, 0], [-1, 0, 0]], atol=1e-6)
    # tilt 0.3 about x: y -> (0, cos, sin).
    r = np.asarray(upright_rotation(jnp.asarray([0.3, 0.0, 0.0])))
    np.testing.assert_allclose(r @ [0, 1, 0], [0, c, s], atol=1e-6)
    # tilt 0.3 about z after yaw pi/2: x -> (yaw) -z -> (tilt about z keeps z) -z.
    r = np.asarray(upright_rotation(jnp.asarray([0.0, np.pi / 2, 0.3])))
    np.testing.assert_allclose(r @ [1, 0, 0], [0, 0, -1], atol=1e-6)
    np.testing.assert_allclose(r @ [0, 1, 0], [-s, c, 0], atol=1e-6)


def test_upright_rotation_tilts_the_vertical_by_the_tilt_norm_only():
    angles = np.random.default_rng(0).uniform(-1.0, 1.0, (64, 3)) * [0.4, np.pi, 0.4]
    r = np.asarray(upright_rotation(jnp.asarray(angles, jnp.float32)))
    np.testing.assert_allclose(
        r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), 1e-5, 1e-5
    )
    up = np.degrees(np.arccos(np.clip(r[:, 1, 1], -1, 1)))  # angle between R y and y
    np.testing.assert_allclose(up, np.degrees(np.hypot(angles[:, 0], angles[:, 2])), atol=1e-3)


def test_source_translation_hand_values():
    # The translation head's kernel 0 and bias a = (3, -4, 2): tz = r_z exp(0.4 tanh(2 / 0.4)),
    # (tx, ty) / tz = r_xy / r_z + 0.1 tanh(a_xy); the BL pose's root moves there.
    model = PoseGenerator("h36m17", translation="source", **SMALL)
    x = standing_poses(3, seed=1)
    v = init(model, x)
    head = v["params"]["rt_translation"]["head"]
    head["kernel"] = jnp.zeros_like(head["kernel"])
    head["bias"] = jnp.asarray([3.0, -4.0, 2.0])
    out = apply(model, v, x)
    r = np.asarray(x[:, 0], np.float64)
    tz = r[:, 2] * np.exp(0.4 * np.tanh(2.0 / 0.4))
    ray = r[:, :2] / r[:, 2:] + 0.1 * np.tanh([3.0, -4.0])
    want = np.concatenate([ray * tz[:, None], tz[:, None]], -1)
    np.testing.assert_allclose(out.translation, want, rtol=1e-5)
    np.testing.assert_allclose(out.rt[:, 0], out.translation, atol=1e-6)


def test_saturated_upright_source_fakes_stay_near_the_source_and_upright():
    # Kernels 30x He: every tanh saturates, the mappings reach their limits.
    model = PoseGenerator("h36m17", translation="source", rotation="upright", **SMALL)
    x = standing_poses(64, seed=2)
    out = apply(model, init(model, x, scale=30.0), x)
    r, t = np.asarray(x[:, 0]), np.asarray(out.translation)
    ratio = t[:, 2] / r[:, 2]
    assert ratio.min() >= np.exp(-0.4) * 0.9999 and ratio.max() <= np.exp(0.4) * 1.0001
    assert ratio.max() / ratio.min() > 1.5  # saturated both ways, not all at the source
    shift = t[:, :2] / t[:, 2:] - r[:, :2] / r[:, 2:]
    assert np.abs(shift).max() <= 0.1 + 1e-5
    # The torso (straight up in the source; BA and BL keep the torso bones' directions) leans
    # at most sqrt(2) * 20° from up, so every fake's torso still points up; the yaw turns.
    torso = np.asarray(out.rt[:, H36M17.joint_index("Thorax")] - out.rt[:, 0])
    lean = np.degrees(np.arccos(-torso[:, 1] / np.linalg.norm(torso, axis=-1)))
    assert lean.max() <= np.sqrt(2) * 20.0 + 1e-3
    tilt, yaw = np.asarray(out.rotation)[:, [0, 2]], np.asarray(out.rotation)[:, 1]
    assert np.abs(tilt).max() <= np.radians(20.0) + 1e-6
    assert np.abs(yaw).max() > 2.0


def test_upright_keeps_an_inverted_source_inverted():
    model = PoseGenerator("h36m17", translation="source", rotation="upright", **SMALL)
    x = standing_poses(32, seed=3)
    x = x.at[:, :, 1].set(2 * x[:, :1, 1] - x[:, :, 1])  # mirror y about the root: head down
    out = apply(model, init(model, x, scale=30.0), x)
    torso = np.asarray(out.rt[:, H36M17.joint_index("Thorax")] - out.rt[:, 0])
    assert (torso[:, 1] > 0).all()  # still pointing down the image


def test_gradients_finite_at_zero_rotation():
    # The rotation head's kernel and bias 0: every angle is exactly 0 and R = I; the loss's
    # gradient must be finite everywhere and reach the rotation head.
    model = PoseGenerator("h36m17", translation="source", rotation="upright", **SMALL)
    x = standing_poses(4, seed=4)
    v = init(model, x)
    head = v["params"]["rt_rotation"]["head"]
    head["kernel"], head["bias"] = jnp.zeros_like(head["kernel"]), jnp.zeros_like(head["bias"])
    weights = jnp.asarray(np.random.default_rng(0).normal(size=(4, 17, 3)), jnp.float32)

    def loss(params):
        out = apply(model, {**v, "params": params}, x)
        return jnp.sum(out.rt * weights), out

    (value, out), grads = jax.value_and_grad(loss, has_aux=True)(v["params"])
    np.testing.assert_array_equal(np.asarray(out.rotation), 0.0)
    np.testing.assert_allclose(out.rotation_matrix, np.broadcast_to(np.eye(3), (4, 3, 3)), atol=0)
    leaves = jax.tree_util.tree_leaves(grads)
    assert np.isfinite(float(value)) and all(np.isfinite(np.asarray(g)).all() for g in leaves)
    assert np.abs(np.asarray(grads["rt_rotation"]["head"]["bias"])).min() > 0


def test_unknown_rotation_raises():
    x = standing_poses(2)
    with pytest.raises(ValueError, match="rotation"):
        PoseGenerator("h36m17", rotation="free", **SMALL).init(RNGS, x, train=False)


def test_augmented_pairs_weigh_fake_pair_weight_and_unusable_ones_nothing():
    """`rows.with_augmented`: the real rows weigh 1, a usable fake `gan.fake_pair_weight`, an
    unusable one (behind the camera here) 0, replaced by its real source row."""
    from cpose_jax.train import rows
    from cpose_jax.train.settings import GanSettings

    b, j = 3, 17
    paired = {
        "keypoints_2d": jnp.zeros((b, j, 2)),
        "confidence": jnp.ones((b, j)),
        "keypoints_2d_gt": jnp.zeros((b, j, 2)),
        "valid": jnp.ones((b, j)),
        "pose_3d": jnp.zeros((b, j, 3)),
        "translation": jnp.tile(jnp.asarray([[0.0, 0.0, 5.0]]), (b, 1)),
        "intrinsics": jnp.ones((b, 4)),
    }
    fake = (
        jnp.tile(jnp.asarray([0.0, 0.0, 4.0]), (b, j, 1)).at[..., 0].add(jnp.linspace(-0.2, 0.2, j))
    )
    fake = fake.at[2, :, 2].set(-1.0)  # behind the camera
    fake_2d = fake[..., :2] / jnp.abs(fake[..., 2:])
    gan = GanSettings(fake_pair_weight=0.25)
    data, mask, usable = rows.with_augmented(dict(paired), fake, fake_2d, paired, gan)
    np.testing.assert_allclose(mask, [1, 1, 1, 0.25, 0.25, 0.0])
    np.testing.assert_allclose(usable, 2 / 3)
    np.testing.assert_allclose(data["translation"][5], paired["translation"][2])
    np.testing.assert_allclose(data["translation"][3], [-0.2, 0.0, 4.0], atol=1e-6)  # its root


def test_ba_init_scale_zero_starts_the_fakes_at_the_source_bones():
    """`ba_init_scale=0`: BA's head starts at zero, so the first BA pose IS the source (no
    bone turned, `ba_diff` 0), and its kernel still gets a gradient; 1 (the default) keeps
    the Kaiming init bit for bit."""
    rng = np.random.default_rng(0)
    pose = jnp.asarray(rng.normal(scale=0.3, size=(4, 17, 3)), jnp.float32)
    rngs = {"params": jax.random.key(0), "noise": jax.random.key(1)}
    kw = dict(features=16, num_blocks=1, noise_dim=4)
    zero = PoseGenerator("h36m17", ba_init_scale=0.0, **kw)
    v0 = zero.init(rngs, pose, train=False)
    out = zero.apply(v0, pose, train=False, rngs={"noise": jax.random.key(2)})
    np.testing.assert_allclose(out.ba, pose, atol=1e-5)
    np.testing.assert_allclose(out.ba_diff, 0.0, atol=1e-6)

    def ba_turn(params):
        o = zero.apply(
            {**v0, "params": params}, pose, train=False, rngs={"noise": jax.random.key(2)}
        )
        return jnp.sum(jnp.square(o.ba - pose[:, :1] - 0.1))

    g = jax.grad(ba_turn)(v0["params"])["ba"]["head"]["kernel"]
    assert np.all(np.isfinite(g)) and np.abs(g).max() > 0
    v1 = PoseGenerator("h36m17", **kw).init(rngs, pose, train=False)
    vd = PoseGenerator("h36m17", ba_init_scale=1.0, **kw).init(rngs, pose, train=False)
    assert np.abs(v1["params"]["ba"]["head"]["kernel"]).max() > 0
    jax.tree_util.tree_map(np.testing.assert_array_equal, v1, vd)
