"""The training objectives, one function per network group (paper Eq. 4, 12-17; PoseAug).

Each is `loss(params, ...) -> (scalar, optim.Aux)` with `params` = {name: params} of the
networks being updated (the rest read from `nets`), ready for `optim.update_networks`:

- `refiner_objective`: stage 1, Eq. 4 on ground-truth 2D;
- `paired_objective`: refiner/lifter/camera on (real + augmented) 2D-3D pairs, Eq. 16
  (Eq. 9 alone for a lifter without camera branch);
- `two_d_only_objective`: the same networks on a 2D-only batch, Eq. 17 + the 2D
  discriminator's LS-GAN judgement of the reprojection (+ optionally `bone_prior`, a
  bone-length prior on the 2D-only predictions: not in the paper);
- `generator_objective`: PoseAug's generator: LS-GAN terms against both discriminators, range
  losses and (optionally) the feedback (hardness) loss with the lifter frozen;
- `discriminator_objective`: both discriminators, real vs. fake (Eq. 12-15).

Metrics are named `train/<net>/<term>`: the 3D term and the weighted sums under the lifter,
camera and reprojection terms under the camera branch, Eq. 4 under the refiner.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from cpose_jax import diagnostics, geometry, losses
from cpose_jax.forward import apply_module, pose_forward
from cpose_jax.models import POSE_NETS
from cpose_jax.skeleton import Skeleton
from cpose_jax.train.optim import Aux
from cpose_jax.train.state import NetState


@dataclasses.dataclass(frozen=True)
class LossWeights:
    """λ of paper Eq. 16-17 (defaults: paper §4.3) and the 2D-only adversarial weight.

    refine / refine_2d_only (λref,ϕ / λref,ϕ'): not given in the paper; 1.0 keeps Eq. 4 (whose
    values are already scaled by the normalized confidences, ~1/J) at the size of the 2D terms.
    adversarial_2d_only: weight of the 2D discriminator's LS-GAN judgement of the reprojected
    2D-only poses (paper §3.3 names the term, not its weight).
    """

    refine: float = 1.0
    refine_2d_only: float = 1.0
    camera: float = 0.01
    reprojection: float = 0.5
    reprojection_2d_only: float = 0.2
    pose_3d: float = 1.0
    adversarial_2d_only: float = 0.01
    # Eq. 8 on the generator's augmented pairs is weighted by this (1 = the paper: every
    # pair; 0 = real pairs only). Their root depths span ~1-22 m, so the squared metre error
    # can dominate every other term (issue 14).
    camera_fakes: float = 1.0
    # Rows of Eq. 7 weighted by (2D extent of the label)^(-2 p) in the mean (`size_weights`):
    # 0 = the paper (normalized screen units: a person counts with their 2D size squared, so
    # far people barely do); 1 = every person's error relative to their size.
    reprojection_balance: float = 0.0
    # Scale of the downstream losses' gradient into a trained refiner (1 = end to end, the
    # paper; 0 = the refiner learns from Eq. 4 alone: with ground-truth input Eq. 4 is ~0 and
    # the downstream gradients alone drive it away from its input, issue 14).
    refiner_downstream: float = 1.0
    # Bone-length prior on the lifter's predictions for the 2D-only rows (not in the paper;
    # issue 14): the mean over bones of (|b| / l - 1)^2, l the mean bone lengths of the
    # batch's 2D-3D pairs (`bone_prior`). Eq. 17 fixes a 2D-only pose only up to depth; known
    # bone lengths fix each bone's depth up to a sign. 0 = off (the paper).
    bone_prior_2d_only: float = 0.0


FEEDBACK_BATCHES = ("shared", "separate")  # the values of GanSettings.feedback_batches


@dataclasses.dataclass(frozen=True)
class GanSettings:
    """PoseAug's generator-loss settings and discriminator update interval (research/poseaug.md
    §1.1, §1.5)."""

    adv_2d: float = 1.0
    adv_3d: float = 6.0
    range: float = 3.0
    ba_range_center: float = 0.205
    ba_range_radius: float = 0.165
    bl_range: float = 0.1
    feedback_ba: float = 0.1
    feedback_rt: float = 0.01
    hard_ba_start: float = 3.0
    hard_ba_end: float = 5.0
    hard_ba_radius: float = 2.0
    hard_rt_center: float = 17.0
    hard_rt_radius: float = 15.0
    max_aug_coord: float = 1.0  # augmented pairs with |u| or |v| above this are not used
    min_aug_depth: float = 0.1  # metres
    # > 0: the generator's poses are projected with X/Z, Y/Z clipped to [-c, c] (PoseAug's
    # project_to_2d_linear: 1.0); 0 = the plain projection.
    project_clip: float = 0.0
    # The discriminators are updated every `disc_every`-th iteration of a GAN stage (the
    # first included); PoseAug's `df`: 2 (research/poseaug.md §1.1, §1.6). The paper: silent.
    disc_every: int = 1
    # The feedback loss's three lifter passes (original, BA, RT poses): "shared" = one
    # BatchNorm batch of all three, as the lifter's own update mixes real and augmented rows;
    # "separate" = three batches, the original's without gradient (PoseAug's
    # get_feedback_loss; 4 % fewer FLOPs per joint iteration, but about 1 mm worse MPJPE and
    # PA-MPJPE for joint.py on 5 of 5 seeds, issue 17).
    feedback_batches: str = "shared"


# Which network a pose-loss term is reported under (`train/<net>/<term>`).
_TERM_NET = {
    "pose_3d": "lifter",
    "camera": "camera",
    "reprojection": "camera",
    "refine": "refiner",
    "total": "lifter",
    "reprojection_2d_only": "camera",
    "adversarial_2d_only": "lifter",
    "refine_2d_only": "refiner",
    "total_2d_only": "lifter",
    "bone_prior_2d_only": "lifter",
}


def _named(net: str | None, terms: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """`train/<net>/<term>`; net None: each pose term under its network (_TERM_NET)."""
    return {f"train/{net or _TERM_NET[k]}/{k}": v for k, v in terms.items()}


def variables(
    nets: Mapping[str, NetState], params: Mapping[str, Any], names: Collection[str]
) -> dict[str, dict[str, Any]]:
    """Flax variables of `names`: the differentiated `params` where given, else the nets' own,
    with the nets' BatchNorm statistics."""
    return {
        n: {
            "params": params[n] if n in params else nets[n].params,
            "batch_stats": nets[n].batch_stats,
        }
        for n in names
        if n in nets
    }


def size_weights(target_2d: jax.Array, valid: jax.Array, power: float) -> jax.Array:
    """`valid (N, J)` times `extent(target_2d)^(-2 power)` per row (`diagnostics.extent_2d`,
    the RMS joint distance from the root, at least 1e-3): as a `masked_mean` mask it averages
    each row's squared 2D error relative to its 2D size. power 0 returns `valid` itself."""
    if power == 0:
        return valid
    extent = jnp.maximum(diagnostics.extent_2d(target_2d), 1e-3)
    return valid * jnp.power(extent, -2.0 * power)[:, None]


def bone_prior(
    pred_3d: jax.Array,
    row_mask: jax.Array,
    *,
    ref_3d: jax.Array,
    ref_mask: jax.Array,
    skeleton: Skeleton,
) -> jax.Array:
    """The bone-length prior term (`LossWeights.bone_prior_2d_only`): the mean over bones of
    `losses.bone_length_prior_loss` of `pred_3d (N, J, 3)` (metres), masked mean over the rows
    where `row_mask (N,)` is nonzero; the reference length of each bone is its mean over the
    rows of `ref_3d (M, J, 3)` (metres, labels) where `ref_mask (M,)` is nonzero, without
    gradient. Scalar (unitless); 0 without such rows."""
    ref_lengths = geometry.bone_lengths(geometry.bones(ref_3d, skeleton))
    ref = jax.lax.stop_gradient(losses.masked_mean(ref_lengths, ref_mask[:, None], axis=0))
    per_bone = losses.bone_length_prior_loss(pred_3d, ref, skeleton)
    return losses.masked_mean(per_bone, row_mask[:, None])


def _need_skeleton(weights: LossWeights, skeleton: Skeleton | None) -> None:
    if weights.bone_prior_2d_only != 0 and skeleton is None:
        raise ValueError("loss_weights.bone_prior_2d_only != 0 needs the skeleton")


def refiner_objective(
    params: Mapping[str, Any],
    *,
    modules: Mapping[str, Any],
    nets: Mapping[str, NetState],
    data: Mapping[str, jax.Array],
    rng: jax.Array,
) -> tuple[jax.Array, Aux]:
    """Eq. 4: the refiner's confidence-weighted error against `data['keypoints_2d_gt']`."""
    refined, stats = apply_module(
        modules["refiner"],
        variables(nets, params, ("refiner",))["refiner"],
        data["keypoints_2d"],
        data["confidence"],
        train=True,
        rng=rng,
    )
    loss = losses.masked_mean(
        losses.refinement_loss(refined, data["keypoints_2d_gt"], data["confidence"]),
        data["valid"],
    )
    return loss, Aux({"refiner": stats}, {"train/refiner/refine": loss})


def paired_objective(
    params: Mapping[str, Any],
    *,
    modules: Mapping[str, Any],
    nets: Mapping[str, NetState],
    data: Mapping[str, jax.Array],
    sample_mask: jax.Array,
    weights: LossWeights,
    rng: jax.Array,
    use_refiner_loss: bool,
    camera_mask: jax.Array | None = None,
) -> tuple[jax.Array, Aux]:
    """Eq. 16 on a (real or real+augmented) paired batch; `sample_mask (B,)` drops rows;
    `camera_mask (B,)` (None: `sample_mask`) weights the rows of Eq. 8. The terms are those of
    `iteration_pose_objective` without 2D-only rows (one place for them)."""
    return iteration_pose_objective(
        params,
        modules=modules,
        nets=nets,
        data=data,
        paired_mask=sample_mask,
        wild_mask=None,
        weights=weights,
        rng=rng,
        use_refiner_loss=use_refiner_loss,
        camera_mask=camera_mask,
    )


def two_d_only_objective(
    params: Mapping[str, Any],
    *,
    modules: Mapping[str, Any],
    nets: Mapping[str, NetState],
    wild: Mapping[str, jax.Array],
    weights: LossWeights,
    rng: jax.Array,
    use_refiner_loss: bool,
    skeleton: Skeleton | None = None,
    ref_3d: jax.Array | None = None,
    ref_mask: jax.Array | None = None,
) -> tuple[jax.Array, Aux]:
    """Eq. 17 on a 2D-only batch plus the (frozen) 2D discriminator's LS-GAN judgement of the
    reprojection (modules must include 'disc_2d' and the camera branch). With
    `weights.bone_prior_2d_only` != 0, also the bone-length prior (`bone_prior`) against the
    pairs `ref_3d (M, J, 3)` (metres) where `ref_mask (M,)` (None: every row) is nonzero (the
    step passes the iteration's real + usable augmented pairs); needs `skeleton`."""
    _need_skeleton(weights, skeleton)
    if weights.bone_prior_2d_only != 0 and ref_3d is None:
        raise ValueError("loss_weights.bone_prior_2d_only != 0 needs ref_3d (the pairs' 3D)")
    pose_modules = {n: m for n, m in modules.items() if n in POSE_NETS}
    out, new_stats = pose_forward(
        pose_modules,
        variables(nets, params, pose_modules),
        wild["keypoints_2d"],
        wild["confidence"],
        train=True,
        rng=rng,
        trained=params,
        refiner_grad_scale=weights.refiner_downstream,
    )
    # The loss projects the pose itself and the discriminator gets its own projection: the
    # same values, but sharing one would sum the two gradient paths in another order (float32
    # rounding; the training numbers are pinned).
    reproj = geometry.reproject(out["pose_3d"], out["translation"], out["intrinsics"])
    l2d = losses.masked_mean(
        losses.reprojection_loss(
            out["pose_3d"], out["translation"], out["intrinsics"], wild["keypoints_2d_gt"]
        ),
        size_weights(wild["keypoints_2d_gt"], wild["valid"], weights.reprojection_balance),
    )
    d2 = modules["disc_2d"].apply({"params": nets["disc_2d"].params}, reproj, train=False)
    adv = losses.masked_mean(losses.lsgan_generator_loss(d2))
    total = weights.reprojection_2d_only * l2d + weights.adversarial_2d_only * adv
    terms = {"reprojection_2d_only": l2d, "adversarial_2d_only": adv}
    if weights.bone_prior_2d_only != 0:
        terms["bone_prior_2d_only"] = bone_prior(
            out["pose_3d"],
            jnp.ones(out["pose_3d"].shape[:1], out["pose_3d"].dtype),
            ref_3d=ref_3d,
            ref_mask=jnp.ones(ref_3d.shape[:1], ref_3d.dtype) if ref_mask is None else ref_mask,
            skeleton=skeleton,
        )
        total = total + weights.bone_prior_2d_only * terms["bone_prior_2d_only"]
    if use_refiner_loss:
        lref = losses.masked_mean(
            losses.refinement_loss(
                out["keypoints_2d_refined"], wild["keypoints_2d_gt"], wild["confidence"]
            ),
            wild["valid"],
        )
        total = total + weights.refine_2d_only * lref
        terms["refine_2d_only"] = lref
    terms["total_2d_only"] = total
    return total, Aux(new_stats, _named(None, terms))


def iteration_pose_objective(
    params: Mapping[str, Any],
    *,
    modules: Mapping[str, Any],
    nets: Mapping[str, NetState],
    data: Mapping[str, jax.Array],
    paired_mask: jax.Array,
    wild_mask: jax.Array | None,
    weights: LossWeights,
    rng: jax.Array,
    use_refiner_loss: bool,
    camera_mask: jax.Array | None = None,
    wild_rows: int | None = None,
    skeleton: Skeleton | None = None,
) -> tuple[jax.Array, Aux]:
    """Eq. 16 and Eq. 17 in ONE forward of the pose networks: the rows of `data` (N, ...) are
    2D-3D pairs (real or augmented) where `paired_mask (N,)` is nonzero and 2D-only samples
    where `wild_mask (N,)` is; rows in neither feed BatchNorm only. Every term is the masked
    mean over its own rows, as in `paired_objective` + `two_d_only_objective`, and the sum is
    one loss, so each network takes one optax update per iteration on one BatchNorm batch.
    The 2D-only rows need `data` keys of the pairs too (any finite filler: they are masked).
    `wild_mask` None: no 2D-only rows (Eq. 16 alone, the terms of `paired_objective`); else
    `modules` must include 'disc_2d' and the camera branch. `camera_mask (N,)` (None:
    `paired_mask`) weights the rows of Eq. 8. `wild_rows` (static): the 2D-only rows are the
    last `wild_rows` rows of `data`, and the 2D discriminator judges only those (None: every
    row, the judgement masked by `wild_mask`; the same loss, more FLOPs). With
    `weights.bone_prior_2d_only` != 0 (needs `skeleton`), the 2D-only rows' predictions also
    get the bone-length prior (`bone_prior`) against the pairs' mean bone lengths."""
    if wild_mask is not None:
        _need_skeleton(weights, skeleton)
    pose_modules = {n: m for n, m in modules.items() if n in POSE_NETS}
    out, new_stats = pose_forward(
        pose_modules,
        variables(nets, params, pose_modules),
        data["keypoints_2d"],
        data["confidence"],
        train=True,
        rng=rng,
        trained=params,
        refiner_grad_scale=weights.refiner_downstream,
    )
    has_wild = wild_mask is not None
    valid_p = data["valid"] * paired_mask[:, None]
    valid_w = data["valid"] * wild_mask[:, None] if has_wild else None
    joints_p = jnp.broadcast_to(paired_mask[:, None], data["valid"].shape)
    terms = {
        "pose_3d": losses.masked_mean(
            losses.pose_3d_loss(out["pose_3d"], data["pose_3d"]), joints_p
        )
    }
    total = weights.pose_3d * terms["pose_3d"]
    if "intrinsics" in out:
        terms["camera"] = losses.masked_mean(
            losses.camera_loss(
                out["intrinsics"], out["translation"], data["intrinsics"], data["translation"]
            ),
            paired_mask if camera_mask is None else camera_mask,
        )
        reproj_err = losses.reprojection_loss(
            out["pose_3d"], out["translation"], out["intrinsics"], data["keypoints_2d_gt"]
        )
        p = weights.reprojection_balance
        terms["reprojection"] = losses.masked_mean(
            reproj_err, size_weights(data["keypoints_2d_gt"], valid_p, p)
        )
        total = total + weights.camera * terms["camera"]
        total = total + weights.reprojection * terms["reprojection"]
        if has_wild:
            terms["reprojection_2d_only"] = losses.masked_mean(
                reproj_err, size_weights(data["keypoints_2d_gt"], valid_w, p)
            )
            reproj = geometry.reproject(out["pose_3d"], out["translation"], out["intrinsics"])
            judged = slice(None if wild_rows is None else reproj.shape[0] - wild_rows, None)
            d2 = modules["disc_2d"].apply(
                {"params": nets["disc_2d"].params}, reproj[judged], train=False
            )
            terms["adversarial_2d_only"] = losses.masked_mean(
                losses.lsgan_generator_loss(d2), wild_mask[judged, None]
            )
            total = total + weights.reprojection_2d_only * terms["reprojection_2d_only"]
            total = total + weights.adversarial_2d_only * terms["adversarial_2d_only"]
            if weights.bone_prior_2d_only != 0:
                terms["bone_prior_2d_only"] = bone_prior(
                    out["pose_3d"],
                    wild_mask,
                    ref_3d=data["pose_3d"],
                    ref_mask=paired_mask,
                    skeleton=skeleton,
                )
                total = total + weights.bone_prior_2d_only * terms["bone_prior_2d_only"]
    elif has_wild:
        raise ValueError("2D-only rows (wild_mask) need the camera branch")
    if use_refiner_loss and "keypoints_2d_refined" in out:
        ref_err = losses.refinement_loss(
            out["keypoints_2d_refined"], data["keypoints_2d_gt"], data["confidence"]
        )
        terms["refine"] = losses.masked_mean(ref_err, valid_p)
        total = total + weights.refine * terms["refine"]
        if has_wild:
            terms["refine_2d_only"] = losses.masked_mean(ref_err, valid_w)
            total = total + weights.refine_2d_only * terms["refine_2d_only"]
    terms["total"] = total
    return total, Aux(new_stats, _named(None, terms))


def generator_objective(
    params: Mapping[str, Any],
    *,
    modules: Mapping[str, Any],
    nets: Mapping[str, NetState],
    real_abs: jax.Array,
    intrinsics: jax.Array,
    skeleton: Skeleton,
    gan: GanSettings,
    hard_ba: jax.Array,
    feedback: bool,
    rng: jax.Array,
    feedback_rng: jax.Array,
) -> tuple[jax.Array, Aux]:
    """PoseAug's generator loss on real absolute poses `real_abs (B, J, 3)` (metres, camera
    frame) seen through `intrinsics (B, 4)`: LS-GAN terms against both (frozen) discriminators,
    bone-angle / bone-length range losses and, with `feedback`, the hardness loss of the frozen
    lifter in train mode (its BN statistics NOT updated, unlike PoseAug's side effect) with the
    bone-angle target `hard_ba`, on the original, BA and RT poses in one BatchNorm batch or
    each in its own (PoseAug's `get_feedback_loss`): `gan.feedback_batches`.
    Aux.outputs: (generator output, its 2D projection)."""
    out, g_stats = apply_module(
        modules["generator"],
        variables(nets, params, ("generator",))["generator"],
        real_abs,
        train=True,
        rng=rng,
    )
    clip = gan.project_clip if gan.project_clip > 0 else None
    x_rt = geometry.project(out.rt, intrinsics, clip_xy=clip)
    d3 = modules["disc_3d"].apply({"params": nets["disc_3d"].params}, out.ba, train=False)
    d2 = modules["disc_2d"].apply({"params": nets["disc_2d"].params}, x_rt, train=False)
    adv_3d = losses.masked_mean(losses.lsgan_generator_loss(d3))
    adv_2d = losses.masked_mean(losses.lsgan_generator_loss(d2))
    ba_range = losses.masked_mean(
        losses.diff_range_loss(
            jnp.mean(out.ba_diff, axis=-1), center=gan.ba_range_center, radius=gan.ba_range_radius
        )
    )
    bl_range = losses.masked_mean(losses.rectified_l2(out.bl_ratios, threshold=gan.bl_range))
    total = gan.adv_3d * adv_3d + gan.adv_2d * adv_2d + gan.range * (ba_range + bl_range)
    terms = {"adv_3d": adv_3d, "adv_2d": adv_2d, "ba_range": ba_range, "bl_range": bl_range}
    if feedback:
        x_orig = geometry.project(real_abs, intrinsics, clip_xy=clip)
        x_ba = geometry.project(out.ba, intrinsics, clip_xy=clip)

        def lift(x_2d, key):
            # The frozen lifter in train mode (BN batch statistics, dropout), as PoseAug.
            pred, _ = apply_module(
                modules["lifter"],
                nets["lifter"].variables(),
                x_2d,
                train=True,
                rng=key,
                update_stats=False,
            )
            return pred

        if gan.feedback_batches == "separate":
            # Three passes, each its own BatchNorm batch, as PoseAug's get_feedback_loss. The
            # original pose's pass does not depend on the generator: no gradient flows back
            # through it.
            k_orig, k_ba, k_rt = jax.random.split(feedback_rng, 3)
            p_orig = jax.lax.stop_gradient(lift(x_orig, k_orig))
            p_ba, p_rt = lift(x_ba, k_ba), lift(x_rt, k_rt)
        elif gan.feedback_batches == "shared":
            # One BatchNorm batch: the original's statistics (and gradient) mix in the fakes.
            p_orig, p_ba, p_rt = jnp.split(
                lift(jnp.concatenate([x_orig, x_ba, x_rt], axis=0), feedback_rng), 3
            )
        else:
            raise ValueError(
                f"gan.feedback_batches must be one of {FEEDBACK_BATCHES}, "
                f"got {gan.feedback_batches!r}"
            )
        t_orig = geometry.root_relative(real_abs)

        def hardness(pred_aug, aug_abs, center, radius):
            return losses.masked_mean(
                losses.feedback_hardness_loss(
                    pred_aug,
                    geometry.root_relative(aug_abs),
                    p_orig,
                    t_orig,
                    skeleton,
                    center=center,
                    radius=radius,
                )
            )

        fb_ba = hardness(p_ba, out.ba, hard_ba, gan.hard_ba_radius)
        fb_rt = hardness(p_rt, out.rt, gan.hard_rt_center, gan.hard_rt_radius)
        total = total + gan.feedback_ba * fb_ba + gan.feedback_rt * fb_rt
        terms |= {"feedback_ba": fb_ba, "feedback_rt": fb_rt}
    terms["total"] = total
    return total, Aux({"generator": g_stats}, _named("generator", terms), (out, x_rt))


def discriminator_objective(
    params: Mapping[str, Any],
    *,
    modules: Mapping[str, Any],
    real_3d: jax.Array,
    fake_3d: jax.Array,
    real_2d: jax.Array,
    fake_2d: jax.Array,
    real_2d_mask: jax.Array,
    fake_2d_mask: jax.Array,
) -> tuple[jax.Array, Aux]:
    """LS-GAN discriminator losses (Eq. 12-15): 3D on root-relative poses `(B, J, 3)`, 2D on
    normalized keypoints `(B', J, 2)` whose rows count where the `(B',)` masks are 1."""

    def judge(name, real, fake):
        # Real and fake rows in one call (the discriminators have no BatchNorm: each row's
        # score is its own), so every layer is one matmul over both.
        scores = modules[name].apply(
            {"params": params[name]}, jnp.concatenate([real, fake], axis=0), train=True
        )
        return losses.lsgan_discriminator_loss(scores[: real.shape[0]], scores[real.shape[0] :])

    r3, f3 = judge("disc_3d", real_3d, fake_3d)
    r2, f2 = judge("disc_2d", real_2d, fake_2d)
    l3 = losses.masked_mean(r3) + losses.masked_mean(f3)
    l2 = losses.masked_mean(r2, real_2d_mask[:, None]) + losses.masked_mean(
        f2, fake_2d_mask[:, None]
    )
    metrics = {"train/disc_3d/lsgan": l3, "train/disc_2d/lsgan": l2}
    return l3 + l2, Aux({}, metrics)
