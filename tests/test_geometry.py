"""Geometry: hand-worked values, independent NumPy/SciPy references, invariances, safe gradients.

Tolerances: inputs are float32 of order 1 (metres), so single operations agree with float64
references to ~1e-6; chains of a few ops (Rodrigues, SVD) are compared at 1e-5.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiled import Compiled
from jax.test_util import check_grads
from scipy.spatial.transform import Rotation

from cpose_jax import geometry as g
from cpose_jax.skeleton import H36M16, H36M17

G = Compiled(g)

SKELETONS = pytest.mark.parametrize("skel", [H36M17, H36M16], ids=lambda s: s.name)


def _poses(seed, shape, skel=H36M17):
    """Random float32 poses ``shape + (J, 3)`` around a 5 m camera distance."""
    rng = np.random.default_rng(seed)
    x = rng.normal(scale=0.3, size=(*shape, skel.num_joints, 3))
    return (x + np.asarray([0.0, 0.0, 5.0])).astype(np.float32)


def _finite_grad(f, x):
    """Gradient of ``sum(f)`` at ``x`` (jitted: one compile instead of many eager ops)."""
    grad = jax.jit(jax.grad(lambda v: jnp.sum(f(v))))(jnp.asarray(x, jnp.float32))
    assert np.all(np.isfinite(grad)), grad
    return grad


class TestBones:
    @SKELETONS
    def test_matches_numpy_loop(self, skel):
        x = _poses(0, (2,), skel)
        ref = np.stack([x[:, c] - x[:, p] for p, c in skel.bone_pairs], axis=1)  # loop over tree
        np.testing.assert_allclose(G.bones(x, skel), ref, atol=1e-6)

    def test_hand_value(self):
        x = np.zeros((17, 3), np.float32)
        x[1], x[2] = [0.1, 0.0, 0.0], [0.1, 0.4, 0.0]  # RHip, RKnee
        b = np.asarray(G.bones(x, H36M17))
        np.testing.assert_allclose(b[0], [0.1, 0.0, 0.0])  # Hip -> RHip
        np.testing.assert_allclose(b[1], [0.0, 0.4, 0.0])  # RHip -> RKnee (child minus parent)

    @SKELETONS
    @pytest.mark.parametrize("dim", [2, 3])
    def test_joints_from_bones_inverts_bones(self, skel, dim):
        x = _poses(1, (3,), skel)[..., :dim]
        b = G.bones(x, skel)
        np.testing.assert_allclose(G.joints_from_bones(b, skel, x[..., 0, :]), x, atol=1e-5)
        rel = G.joints_from_bones(b, skel)
        np.testing.assert_allclose(rel, x - x[..., :1, :], atol=1e-5)
        np.testing.assert_allclose(G.bones(rel, skel), b, atol=1e-5)

    def test_bad_shapes_raise(self):
        with pytest.raises(ValueError, match=r"\(2, 16, 3\)"):
            G.bones(np.zeros((2, 16, 3)), H36M17)
        with pytest.raises(ValueError, match="b must have shape"):
            G.joints_from_bones(np.zeros((16, 3)), H36M16)

    def test_lengths_hand_value_and_zero_length_gradient(self):
        b = jnp.asarray([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]])
        np.testing.assert_allclose(G.bone_lengths(b), [5.0, 0.0])
        grad = _finite_grad(g.bone_lengths, b)
        np.testing.assert_allclose(grad, [[0.6, 0.8, 0.0], [0.0, 0.0, 0.0]], atol=1e-7)

    def test_unit_bones(self):
        b = jnp.asarray([[3.0, 4.0, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, -2.0]])
        np.testing.assert_allclose(G.unit_bones(b), [[0.6, 0.8, 0], [0, 0, 0], [0, 0, -1]])
        _finite_grad(g.unit_bones, b)

    def test_zero_length_bones_through_kcs_have_finite_gradients(self):
        x = _poses(2, ())
        x[2] = x[1]  # RHip-RKnee collapsed
        x[:] = x[0]  # and then every bone: a collapsed skeleton
        x[5] += 0.1
        f = lambda v: G.part_kcs(G.unit_bones(G.bones(v, H36M17)), H36M17)
        _finite_grad(f, x)
        _finite_grad(lambda v: G.bone_lengths(G.bones(v, H36M17)), x)


class TestKCS:
    def test_matches_numpy(self):
        b = np.asarray(G.bones(_poses(3, (2,)), H36M17))
        np.testing.assert_allclose(G.kcs(b), b @ b.transpose(0, 2, 1), rtol=1e-5, atol=1e-6)

    @SKELETONS
    def test_unchanged_by_global_rotation(self, skel):
        x = _poses(4, (), skel)
        rot = Rotation.random(random_state=4).as_matrix().astype(np.float32)
        k0 = G.kcs(G.bones(x, skel))
        k1 = G.kcs(G.bones(x @ rot.T + 1.0, skel))  # rotate and translate
        np.testing.assert_allclose(k0, k1, atol=1e-5)

    @SKELETONS
    def test_part_kcs_zeroes_bones_outside_the_part(self, skel):
        b = G.bones(_poses(5, (2,), skel), skel)
        full, parts = np.asarray(G.kcs(b)), np.asarray(G.part_kcs(b, skel))
        assert parts.shape == (2, 5, skel.num_bones, skel.num_bones)
        for p, bone_ids in enumerate(skel.part_bones.values()):
            inside = np.zeros(skel.num_bones, bool)
            inside[list(bone_ids)] = True
            keep = inside[:, None] & inside[None, :]
            np.testing.assert_allclose(parts[:, p][:, keep], full[:, keep], rtol=1e-6)
            assert np.all(parts[:, p][:, ~keep] == 0)

    def test_part_kcs_of_unit_bones_has_unit_diagonal_inside_the_part(self):
        # poseaug.md §1.4: with unit bones the diagonal is 1 on the part's bones, 0 elsewhere.
        x = _poses(22, ())
        u = G.unit_bones(G.bones(x, H36M17))
        diag = np.diagonal(np.asarray(G.part_kcs(u, H36M17)), axis1=-2, axis2=-1)
        np.testing.assert_allclose(diag, g.part_masks(H36M17), atol=1e-6)
        assert g.part_masks(H36M17).sum(axis=1).tolist() == [4, 4, 5, 5, 8]


class TestRotations:
    @pytest.mark.parametrize("scale", [0.0, 1e-7, 1e-4, 9e-4, 1.1e-3, 0.3, 3.0])
    def test_rodrigues_matches_scipy(self, scale):
        rng = np.random.default_rng(int(scale * 1e7))
        aa = rng.normal(size=(4, 3))
        aa = aa / np.linalg.norm(aa, axis=-1, keepdims=True) * scale
        ref = Rotation.from_rotvec(aa).as_matrix()  # independent implementation, float64
        got = G.axis_angle_to_matrix(jnp.asarray(aa, jnp.float32))
        np.testing.assert_allclose(got, ref, atol=2e-6)

    def test_rodrigues_at_pi_is_orthonormal(self):
        r = np.asarray(G.axis_angle_to_matrix(jnp.asarray([0.0, np.pi, 0.0])))
        np.testing.assert_allclose(r, np.diag([-1.0, 1.0, -1.0]), atol=1e-6)

    def test_rodrigues_gradient_at_identity(self):
        # dR/dω at ω = 0 is the generator [e_i]×; the Taylor branch must give it exactly.
        jac = np.asarray(jax.jit(jax.jacfwd(g.axis_angle_to_matrix))(jnp.zeros(3)))
        for i in range(3):
            e = np.eye(3)[i]
            np.testing.assert_allclose(jac[..., i], np.cross(e, np.eye(3)).T, atol=1e-7)
        _finite_grad(lambda a: G.axis_angle_to_matrix(a) ** 2, jnp.zeros(3))

    def test_quaternion_rotate_matches_scipy(self):
        rng = np.random.default_rng(6)
        q = Rotation.random(5, random_state=6).as_quat()  # scipy: x, y, z, w
        v = rng.normal(size=(5, 3))
        got = G.quaternion_rotate(jnp.asarray(q[:, [3, 0, 1, 2]], jnp.float32), v.astype("f4"))
        np.testing.assert_allclose(got, Rotation.from_quat(q).apply(v), atol=1e-5)

    def test_world_camera_round_trip_and_convention(self):
        x = _poses(7, (2,))
        rot = Rotation.random(2, random_state=7)
        q = rot.as_quat()[:, [3, 0, 1, 2]].astype(np.float32)
        t = np.asarray([[1.0, 2.0, 3.0], [-4.0, 0.5, 1.5]], np.float32)
        cam = G.world_to_camera(x, q, t)
        # VideoPose3D: X_cam = qrot(q⁻¹, X - T) = R_qᵀ (X - T).
        ref = np.einsum("bji,bnj->bni", rot.as_matrix(), x - t[:, None])
        np.testing.assert_allclose(cam, ref, atol=1e-5)
        np.testing.assert_allclose(G.camera_to_world(cam, q, t), x, atol=1e-5)


class TestProjection:
    K = np.asarray([1145.0, 1143.8, 512.5, 515.4], np.float32)

    def test_optical_axis_lands_on_principal_point(self):
        x = np.asarray([[[0.0, 0.0, 4.2], [0.0, 0.0, 0.7]]], np.float32)
        np.testing.assert_allclose(G.project(x, self.K[None]), [[[512.5, 515.4]] * 2])
        d = G.project_distorted(x, self.K, np.asarray([-0.2, 0.25, 0.01]), np.asarray([1e-3, 2e-3]))
        np.testing.assert_allclose(d, [[[512.5, 515.4]] * 2])

    def test_pinhole_hand_value(self):
        # u = 100 * 1/4 + 10 = 35, v = 200 * 2/4 + 20 = 120.
        uv = G.project(np.asarray([[1.0, 2.0, 4.0]]), np.asarray([100.0, 200.0, 10.0, 20.0]))
        np.testing.assert_allclose(uv, [[35.0, 120.0]])

    def test_distortion_hand_value(self):
        # x = (0.1, 0.2), r² = 0.05, radial = 1 + 0.1·0.05 = 1.005, tan = 0.01·0.1 + 0.02·0.2 =
        # 0.005; x_d = 0.1·1.01 + 0.01·0.05 = 0.1015, y_d = 0.2·1.01 + 0.02·0.05 = 0.203.
        uv = G.project_distorted(
            np.asarray([[0.2, 0.4, 2.0]]),
            np.asarray([1.0, 1.0, 0.0, 0.0]),
            np.asarray([0.1, 0.0, 0.0]),
            np.asarray([0.01, 0.02]),
        )
        np.testing.assert_allclose(uv, [[0.1015, 0.203]], rtol=1e-6)

    def test_distortion_free_equals_pinhole_and_clamps(self):
        x = _poses(8, (3,))
        zero_k, zero_p = np.zeros((3, 3), np.float32), np.zeros((3, 2), np.float32)
        k = np.tile(self.K, (3, 1))
        np.testing.assert_allclose(
            G.project_distorted(x, k, zero_k, zero_p), G.project(x, k), rtol=1e-6
        )
        far = np.asarray([[3.0, -0.5, 1.0]])  # X/Z = 3 is clipped to 1 (VideoPose3D)
        uv = G.project_distorted(far, np.asarray([1.0, 1, 0, 0]), np.zeros(3), np.zeros(2))
        np.testing.assert_allclose(uv, [[1.0, -0.5]])

    def test_projection_gradient_finite_at_zero_depth(self):
        x = jnp.zeros((1, 3))
        _finite_grad(lambda v: G.project(v, self.K), x)

    def test_reprojection_gradient_pushes_a_point_behind_the_camera_forward(self):
        # A reprojection loss toward a target near the principal point: behind the camera the
        # projection sits at the clamp (large |u|), so moving the point forward (dL/dZ < 0 for
        # gradient descent to increase Z) is what reduces the loss; the clamp must not make
        # the gradient 0. Values behind the camera stay those of the clamp.
        target = jnp.asarray([[520.0, 520.0]])

        def loss(z):
            x = jnp.stack([jnp.asarray([0.3]), jnp.asarray([-0.2]), z], -1)
            return jnp.sum(jnp.square(G.project(x, self.K) - target))

        for z in (-2.0, -1e-4, 0.0, 5e-4):
            g = jax.grad(loss)(jnp.asarray([z], jnp.float32))
            assert np.isfinite(g).all() and float(g[0]) < 0, (z, g)
        behind = G.project(jnp.asarray([[0.3, -0.2, -2.0]]), self.K)
        np.testing.assert_allclose(behind, [[1145.0 * 300 + 512.5, 1143.8 * -200 + 515.4]])

    def test_values_in_front_of_the_camera_are_exactly_x_over_z(self):
        # Bit for bit the unclamped projection (the PoseAug-pinned values rely on it).
        x = _poses(9, (4,))
        k = np.tile(self.K, (4, 1))
        np.testing.assert_array_equal(G.project(x, k), G.project(x, k, min_depth=None))
        g = jax.grad(lambda v, m: jnp.sum(G.project(v, k, min_depth=m) ** 2), argnums=0)
        np.testing.assert_array_equal(g(jnp.asarray(x), 1e-3), g(jnp.asarray(x), None))

    def test_bad_intrinsics_raise(self):
        with pytest.raises(ValueError, match=r"intrinsics.*\(3,\)"):
            G.project(np.ones((2, 3)), np.ones(3))
        with pytest.raises(ValueError, match="clip_xy"):
            g.project(np.ones((2, 3)), np.ones(4), clip_xy=0.0)

    def test_clip_xy_is_poseaug_project_to_2d_linear(self):
        # PoseAug common/camera.py project_to_2d_linear: f * clamp(X/Z, -1, 1) + c, in numpy.
        # Joint 0: X/Z = 3 -> 1, Y/Z = -0.5 kept; joint 1: X/Z = -0.25, Y/Z = -4 -> -1.
        x = np.asarray([[[3.0, -0.5, 1.0], [-0.5, -8.0, 2.0]]], np.float32)
        k = np.asarray([[2.29, 2.28, 0.02, 0.03]], np.float32)
        ref = k[:, None, :2] * np.clip(x[..., :2] / x[..., 2:], -1, 1) + k[:, None, 2:]
        np.testing.assert_allclose(G.project(x, k, clip_xy=1.0), ref, rtol=1e-6)
        np.testing.assert_allclose(
            ref, [[[2.31, 0.03 - 1.14], [0.02 - 0.5725, 0.03 - 2.28]]], rtol=1e-6
        )
        # In view (|X/Z|, |Y/Z| < 1) the clip changes nothing, bit for bit.
        y = _poses(10, (4,))
        kk = np.tile(self.K, (4, 1))
        np.testing.assert_array_equal(G.project(y, kk, clip_xy=1.0), G.project(y, kk))


class TestNormalization:
    SIZE = np.asarray([1000.0, 1002.0], np.float32)

    def test_screen_hand_values(self):
        px = np.asarray([[0.0, 0.0], [1000.0, 1002.0], [500.0, 501.0]], np.float32)
        np.testing.assert_allclose(
            G.normalize_screen(px, self.SIZE), [[-1, -1.002], [1, 1.002], [0, 0]], atol=1e-6
        )

    def test_round_trips_batched_sizes(self):
        rng = np.random.default_rng(9)
        px = rng.uniform(0, 1000, size=(4, 17, 2)).astype(np.float32)
        size = np.asarray([[1000, 1002], [1000, 1000], [2048, 2048], [1920, 1080]], np.float32)
        back = G.denormalize_screen(G.normalize_screen(px, size), size)
        np.testing.assert_allclose(back, px, atol=1e-3)  # float32 at 1e3 px: ulp ~6e-5 px
        k = np.asarray([[1145, 1143, 512, 515], [1500, 1501, 1017, 1043]], np.float32)
        kn = G.normalize_intrinsics(k, size[2:])
        np.testing.assert_allclose(G.denormalize_intrinsics(kn, size[2:]), k, rtol=1e-6)

    def test_normalized_intrinsics_project_to_normalized_points(self):
        x = _poses(10, (2,))
        k = np.asarray([[1145, 1143, 512, 515], [1500, 1501, 1017, 1043]], np.float32)
        size = np.asarray([[1000, 1002], [2048, 2048]], np.float32)
        np.testing.assert_allclose(
            G.project(x, G.normalize_intrinsics(k, size)),
            G.normalize_screen(G.project(x, k), size),
            atol=1e-5,
        )
        np.testing.assert_allclose(G.normalize_intrinsics(k, size)[0, 0], 1145 / 1000 * 2)


class TestPoseUtilities:
    def test_root_relative(self):
        x = _poses(11, (2,))
        rel = np.asarray(G.root_relative(x))
        assert np.all(rel[:, 0] == 0)
        np.testing.assert_allclose(rel[:, 5], x[:, 5] - x[:, 0])
        assert np.all(np.asarray(G.root_relative(x, root=8))[:, 8] == 0)

    def test_scale_normalize_2d_hand_value(self):
        # Root (1, 1); the others at distances 3 and 4 from it: RMS over 3 joints = 5/sqrt(3).
        x = np.asarray([[1.0, 1.0], [4.0, 1.0], [1.0, -3.0]], np.float32)
        expected = np.asarray([[0, 0], [3, 0], [0, -4]], np.float32) / (5 / np.sqrt(3))
        np.testing.assert_allclose(G.scale_normalize_2d(x), expected, rtol=1e-6)

    def test_scale_normalize_2d_drops_translation_and_scale(self):
        x = _poses(14, (3,))[..., :2]
        moved = 0.37 * x + np.asarray([0.5, -0.2], np.float32)
        y = np.asarray(G.scale_normalize_2d(x))
        np.testing.assert_allclose(G.scale_normalize_2d(moved), y, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(np.mean(np.sum(y**2, -1), -1), 1.0, rtol=1e-5)

    def test_scale_normalize_2d_collapsed_pose_is_finite(self):
        x = np.full((17, 2), 0.3, np.float32)  # every joint on the root
        np.testing.assert_array_equal(G.scale_normalize_2d(x), 0.0)
        _finite_grad(G.scale_normalize_2d, x)

    @SKELETONS
    @pytest.mark.parametrize("dim", [2, 3])
    def test_flip_twice_is_identity(self, skel, dim):
        x = _poses(12, (3,), skel)[..., :dim]
        np.testing.assert_array_equal(G.flip_pose(G.flip_pose(x, skel), skel), x)

    def test_flip_mirrors_and_swaps_by_name(self):
        x = _poses(13, ())
        f = np.asarray(G.flip_pose(x, H36M17))
        right, left = H36M17.joint_index("RWrist"), H36M17.joint_index("LWrist")
        np.testing.assert_array_equal(f[left], x[right] * [-1, 1, 1])
        np.testing.assert_array_equal(f[0], x[0] * [-1, 1, 1])


def _numpy_procrustes(pred, target):
    """Independent float64 Kabsch-Umeyama (written from the math, as VideoPose3D's p_mpjpe)."""
    mu_x, mu_y = target.mean(0), pred.mean(0)
    x0, y0 = target - mu_x, pred - mu_y
    nx, ny = np.linalg.norm(x0), np.linalg.norm(y0)
    x0, y0 = x0 / nx, y0 / ny
    u, s, vt = np.linalg.svd(x0.T @ y0)
    v = vt.T
    r = v @ u.T
    if np.linalg.det(r) < 0:
        v[:, -1] *= -1
        s[-1] *= -1
        r = v @ u.T
    a = s.sum() * nx / ny
    return a * pred @ r + (mu_x - a * mu_y @ r)


class TestProcrustes:
    def test_recovers_similarity_transform(self):
        x = _poses(14, (4,))
        rot = Rotation.random(4, random_state=14).as_matrix().astype(np.float32)
        y = 2.7 * np.einsum("bij,bnj->bni", rot, x) + [[[0.3, -1.0, 4.0]]]
        np.testing.assert_allclose(G.procrustes_align(y, x), x, atol=2e-5)

    def test_matches_numpy_reference_including_reflection(self):
        rng = np.random.default_rng(15)
        target = _poses(15, (4,)).astype(np.float64)
        pred = target + rng.normal(scale=0.05, size=target.shape)
        pred[2:, :, 0] *= -1  # mirrored: the best fit would be a reflection
        got = np.asarray(G.procrustes_align(pred.astype("f4"), target.astype("f4")))
        for i in range(4):
            np.testing.assert_allclose(got[i], _numpy_procrustes(pred[i], target[i]), atol=1e-4)
        # The fitted map is a proper rotation: a mirrored copy is not aligned perfectly.
        assert np.abs(got[2:] - target[2:]).max() > 0.05

    def test_batched_equals_looped(self):
        x, y = _poses(16, (2, 3)), _poses(17, (2, 3))
        batched = np.asarray(G.procrustes_align(y, x))
        looped = [[G.procrustes_align(y[i, j], x[i, j]) for j in range(3)] for i in range(2)]
        np.testing.assert_allclose(batched, np.asarray(looped), atol=1e-6)

    def test_collapsed_pose_has_finite_gradients(self):
        x = _poses(18, ())
        collapsed = np.broadcast_to(x[:1], x.shape).copy()
        out = np.asarray(G.procrustes_align(collapsed, x))
        np.testing.assert_allclose(out, np.broadcast_to(x.mean(0), x.shape), atol=1e-5)
        # Collapsed prediction and collapsed target, in one compiled gradient.
        both = jax.jit(jax.grad(lambda p, t: jnp.sum(g.procrustes_align(p, t)), argnums=(0, 1)))
        for grads in (both(collapsed, x), both(x, collapsed)):
            assert all(np.all(np.isfinite(gr)) for gr in grads)

    def test_gradient_matches_finite_differences(self):
        x, y = _poses(19, ()).astype(np.float64), _poses(20, ()).astype(np.float64)
        with jax.enable_x64(True):
            f = jax.jit(lambda p: g.procrustes_align(p, jnp.asarray(x)))
            check_grads(f, (jnp.asarray(y),), order=1, modes=["rev"], rtol=1e-5)

    def test_bad_shapes_raise(self):
        with pytest.raises(ValueError, match=r"\(17, 3\) and \(16, 3\)"):
            G.procrustes_align(np.zeros((17, 3)), np.zeros((16, 3)))


def test_jit_equals_eager():
    x = _poses(21, (2,))
    q = Rotation.random(2, random_state=21).as_quat()[:, [3, 0, 1, 2]].astype(np.float32)
    k = np.asarray([[1145, 1143, 512, 515]] * 2, np.float32)
    kd, pd = np.full((2, 3), 0.1, np.float32), np.full((2, 2), 1e-3, np.float32)

    def everything(x, q, k, kd, pd):
        b = g.bones(x, H36M17)
        return (
            g.joints_from_bones(b, H36M17, x[:, 0]),
            g.part_kcs(g.unit_bones(b), H36M17),
            g.axis_angle_to_matrix(x[:, 3]),
            g.world_to_camera(x, q, x[:, 0]),
            g.project_distorted(x, k, kd, pd),
            g.normalize_intrinsics(k, np.asarray([1000.0, 1002.0])),
            g.flip_pose(x, H36M17),
        )

    for a, b in zip(everything(x, q, k, kd, pd), jax.jit(everything)(x, q, k, kd, pd)):
        np.testing.assert_allclose(a, b, rtol=2e-6, atol=2e-6)
