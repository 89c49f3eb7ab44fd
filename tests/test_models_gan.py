"""PoseAug generator and KCS discriminators: parameter counts, invariants, gradients.

Reference counts (research/poseaug.md §1.3-1.4, PoseAug at f469ce4, H36M16) are recomputed by
hand below. The generator's BatchNorm scale/bias are params (PyTorch parameters); running
mean/var are batch_stats (PyTorch buffers, not in PyTorch's parameter count).
"""

import functools
import itertools
from types import SimpleNamespace

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cpose_jax.models import (
    Discriminator2D,
    Discriminator3D,
    KCSPath,
    PoseGenerator,
    bl_ratio_groups,
)
from cpose_jax.models.discriminator import part_kcs_entries, skipped_kernel_size
from cpose_jax.skeleton import PART_NAMES, get_skeleton

SKELETONS = ("h36m16", "h36m17")


def count(tree) -> int:
    return sum(int(np.prod(x.shape)) for x in jax.tree_util.tree_leaves(tree))


def dense(n_in, n_out):
    return n_in * n_out + n_out


def gen_mlp(n_in, n_out):
    # Linear(in+48 noise -> 256) + BN(256) + 2 blocks x 2 x (Linear(256, 256) + BN(256)) + head.
    return dense(n_in + 48, 256) + 512 + 4 * (dense(256, 256) + 512) + dense(256, n_out)


def kcs_path(k):
    # KCSpath: Linear(K*K -> 256), 2 x Linear(256, 256), Linear(256 -> 100), Linear(100 -> 1).
    return dense(k * k, 256) + 2 * dense(256, 256) + dense(256, 100) + dense(100, 1)


def random_poses(j, prefix=(4,), seed=0):
    """Camera-frame poses, metres: random joints around a root 5 m in front of the camera."""
    x = 0.25 * np.random.default_rng(seed).normal(size=(*prefix, j, 3))
    return jnp.asarray(x + np.array([0.1, -0.2, 5.0]), jnp.float32)


RNGS = {"params": jax.random.key(0), "noise": jax.random.key(1)}


def numpy_init(model, *args):
    """Variables like ``model.init``'s (He-normal kernels, zero biases, BN identity) drawn with
    numpy: compiling JAX's random initialisers costs seconds per network on CPU, and these tests
    need generic weights, not flax's exact draws."""
    shapes = jax.eval_shape(lambda *a: model.init(RNGS, *a, train=False), *args)
    rng = np.random.default_rng(0)

    def make(path, s):
        name = path[-1].key
        if name == "kernel":
            return jnp.asarray(rng.normal(size=s.shape) * np.sqrt(2.0 / s.shape[0]), s.dtype)
        return (jnp.ones if name in ("scale", "var") else jnp.zeros)(s.shape, s.dtype)

    return jax.tree_util.tree_map_with_path(make, shapes)


def pairwise(x):
    return np.linalg.norm(x[..., :, None, :] - x[..., None, :, :], axis=-1)


# ----------------------------------------------------------------------------- parameter counts


CASES = [("h36m16", ()), ("h36m17", (2, 3))]  # both skeletons, with and without a batch prefix


@pytest.mark.parametrize(("name", "prefix"), CASES)
def test_generator_parameter_counts_and_shapes(name, prefix):
    skel = get_skeleton(name)
    j, k = skel.num_joints, skel.num_bones
    ref = {
        "ba": gen_mlp(3 * j, 3 * (j - 1)),
        "bl": gen_mlp(3 * j + (j - 1), 9),
        "rt_rotation": gen_mlp(3 * j, 3),
        "rt_translation": gen_mlp(3 * j, 3),
    }
    if j == 16:  # PoseAug: BA 0.302 M, BL 0.297 M, RT 0.583 M, G ≈ 1.18 M
        assert ref == {
            "ba": 302_125,
            "bl": 296_713,
            "rt_rotation": 291_331,
            "rt_translation": 291_331,
        }
        assert sum(ref.values()) == 1_181_500
    g = PoseGenerator(name)
    x = random_poses(j, prefix)
    v = jax.eval_shape(lambda x: g.init(RNGS, x, train=False), x)
    assert {name: count(p) for name, p in v["params"].items()} == ref
    assert count(v["batch_stats"]) == 4 * 5 * 2 * 256  # 4 MLPs x 5 BN x (mean, var) x 256
    out = jax.eval_shape(lambda v, x: g.apply(v, x, train=False, rngs=RNGS), v, x)
    assert out.ba.shape == out.bl.shape == out.rt.shape == (*prefix, j, 3)
    assert out.ba_diff.shape == out.bone_ratios.shape == (*prefix, k)
    assert out.bl_ratios.shape == (*prefix, 9)
    assert out.rotation.shape == out.translation.shape == (*prefix, 3)
    assert out.rotation_matrix.shape == (*prefix, 3, 3)


@pytest.mark.parametrize(("name", "prefix"), CASES)
def test_discriminator_parameter_counts_and_shapes(name, prefix):
    j = get_skeleton(name).num_joints
    d3 = 5 * kcs_path(j - 1)
    raw = dense(2 * j, 100) + 4 * dense(100, 100) + dense(100, 1)
    if j == 16:  # PoseAug: D3D ≈ 1.08 M (5 x 215,241), D2D ≈ 0.044 M
        assert (d3, raw) == (1_076_205, 43_801)
    x = random_poses(j, prefix)
    for model, inp, ref, n in [
        (Discriminator3D(name), x, d3, 5),
        (Discriminator2D(name), x[..., :2], d3, 5),  # paper's KCS version: same paths as D3D
        (Discriminator2D(name, input_kind="raw"), x[..., :2], raw, 1),
    ]:
        v = jax.eval_shape(lambda i, m=model: m.init(jax.random.key(0), i, train=False), inp)
        assert count(v["params"]) == ref, type(model).__name__
        y = jax.eval_shape(lambda v, i, m=model: m.apply(v, i, train=False), v, inp)
        assert y.shape == (*prefix, n)


def test_wrong_inputs_raise():
    x = random_poses(16, (2,))
    with pytest.raises(ValueError, match="17, 3"):
        PoseGenerator("h36m17").init({"params": jax.random.key(0)}, x, train=False)
    with pytest.raises(ValueError, match="17, 2"):
        Discriminator2D("h36m17").init(jax.random.key(0), x[..., :2], train=False)
    with pytest.raises(ValueError, match="input_kind"):
        Discriminator2D("h36m16", input_kind="kcs2").init(
            jax.random.key(0), x[..., :2], train=False
        )


# ----------------------------------------------------------------------------- generator


def np_bones(x, skel):
    """Bones in plain numpy (child minus parent), an independent check of the geometry."""
    x = np.asarray(x)
    return x[..., 1:, :] - x[..., np.asarray(skel.parents[1:]), :]


def np_unit(b):
    return b / np.linalg.norm(b, axis=-1, keepdims=True)


@pytest.fixture(scope="module", params=SKELETONS)
def generated(request):
    """One jitted train-mode forward + gradient of the generator per skeleton.

    Samples 0 and 1 are degenerate (a collapsed LElbow-LWrist bone; every joint on the root) for
    the finite-gradient test; ``out`` holds samples 2.. only, for the invariant tests.
    """
    name = request.param
    skel = get_skeleton(name)
    model = PoseGenerator(name)
    x = random_poses(skel.num_joints, (8,), seed=1)
    x = x.at[0, skel.joint_index("LWrist")].set(x[0, skel.joint_index("LElbow")])
    x = x.at[1].set(jnp.broadcast_to(x[1, 0], x[1].shape))
    v = numpy_init(model, x)

    def loss(params, x, key):
        out, _ = model.apply(
            {**v, "params": params}, x, train=True, rngs={"noise": key}, mutable=["batch_stats"]
        )
        value = jnp.sum(out.rt**2) + jnp.sum(out.ba**2) + jnp.sum(out.ba_diff) + jnp.sum(out.bl**2)
        return value, out

    run = jax.jit(jax.value_and_grad(loss, argnums=(0, 1), has_aux=True))
    (value, out), grads = run(v["params"], x, jax.random.key(2))
    out = jax.tree_util.tree_map(lambda a: np.asarray(a[2:]), out)
    return SimpleNamespace(
        skel=skel,
        model=model,
        v=v,
        x=np.asarray(x[2:]),
        x_all=x,
        out=out,
        value=value,
        grads=grads,
        run=run,
    )


def test_ba_keeps_lengths_and_torso_changes_angles(generated):
    skel, x, out = generated.skel, generated.x, generated.out
    b0, b1 = np_bones(x, skel), np_bones(out.ba, skel)
    np.testing.assert_allclose(
        np.linalg.norm(b1, axis=-1), np.linalg.norm(b0, axis=-1), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(out.ba[..., 0, :], x[..., 0, :], atol=1e-6)  # root kept
    torso = [skel.bone_index("Spine"), skel.bone_index("Thorax")]
    np.testing.assert_allclose(b1[..., torso, :], b0[..., torso, :], atol=1e-5)
    cos = np.sum(np_unit(b0) * np_unit(b1), axis=-1)
    np.testing.assert_allclose(out.ba_diff, 1.0 - cos, atol=1e-5)
    assert np.abs(out.ba_diff[..., torso]).max() == 0.0
    assert out.ba_diff.max() > 0.05  # not the identity: angles really change


def test_bl_keeps_directions_symmetric_ratios_within_20_percent(generated):
    skel, out = generated.skel, generated.out
    b_ba, b_bl = np_bones(out.ba, skel), np_bones(out.bl, skel)
    np.testing.assert_allclose(np_unit(b_bl), np_unit(b_ba), rtol=1e-4, atol=1e-5)
    ratio = np.linalg.norm(b_bl, axis=-1) / np.linalg.norm(b_ba, axis=-1) - 1.0
    np.testing.assert_allclose(ratio, out.bone_ratios, atol=1e-4)
    assert np.abs(ratio).max() <= 0.2 + 1e-4
    assert np.abs(out.bl_ratios).max() <= 0.2
    assert np.abs(out.bl_ratios).max() > 0.02  # lengths really change
    np.testing.assert_allclose(out.bl[..., 0, :], out.ba[..., 0, :], atol=1e-6)
    for left in ("LHip", "LKnee", "LFoot", "LShoulder", "LElbow", "LWrist"):
        kl, kr = skel.bone_index(left), skel.bone_index("R" + left[1:])
        np.testing.assert_array_equal(out.bone_ratios[..., kl], out.bone_ratios[..., kr])
    assert np.abs(out.bone_ratios[..., skel.bone_index("Thorax")]).max() == 0.0
    head = skel.chain_bones("Thorax", "Head")
    assert len(head) == skel.num_joints - 15  # 1 bone on H36M16, 2 (neck, head) on H36M17
    for kb in head:
        np.testing.assert_array_equal(out.bone_ratios[..., kb], out.bl_ratios[..., 5])


def test_bl_groups_cover_every_bone_by_name():
    # Hand-written from PoseAug's blaugment9to15 for H36M16 (bone order of poseaug.md §1.2).
    assert bl_ratio_groups(get_skeleton("h36m16")) == (0, 1, 2, 0, 1, 2, 3, 4, 5, 6, 7, 8, 6, 7, 8)
    # H36M17 inserts Thorax->Neck/Nose (bone 8) before Neck/Nose->Head: both in the head group.
    assert bl_ratio_groups(get_skeleton("h36m17")) == (
        *(0, 1, 2, 0, 1, 2, 3, 4, 5, 5, 6, 7, 8, 6, 7, 8),
    )


def test_rt_is_rigid_and_in_front_of_camera(generated):
    out = generated.out
    np.testing.assert_allclose(pairwise(out.rt), pairwise(out.bl), atol=1e-5)
    np.testing.assert_allclose(out.rt[..., 0, :], out.translation, atol=1e-6)
    assert out.translation[..., 2].min() > 0
    r = out.rotation_matrix
    eye = np.broadcast_to(np.eye(3), r.shape)
    np.testing.assert_allclose(r @ np.swapaxes(r, -1, -2), eye, atol=1e-5)
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-5)
    expected = np.einsum("nab,njb->nja", r, out.bl - out.bl[..., :1, :])
    np.testing.assert_allclose(out.rt, expected + out.translation[:, None], atol=1e-5)
    assert np.abs(out.rotation).max() <= np.float32(np.pi)
    assert np.abs(out.rotation).max() > 0.1  # it really rotates


@pytest.mark.parametrize("translation", ["bounded", "poseaug"])
def test_rt_translation_mappings_hand_values(translation):
    # The translation head's kernel set to 0 and its bias to a = (3, -4, 2), so its output is
    # a for every pose. poseaug (RTGenerator): t = (a_x, a_y, a_z²) = (3, -4, 4). bounded:
    # tz = 5 exp(1.5 tanh(2 / 1.5)), (tx, ty) = 0.5 tanh(a_xy) tz.
    model = PoseGenerator("h36m16", features=8, num_blocks=0, noise_dim=4, translation=translation)
    x = random_poses(16, (3,), seed=4)
    v = numpy_init(model, x)
    head = v["params"]["rt_translation"]["head"]
    head["kernel"] = jnp.zeros_like(head["kernel"])
    head["bias"] = jnp.asarray([3.0, -4.0, 2.0])
    out = jax.jit(lambda v, x: model.apply(v, x, train=False, rngs={"noise": RNGS["noise"]}))(v, x)
    tz = 5.0 * np.exp(1.5 * np.tanh(2.0 / 1.5))
    want = {
        "poseaug": [3.0, -4.0, 4.0],
        "bounded": [0.5 * np.tanh(3) * tz, -0.5 * np.tanh(4) * tz, tz],
    }
    np.testing.assert_allclose(out.translation, np.tile(want[translation], (3, 1)), rtol=1e-5)
    np.testing.assert_allclose(out.rt[:, 0], out.translation, atol=1e-6)
    with pytest.raises(ValueError, match="translation"):
        PoseGenerator("h36m16", translation="free").init(RNGS, x, train=False)


def test_noise_rng_controls_output(generated):
    g = generated
    (_, a), _ = g.run(g.v["params"], g.x_all, jax.random.key(2))
    (_, b), _ = g.run(g.v["params"], g.x_all, jax.random.key(3))
    np.testing.assert_array_equal(a.rt[2:], g.out.rt)  # same params + rng -> same output
    assert float(jnp.abs(a.rt - b.rt).max()) > 1e-3
    with pytest.raises(Exception, match="noise"):  # raised while tracing: nothing compiles
        jax.eval_shape(lambda x: g.model.apply(g.v, x, train=False), g.x_all)


def test_generator_gradients_finite_including_degenerate_pose(generated):
    g = generated
    g_params, g_x = g.grads
    assert np.isfinite(float(g.value))
    for path, leaf in itertools.chain(
        jax.tree_util.tree_leaves_with_path(g_params), [("input", g_x)]
    ):
        assert np.isfinite(np.asarray(leaf)).all(), path
    for head in ("ba", "bl", "rt_rotation", "rt_translation"):
        assert float(jnp.abs(g_params[head]["head"]["kernel"]).max()) > 0, head
    assert float(jnp.abs(g_x[:2]).max()) > 0  # the degenerate samples get gradients too


# ----------------------------------------------------------------------------- discriminators


def test_d3d_invariant_to_bone_lengths_scale_and_translation():
    skel = get_skeleton("h36m17")
    model = Discriminator3D("h36m17")
    x = np.asarray(random_poses(17, (3,), seed=4))
    # Every bone scaled by its own factor, the pose rebuilt from the root outwards (numpy).
    b = np_bones(x, skel) * np.random.default_rng(5).uniform(0.3, 3.0, (3, 16, 1))
    stretched = x.copy()
    for j in range(1, 17):
        stretched[:, j] = stretched[:, skel.parents[j]] + b[:, j - 1]
    bent = x.copy()
    bent[:, skel.joint_index("LWrist")] += [0.2, 0.1, 0.0]
    moved = x + np.array([3.0, -1.0, 7.0])
    variants = np.stack([x, stretched, 2.5 * x, moved, bent]).astype(np.float32)
    v = numpy_init(model, x)
    y = np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(v, variants))
    for i, what in enumerate(["per-bone lengths", "global scale", "translation"], start=1):
        np.testing.assert_allclose(y[i], y[0], rtol=1e-4, atol=1e-4, err_msg=what)
    # It does see angles: bending the left elbow changes the left-arm score (part 0).
    assert np.abs(y[4] - y[0])[:, 0].max() > 1e-3


def test_d2d_kcs_invariances_and_raw_baseline():
    x = np.asarray(random_poses(16, (3,), seed=6)[..., :2])
    variants = np.stack([x, x + np.array([0.3, -0.2]), 1.7 * x]).astype(np.float32)

    def scores(model):
        v = numpy_init(model, x)
        return np.asarray(jax.jit(lambda v, x: model.apply(v, x, train=False))(v, variants))

    y = scores(Discriminator2D("h36m16"))
    np.testing.assert_allclose(y[1], y[0], rtol=1e-4, atol=1e-5)  # translation
    # normalize_scale: the person's size in the image is no cue ...
    np.testing.assert_allclose(y[2], y[0], rtol=1e-4, atol=1e-5)
    # ... without it, it is.
    y = scores(Discriminator2D("h36m16", normalize_scale=False))
    np.testing.assert_allclose(y[1], y[0], rtol=1e-4, atol=1e-5)
    assert np.abs(y[2] - y[0]).max() > 1e-4
    # PoseAug's raw-coordinate baseline sees the absolute image position.
    y = scores(Discriminator2D("h36m16", input_kind="raw"))
    assert y.shape == (3, 3, 1)
    assert np.abs(y[1] - y[0]).max() > 1e-4


# ------------------------------------------- the KCS paths see only their part's entries


def np_part_kcs(b, skel):
    """Part-aware KCS in numpy, the full (N, 5, K, K) matrices: bones outside the part zeroed."""
    out = []
    for name in PART_NAMES:
        m = np.zeros(skel.num_bones)
        m[list(skel.part_bones[name])] = 1.0
        bp = b * m[:, None]
        out.append(bp @ np.swapaxes(bp, -1, -2))
    return np.stack(out, axis=1)


def np_kcs_path(p, x):
    """PoseAug's KCSpath in numpy on the flattened full matrix (N, K*K)."""

    def lrelu(v):
        return np.where(v > 0, v, 0.01 * v)

    def lin(name, v):
        return v @ np.asarray(p[name]["kernel"], np.float64) + np.asarray(p[name]["bias"])

    psi = lrelu(lin("Dense_0", x))
    d = lin("Dense_2", lrelu(lin("Dense_1", psi))) + psi
    return lin("Dense_4", lrelu(lin("Dense_3", d)))


@pytest.mark.parametrize("skeleton", SKELETONS)
def test_part_kcs_entries_are_the_nonzero_upper_triangle(skeleton):
    skel = get_skeleton(skeleton)
    k = skel.num_bones
    b = np.random.default_rng(7).normal(size=(3, k, 3))
    full = np_part_kcs(b, skel).reshape(3, 5, k * k)
    parts = part_kcs_entries(skel)
    assert [bones for bones, _ in parts] == [skel.part_bones[n] for n in PART_NAMES]
    for p, (bones, e) in enumerate(parts):
        n = len(bones)
        assert e.size == k * k and len(e.upper) == len(e.lower) == n * (n + 1) // 2
        # Both listed positions hold the entry; every other entry of the part's matrix is 0.
        np.testing.assert_allclose(full[:, p, list(e.upper)], full[:, p, list(e.lower)])
        rest = np.setdiff1d(np.arange(k * k), np.concatenate([e.upper, e.lower]))
        assert np.all(full[:, p, rest] == 0.0)
        assert np.all(np.abs(full[:, p, list(e.upper)]) > 0)


@pytest.mark.parametrize("skeleton", SKELETONS)
@pytest.mark.parametrize("kind", ["3d", "2d"])
def test_kcs_discriminators_equal_the_full_matrix_computation(skeleton, kind):
    """Scores against numpy on the full (5, K, K) part KCS; parameter gradients against the
    same network run on the full flattened matrices (plain Dense first layers)."""
    skel = get_skeleton(skeleton)
    j, k = skel.num_joints, skel.num_bones
    x = np.asarray(random_poses(j, (6,), seed=8))
    if kind == "2d":
        x = x[..., :2] / x[..., 2:]
        model = Discriminator2D(skeleton)
    else:
        model = Discriminator3D(skeleton)
    v = numpy_init(model, x)
    b = np_bones(x.astype(np.float64), skel)
    if kind == "3d":
        b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    else:
        b = b / np.sqrt(np.mean(np.sum(b * b, -1), -1) + 1e-8)[:, None, None]
    full = np_part_kcs(b, skel).reshape(6, 5, k * k)
    heads = v["params"]["_PartKCSHead_0"]
    want = np.concatenate([np_kcs_path(heads[f"part_{p}"], full[:, p]) for p in range(5)], -1)
    got = jax.jit(lambda v, x: model.apply(v, x, train=False))(v, jnp.asarray(x, jnp.float32))
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-4, atol=1e-5)

    def loss_entries(params):
        return jnp.sum(jnp.square(model.apply({"params": params}, x, train=False)))

    def loss_full(params):
        flat = jnp.asarray(full, jnp.float32)
        s = [
            KCSPath().apply({"params": params["_PartKCSHead_0"][f"part_{p}"]}, flat[:, p])
            for p in range(5)
        ]
        return jnp.sum(jnp.square(jnp.concatenate(s, -1)))

    g_entries = jax.jit(jax.grad(loss_entries))(v["params"])
    g_full = jax.jit(jax.grad(loss_full))(v["params"])
    for a, c in zip(jax.tree_util.tree_leaves(g_entries), jax.tree_util.tree_leaves(g_full)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(c), rtol=2e-4, atol=2e-5)
    # The kernel rows of the zero entries get no gradient.
    first = np.asarray(g_entries["_PartKCSHead_0"]["part_0"]["Dense_0"]["kernel"])
    _, e = part_kcs_entries(skel)[0]
    unused = np.setdiff1d(np.arange(k * k), np.concatenate([e.upper, e.lower]))
    assert np.all(first[unused] == 0.0) and np.abs(first[list(e.upper)]).max() > 0


def test_skipped_kernel_size_matches_the_traced_matmuls():
    """2 N (kernel size - skipped) FLOPs in the Dense layers: every dot_general of the traced
    forward pass, less the part Gram matrices (2 N sum_p k_p^2 D)."""
    from experiments.benchmark import jaxpr_matmul_flops, kernel_size

    skel = get_skeleton("h36m17")
    n = 8
    parts = [len(b) for b in skel.part_bones.values()]
    # 5 parts of 4, 4, 5, 5, 8 bones: 10 + 10 + 15 + 15 + 36 = 86 of 5 x 256 entries.
    assert skipped_kernel_size(Discriminator3D("h36m17")) == (5 * 256 - 86) * 256
    assert skipped_kernel_size(Discriminator2D("h36m17", input_kind="raw")) == 0
    assert skipped_kernel_size(PoseGenerator("h36m17")) == 0
    for model, d in ((Discriminator3D("h36m17"), 3), (Discriminator2D("h36m17"), 2)):
        x = jnp.zeros((n, 17, d))
        v = jax.eval_shape(functools.partial(model.init, RNGS, train=False), x)
        jaxpr = jax.make_jaxpr(functools.partial(model.apply, train=False))(v, x)
        gram = 2 * n * sum(kp * kp for kp in parts) * d
        dense = 2 * n * (kernel_size(v["params"]) - skipped_kernel_size(model))
        assert jaxpr_matmul_flops(jaxpr) == dense + gram
