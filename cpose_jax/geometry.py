"""Pose geometry as pure JAX functions: bones, KCS, rotations, cameras, projection, Procrustes.

Conventions (docs/design.md): joints on the second-to-last axis, ``(..., J, 3)`` in metres in the
camera frame (x right, y down, z forward, as Human3.6M), 2D ``(..., J, 2)``. Bone ``k`` is
``X[k + 1] - X[parents[k + 1]]`` (child minus parent), ``(..., J - 1, D)``. Leading axes are
batch axes and broadcast. Topology comes from a static :class:`~cpose_jax.skeleton.Skeleton`.

Every function is differentiable with finite gradients at the degenerate inputs training meets
(zero-length bones, zero rotation, collapsed poses): square roots and divisions go through
:func:`safe_norm` / the "double ``where``" pattern, which keeps NaNs out of both branches.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax.skeleton import PART_NAMES, Skeleton

__all__ = [
    "at_least_float32",
    "axis_angle_to_matrix",
    "bone_lengths",
    "bones",
    "camera_to_world",
    "denormalize_intrinsics",
    "denormalize_screen",
    "flip_pose",
    "join_root",
    "joints_from_bones",
    "kcs",
    "normalize_intrinsics",
    "normalize_screen",
    "part_kcs",
    "part_masks",
    "procrustes_align",
    "project",
    "project_distorted",
    "quaternion_inverse",
    "quaternion_rotate",
    "reproject",
    "root_relative",
    "safe_norm",
    "scale_normalize_2d",
    "split_root",
    "unit_bones",
    "view_rotation",
    "world_to_camera",
]


# ----------------------------------------------------------------------------- shape checks


def _check_last(name: str, x, sizes: tuple[int, ...]) -> None:
    if x.ndim < 1 or x.shape[-1] not in sizes:
        raise ValueError(f"{name} must have last axis in {sizes}, got shape {x.shape}")


def _check_points(
    name: str, x, *, dims: tuple[int, ...] | None = (3,), num: int | None = None
) -> None:
    """``x`` must be ``(..., num, d)``, ``d`` in ``dims`` (any if None), any ``num`` if None."""
    bad_d = dims is not None and x.ndim >= 1 and x.shape[-1] not in dims
    if x.ndim < 2 or bad_d or (num is not None and x.shape[-2] != num):
        d = "D" if dims is None else "|".join(map(str, dims))
        raise ValueError(f"{name} must have shape (..., {num or 'N'}, {d}), got {x.shape}")


def safe_norm(x: jax.Array, *, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """Euclidean norm over ``axis``; exactly 0 at the zero vector, with gradient 0 (not NaN)."""
    sq = jnp.sum(jnp.square(x), axis=axis, keepdims=keepdims)
    pos = sq > 0
    return jnp.where(pos, jnp.sqrt(jnp.where(pos, sq, 1.0)), 0.0)


# ----------------------------------------------------------------------------- bones and KCS


def bones(x: jax.Array, skeleton: Skeleton) -> jax.Array:
    """Bone vectors ``X[child] - X[parent]``, bone ``k`` ending at joint ``k + 1``.

    Args:
      x: joints ``(..., J, D)``, any ``D`` (3D metres or 2D).
      skeleton: static topology with ``J`` joints.

    Returns:
      ``(..., J - 1, D)`` bone vectors, same units as ``x``.
    """
    x = jnp.asarray(x)
    _check_points("x", x, dims=None, num=skeleton.num_joints)
    parents = np.asarray(skeleton.parents[1:])
    return x[..., 1:, :] - x[..., parents, :]


def _path_matrix(skeleton: Skeleton) -> np.ndarray:
    """``A (J, J-1)``: ``A[j, k] = 1`` iff bone ``k`` lies on the path root -> joint ``j``."""
    a = np.zeros((skeleton.num_joints, skeleton.num_bones), np.float32)
    for j in range(1, skeleton.num_joints):
        a[j] = a[skeleton.parents[j]]
        a[j, j - 1] = 1.0
    return a


def joints_from_bones(b: jax.Array, skeleton: Skeleton, root: jax.Array | None = None) -> jax.Array:
    """Inverse of :func:`bones`: chains bone vectors from the root outwards.

    Args:
      b: bones ``(..., J - 1, D)``.
      skeleton: static topology with ``J`` joints.
      root: root joint position ``(..., D)`` (broadcast against ``b``'s batch axes); None puts
        the root at the origin (a root-relative pose).

    Returns:
      joints ``(..., J, D)`` with ``bones(joints_from_bones(b, s, r), s) == b``.
    """
    b = jnp.asarray(b)
    _check_points("b", b, dims=None, num=skeleton.num_bones)
    x = jnp.einsum("jk,...kd->...jd", jnp.asarray(_path_matrix(skeleton), b.dtype), b)
    if root is not None:
        root = jnp.asarray(root)
        _check_last("root", root, (b.shape[-1],))
        x = x + root[..., None, :]
    return x


def bone_lengths(b: jax.Array) -> jax.Array:
    """Lengths ``|b|`` of bones ``(..., K, D)`` -> ``(..., K)``; zero-length safe (gradient 0)."""
    b = jnp.asarray(b)
    if b.ndim < 2:
        raise ValueError(f"b must have shape (..., K, D), got {b.shape}")
    return safe_norm(b)


def unit_bones(b: jax.Array, *, eps: float = 1e-8) -> jax.Array:
    """Unit bone directions ``b / |b|`` ``(..., K, D)``.

    Bones shorter than ``eps`` (same units as ``b``; default 10 nm) map to the zero vector with a
    zero gradient, so a collapsed bone neither produces NaNs nor enormous gradients.
    """
    b = jnp.asarray(b)
    if b.ndim < 2:
        raise ValueError(f"b must have shape (..., K, D), got {b.shape}")
    n = safe_norm(b, keepdims=True)
    ok = n > eps
    return jnp.where(ok, b / jnp.where(ok, n, 1.0), 0.0)


def kcs(b: jax.Array) -> jax.Array:
    """Kinematic Chain Space matrix ``Ψ = B Bᵀ`` of bones ``(..., K, D)`` -> ``(..., K, K)``.

    ``Ψ[k, l] = <b_k, b_l>``: squared bone lengths on the diagonal, so for unit bones the entries
    are cosines between bones. Invariant to any global rotation (and reflection) of the pose.
    """
    b = jnp.asarray(b)
    if b.ndim < 2:
        raise ValueError(f"b must have shape (..., K, D), got {b.shape}")
    return jnp.einsum("...kd,...ld->...kl", b, b)


def part_masks(skeleton: Skeleton) -> np.ndarray:
    """``(5, J - 1)`` float mask, row ``p`` = 1 on the bones of PoseAug part ``PART_NAMES[p]``."""
    m = np.zeros((len(PART_NAMES), skeleton.num_bones), np.float32)
    for p, name in enumerate(PART_NAMES):
        m[p, list(skeleton.part_bones[name])] = 1.0
    return m


def part_kcs(b: jax.Array, skeleton: Skeleton) -> jax.Array:
    """Part-aware KCS (PoseAug): one ``B_P B_Pᵀ`` per body part, other bones zeroed.

    Args:
      b: bones ``(..., J - 1, D)`` (PoseAug's 3D discriminator feeds unit bones).
      skeleton: static topology; parts in ``skeleton.part_bones`` / ``PART_NAMES`` order
        (left_arm, right_arm, right_leg, left_leg, torso).

    Returns:
      ``(..., 5, J - 1, J - 1)``; rows and columns of bones outside the part are zero.
    """
    b = jnp.asarray(b)
    _check_points("b", b, dims=None, num=skeleton.num_bones)
    masked = b[..., None, :, :] * jnp.asarray(part_masks(skeleton), b.dtype)[:, :, None]
    return kcs(masked)


# ----------------------------------------------------------------------------- rotations


def _skew(v: jax.Array) -> jax.Array:
    """``(..., 3) -> (..., 3, 3)`` matrix ``[v]×`` with ``[v]× w = v × w``."""
    x, y, z = v[..., 0], v[..., 1], v[..., 2]
    o = jnp.zeros_like(x)
    return jnp.stack(
        [jnp.stack([o, -z, y], -1), jnp.stack([z, o, -x], -1), jnp.stack([-y, x, o], -1)], -2
    )


def axis_angle_to_matrix(aa: jax.Array) -> jax.Array:
    """Rotation matrices from axis-angle vectors (Rodrigues), exact, with finite gradients at 0.

    ``R = I + a [ω]× + b [ω]×²`` with ``θ = |ω|``, ``a = sin θ / θ``, ``b = (1 - cos θ) / θ²``
    computed as ``½ (sin(θ/2) / (θ/2))²`` (no cancellation). Below ``θ = 1e-3`` the coefficients
    come from their Taylor series in ``θ²`` (error < θ⁶/5040 ≈ 2e-22), selected with the double
    ``where`` so neither branch produces NaNs; the gradient at ``ω = 0`` is exactly ``[·]×``.
    Rotates column vectors: ``x' = R @ x`` (for row-vector poses use ``x @ R.T``).

    Args:
      aa: ``(..., 3)`` axis times angle in radians (PoseAug's generator output).

    Returns:
      ``(..., 3, 3)`` rotation matrices.
    """
    aa = jnp.asarray(aa)
    _check_last("aa", aa, (3,))
    t2 = jnp.sum(jnp.square(aa), axis=-1)
    small = t2 < 1e-6
    t = jnp.sqrt(jnp.where(small, 1.0, t2))
    half_sinc = jnp.sin(t / 2) / (t / 2)
    a = jnp.where(small, 1.0 - t2 / 6.0 + t2 * t2 / 120.0, jnp.sin(t) / t)
    b = jnp.where(small, 0.5 - t2 / 24.0 + t2 * t2 / 720.0, 0.5 * half_sinc * half_sinc)
    k = _skew(aa)
    eye = jnp.eye(3, dtype=k.dtype)
    return eye + a[..., None, None] * k + b[..., None, None] * (k @ k)


def view_rotation(
    azimuth: jax.Array, elevation: jax.Array, *, axis: jax.Array | None = None
) -> jax.Array:
    """Rotations that show a pose from another viewpoint: ``azimuth`` radians about ``axis``
    (unit ``(..., 3)`` vectors; None: the camera's vertical y axis), then ``elevation``
    radians about the camera's x axis. Rotates column vectors (``x' = R @ x``); apply it to
    root-relative poses to turn them about their root.

    Args:
      azimuth, elevation: ``(...)`` angles in radians.
      axis: ``(..., 3)`` unit rotation axes for the azimuth (e.g. the body's spine), or None.

    Returns:
      ``(..., 3, 3)`` rotation matrices.
    """
    azimuth, elevation = jnp.asarray(azimuth), jnp.asarray(elevation)
    if axis is None:
        axis = jnp.broadcast_to(jnp.asarray([0.0, 1.0, 0.0], azimuth.dtype), (*azimuth.shape, 3))
    turn = axis_angle_to_matrix(axis * azimuth[..., None])
    x_axis = jnp.asarray([1.0, 0.0, 0.0], azimuth.dtype)
    tilt = axis_angle_to_matrix(x_axis * elevation[..., None])
    return tilt @ turn


def quaternion_inverse(q: jax.Array) -> jax.Array:
    """Inverse of unit quaternions ``(..., 4)`` ``[w, x, y, z]``: the conjugate."""
    q = jnp.asarray(q)
    _check_last("q", q, (4,))
    return q * jnp.asarray([1.0, -1.0, -1.0, -1.0], q.dtype)


def quaternion_rotate(q: jax.Array, x: jax.Array) -> jax.Array:
    """Rotates vectors by unit quaternions, ``x' = q x q*`` (VideoPose3D ``qrot``).

    ``x' = x + 2 (w (u × x) + u × (u × x))`` with ``q = [w, u]``. ``q`` is assumed unit norm.

    Args:
      q: ``(..., 4)`` quaternions ``[w, x, y, z]``, broadcast against ``x``'s leading axes.
      x: ``(..., 3)`` vectors.

    Returns:
      ``(..., 3)`` rotated vectors (broadcast shape).
    """
    q, x = jnp.asarray(q), jnp.asarray(x)
    _check_last("q", q, (4,))
    _check_last("x", x, (3,))
    w, u = q[..., :1], q[..., 1:]
    uv = jnp.cross(u, x)
    return x + 2.0 * (w * uv + jnp.cross(u, uv))


def world_to_camera(x: jax.Array, rotation: jax.Array, translation: jax.Array) -> jax.Array:
    """World -> camera frame with Human3.6M extrinsics (VideoPose3D ``world_to_camera``).

    ``X_cam = qrot(q⁻¹, X_world - T)``: ``rotation`` is the camera's orientation quaternion (its
    axes in world coordinates) and ``translation`` its centre in world coordinates, both as
    VideoPose3D stores them (``h36m_cameras_extrinsic_params``, translation / 1000). With
    ``R_q`` the rotation matrix of ``q`` this is ``R_q^T (X - T)``; mmpose's ``cameras.pkl``
    stores ``R = R_q`` (``X_cam = (X - T) @ R``, row vectors), as ``tests/test_realdata.py``
    checks against VideoPose3D's published quaternion.

    Args:
      x: points ``(..., N, 3)`` in metres, world frame (N joints of one pose per camera).
      rotation: ``(..., 4)`` unit quaternion ``[w, x, y, z]``, one per pose.
      translation: ``(..., 3)`` camera centre, metres, world frame.

    Returns:
      ``(..., N, 3)`` points in the camera frame, metres.
    """
    x, q, t = jnp.asarray(x), jnp.asarray(rotation), jnp.asarray(translation)
    _check_points("x", x)
    _check_last("rotation", q, (4,))
    _check_last("translation", t, (3,))
    return quaternion_rotate(quaternion_inverse(q)[..., None, :], x - t[..., None, :])


def camera_to_world(x: jax.Array, rotation: jax.Array, translation: jax.Array) -> jax.Array:
    """Inverse of :func:`world_to_camera`: ``X_world = qrot(q, X_cam) + T``; same shapes."""
    x, q, t = jnp.asarray(x), jnp.asarray(rotation), jnp.asarray(translation)
    _check_points("x", x)
    _check_last("rotation", q, (4,))
    _check_last("translation", t, (3,))
    return quaternion_rotate(q[..., None, :], x) + t[..., None, :]


# ----------------------------------------------------------------------------- projection


def _perspective_divide(x_cam: jax.Array, min_depth: float | None) -> jax.Array:
    z = x_cam[..., 2:]
    if min_depth is not None:
        # Below min_depth the value is min_depth (large, finite projections) but the gradient
        # with respect to Z stays that of the projection at min_depth (straight-through), so a
        # reprojection loss pushes a point behind the camera forward instead of seeing a zero
        # gradient. In front of the camera the value and gradient are exactly X/Z's.
        behind = min_depth + (z - jax.lax.stop_gradient(z))
        z = jnp.where(z >= min_depth, z, behind)
    return x_cam[..., :2] / z


def project(
    x_cam: jax.Array,
    intrinsics: jax.Array,
    *,
    min_depth: float | None = 1e-3,
    clip_xy: float | None = None,
):
    """Pinhole projection ``x = M_int X / Z`` (paper Eq. 5-7), no distortion.

    ``u = fx X/Z + cx``, ``v = fy Y/Z + cy``. With pixel intrinsics the result is in pixels; with
    normalized intrinsics (:func:`normalize_intrinsics`) in normalized screen coordinates. For
    Eq. 7 pass ``x_cam = X̂ + t̂[..., None, :]`` (root-relative pose plus predicted translation).
    ``clip_xy=1.0`` is PoseAug's ``project_to_2d_linear`` (``u = fx clip(X/Z, -1, 1) + cx``),
    the projection its generated poses go through.

    Args:
      x_cam: points ``(..., N, 3)`` in the camera frame, metres (Z forward).
      intrinsics: ``(..., 4)`` ``fx, fy, cx, cy``, one set per pose, broadcast over ``N``.
      min_depth: depths are clamped to at least this (metres) so points at or behind the camera
        give large but finite values; their gradient with respect to Z is the projection's at
        ``min_depth`` (never 0), so a loss on the projection pushes them forward. None
        disables the clamp.
      clip_xy: None (default: no clip) or ``c > 0``: ``X/Z`` and ``Y/Z`` are clipped to
        ``[-c, c]`` before the intrinsics apply (a point far out of view lands on the border
        of a ``±atan(c)`` field of view, with zero gradient there, as PoseAug).

    Returns:
      ``(..., N, 2)`` image coordinates.
    """
    x_cam, k = jnp.asarray(x_cam), jnp.asarray(intrinsics)
    _check_points("x_cam", x_cam)
    _check_last("intrinsics", k, (4,))
    if clip_xy is not None and not clip_xy > 0:
        raise ValueError(f"clip_xy must be None or > 0, got {clip_xy}")
    xy = _perspective_divide(x_cam, min_depth)
    if clip_xy is not None:
        xy = jnp.clip(xy, -clip_xy, clip_xy)
    return k[..., None, :2] * xy + k[..., None, 2:]


def reproject(
    pose_3d: jax.Array,
    translation: jax.Array,
    intrinsics: jax.Array,
    *,
    min_depth: float | None = 1e-3,
) -> jax.Array:
    """Paper Eq. 7's ``proj(M_int, X̂ + t̂)``: a root-relative pose placed at its root position
    and projected (:func:`join_root` then :func:`project`).

    Args:
      pose_3d: ``(..., J, 3)`` root-relative, metres, camera frame.
      translation: ``(..., 3)`` the root in the camera frame, metres.
      intrinsics: ``(..., 4)`` ``fx, fy, cx, cy`` (normalized or pixels).
      min_depth: see :func:`project`.

    Returns:
      ``(..., J, 2)`` in the units of ``intrinsics``.
    """
    return project(join_root(pose_3d, translation), intrinsics, min_depth=min_depth)


def project_distorted(
    x_cam: jax.Array,
    intrinsics: jax.Array,
    radial_k: jax.Array,
    tangential_p: jax.Array,
    *,
    min_depth: float | None = 1e-3,
) -> jax.Array:
    """Projection with Human3.6M lens distortion, as VideoPose3D ``project_to_2d``.

    With ``(x, y) = clip((X/Z, Y/Z), -1, 1)`` and ``r² = x² + y²``::

        radial = 1 + k1 r² + k2 r⁴ + k3 r⁶
        tan    = p1 x + p2 y
        x_d    = x (radial + tan) + p1 r²,   y_d = y (radial + tan) + p2 r²
        u = fx x_d + cx,   v = fy y_d + cy

    The clip to ``[-1, 1]`` (±45° off-axis) is VideoPose3D's; it keeps the polynomial from
    folding back for points far outside the field of view (its gradient there is zero). Note
    the ``(p1, p2)`` order: mmpose's ``cameras.pkl`` stores ``p`` reversed (``p[::-1]`` gives
    this function's order); the real-data test pins it.

    Args:
      x_cam: ``(..., N, 3)`` camera frame, metres.
      intrinsics: ``(..., 4)`` ``fx, fy, cx, cy`` (pixels or normalized; output in the same).
      radial_k: ``(..., 3)`` ``k1, k2, k3``.
      tangential_p: ``(..., 2)`` ``p1, p2``.
      min_depth: see :func:`project`.

    Returns:
      ``(..., N, 2)`` distorted image coordinates.
    """
    x_cam, f_c = jnp.asarray(x_cam), jnp.asarray(intrinsics)
    k, p = jnp.asarray(radial_k)[..., None, :], jnp.asarray(tangential_p)[..., None, :]
    _check_points("x_cam", x_cam)
    _check_last("intrinsics", f_c, (4,))
    _check_last("radial_k", k, (3,))
    _check_last("tangential_p", p, (2,))
    xy = jnp.clip(_perspective_divide(x_cam, min_depth), -1.0, 1.0)
    r2 = jnp.sum(jnp.square(xy), axis=-1, keepdims=True)
    radial = 1.0 + k[..., 0:1] * r2 + k[..., 1:2] * r2**2 + k[..., 2:3] * r2**3
    tan = jnp.sum(p * xy, axis=-1, keepdims=True)
    xy_d = xy * (radial + tan) + p * r2
    return f_c[..., None, :2] * xy_d + f_c[..., None, 2:]


# ----------------------------------------------------------------------------- normalization


def _split_size(image_size: jax.Array) -> tuple[jax.Array, jax.Array]:
    s = jnp.asarray(image_size)
    _check_last("image_size", s, (2,))
    return s[..., 0:1], s[..., 1:2]


def normalize_screen(xy: jax.Array, image_size: jax.Array) -> jax.Array:
    """Pixels -> normalized screen coordinates (VideoPose3D): ``u = 2x/w - 1, v = 2y/w - h/w``.

    ``u`` spans ``[-1, 1]`` across the width; the aspect ratio is kept (``v`` spans ``±h/w``).

    Args:
      xy: ``(..., N, 2)`` pixel coordinates.
      image_size: ``(..., 2)`` ``(w, h)`` pixels, one per pose, broadcast over ``N``.

    Returns:
      ``(..., N, 2)`` normalized coordinates.
    """
    xy = jnp.asarray(xy)
    _check_points("xy", xy, dims=(2,))
    w, h = _split_size(image_size)
    w, h = w[..., None, :], h[..., None, :]
    return xy / w * 2.0 - jnp.concatenate([jnp.ones_like(h), h / w], axis=-1)


def denormalize_screen(uv: jax.Array, image_size: jax.Array) -> jax.Array:
    """Inverse of :func:`normalize_screen`: ``x = (u + 1) w / 2``, ``y = (v + h/w) w / 2``."""
    uv = jnp.asarray(uv)
    _check_points("uv", uv, dims=(2,))
    w, h = _split_size(image_size)
    w, h = w[..., None, :], h[..., None, :]
    return (uv + jnp.concatenate([jnp.ones_like(h), h / w], axis=-1)) * w / 2.0


def normalize_intrinsics(intrinsics: jax.Array, image_size: jax.Array) -> jax.Array:
    """Pixel ``fx, fy, cx, cy`` ``(..., 4)`` -> normalized: ``f / w * 2``, ``c`` as a point.

    Then ``project(x, normalize_intrinsics(k, s)) == normalize_screen(project(x, k), s)``.
    ``image_size`` is ``(..., 2)`` ``(w, h)``.
    """
    k = jnp.asarray(intrinsics)
    _check_last("intrinsics", k, (4,))
    w, _ = _split_size(image_size)
    c = normalize_screen(k[..., None, 2:], image_size)[..., 0, :]
    return jnp.concatenate([k[..., :2] / w * 2.0, c], axis=-1)


def denormalize_intrinsics(intrinsics: jax.Array, image_size: jax.Array) -> jax.Array:
    """Inverse of :func:`normalize_intrinsics`: normalized ``(..., 4)`` -> pixels."""
    k = jnp.asarray(intrinsics)
    _check_last("intrinsics", k, (4,))
    w, _ = _split_size(image_size)
    c = denormalize_screen(k[..., None, 2:], image_size)[..., 0, :]
    return jnp.concatenate([k[..., :2] * w / 2.0, c], axis=-1)


# ----------------------------------------------------------------------------- pose utilities


def root_relative(x: jax.Array, *, root: int = 0) -> jax.Array:
    """Subtracts joint ``root`` from every joint of ``(..., J, D)``; the root becomes exactly 0."""
    x = jnp.asarray(x)
    if x.ndim < 2 or not -x.shape[-2] <= root < x.shape[-2]:
        raise ValueError(f"x must have shape (..., J, D) with joint {root}, got {x.shape}")
    return x - x[..., root : root + 1, :]


def split_root(x: jax.Array, *, root: int = 0) -> tuple[jax.Array, jax.Array]:
    """``(..., J, D)`` absolute points -> (root-relative ``(..., J, D)``, root ``(..., D)``);
    the inverse of :func:`join_root`."""
    relative = root_relative(x, root=root)
    return relative, jnp.asarray(x)[..., root, :]


def join_root(relative: jax.Array, root_position: jax.Array) -> jax.Array:
    """Root-relative ``(..., J, D)`` plus the root's position ``(..., D)`` -> absolute
    ``(..., J, D)`` (e.g. ``X_cam = X_rel + t``, metres, camera frame)."""
    relative, root_position = jnp.asarray(relative), jnp.asarray(root_position)
    if relative.shape[-1:] != root_position.shape[-1:]:
        raise ValueError(
            f"relative (..., J, D) and root_position (..., D) disagree: {relative.shape} vs "
            f"{root_position.shape}"
        )
    return relative + root_position[..., None, :]


def scale_normalize_2d(keypoints_2d: jax.Array, *, root: int = 0, eps: float = 1e-6) -> jax.Array:
    """Root-centres ``(..., J, 2)`` keypoints and divides them by their RMS distance to the root.

    The result is invariant to translating and uniformly scaling the input, i.e. it drops the
    apparent size of the person (which, in one image, mixes body size with depth). ``eps``
    keeps value and gradient finite when every joint sits on the root (the output is then 0).
    """
    centred = root_relative(keypoints_2d, root=root)
    mean_sq = jnp.mean(jnp.sum(jnp.square(centred), axis=-1), axis=-1)
    return centred / jnp.sqrt(mean_sq + eps**2)[..., None, None]


def flip_pose(x: jax.Array, skeleton: Skeleton) -> jax.Array:
    """Horizontal mirror: negates the first coordinate and swaps left/right joints.

    Works on 3D camera-frame poses and on 2D normalized screen coordinates (mirror about the
    image's vertical centre line); not on pixel coordinates. ``flip_pose(flip_pose(x)) == x``.

    Args:
      x: ``(..., J, D)`` joints.
      skeleton: static topology giving ``flip_perm``.
    """
    x = jnp.asarray(x)
    _check_points("x", x, dims=(2, 3), num=skeleton.num_joints)
    sign = jnp.ones(x.shape[-1], x.dtype).at[0].set(-1.0)
    return x[..., np.asarray(skeleton.flip_perm), :] * sign


def at_least_float32(x: jax.Array) -> jax.Array:
    """``x`` as an array, half-precision floats (bfloat16, float16) promoted to float32.

    Metrics and Procrustes compute in at least float32 whatever precision a model ran in.
    """
    x = jnp.asarray(x)
    if jnp.issubdtype(x.dtype, jnp.floating) and jnp.finfo(x.dtype).bits < 32:
        return x.astype(jnp.float32)
    return x


def procrustes_align(pred: jax.Array, target: jax.Array, *, eps: float = 1e-10) -> jax.Array:
    """Similarity (Procrustes) alignment of ``pred`` onto ``target``, per pose.

    Finds scale ``s``, rotation ``R`` (``det R = +1``: the reflection fix flips the sign of the
    smallest singular direction when ``det < 0``) and translation minimising
    ``|s pred R + t - target|²`` (Umeyama / Kabsch; same result as VideoPose3D's ``p_mpjpe``).
    Batched over leading axes and differentiable (through the SVD).

    Degenerate inputs: when either centred pose has sum of squares below ``eps`` (units², default
    1e-10 m², i.e. all joints within ~µm of each other: a collapsed pose), the result is the
    target's centroid at every joint, with finite gradients. Gradients are also undefined where
    the cross-covariance has repeated singular values (e.g. a pose on one line); such inputs
    are measure-zero and not guarded.

    Args:
      pred: ``(..., J, 3)`` poses to align.
      target: ``(..., J, 3)`` reference poses (same shape).
      eps: collapse threshold on the centred sum of squares.

    Returns:
      ``(..., J, 3)`` the aligned prediction ``s (pred - μ_p) R + μ_t``, in float32 for
      bfloat16 / float16 input (computed in float32: the SVD has no half-precision kernel and
      half precision would cost percent-level errors), else in the input's dtype.
    """
    pred, target = at_least_float32(pred), at_least_float32(target)
    if pred.shape != target.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(
            f"pred and target must share shape (..., J, 3), got {pred.shape} and {target.shape}"
        )
    mu_p = jnp.mean(pred, axis=-2, keepdims=True)
    mu_t = jnp.mean(target, axis=-2, keepdims=True)
    p0, t0 = pred - mu_p, target - mu_t
    norm_p = jnp.sum(jnp.square(p0), axis=(-2, -1))
    norm_t = jnp.sum(jnp.square(t0), axis=(-2, -1))
    ok = (norm_p > eps) & (norm_t > eps)
    # Double where: a well-conditioned stand-in keeps SVD and its gradient finite when collapsed.
    m = jnp.swapaxes(p0, -1, -2) @ t0
    m = jnp.where(ok[..., None, None], m, jnp.diag(jnp.asarray([3.0, 2.0, 1.0], m.dtype)))
    u, sv, vt = jnp.linalg.svd(m)
    d = jax.lax.stop_gradient(jnp.sign(jnp.linalg.det(u @ vt)))
    d = jnp.where(d == 0, 1.0, d)  # det is ±1 up to rounding; never 0, but be explicit
    signs = jnp.concatenate([jnp.ones((*d.shape, 2), m.dtype), d[..., None]], axis=-1)
    rot = (u * signs[..., None, :]) @ vt
    scale = jnp.sum(sv * signs, axis=-1) / jnp.where(ok, norm_p, 1.0)
    scale = jnp.where(ok, scale, 0.0)
    return scale[..., None, None] * (p0 @ rot) + mu_t
