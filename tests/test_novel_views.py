"""Novel views of lifted poses (`geometry.view_rotation`, `objectives.novel_views`): rotations,
their axes, and the reason for them: a bone's depth flip is invisible in the input view and
visible from another one."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from cpose_jax import geometry
from cpose_jax.skeleton import H36M17
from cpose_jax.train import objectives
from cpose_jax.train.settings import LossWeights

THORAX = H36M17.joint_names.index("Thorax")
RWRIST = H36M17.joint_names.index("RWrist")


def _pose(seed=0, n=4):
    """Root-relative poses (n, 17, 3), metres: a standing chain plus noise."""
    rng = np.random.default_rng(seed)
    base = np.zeros((17, 3), np.float32)
    base[:, 1] = -np.linspace(0.0, 0.8, 17)
    x = base + rng.normal(scale=0.15, size=(n, 17, 3)).astype(np.float32)
    return jnp.asarray(x - x[:, :1])


def test_view_rotation_is_a_rotation_about_the_given_axes():
    az = jnp.asarray([0.0, 0.7, -2.5, np.pi])
    el = jnp.asarray([0.0, 0.2, -0.3, 0.1])
    r = np.asarray(geometry.view_rotation(az, el))
    np.testing.assert_allclose(
        r @ np.swapaxes(r, -1, -2), np.broadcast_to(np.eye(3), r.shape), atol=1e-6
    )
    np.testing.assert_allclose(np.linalg.det(r), 1.0, atol=1e-6)
    np.testing.assert_allclose(r[0], np.eye(3), atol=1e-7)
    # Without elevation the camera's y axis is fixed: y' = y (worked by hand: R_y keeps e_y).
    flat = np.asarray(geometry.view_rotation(az, jnp.zeros(4)))
    np.testing.assert_allclose(flat[:, 1], np.broadcast_to([0.0, 1.0, 0.0], (4, 3)), atol=1e-6)
    # Azimuth pi/2 about y sends x to -z (R_y(θ) = [[c, 0, s], [0, 1, 0], [-s, 0, c]]).
    quarter = np.asarray(geometry.view_rotation(jnp.asarray(np.pi / 2), jnp.asarray(0.0)))
    np.testing.assert_allclose(quarter @ [1.0, 0.0, 0.0], [0.0, 0.0, -1.0], atol=1e-6)
    # A given axis is fixed by the azimuth.
    axis = jnp.asarray([[0.6, 0.0, 0.8]] * 4)
    about = np.asarray(geometry.view_rotation(az, jnp.zeros(4), axis=axis))
    np.testing.assert_allclose(about @ np.asarray([0.6, 0.0, 0.8]), np.asarray(axis), atol=1e-6)


@pytest.mark.parametrize("axis", ["camera", "spine"])
def test_novel_views_turn_the_pose_about_its_axis(axis):
    pose = _pose()
    t = jnp.asarray([[0.1, -0.2, 4.0]] * 4)
    k = jnp.asarray([[1.2, 1.2, 0.0, 0.0]] * 4)
    weights = LossWeights(novel_view_axis=axis, novel_view_elevation=0.0)
    rot, x2d = objectives.novel_views(
        pose, t, k, jax.random.key(0), weights=weights, skeleton=H36M17
    )
    turned = np.asarray(pose) @ np.swapaxes(np.asarray(rot), -1, -2)
    fixed = np.asarray(pose[:, THORAX]) if axis == "spine" else np.asarray([[0.0, 1.0, 0.0]] * 4)
    fixed = fixed / np.linalg.norm(fixed, axis=-1, keepdims=True)
    np.testing.assert_allclose(np.einsum("nij,nj->ni", np.asarray(rot), fixed), fixed, atol=1e-5)
    # Bone lengths are kept; the 2D is the turned pose placed at t and projected.
    np.testing.assert_allclose(
        geometry.bone_lengths(geometry.bones(jnp.asarray(turned), H36M17)),
        geometry.bone_lengths(geometry.bones(pose, H36M17)),
        rtol=1e-5,
    )
    np.testing.assert_allclose(x2d, geometry.reproject(jnp.asarray(turned), t, k), atol=1e-5)


def test_a_depth_flip_is_invisible_in_the_input_view_and_visible_in_novel_views():
    """The wrist moved along its camera ray to the other point at its bone's length from the
    elbow (the other depth sign of the forearm): the same input-view 2D, another 3D pose; the
    novel views of the two differ (what the 2D discriminator and the re-lift can then see)."""
    pose = _pose(3, n=1)[0]
    t = jnp.asarray([0.0, 0.0, 4.0])
    k = jnp.asarray([1.0, 1.0, 0.0, 0.0])
    x = np.asarray(pose) + np.asarray(t)
    parent = H36M17.parents[RWRIST]
    p, c = x[parent], x[RWRIST]
    ray = c / np.linalg.norm(c)
    # |λ ray - p|^2 = |c - p|^2: λ^2 - 2 λ (ray·p) + |p|^2 - |c - p|^2 = 0, one root is |c|.
    lam = 2 * ray @ p - np.linalg.norm(c)
    flipped = x.copy()
    flipped[RWRIST] = lam * ray
    assert abs(np.linalg.norm(flipped[RWRIST] - p) - np.linalg.norm(c - p)) < 1e-5
    assert abs(flipped[RWRIST, 2] - c[2]) > 0.02  # really another depth
    poses = jnp.asarray(np.stack([x, flipped]) - np.asarray(t))
    same_view = geometry.reproject(poses, jnp.stack([t, t]), jnp.stack([k, k]))
    np.testing.assert_allclose(same_view[0], same_view[1], atol=1e-5)
    weights = LossWeights()
    gaps = []
    for seed in range(8):
        # The same rotation for both poses: one key per pose, the same key twice.
        key = jax.random.key(seed)
        _, a = objectives.novel_views(
            poses[:1], t[None], k[None], key, weights=weights, skeleton=H36M17
        )
        _, b = objectives.novel_views(
            poses[1:], t[None], k[None], key, weights=weights, skeleton=H36M17
        )
        gaps.append(float(jnp.max(jnp.abs(a - b))))
    assert np.median(gaps) > 5e-3, gaps  # 0.5 % of the normalized image: several pixels


def test_bad_axis_is_a_clear_error():
    with pytest.raises(ValueError, match="novel_view_axis"):
        objectives.novel_views(
            _pose(),
            jnp.zeros((4, 3)),
            jnp.ones((4, 4)),
            jax.random.key(0),
            weights=LossWeights(novel_view_axis="up"),
            skeleton=H36M17,
        )
