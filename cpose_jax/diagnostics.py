"""Diagnostics of the generator's fakes: per-step statistics as pure JAX functions (jit-able,
no host syncs) and their coverage beyond the training poses (numpy, on the host).

A PoseAug generator can collapse to poses that fool its discriminators but look like no real
image: tiny, far away, upside down. These statistics make that visible in the training log:

- ``root_depth_median``: median root depth ``Z`` of the fakes, metres (the lab rig: ~5 m);
- ``extent_ratio``: median 2D extent of the fakes / median 2D extent of the real poses (1 =
  the same apparent size; the 2D extent of a pose is :func:`extent_2d`);
- ``torso_down_fraction``: share of fakes whose 2D torso (root -> Thorax) points more than 90°
  away from image-up (:func:`torso_angle_from_up`); upright people give ~0.

Poses are camera frame, metres ``(B, J, 3)``; 2D poses are normalized screen coordinates (or
pixels: any units, the same for fakes and reals) ``(B, J, 2)`` with ``v`` pointing down.

Whether the fakes show the lifter anything new is a different question: :func:`fake_coverage`
measures how far they are from the training poses (the median distance, mm, to the nearest pose
of a fixed sample of them after aligning the pelvis frames:
:func:`cpose_jax.data.synthetic_coverage.pose_coverage`), beside the same for real training
poses left out of that sample (:func:`coverage_sample`), the distance that counts as "like the
training data". Needs the 17-joint H36M skeleton.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax import geometry
from cpose_jax.data.synthetic_coverage import COVERAGE_JOINTS, pelvis_aligned, pose_coverage
from cpose_jax.skeleton import Skeleton

__all__ = [
    "CoverageSample",
    "coverage_sample",
    "extent_2d",
    "fake_coverage",
    "fake_statistics",
    "masked_median",
    "torso_angle_from_up",
]


def extent_2d(keypoints_2d: jax.Array, *, root: int = 0) -> jax.Array:
    """RMS distance of the joints from the root joint, ``(..., J, 2) -> (...)``, the 2D
    units of the input (the size :func:`geometry.scale_normalize_2d` divides by)."""
    centred = geometry.root_relative(keypoints_2d, root=root)
    return jnp.sqrt(jnp.mean(jnp.sum(jnp.square(centred), axis=-1), axis=-1))


def torso_angle_from_up(keypoints_2d: jax.Array, skeleton: Skeleton) -> jax.Array:
    """Angle in degrees ``[0, 180]`` between the 2D torso (root -> Thorax) and image-up
    ``(0, -1)`` (``v`` grows downward), ``(..., J, 2) -> (...)``. 0° is upright, 180° upside
    down; a zero-length torso gives 90°."""
    x = jnp.asarray(keypoints_2d)
    if x.ndim < 2 or x.shape[-2:] != (skeleton.num_joints, 2):
        raise ValueError(f"keypoints_2d must be (..., {skeleton.num_joints}, 2), got {x.shape}")
    torso = x[..., skeleton.joint_index("Thorax"), :] - x[..., 0, :]
    # atan2(|u x up|, u . up) with up = (0, -1): |cross| = |u_x|, dot = -u_y; a zero-length
    # torso has no direction (atan2(0, 0) would say 0°): 90°.
    ang = jnp.arctan2(jnp.abs(torso[..., 0]), -torso[..., 1])
    return jnp.degrees(jnp.where(geometry.safe_norm(torso) > 0, ang, jnp.pi / 2))


def masked_median(x: jax.Array, mask: jax.Array | None = None) -> jax.Array:
    """Median of ``x (N,)`` over the entries where ``mask (N,)`` is nonzero (all if None); NaN
    when none is."""
    x = jnp.asarray(x, jnp.float32)
    if mask is None:
        return jnp.median(x)
    return jnp.nanmedian(jnp.where(jnp.asarray(mask) > 0, x, jnp.nan))


def fake_statistics(
    fake_3d: jax.Array,
    fake_2d: jax.Array,
    real_2d: jax.Array,
    skeleton: Skeleton,
    *,
    fake_mask: jax.Array | None = None,
    real_mask: jax.Array | None = None,
) -> dict[str, jax.Array]:
    """The module docstring's statistics of a batch of fakes against a batch of real poses.

    Args:
      fake_3d: ``(B, J, 3)`` the fakes, camera frame, metres (absolute: the root at its depth).
      fake_2d: ``(B, J, 2)`` their projections.
      real_2d: ``(B', J, 2)`` real 2D poses in the same units.
      skeleton: static topology (needs a ``Thorax`` joint).
      fake_mask: ``(B,)`` rows to count (e.g. the usable fakes); None = all.
      real_mask: ``(B',)`` rows of ``real_2d`` to count; None = all.

    Returns:
      ``{"root_depth_median": m, "extent_ratio": -, "torso_down_fraction": -}`` scalars.
    """
    fake_3d, fake_2d, real_2d = map(jnp.asarray, (fake_3d, fake_2d, real_2d))
    j = skeleton.num_joints
    if fake_3d.shape[-2:] != (j, 3) or fake_2d.shape != (*fake_3d.shape[:-1], 2):
        raise ValueError(
            f"fake_3d (B, {j}, 3) and fake_2d (B, {j}, 2) disagree: {fake_3d.shape}, "
            f"{fake_2d.shape}"
        )
    if real_2d.ndim != 3 or real_2d.shape[-2:] != (j, 2):
        raise ValueError(f"real_2d must be (B', {j}, 2), got {real_2d.shape}")
    ratio = masked_median(extent_2d(fake_2d), fake_mask) / masked_median(
        extent_2d(real_2d), real_mask
    )
    down = (torso_angle_from_up(fake_2d, skeleton) > 90.0).astype(jnp.float32)
    w = jnp.ones_like(down) if fake_mask is None else jnp.asarray(fake_mask, jnp.float32)
    return {
        "root_depth_median": masked_median(fake_3d[:, 0, 2], fake_mask),
        "extent_ratio": ratio,
        "torso_down_fraction": jnp.sum(down * w) / jnp.maximum(jnp.sum(w), 1.0),
    }


# ------------------------------------------------------------------------- coverage (host side)


class CoverageSample(NamedTuple):
    """A fixed sample of distinct training poses (:func:`coverage_sample`).

    sources: ``(S, 17, 3)`` absolute camera-frame poses, metres: what the generator modifies.
    intrinsics: ``(S, 4)`` their cameras (the units the fakes are projected in).
    reference: ``(R, 17, 3)`` other training poses, metres: the data the fakes are compared to.
    real_mm: median distance (mm) of the sources to their nearest reference pose.
    real_pose_mm: the same with every pose's bones set to the mean body's lengths (the pose
      alone, not the build).
    """

    sources: np.ndarray
    intrinsics: np.ndarray
    reference: np.ndarray
    real_mm: float
    real_pose_mm: float = float("nan")


def coverage_sample(
    pose_abs, intrinsics, *, num_reference: int = 3000, num_sources: int = 256, seed: int = 0
) -> CoverageSample:
    """``num_sources`` and ``num_reference`` distinct poses of ``pose_abs (N, 17, 3)`` (a
    training set, camera frame, metres; ``intrinsics (N, 4)``), drawn without overlap.

    Poses equal after pelvis alignment (one pose seen by a rig's several cameras) count once:
    they are merged on a 1 mm grid, and a reference pose within 1 mm of a source (a copy that
    rounding put on the other side of a grid line) is dropped, so no source has a copy among
    the references. With fewer distinct poses than asked for, half (at most ``num_sources``)
    become sources and at most the rest references.
    """
    pose_abs = np.asarray(pose_abs, np.float64)
    if pose_abs.ndim != 3 or pose_abs.shape[1:] != (17, 3):
        raise ValueError(f"coverage needs 17-joint poses (N, 17, 3), got {pose_abs.shape}")
    aligned = pelvis_aligned(pose_abs)[:, list(COVERAGE_JOINTS)]
    _, first = np.unique(np.round(aligned, 3).reshape(len(aligned), -1), axis=0, return_index=True)
    if len(first) < 2:
        raise ValueError(f"coverage needs at least 2 distinct poses, got {len(first)}")
    order = np.random.default_rng(seed).permutation(np.sort(first))
    n_src = min(num_sources, len(order) // 2)
    src, candidates = order[:n_src], order[n_src : n_src + 2 * num_reference]
    ref = candidates[pose_coverage(pose_abs[candidates], pose_abs[src]) > 1.0][:num_reference]
    sources = pose_abs[src].astype(np.float32)
    reference = pose_abs[ref].astype(np.float32)
    return CoverageSample(
        sources=sources,
        intrinsics=np.asarray(intrinsics, np.float32)[src],
        reference=reference,
        real_mm=float(np.median(pose_coverage(sources, reference))),
        real_pose_mm=float(np.median(pose_coverage(sources, reference, normalise_bones=True))),
    )


def fake_coverage(fakes, sample: CoverageSample, usable=None) -> dict[str, float]:
    """Coverage of ``fakes (S, 17, 3)`` (metres, any frame: the comparison aligns the pelvis
    frames) generated from ``sample.sources``, in mm: ``coverage_mm`` the median distance of
    the fakes to their nearest reference pose, ``coverage_usable_mm`` the same over the rows
    where ``usable (S,)`` is true (absent without ``usable`` or with none true) and
    ``real_coverage_mm`` the sources' own (``sample.real_mm``). A fake no farther than the
    real value adds no pose the training set lacks. ``pose_coverage_mm`` and
    ``real_pose_coverage_mm``: the same two with every pose's bones set to the mean body's
    lengths first, so they measure new poses only, not the bone-length (BL) changes."""
    fakes = np.asarray(fakes, np.float32)
    d = pose_coverage(fakes, sample.reference)
    d_pose = pose_coverage(fakes, sample.reference, normalise_bones=True)
    out = {
        "coverage_mm": float(np.median(d)),
        "real_coverage_mm": sample.real_mm,
        "pose_coverage_mm": float(np.median(d_pose)),
        "real_pose_coverage_mm": sample.real_pose_mm,
    }
    if usable is not None and np.any(usable):
        out["coverage_usable_mm"] = float(np.median(d[np.asarray(usable, bool)]))
    return out
