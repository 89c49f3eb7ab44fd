"""Losses: hand-worked values, the paper's equations written as plain NumPy loops, masks, safety."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiled import Compiled

from cpose_jax import geometry as g
from cpose_jax import losses as L
from cpose_jax.skeleton import H36M16, H36M17, Skeleton

LC = Compiled(L)


def _rand(seed, *shape, scale=1.0):
    return (np.random.default_rng(seed).normal(size=shape) * scale).astype(np.float32)


class TestMaskedMean:
    def test_hand_values(self):
        v = jnp.asarray([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
        assert LC.masked_mean(v) == pytest.approx(3.5)
        assert LC.masked_mean(v, jnp.asarray([[1, 0, 1], [0, 0, 1]])) == pytest.approx(10 / 3)
        np.testing.assert_allclose(LC.masked_mean(v, jnp.asarray([[1], [0]]), axis=1), [2, 0])
        np.testing.assert_allclose(LC.masked_mean(v, axis=0), [2.5, 3.5, 4.5])
        # Weights: (1·1 + 3·3) / (1 + 3) = 2.5.
        assert LC.masked_mean(jnp.asarray([1.0, 3.0]), jnp.asarray([1.0, 3.0])) == 2.5

    def test_empty_mask_gives_zero_with_finite_gradient(self):
        v = jnp.asarray([1.0, 2.0])
        assert LC.masked_mean(v, jnp.zeros(2)) == 0.0
        grad = jax.grad(lambda x: LC.masked_mean(x, jnp.zeros(2)))(v)
        np.testing.assert_array_equal(grad, [0.0, 0.0])

    def test_masked_out_nan_does_not_leak(self):
        v = jnp.asarray([1.0, jnp.nan, 3.0])
        assert LC.masked_mean(v, jnp.asarray([1, 0, 1])) == 2.0
        grad = jax.grad(lambda x: LC.masked_mean(x, jnp.asarray([1, 0, 1])))(v)
        np.testing.assert_array_equal(grad, [0.5, 0.0, 0.5])

    def test_bad_mask_raises(self):
        with pytest.raises(ValueError, match=r"\(3,\).*\(2, 4\)"):
            LC.masked_mean(jnp.ones((2, 4)), jnp.ones(3))


class TestConfidence:
    def test_eq3_hand_values_and_zero_sum_guard(self):
        c = jnp.asarray([[1.0, 3.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
        np.testing.assert_allclose(LC.normalize_confidence(c), [[0.25, 0.75, 0, 0], [0, 0, 0, 0]])
        grad = jax.grad(lambda x: jnp.sum(LC.normalize_confidence(x) ** 2))(c)
        assert np.all(np.isfinite(grad))

    def test_refinement_loss_is_eq4(self):
        x, xh, c = _rand(0, 3, 17, 2), _rand(1, 3, 17, 2), np.abs(_rand(2, 3, 17))
        ns, nj = 3, 17
        ref = 0.0  # Eq. 4 as printed: 1/(N_S N_J) Σ_i Σ_j c'_ij (x_ij - x̂_ij)²
        for i in range(ns):
            cn = c[i] / np.abs(c[i]).sum()
            for j in range(nj):
                ref += cn[j] * np.sum((x[i, j] - xh[i, j]) ** 2)
        ref /= ns * nj
        assert LC.masked_mean(LC.refinement_loss(xh, x, c)) == pytest.approx(ref, rel=1e-5)
        # Hand value: one joint off by (0.3, 0.4) with c' = 0.5 -> 0.5 · 0.25 = 0.125.
        one = LC.refinement_loss(
            jnp.asarray([[0.3, 0.4], [0.0, 0.0]]), jnp.zeros((2, 2)), jnp.asarray([2.0, 2.0])
        )
        np.testing.assert_allclose(one, [0.125, 0.0], rtol=1e-6)

    def test_refinement_shape_mismatch_raises(self):
        with pytest.raises(ValueError, match="confidence must have shape"):
            LC.refinement_loss(jnp.zeros((2, 17, 2)), jnp.zeros((2, 17, 2)), jnp.ones((2, 16)))


class TestCameraPoseLosses:
    def test_reprojection_zero_at_truth_and_eq7(self):
        pose, t = _rand(3, 4, 17, 3, scale=0.3), np.asarray([[0.1, -0.2, 5.0]] * 4, np.float32)
        k = np.asarray([[2.29, 2.29, 0.01, -0.02]] * 4, np.float32)
        kp = g.project(pose + t[:, None], k)
        np.testing.assert_allclose(LC.reprojection_loss(pose, t, k, kp), 0.0, atol=1e-10)
        target = np.asarray(kp) + _rand(4, 4, 17, 2, scale=0.01)
        ref = 0.0  # Eq. 7: 1/N Σ_i Σ_j |M̂ (X̂_ij + t̂_i) - x_ij|², pinhole by hand
        for i in range(4):
            for j in range(17):
                xc = pose[i, j] + t[i]
                uv = k[i, :2] * xc[:2] / xc[2] + k[i, 2:]
                ref += np.sum((uv - target[i, j]) ** 2)
        ref /= 4
        got = LC.masked_mean(LC.reprojection_loss(pose, t, k, target)) * 17  # joint mean × J
        assert got == pytest.approx(ref, rel=1e-4)

    def test_reprojection_mask_ignores_missing_labels(self):
        pose, t = _rand(5, 2, 17, 3, scale=0.3), np.asarray([[0.0, 0.0, 5.0]] * 2, np.float32)
        k = np.asarray([[2.3, 2.3, 0.0, 0.0]] * 2, np.float32)
        kp = np.asarray(g.project(pose + t[:, None], k))
        valid = np.ones((2, 17), np.float32)
        valid[0, 3] = 0.0
        bad = kp.copy()
        bad[0, 3] = 0.0  # missing label stored as 0 (data pipeline convention)
        assert LC.masked_mean(LC.reprojection_loss(pose, t, k, bad), valid) == pytest.approx(0.0)
        assert LC.masked_mean(LC.reprojection_loss(pose, t, k, bad)) > 1e-3

    def test_camera_loss_eq8_hand_value(self):
        # |(2,2,0,0) - (2.1,1.9,0,0.2)|² + |(0,0,5) - (0,0.3,4.6)|² = 0.06 + 0.25 = 0.31.
        got = LC.camera_loss(
            jnp.asarray([2.1, 1.9, 0.0, 0.2]),
            jnp.asarray([0.0, 0.3, 4.6]),
            jnp.asarray([2.0, 2.0, 0.0, 0.0]),
            jnp.asarray([0.0, 0.0, 5.0]),
        )
        assert got.shape == () and got == pytest.approx(0.31, rel=1e-6)
        with pytest.raises(ValueError, match="shapes must match"):
            LC.camera_loss(jnp.zeros(4), jnp.zeros(3), jnp.zeros(4), jnp.zeros(2))

    def test_pose_3d_loss_is_eq9(self):
        a, b = _rand(6, 5, 17, 3), _rand(7, 5, 17, 3)
        ref = np.mean(np.sum((a.astype("f8") - b) ** 2, -1))  # 1/(N_S N_J) Σ Σ |X - X̂|²
        assert LC.masked_mean(L.pose_3d_loss(a, b)) == pytest.approx(ref, rel=1e-5)
        assert L.pose_3d_loss(a, b).shape == (5, 17)


class TestLSGAN:
    def test_discriminator_hand_values(self):
        real, fake = LC.lsgan_discriminator_loss(jnp.asarray([1.0, 0.0]), jnp.asarray([0.0, 1.0]))
        np.testing.assert_allclose(real, [0.0, 0.5])
        np.testing.assert_allclose(fake, [0.0, 0.5])

    def test_generator_hand_values(self):
        np.testing.assert_allclose(
            LC.lsgan_generator_loss(jnp.asarray([1.0, 0.0, 3.0])), [0, 0.5, 2]
        )

    def test_different_batch_sizes_allowed(self):
        real, fake = LC.lsgan_discriminator_loss(jnp.ones((4, 5)), jnp.zeros((6, 5)))
        assert real.shape == (4, 5) and fake.shape == (6, 5)


class TestRangeLosses:
    def test_rectified_l2(self):
        x = jnp.asarray([-0.2, -0.05, 0.0, 0.1, 0.15])
        np.testing.assert_allclose(L.rectified_l2(x, threshold=0.1), [0.04, 0, 0, 0, 0.0225])
        grad = jax.grad(lambda v: jnp.sum(L.rectified_l2(v, threshold=0.1)))(x)
        np.testing.assert_allclose(grad, [-0.4, 0, 0, 0, 0.3], rtol=1e-6)

    def test_diff_range_loss(self):
        # PoseAug's bone-angle range: zero on [0.04, 0.37], (x - 0.205)² outside.
        x = jnp.asarray([0.0, 0.05, 0.36, 0.5])
        np.testing.assert_allclose(
            LC.diff_range_loss(x, center=0.205, radius=0.165),
            [0.205**2, 0.0, 0.0, 0.295**2],
            rtol=1e-5,
        )


class TestFeedback:
    @pytest.mark.parametrize("skel", [H36M17, H36M16], ids=lambda s: s.name)
    def test_group_errors_by_name(self, skel):
        target = _rand(8, 2, skel.num_joints, 3)
        pred = target.copy()
        pred[:, skel.joint_index("RHip"), 2] += 0.1  # weight 5, group 0 of 4 joints
        pred[:, skel.joint_index("Head"), 0] += 0.3  # weight 1, group 1 of 5 joints
        pred[:, skel.joint_index("Spine"), 1] += 9.0  # in no group
        got = LC.joint_group_errors(pred, target, skel)
        np.testing.assert_allclose(got, [[5 * 0.1 / 4, 0.3 / 5, 0.0]] * 2, rtol=1e-5, atol=1e-7)

    def test_feedback_loss_hand_value(self):
        target = _rand(9, 1, 16, 3)
        orig = target.copy()
        orig[:, [3, 6, 12, 15], 0] += 0.01  # feet and wrists off 1 cm -> group 2 error 0.01
        aug = target.copy()
        aug[:, [3, 6, 12, 15], 0] += 0.09  # 9 cm: hardness 9 in group 2
        orig[:, 1, 0] += 0.01  # RHip in both: hardness 1 in group 0
        aug[:, 1, 0] += 0.01
        # Group 1 has zero error in both: 0 / eps = 0.
        loss = LC.feedback_hardness_loss(aug, target, orig, target, H36M16, center=4.0, radius=2.0)
        np.testing.assert_allclose(loss, [[9.0, 16.0, 25.0]], rtol=1e-4)

    def test_hardness_is_finite_for_perfect_original(self):
        x = jnp.asarray(_rand(10, 2, 17, 3))
        f = lambda p: jnp.sum(LC.feedback_hardness_loss(p, x, x, x, H36M17, center=3.0, radius=2.0))
        assert np.isfinite(f(x + 0.01)) and np.all(np.isfinite(jax.grad(f)(x)))

    def test_weights_by_name(self):
        np.testing.assert_array_equal(
            LC.hardness_joint_weights(H36M16), [1, 5, 2, 1, 5, 2, 1, 1, 1, 1, 5, 2, 1, 5, 2, 1]
        )  # PoseAug's list (poseaug.md §1.5)
        assert LC.hardness_joint_weights(H36M17)[H36M17.joint_index("Neck/Nose")] == 1.0


def test_jit_equals_eager():
    pose, tgt = _rand(11, 2, 17, 3), _rand(12, 2, 17, 3)
    t, k = np.asarray([[0, 0, 5.0]] * 2, "f4"), np.asarray([[2.3, 2.3, 0, 0]] * 2, "f4")
    kp, c = _rand(13, 2, 17, 2), np.abs(_rand(14, 2, 17))

    def everything(pose, tgt, kp, c):
        return (
            L.masked_mean(L.refinement_loss(kp, kp * 0.9, c), c > 0.5),
            L.reprojection_loss(pose, t, k, kp),
            L.pose_3d_loss(pose, tgt),
            L.feedback_hardness_loss(pose, tgt, tgt * 1.1, tgt, H36M17, center=3.0, radius=2.0),
        )

    for a, b in zip(everything(pose, tgt, kp, c), jax.jit(everything)(pose, tgt, kp, c)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


class TestBoneLengthPrior:
    # A 3-joint chain root -> A -> B: bone 0 = A - root, bone 1 = B - A.
    CHAIN = Skeleton.from_names("chain3", ("Root", "A", "B"), (-1, 0, 1))

    def test_hand_values(self):
        # Bones of lengths 0.3 (along y) and 0.5 (a 3-4-5 triangle in y/z) against references
        # 0.15 and 0.5: ratios 2 and 1 -> (2 - 1)^2 = 1 and 0.
        pose = jnp.asarray([[0, 0, 0], [0, 0.3, 0], [0, 0.6, 0.4]], jnp.float32)
        got = LC.bone_length_prior_loss(pose, jnp.asarray([0.15, 0.5]), self.CHAIN)
        np.testing.assert_allclose(got, [1.0, 0.0], atol=1e-6)
        # Every bone 1.5x its reference: (1.5 - 1)^2 = 0.25 each; a batch axis broadcasts.
        ref = jnp.asarray([0.2, 0.4])
        scaled = jnp.asarray([[0, 0, 0], [0.3, 0, 0], [0.3, 0, -0.6]], jnp.float32)
        got = LC.bone_length_prior_loss(jnp.stack([scaled, pose]), ref, self.CHAIN)
        np.testing.assert_allclose(got[0], [0.25, 0.25], rtol=1e-5)
        np.testing.assert_allclose(got[1], [(0.3 / 0.2 - 1) ** 2, (0.5 / 0.4 - 1) ** 2], rtol=1e-5)

    def test_zero_at_the_reference_lengths_and_without_a_reference(self):
        x = jnp.asarray(_rand(20, 3, 17, 3, scale=0.3))
        lengths = g.bone_lengths(g.bones(x, H36M17))
        np.testing.assert_allclose(LC.bone_length_prior_loss(x, lengths, H36M17), 0.0, atol=1e-10)
        assert float(jnp.max(LC.bone_length_prior_loss(x, jnp.zeros(16), H36M17))) == 0.0

    def test_finite_gradient_at_a_zero_length_bone(self):
        pose = jnp.asarray([[0, 0, 0], [0, 0.3, 0], [0, 0.3, 0]], jnp.float32)  # bone 1: 0
        f = lambda p: jnp.sum(LC.bone_length_prior_loss(p, jnp.asarray([0.3, 0.4]), self.CHAIN))
        assert f(pose) == pytest.approx(1.0)  # (0 / 0.4 - 1)^2
        assert np.all(np.isfinite(jax.grad(f)(pose)))

    def test_bad_shape(self):
        with pytest.raises(ValueError, match="pred_3d"):
            L.bone_length_prior_loss(jnp.zeros((3, 2)), jnp.ones(2), self.CHAIN)


class TestBoneRatio:
    CHAIN = TestBoneLengthPrior.CHAIN

    def test_hand_values(self):
        # Bones 0.3 and 0.5 (shares 3/8, 5/8) against references 0.2 and 0.2 (shares 1/2, 1/2):
        # (0.75 - 1)^2 = 0.0625 and (1.25 - 1)^2 = 0.0625.
        pose = jnp.asarray([[0, 0, 0], [0, 0.3, 0], [0, 0.6, 0.4]], jnp.float32)
        got = LC.bone_ratio_loss(pose, jnp.asarray([0.2, 0.2]), self.CHAIN)
        np.testing.assert_allclose(got, [0.0625, 0.0625], rtol=1e-5)

    def test_size_free_and_zero_at_the_reference_proportions(self):
        x = jnp.asarray(_rand(21, 3, 17, 3, scale=0.3))
        lengths = g.bone_lengths(g.bones(x, H36M17))
        # Any size with the reference's proportions: 0 (the length prior would not be).
        np.testing.assert_allclose(LC.bone_ratio_loss(2.5 * x, lengths, H36M17), 0.0, atol=1e-9)
        np.testing.assert_allclose(
            LC.bone_ratio_loss(x, lengths, H36M17),
            LC.bone_ratio_loss(0.4 * x, lengths, H36M17),
            atol=1e-9,
        )

    def test_finite_gradient_at_a_collapsed_pose(self):
        f = lambda p: jnp.sum(L.bone_ratio_loss(p, jnp.asarray([0.3, 0.4]), self.CHAIN))
        assert np.all(np.isfinite(jax.grad(f)(jnp.zeros((3, 3)))))
