"""Evaluation metrics in millimetres (PCK/AUC in percent), one value per pose.

Inputs are 3D poses ``(..., J, 3)`` in **metres**, normally root-relative (MPJPE does not centre
them: Protocol #1 expects both poses already root-relative, which the data pipeline guarantees).
Every metric returns ``(...,)``: average it over a dataset with ``losses.masked_mean`` or
``jnp.mean``. Since each pose counts the same number of joints, the mean of per-pose PCK equals
the pooled per-joint PCK used by the official 3DHP evaluation.

Inputs in bfloat16 / float16 are promoted to float32 first (results are float32): half
precision costs percent-level errors and has no SVD for Procrustes.

Joint subsets: ``joints=`` takes joint indices, e.g. ``H36M17.subset(JOINTS_3DHP14)`` for the
14-joint MPI-INF-3DHP protocol, or one of the presets via :func:`joint_preset`. Procrustes
(PA-MPJPE) aligns on the selected joints only.
"""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax import geometry
from cpose_jax.skeleton import JOINTS_3DHP14, Skeleton

__all__ = [
    "AUC_THRESHOLDS_MM",
    "auc",
    "bone_depth_sign_errors",
    "joint_preset",
    "mpjpe",
    "n_mpjpe",
    "optimal_scale",
    "pa_mpjpe",
    "pck",
    "per_joint_error",
]

_MM = 1000.0
#: 0, 5, ..., 150 mm: the 31 thresholds of the official 3DHP script (``thresh = 0:5:150``) and of
#: PoseAug's ``compute_AUC`` (``np.linspace(0, 150, 31)``). The 0 mm threshold always scores 0
#: (strict ``<``), so AUC = mean PCK over 31 thresholds as published, not over 30.
AUC_THRESHOLDS_MM: tuple[float, ...] = tuple(float(t) for t in np.linspace(0.0, 150.0, 31))


def joint_preset(name: str, skeleton: Skeleton) -> tuple[int, ...] | None:
    """Joint subset presets: ``'all'`` -> None (every joint), ``'3dhp14'`` -> 14 indices."""
    if name == "all":
        return None
    if name == "3dhp14":
        return skeleton.subset(JOINTS_3DHP14)
    raise ValueError(f"Unknown joint preset {name!r}; known: 'all', '3dhp14'")


def _select(
    pred: jax.Array, target: jax.Array, joints: Sequence[int] | None
) -> tuple[jax.Array, jax.Array]:
    pred, target = geometry.at_least_float32(pred), geometry.at_least_float32(target)
    if pred.shape != target.shape or pred.ndim < 2 or pred.shape[-1] != 3:
        raise ValueError(
            f"pred and target must share shape (..., J, 3), got {pred.shape} and {target.shape}"
        )
    if joints is None:
        return pred, target
    idx = np.asarray(joints, dtype=int)
    if idx.ndim != 1 or idx.size == 0 or idx.min() < 0 or idx.max() >= pred.shape[-2]:
        raise ValueError(f"joints must index 0..{pred.shape[-2] - 1}, got {tuple(idx)}")
    return pred[..., idx, :], target[..., idx, :]


def per_joint_error(
    pred: jax.Array, target: jax.Array, *, joints: Sequence[int] | None = None
) -> jax.Array:
    """Euclidean error per joint in mm: ``(..., J, 3)`` metres -> ``(..., J')``."""
    pred, target = _select(pred, target, joints)
    return _MM * geometry.safe_norm(pred - target)


def mpjpe(pred: jax.Array, target: jax.Array, *, joints: Sequence[int] | None = None):
    """Mean per-joint position error (Protocol #1), mm, per pose ``(...,)``.

    Args:
      pred, target: ``(..., J, 3)`` metres (root-relative for Protocol #1).
      joints: optional joint indices to average over.
    """
    return jnp.mean(per_joint_error(pred, target, joints=joints), axis=-1)


def pa_mpjpe(pred: jax.Array, target: jax.Array, *, joints: Sequence[int] | None = None):
    """MPJPE after similarity Procrustes alignment (Protocol #2, P-MPJPE), mm, ``(...,)``.

    Scale, rotation (reflection fixed: a proper rotation) and translation are fitted per pose on
    the selected joints (:func:`~cpose_jax.geometry.procrustes_align`).
    """
    pred, target = _select(pred, target, joints)
    return mpjpe(geometry.procrustes_align(pred, target), target)


def optimal_scale(pred: jax.Array, target: jax.Array, *, joints: Sequence[int] | None = None):
    """Least-squares scale ``s = Σ <x̂_j, x_j> / Σ |x̂_j|²`` that best maps ``pred`` onto
    ``target`` about the origin (poses are root-relative), ``(...,)``; 1 for a zero prediction.

    ``s > 1``: the prediction is too small. Its spread over a dataset measures how much of the
    MPJPE is a global size/depth error (the scale ambiguity of monocular lifting).
    """
    pred, target = _select(pred, target, joints)
    num = jnp.sum(pred * target, axis=(-2, -1))
    den = jnp.sum(jnp.square(pred), axis=(-2, -1))
    ok = den > 0
    return jnp.where(ok, num / jnp.where(ok, den, 1.0), 1.0)


def n_mpjpe(pred: jax.Array, target: jax.Array, *, joints: Sequence[int] | None = None):
    """MPJPE after scale-only alignment (VideoPose3D ``n_mpjpe``), mm, ``(...,)``.

    The prediction is multiplied by :func:`optimal_scale` (no centring: poses are
    root-relative), then scored with MPJPE.
    """
    pred, target = _select(pred, target, joints)
    scale = optimal_scale(pred, target)[..., None, None]
    return mpjpe(scale * pred, target)


def pck(
    pred: jax.Array,
    target: jax.Array,
    *,
    threshold_mm: float = 150.0,
    joints: Sequence[int] | None = None,
) -> jax.Array:
    """3D PCK: percentage of joints with error strictly below ``threshold_mm``, ``(...,)``.

    As the official MPI-INF-3DHP script (``err < thresh``, ×100) and PoseAug's ``compute_PCK``.
    Not differentiable (a count).
    """
    err = per_joint_error(pred, target, joints=joints)
    return 100.0 * jnp.mean((err < threshold_mm).astype(err.dtype), axis=-1)


def auc(pred: jax.Array, target: jax.Array, *, joints: Sequence[int] | None = None):
    """Area under the PCK curve, percent, ``(...,)``: mean PCK over ``AUC_THRESHOLDS_MM``.

    31 thresholds 0, 5, ..., 150 mm, as the official 3DHP ``mpii_compute_3d_pck.m`` and PoseAug
    (so numbers compare with published ones; the 0 mm threshold contributes 0).
    """
    err = per_joint_error(pred, target, joints=joints)
    t = jnp.asarray(AUC_THRESHOLDS_MM, err.dtype)
    hit = (err[..., None, :] < t[:, None]).astype(err.dtype)
    return 100.0 * jnp.mean(hit, axis=(-2, -1))


def bone_depth_sign_errors(
    pred: jax.Array, target: jax.Array, skeleton: Skeleton, *, min_depth: float = 0.05
) -> tuple[jax.Array, jax.Array]:
    """Which bones point the wrong way in depth: `(wrong, counted)`, both `(..., J - 1)` in
    {0, 1}. A bone is counted where its true depth extent (child minus parent along the camera
    axis) is at least `min_depth` metres, and wrong where the predicted one has the other
    sign. Camera-frame poses (root-relative or not): a reprojection cannot tell these signs,
    a depth flip of a bone keeps its 2D.

    Args:
      pred, target: ``(..., J, 3)`` metres, camera frame (z forward).
      skeleton: static topology with ``J`` joints.
      min_depth: bones closer than this to the image plane are not counted (their sign is
        noise).
    """
    dz_pred = geometry.bones(jnp.asarray(pred), skeleton)[..., 2]
    dz_true = geometry.bones(jnp.asarray(target), skeleton)[..., 2]
    counted = jnp.abs(dz_true) >= min_depth
    wrong = counted & (jnp.sign(dz_pred) != jnp.sign(dz_true))
    return wrong.astype(jnp.float32), counted.astype(jnp.float32)
