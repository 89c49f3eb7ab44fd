"""Fake-pose diagnostics: values worked out by hand on poses built from one torso offset."""

import jax
import numpy as np
import pytest

from cpose_jax import diagnostics as dg
from cpose_jax.skeleton import H36M17

THORAX = H36M17.joint_index("Thorax")


def _poses_2d(offsets):
    """(B, 17, 2): root at (0.3, 0.1), every other joint at root + offset. Its 2D extent (RMS
    distance from the root over 17 joints) is |offset| * sqrt(16 / 17)."""
    off = np.asarray(offsets, np.float32)
    x = np.broadcast_to(off[:, None, :], (len(off), 17, 2)).copy()
    x[:, 0] = 0.0
    return x + np.asarray([0.3, 0.1], np.float32)


def test_extent_and_torso_angle_hand_values():
    x = _poses_2d([[0.0, -0.1], [0.1, 0.0], [0.1, 0.1], [0.0, 0.3], [-0.2, -0.2]])
    k = np.sqrt(16 / 17)
    np.testing.assert_allclose(
        dg.extent_2d(x),
        [0.1 * k, 0.1 * k, np.sqrt(0.02) * k, 0.3 * k, np.sqrt(0.08) * k],
        rtol=1e-5,
    )
    # v grows downward: (0, -0.1) is upright (0°), (0.1, 0) sideways (90°), (0.1, 0.1) 135°,
    # (0, 0.3) upside down (180°), (-0.2, -0.2) 45°; a zero-length torso has no direction: 90°.
    np.testing.assert_allclose(
        dg.torso_angle_from_up(x, H36M17), [0.0, 90.0, 135.0, 180.0, 45.0], atol=1e-4
    )
    np.testing.assert_allclose(dg.torso_angle_from_up(_poses_2d([[0.0, 0.0]]), H36M17), [90.0])


def test_fake_statistics_hand_values_and_masks():
    fake_2d = _poses_2d([[0.0, -0.1], [0.1, 0.0], [0.1, 0.1], [0.0, 0.3]])
    real_2d = _poses_2d([[0.0, -0.2], [0.0, -0.4], [0.0, -0.6]])
    fake_3d = np.zeros((4, 17, 3), np.float32)
    fake_3d[:, :, 2] = np.asarray([2.0, 4.0, 8.0, 30.0])[:, None]
    stats = dg.fake_statistics(fake_3d, fake_2d, real_2d, H36M17)
    # Depth median of (2, 4, 8, 30) = 6 m. Extents (the sqrt(16/17) cancels): fakes 0.1, 0.1,
    # 0.1414, 0.3 -> median 0.1207; reals 0.2, 0.4, 0.6 -> 0.4; ratio 0.3018. Torso beyond 90°
    # from up: 135° and 180° -> 2 of 4.
    np.testing.assert_allclose(float(stats["root_depth_median"]), 6.0, rtol=1e-6)
    np.testing.assert_allclose(
        float(stats["extent_ratio"]), (0.1 + np.sqrt(0.02)) / 2 / 0.4, rtol=1e-5
    )
    np.testing.assert_allclose(float(stats["torso_down_fraction"]), 0.5)
    # Without the 4th fake (and the 3rd real): depth median 4, extents 0.1, 0.1, 0.1414 -> 0.1
    # over reals 0.2, 0.4 -> 0.3: ratio 1/3; down 1 of 3.
    masked = jax.jit(dg.fake_statistics, static_argnums=3)(
        fake_3d,
        fake_2d,
        real_2d,
        H36M17,
        fake_mask=np.asarray([1.0, 1.0, 1.0, 0.0]),
        real_mask=np.asarray([1.0, 1.0, 0.0]),
    )
    np.testing.assert_allclose(float(masked["root_depth_median"]), 4.0, rtol=1e-6)
    np.testing.assert_allclose(float(masked["extent_ratio"]), 1 / 3, rtol=1e-5)
    np.testing.assert_allclose(float(masked["torso_down_fraction"]), 1 / 3, rtol=1e-6)


def test_fake_statistics_shape_errors():
    x2 = _poses_2d([[0.0, -0.1]])
    with pytest.raises(ValueError, match="disagree"):
        dg.fake_statistics(np.zeros((2, 17, 3)), x2, x2, H36M17)
    with pytest.raises(ValueError, match="real_2d"):
        dg.fake_statistics(np.zeros((1, 17, 3)), x2, x2[0], H36M17)
