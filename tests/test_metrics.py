"""Metrics in mm / percent: hand values, invariances, an independent NumPy P-MPJPE, subsets."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from compiled import Compiled
from scipy.spatial.transform import Rotation

from cpose_jax import metrics as M
from cpose_jax.skeleton import H36M16, H36M17, JOINTS_3DHP14

MC = Compiled(M)


def _poses(seed, *batch, j=17):
    """Random root-relative float32 poses in metres (spread ~0.3 m, like a body)."""
    x = np.random.default_rng(seed).normal(scale=0.3, size=(*batch, j, 3))
    return (x - x[..., :1, :]).astype(np.float32)


def _similarity(x, seed, scale=1.7):
    rot = Rotation.random(random_state=seed).as_matrix().astype(np.float32)
    return scale * x @ rot.T + np.asarray([0.2, -0.4, 3.0], np.float32)


def _numpy_p_mpjpe(pred, target):
    """Independent float64 P-MPJPE (mm) per pose, written from the VideoPose3D recipe."""
    out = []
    for p, t in zip(pred.astype("f8"), target.astype("f8")):
        mp, mt = p.mean(0), t.mean(0)
        p0, t0 = p - mp, t - mt
        u, s, vt = np.linalg.svd(p0.T @ t0)
        d = np.sign(np.linalg.det(u @ vt))
        rot = u @ np.diag([1.0, 1.0, d]) @ vt
        scale = (s * [1.0, 1.0, d]).sum() / (p0**2).sum()
        aligned = scale * p0 @ rot + mt
        out.append(1000 * np.linalg.norm(aligned - t, axis=-1).mean())
    return np.asarray(out)


class TestMPJPE:
    def test_hand_value_mm(self):
        t = _poses(0, 2)
        p = t + np.asarray([0.003, 0.004, 0.0], np.float32)  # 5 mm everywhere
        np.testing.assert_allclose(MC.mpjpe(p, t), [5.0, 5.0], rtol=1e-4)

    def test_per_sample_shape_and_batched_equals_looped(self):
        p, t = _poses(1, 3, 4), _poses(2, 3, 4)
        got = np.asarray(MC.mpjpe(p, t))
        assert got.shape == (3, 4)
        looped = [
            [1000 * np.linalg.norm(p[i, j] - t[i, j], axis=-1).mean() for j in range(4)]
            for i in range(3)
        ]
        np.testing.assert_allclose(got, looped, rtol=1e-5)

    def test_joint_subset_3dhp14(self):
        t = _poses(3, 2)
        p = t.copy()
        p[:, H36M17.joint_index("Spine")] += 1.0  # Spine is not among the 14 joints
        joints = M.joint_preset("3dhp14", H36M17)
        assert joints == H36M17.subset(JOINTS_3DHP14)
        np.testing.assert_allclose(MC.mpjpe(p, t, joints=joints), 0.0, atol=1e-6)
        assert np.all(MC.mpjpe(p, t) > 50)
        assert M.joint_preset("all", H36M16) is None
        with pytest.raises(ValueError, match="joints must index"):
            MC.mpjpe(p, t, joints=(0, 17))

    def test_shape_mismatch_raises(self):
        with pytest.raises(ValueError, match=r"\(17, 3\) and \(16, 3\)"):
            MC.mpjpe(np.zeros((17, 3)), np.zeros((16, 3)))


class TestPAMPJPE:
    def test_zero_for_similar_copy(self):
        t = _poses(4, 3)
        p = np.stack([_similarity(t[i], seed=i) for i in range(3)])
        # float32 SVD on metre-scale poses: ~1e-6 m residuals, i.e. ~1e-3 mm.
        np.testing.assert_allclose(MC.pa_mpjpe(p, t), 0.0, atol=0.01)
        assert np.all(MC.mpjpe(p, t) > 100)

    def test_unchanged_by_similarity_of_prediction_and_matches_numpy(self):
        t, p = _poses(5, 4), _poses(6, 4) * 0.5 + _poses(5, 4)
        base = np.asarray(MC.pa_mpjpe(p, t))
        moved = np.stack([_similarity(p[i], seed=10 + i, scale=0.4) for i in range(4)])
        np.testing.assert_allclose(MC.pa_mpjpe(moved, t), base, rtol=1e-4)
        np.testing.assert_allclose(base, _numpy_p_mpjpe(p, t), rtol=1e-4)
        assert np.all(base < np.asarray(MC.mpjpe(p, t)))

    def test_reflection_is_not_aligned_away(self):
        t = _poses(7, 3)
        mirrored = t * np.asarray([-1.0, 1.0, 1.0], np.float32)
        got = np.asarray(MC.pa_mpjpe(mirrored, t))
        assert np.all(got > 10)  # a reflection fit would give 0
        np.testing.assert_allclose(got, _numpy_p_mpjpe(mirrored, t), rtol=1e-4)

    def test_collapsed_prediction_gradient_finite(self):
        t = _poses(8)
        grad = jax.jit(jax.grad(lambda p: MC.pa_mpjpe(p, t)))(jnp.zeros((17, 3)))
        assert np.all(np.isfinite(grad))


class TestNMPJPE:
    def test_scale_only(self):
        t = _poses(9, 2)
        np.testing.assert_allclose(MC.n_mpjpe(2.5 * t, t), 0.0, atol=1e-3)
        p = _poses(10, 2)
        s = (p * t).sum((-2, -1), keepdims=True) / (p * p).sum((-2, -1), keepdims=True)
        ref = 1000 * np.linalg.norm(s * p - t, axis=-1).mean(-1)  # VideoPose3D n_mpjpe
        np.testing.assert_allclose(MC.n_mpjpe(p, t), ref, rtol=1e-5)
        assert np.all(np.isfinite(MC.n_mpjpe(np.zeros((17, 3)), t[0])))

    def test_optimal_scale(self):
        t = _poses(11, 3)
        # A prediction at 40% of the size needs s = 2.5; at the true size s = 1.
        np.testing.assert_allclose(MC.optimal_scale(0.4 * t, t), 2.5, rtol=1e-5)
        np.testing.assert_allclose(MC.optimal_scale(t, t), 1.0, rtol=1e-6)
        np.testing.assert_allclose(MC.optimal_scale(np.zeros_like(t), t), 1.0)
        # On a joint subset only those joints count: scaling the other joints changes nothing.
        joints = H36M17.subset(JOINTS_3DHP14)
        others = np.setdiff1d(np.arange(17), joints)
        p = 0.5 * t.copy()
        p[:, others] *= 7.0
        np.testing.assert_allclose(MC.optimal_scale(p, t, joints=joints), 2.0, rtol=1e-5)


class TestPCKAUC:
    def _one_joint_errors(self, errors_mm):
        t = np.zeros((len(errors_mm), 1, 3), np.float32)
        p = t.copy()
        p[:, 0, 0] = np.asarray(errors_mm) / 1000
        return p, t

    def test_pck_strict_threshold(self):
        p, t = self._one_joint_errors([100.0, 149.0, 150.5, 200.0])
        np.testing.assert_allclose(MC.pck(p, t), [100, 100, 0, 0])
        # Per sample over joints: 2 of 4 joints within 150 mm -> 50 %.
        np.testing.assert_allclose(MC.pck(p.reshape(1, 4, 3), t.reshape(1, 4, 3)), [50.0])
        np.testing.assert_allclose(MC.pck(p, t, threshold_mm=120.0), [100, 0, 0, 0])

    def test_auc_31_thresholds(self):
        assert len(M.AUC_THRESHOLDS_MM) == 31
        assert M.AUC_THRESHOLDS_MM[0] == 0 and M.AUC_THRESHOLDS_MM[-1] == 150
        # Error 12 mm is below 15, 20, ..., 150: 28 of 31 thresholds. Error 0 is below every
        # threshold but 0 (strict <): 30 of 31. Error 200 mm: none.
        p, t = self._one_joint_errors([12.0, 0.0, 200.0])
        np.testing.assert_allclose(MC.auc(p, t), [100 * 28 / 31, 100 * 30 / 31, 0.0], rtol=1e-5)

    def test_auc_is_mean_pck_over_thresholds(self):
        p, t = _poses(11, 3), _poses(11, 3) + _poses(12, 3) * 0.2
        ref = np.mean([np.asarray(M.pck(p, t, threshold_mm=th)) for th in M.AUC_THRESHOLDS_MM], 0)
        np.testing.assert_allclose(MC.auc(p, t), ref, rtol=1e-5)


@pytest.mark.parametrize("dtype", [jnp.bfloat16, jnp.float16])
def test_half_precision_input_is_computed_in_float32(dtype):
    # Half-precision inputs are promoted: the results equal float32 metrics of the rounded
    # inputs (Procrustes has no half-precision SVD; bfloat16 arithmetic costs 1-3 %).
    p, t = _poses(15, 6), _poses(16, 6)
    ph, th = jnp.asarray(p, dtype), jnp.asarray(t, dtype)
    p32, t32 = np.asarray(ph, np.float32), np.asarray(th, np.float32)
    for name in ("mpjpe", "pa_mpjpe", "n_mpjpe", "pck", "auc"):
        got = getattr(M, name)(ph, th)
        assert got.dtype == jnp.float32, name
        np.testing.assert_allclose(got, getattr(M, name)(p32, t32), rtol=1e-6, err_msg=name)
    np.testing.assert_allclose(M.pa_mpjpe(ph, th), _numpy_p_mpjpe(p32, t32), rtol=1e-4)
    from cpose_jax import geometry

    aligned = geometry.procrustes_align(ph, th)
    assert aligned.dtype == jnp.float32 and np.isfinite(aligned).all()


def test_jit_equals_eager():
    p, t = _poses(13, 2), _poses(14, 2)
    joints = H36M17.subset(JOINTS_3DHP14)

    def everything(p, t):
        return (
            M.mpjpe(p, t, joints=joints),
            M.pa_mpjpe(p, t),
            M.n_mpjpe(p, t),
            M.pck(p, t, joints=joints),
            M.auc(p, t),
        )

    for a, b in zip(everything(p, t), jax.jit(everything)(p, t)):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


def test_bone_depth_sign_errors_by_hand():
    from cpose_jax.skeleton import Skeleton

    chain = Skeleton.from_names("chain3", ("Root", "A", "B"), (-1, 0, 1))
    target = jnp.asarray([[0, 0, 0], [0, 0.3, 0.2], [0, 0.6, 0.21]], jnp.float32)
    # Bone 0 goes 0.2 m away (counted), bone 1 0.01 m (not counted at 5 cm).
    same = M.bone_depth_sign_errors(target, target, chain)
    np.testing.assert_array_equal(same[0], [0, 0])
    np.testing.assert_array_equal(same[1], [1, 0])
    # The first bone flipped toward the camera (same 2D under orthography): wrong.
    flipped = target.at[1:, 2].add(-0.4)
    wrong, counted = M.bone_depth_sign_errors(flipped, target, chain)
    np.testing.assert_array_equal(wrong, [1, 0])
    np.testing.assert_array_equal(counted, [1, 0])
    # A batch axis broadcasts; jit equals eager.
    both = jnp.stack([target, flipped])
    got = jax.jit(lambda p, t: M.bone_depth_sign_errors(p, t, chain))(both, target[None])
    np.testing.assert_array_equal(got[0], [[0, 0], [1, 0]])
