"""CameraPose and PoseAug losses as pure JAX functions returning *per-element* values.

Nothing here reduces over the batch: each loss returns one value per joint / sample / score, and
the caller reduces once, explicitly, with :func:`masked_mean` (the one reduction helper), e.g.::

    l3d = masked_mean(pose_3d_loss(pred, target))                       # Eq. 9
    l2d = masked_mean(reprojection_loss(pred, t, k, kp_gt), valid)      # Eq. 7, labelled joints
    lcam = masked_mean(camera_loss(k, t, k_gt, t_gt), has_camera)       # Eq. 8, where labelled

Masks mark missing labels with 0. Masked-out entries are *selected away* (not multiplied), so
NaN or inf in an unlabelled value does not reach the loss value; keep the labels themselves finite
(the data pipeline stores 0 for missing joints) or the gradient through them can still be NaN.

Equation numbers are those of the CameraPose paper (Yang et al., WACV 2023, §3); the PoseAug
terms follow its released code (its LS-GAN, range and feedback losses; see docs/design.md).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax import geometry
from cpose_jax.skeleton import HARDNESS_JOINT_GROUPS, HARDNESS_JOINT_WEIGHTS, Skeleton

__all__ = [
    "bone_length_prior_loss",
    "camera_loss",
    "diff_range_loss",
    "feedback_hardness_loss",
    "hardness_joint_weights",
    "hardness_ratio",
    "joint_group_errors",
    "lsgan_discriminator_loss",
    "lsgan_generator_loss",
    "masked_mean",
    "normalize_confidence",
    "pose_3d_loss",
    "rectified_l2",
    "refinement_loss",
    "reprojection_loss",
]


def _same_shape(**arrays) -> None:
    shapes = {k: jnp.shape(v) for k, v in arrays.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"shapes must match, got {shapes}")


def _sq_dist(a: jax.Array, b: jax.Array) -> jax.Array:
    """Squared Euclidean distance over the last axis: ``(..., J, D) -> (..., J)``."""
    return jnp.sum(jnp.square(a - b), axis=-1)


# ----------------------------------------------------------------------------- reduction


def masked_mean(
    values: jax.Array,
    mask: jax.Array | None = None,
    axis: int | tuple[int, ...] | None = None,
) -> jax.Array:
    """Mean of ``values`` over ``axis`` (None: all), counting only entries where ``mask != 0``.

    ``mask`` broadcasts against ``values`` by NumPy rules (e.g. a ``(B, J)`` validity mask for
    ``(B, J)`` per-joint losses, a ``(B, 1)`` sample mask for ``(B, 5)`` scores). Non-binary masks
    act as weights: ``Σ m v / Σ m``. Entries with ``m == 0`` are selected away, so a NaN there
    does not spread into the result. An all-zero mask gives 0 (not NaN), with zero gradient.

    Returns:
      ``values`` reduced over ``axis`` (a scalar for ``axis=None``).
    """
    values = jnp.asarray(values)
    if mask is None:
        return jnp.mean(values, axis=axis)
    mask = jnp.asarray(mask, values.dtype)
    try:
        mask = jnp.broadcast_to(mask, values.shape)
    except ValueError:
        raise ValueError(
            f"mask of shape {mask.shape} does not broadcast to values of shape {values.shape}"
        ) from None
    on = mask != 0
    total = jnp.sum(jnp.where(on, values * mask, 0.0), axis=axis)
    count = jnp.sum(mask, axis=axis)
    nonzero = count != 0
    return jnp.where(nonzero, total / jnp.where(nonzero, count, 1.0), 0.0)


# ----------------------------------------------------------------------------- CameraPose §3


def normalize_confidence(confidence: jax.Array) -> jax.Array:
    """Eq. 3: ``c'_ij = c_ij / ||C_i||_1``, confidences summing to 1 over each pose's joints.

    Args:
      confidence: ``(..., J)`` non-negative detector confidences (heatmap maxima).

    Returns:
      ``(..., J)``; a pose whose confidences are all 0 (no usable joint) gets all zeros.
    """
    c = jnp.asarray(confidence)
    if c.ndim < 1:
        raise ValueError(f"confidence must have shape (..., J), got {c.shape}")
    total = jnp.sum(jnp.abs(c), axis=-1, keepdims=True)
    ok = total > 0
    return jnp.where(ok, c / jnp.where(ok, total, 1.0), 0.0)


def refinement_loss(
    pred_2d: jax.Array, target_2d: jax.Array, confidence: jax.Array, *, normalize: bool = True
) -> jax.Array:
    """Eq. 4 per joint: ``c'_ij |x_ij - x̂_ij|²`` (confidence-weighted squared 2D error).

    ``masked_mean`` over all ``(N_S, N_J)`` entries gives Eq. 4's ``1 / (N_S N_J) Σ_i Σ_j``.

    Args:
      pred_2d: ``(..., J, 2)`` refined 2D, normalized screen coordinates.
      target_2d: ``(..., J, 2)`` ground-truth 2D, same units.
      confidence: ``(..., J)`` raw confidences ``c``; normalized by Eq. 3 unless
        ``normalize=False`` (then used as given, e.g. already ``c'``).

    Returns:
      ``(..., J)`` per-joint weighted squared errors (normalized units²).
    """
    _same_shape(pred_2d=pred_2d, target_2d=target_2d)
    if jnp.shape(confidence) != jnp.shape(pred_2d)[:-1]:
        raise ValueError(
            f"confidence must have shape {jnp.shape(pred_2d)[:-1]}, got {jnp.shape(confidence)}"
        )
    w = normalize_confidence(confidence) if normalize else jnp.asarray(confidence)
    return w * _sq_dist(pred_2d, target_2d)


def reprojection_loss(
    pose_3d: jax.Array,
    translation: jax.Array,
    intrinsics: jax.Array,
    target_2d: jax.Array,
    *,
    min_depth: float | None = 1e-3,
) -> jax.Array:
    """Eq. 7 per joint: ``|proj(M̂_int, X̂_j + t̂) - x_j|²``.

    Eq. 7 sums over joints and averages over samples; ``masked_mean`` over ``(N, J)`` averages
    over joints too, i.e. Eq. 7 divided by the constant ``J`` (absorbed by ``λ_2D``) and, with a
    validity mask, correct for poses with missing labels.

    Args:
      pose_3d: ``(..., J, 3)`` root-relative 3D (metres), e.g. the lifter's output ``X̂``.
      translation: ``(..., 3)`` root position in the camera frame ``t̂`` (metres).
      intrinsics: ``(..., 4)`` ``fx, fy, cx, cy`` in the units of ``target_2d`` (normally the
        normalized intrinsics of the camera branch).
      target_2d: ``(..., J, 2)`` 2D labels.
      min_depth: depth clamp passed to :func:`~cpose_jax.geometry.project`.

    Returns:
      ``(..., J)`` squared reprojection errors.
    """
    pose_3d, translation = jnp.asarray(pose_3d), jnp.asarray(translation)
    if pose_3d.shape[:-1] != jnp.shape(target_2d)[:-1] or jnp.shape(target_2d)[-1:] != (2,):
        raise ValueError(
            f"pose_3d (..., J, 3) and target_2d (..., J, 2) disagree: {pose_3d.shape} vs "
            f"{jnp.shape(target_2d)}"
        )
    if translation.shape[-1:] != (3,):
        raise ValueError(f"translation must have shape (..., 3), got {translation.shape}")
    reprojected = geometry.reproject(pose_3d, translation, intrinsics, min_depth=min_depth)
    return _sq_dist(reprojected, target_2d)


def camera_loss(
    pred_intrinsics: jax.Array,
    pred_translation: jax.Array,
    target_intrinsics: jax.Array,
    target_translation: jax.Array,
) -> jax.Array:
    """Eq. 8 per sample: ``|M_int - M̂_int|² + |t - t̂|²``.

    Only ``fx, fy, cx, cy`` differ between two intrinsic matrices, so the matrix term is the
    squared error of those four numbers. Reduce with ``masked_mean`` and a per-sample "has camera
    labels" mask (Eq. 8 applies only where labels exist).

    Args:
      pred_intrinsics, target_intrinsics: ``(..., 4)`` normalized ``fx, fy, cx, cy``.
      pred_translation, target_translation: ``(..., 3)`` root position, camera frame, metres.

    Returns:
      ``(...,)`` per-sample squared errors.
    """
    _same_shape(pred_intrinsics=pred_intrinsics, target_intrinsics=target_intrinsics)
    _same_shape(pred_translation=pred_translation, target_translation=target_translation)
    if jnp.shape(pred_intrinsics)[-1:] != (4,) or jnp.shape(pred_translation)[-1:] != (3,):
        raise ValueError(
            f"intrinsics must be (..., 4) and translation (..., 3), got "
            f"{jnp.shape(pred_intrinsics)} and {jnp.shape(pred_translation)}"
        )
    return _sq_dist(pred_intrinsics, target_intrinsics) + _sq_dist(
        pred_translation, target_translation
    )


def pose_3d_loss(pred_3d: jax.Array, target_3d: jax.Array) -> jax.Array:
    """Eq. 9 per joint: ``|X_ij - X̂_ij|²`` on root-relative poses (metres²).

    ``masked_mean`` over ``(N_S, N_J)`` gives Eq. 9's ``1 / (N_S N_J) Σ_i Σ_j``.

    Args:
      pred_3d, target_3d: ``(..., J, 3)`` root-relative 3D poses, metres.

    Returns:
      ``(..., J)`` squared errors.
    """
    _same_shape(pred_3d=pred_3d, target_3d=target_3d)
    if jnp.ndim(pred_3d) < 2 or jnp.shape(pred_3d)[-1] != 3:
        raise ValueError(f"poses must have shape (..., J, 3), got {jnp.shape(pred_3d)}")
    return _sq_dist(pred_3d, target_3d)


def _lengths_and_reference(pred_3d, ref_lengths, skeleton: Skeleton):
    """The bone lengths of `pred_3d (..., J, 3)`, the reference lengths as an array and where
    they are known (> 0), for the bone priors."""
    pred_3d = jnp.asarray(pred_3d)
    if pred_3d.ndim < 2 or pred_3d.shape[-1] != 3:
        raise ValueError(f"pred_3d must have shape (..., J, 3), got {pred_3d.shape}")
    lengths = geometry.bone_lengths(geometry.bones(pred_3d, skeleton))
    ref = jnp.asarray(ref_lengths, lengths.dtype)
    return lengths, ref, ref > 0


def bone_length_prior_loss(
    pred_3d: jax.Array, ref_lengths: jax.Array, skeleton: Skeleton
) -> jax.Array:
    """Bone-length prior per bone: ``(|b_k| / l_k - 1)²`` (not in the paper; an option).

    Reprojection (Eq. 7) fixes a 2D-only pose only up to each joint's depth; with known bone
    lengths a 2D pose fixes each bone's depth up to a sign, so this term pulls the lifter's
    bones toward reference lengths ``l_k``. ``|b_k|`` is `geometry.bone_lengths` (exactly 0 at
    a zero-length bone, with a finite gradient).

    Args:
      pred_3d: ``(..., J, 3)`` predicted poses, metres (root-relative or not: bones ignore it).
      ref_lengths: ``(J - 1,)`` (or broadcastable to ``(..., J - 1)``) reference bone lengths,
        metres; a bone with ``l_k <= 0`` (no reference) gives 0.
      skeleton: static topology with ``J`` joints.

    Returns:
      ``(..., J - 1)`` squared relative length errors (unitless); ``masked_mean`` over the
      bones and rows reduces it.
    """
    lengths, ref, known = _lengths_and_reference(pred_3d, ref_lengths, skeleton)
    ratio = lengths / jnp.where(known, ref, 1.0)
    return jnp.where(known, jnp.square(ratio - 1.0), 0.0)


def bone_ratio_loss(pred_3d: jax.Array, ref_lengths: jax.Array, skeleton: Skeleton) -> jax.Array:
    """Bone-length-ratio prior per bone: ``(r_k / ρ_k - 1)²`` with ``r_k = |b_k| / Σ|b|`` the
    predicted bone's share of the skeleton's total length and ``ρ_k`` the same share of the
    reference lengths (not in the paper; ElePose's prior on proportions). Unlike
    :func:`bone_length_prior_loss` it leaves the person's size free.

    Args:
      pred_3d: ``(..., J, 3)`` predicted poses, metres.
      ref_lengths: ``(J - 1,)`` reference bone lengths, metres (only their ratios matter); a
        bone with ``l_k <= 0`` gives 0.
      skeleton: static topology with ``J`` joints.

    Returns:
      ``(..., J - 1)`` squared relative ratio errors (unitless).
    """
    lengths, ref, known = _lengths_and_reference(pred_3d, ref_lengths, skeleton)
    ref_total = jnp.sum(jnp.where(known, ref, 0.0), axis=-1, keepdims=True)
    ref_share = jnp.where(known, ref, 1.0) / jnp.maximum(ref_total, 1e-8)
    share = lengths / jnp.maximum(jnp.sum(lengths, axis=-1, keepdims=True), 1e-8)
    return jnp.where(known, jnp.square(share / ref_share - 1.0), 0.0)


# ----------------------------------------------------------------------------- LS-GAN


def lsgan_discriminator_loss(
    real_scores: jax.Array, fake_scores: jax.Array
) -> tuple[jax.Array, jax.Array]:
    """Eq. 12-15, discriminator side (LS-GAN, real -> 1, fake -> 0), per score.

    Returns the two halves separately because real and fake batches may differ in size (CameraPose
    judges generator samples and reprojections of 2D-only data as fake)::

        real_term, fake_term = lsgan_discriminator_loss(d_real, d_fake)
        loss = masked_mean(real_term) + masked_mean(fake_term)

    The paper prints ``- 1`` in the fake terms (Eq. 13, 15); as in PoseAug's code and LS-GAN,
    fake samples are pushed to 0.

    Args:
      real_scores: ``(...,)`` discriminator outputs on real samples (e.g. ``(B, 5)`` part scores).
      fake_scores: ``(...,)`` outputs on generated / reprojected samples.

    Returns:
      ``(½ (D(real) - 1)², ½ D(fake)²)``, shaped like the inputs.
    """
    real, fake = jnp.asarray(real_scores), jnp.asarray(fake_scores)
    return 0.5 * jnp.square(real - 1.0), 0.5 * jnp.square(fake)


def lsgan_generator_loss(fake_scores: jax.Array) -> jax.Array:
    """LS-GAN generator side, per score: ``½ (D(fake) - 1)²`` (fake -> 1).

    PoseAug's adversarial generator loss ``½ [MSE(D(real), 0) + MSE(D(fake), 1)]`` has no gradient
    in its real term (``D`` is frozen); this is its fake term. Also used for the lifter's
    reprojections of 2D-only data judged by the 2D discriminator.

    Args:
      fake_scores: ``(...,)`` discriminator outputs on generated samples.

    Returns:
      ``(...,)`` per-score losses.
    """
    return 0.5 * jnp.square(jnp.asarray(fake_scores) - 1.0)


# ----------------------------------------------------------------------------- PoseAug ranges


def rectified_l2(x: jax.Array, *, threshold: float) -> jax.Array:
    """PoseAug ``rectifiedL2loss`` per element: ``x² · 1(|x| > threshold)``.

    Zero (with zero gradient) inside ``[-threshold, threshold]``, quadratic outside; e.g. the
    bone-length ratio term ``rectified_l2(blr, threshold=0.1)``.
    """
    x = jnp.asarray(x)
    return jnp.where(jnp.abs(x) > threshold, jnp.square(x), 0.0)


def diff_range_loss(x: jax.Array, *, center: float | jax.Array, radius: float) -> jax.Array:
    """PoseAug ``diff_range_loss`` per element: ``(x - center)² · 1(|x - center| > radius)``.

    Penalises values outside ``[center - radius, center + radius]``; e.g. the bone-angle term
    ``diff_range_loss(mean_k(1 - cos), center=0.205, radius=0.165)`` keeps the mean change in
    ``[0.04, 0.37]``, and the feedback loss keeps the hardness ratio near ``μ(epoch)``.
    """
    return rectified_l2(jnp.asarray(x) - center, threshold=radius)


# ----------------------------------------------------------------------------- PoseAug feedback


def hardness_joint_weights(skeleton: Skeleton) -> np.ndarray:
    """``(J,)`` per-joint error weights of PoseAug's feedback loss (by name; others 1)."""
    return np.asarray(
        [HARDNESS_JOINT_WEIGHTS.get(n, 1.0) for n in skeleton.joint_names], np.float32
    )


def _group_matrix(skeleton: Skeleton) -> np.ndarray:
    """``(J, 3)`` averaging matrix: column ``g`` = 1/|group| on the joints of group ``g``."""
    m = np.zeros((skeleton.num_joints, len(HARDNESS_JOINT_GROUPS)), np.float32)
    for g, names in enumerate(HARDNESS_JOINT_GROUPS):
        m[list(skeleton.subset(names)), g] = 1.0 / len(names)
    return m


def joint_group_errors(pred_3d: jax.Array, target_3d: jax.Array, skeleton: Skeleton) -> jax.Array:
    """Weighted per-joint L2 errors averaged over PoseAug's 3 hardness joint groups.

    Groups (``HARDNESS_JOINT_GROUPS``): hips and shoulders; knees, head and elbows; feet and
    wrists. Weights: 5 on hips and shoulders, 2 on knees and elbows, 1 elsewhere.

    Args:
      pred_3d, target_3d: ``(..., J, 3)`` lifter prediction and target, metres.
      skeleton: static topology naming the joints.

    Returns:
      ``(..., 3)`` mean weighted error per group, metres.
    """
    _same_shape(pred_3d=pred_3d, target_3d=target_3d)
    if jnp.ndim(pred_3d) < 2 or jnp.shape(pred_3d)[-2:] != (skeleton.num_joints, 3):
        raise ValueError(
            f"poses must have shape (..., {skeleton.num_joints}, 3), got {jnp.shape(pred_3d)}"
        )
    err = geometry.safe_norm(jnp.asarray(pred_3d) - jnp.asarray(target_3d))
    weighted = err * hardness_joint_weights(skeleton)
    return weighted @ jnp.asarray(_group_matrix(skeleton), weighted.dtype)


def hardness_ratio(aug_errors: jax.Array, orig_errors: jax.Array, *, eps: float = 1e-8):
    """PoseAug hardness ``h = L(augmented) / L(original)`` per group, ``(..., 3)``.

    ``orig_errors`` below ``eps`` (metres) are raised to ``eps`` so a perfect original prediction
    gives a large but finite ratio.
    """
    _same_shape(aug_errors=aug_errors, orig_errors=orig_errors)
    return jnp.asarray(aug_errors) / jnp.maximum(jnp.asarray(orig_errors), eps)


def feedback_hardness_loss(
    pred_aug: jax.Array,
    target_aug: jax.Array,
    pred_orig: jax.Array,
    target_orig: jax.Array,
    skeleton: Skeleton,
    *,
    center: float | jax.Array,
    radius: float,
    eps: float = 1e-8,
) -> jax.Array:
    """PoseAug's feedback ("hardness") loss for the generator, per sample and joint group.

    The frozen lifter's group errors on the augmented pair divided by those on the original
    pair give the hardness ``h`` (``(..., 3)``); ``diff_range_loss(h, center, radius)`` keeps
    augmented poses harder than the originals, but not too hard. PoseAug's schedule: bone-angle
    stage ``center`` from 3 to 5 linearly over epochs, ``radius=2``, weight 0.1; rotation stage
    ``center=17, radius=15``, weight 0.01. (This is the rectified form the released code uses,
    which replaced the paper's ``|1 - exp(h - μ)|``.)

    Args:
      pred_aug, target_aug: ``(..., J, 3)`` lifter output on the augmented 2D and augmented 3D.
      pred_orig, target_orig: ``(..., J, 3)`` the same for the original pair.
      skeleton: static topology naming the joints.
      center, radius: range of the hardness ratio.
      eps: floor of the original error (metres).

    Returns:
      ``(..., 3)`` per-group losses.
    """
    h = hardness_ratio(
        joint_group_errors(pred_aug, target_aug, skeleton),
        joint_group_errors(pred_orig, target_orig, skeleton),
        eps=eps,
    )
    return diff_range_loss(h, center=center, radius=radius)
