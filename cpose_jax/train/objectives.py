"""The training objectives, one function per network group (paper Eq. 4, 12-17; PoseAug).

Each is `loss(params, ...) -> (scalar, optim.Aux)` with `params` = {name: params} of the
networks being updated (the rest read from `nets`), ready for `optim.update_networks`:

- `refiner_objective`: stage 1, Eq. 4 on ground-truth 2D;
- `paired_objective`: refiner/lifter/camera on (real + augmented) 2D-3D pairs, Eq. 16
  (Eq. 9 alone for a lifter without camera branch);
- `two_d_only_objective`: the same networks on a 2D-only batch, Eq. 17 + the 2D
  discriminator's LS-GAN judgement of the reprojection, and the optional terms on the 2D-only
  lifts, none in the paper (`settings.LossWeights`): bone-length and bone-ratio priors, the
  judgement of novel views (`novel_views`), lift-turn-lift consistency, the 3D
  discriminator's judgement;
- `iteration_pose_objective`: `paired_objective` and `two_d_only_objective` in one forward
  (the default end-to-end iteration);
- `generator_objective`: PoseAug's generator: LS-GAN terms against both discriminators, range
  losses and (optionally) the feedback (hardness) loss with the lifter frozen;
- `discriminator_objective`: both discriminators, real vs. fake (Eq. 12-15).

Metrics are named `train/<net>/<term>`: the 3D term and the weighted sums under the lifter,
camera and reprojection terms under the camera branch, Eq. 4 under the refiner.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import jax
import jax.numpy as jnp

from cpose_jax import diagnostics, geometry, losses
from cpose_jax.forward import apply_module, pose_forward
from cpose_jax.models import POSE_NETS
from cpose_jax.skeleton import Skeleton
from cpose_jax.train.optim import Aux
from cpose_jax.train.settings import FEEDBACK_BATCHES, NOVEL_VIEW_AXES, GanSettings, LossWeights
from cpose_jax.train.state import NetState

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
    "bone_ratio_2d_only": "lifter",
    "novel_view_2d_only": "lifter",
    "relift_2d_only": "lifter",
    "adversarial_3d_2d_only": "lifter",
}


# The order of the weighted sum of the pose terms (`_weighted_total`).
_TERM_ORDER = (
    "pose_3d",
    "camera",
    "reprojection",
    "reprojection_2d_only",
    "adversarial_2d_only",
    "bone_prior_2d_only",
    "bone_ratio_2d_only",
    "novel_view_2d_only",
    "relift_2d_only",
    "adversarial_3d_2d_only",
    "refine",
    "refine_2d_only",
)


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


def _bone_term(per_bone_loss, pred_3d, row_mask, *, ref_3d, ref_mask, skeleton) -> jax.Array:
    """`per_bone_loss(pred_3d, reference lengths, skeleton)` masked-averaged over the rows of
    `pred_3d (N, J, 3)` where `row_mask (N,)` is nonzero; each bone's reference length is its
    mean over the rows of `ref_3d (M, J, 3)` (metres, labels) where `ref_mask (M,)` is
    nonzero, without gradient. Scalar; 0 without such rows."""
    ref_lengths = geometry.bone_lengths(geometry.bones(ref_3d, skeleton))
    ref = jax.lax.stop_gradient(losses.masked_mean(ref_lengths, ref_mask[:, None], axis=0))
    return losses.masked_mean(per_bone_loss(pred_3d, ref, skeleton), row_mask[:, None])


def bone_prior(pred_3d, row_mask, *, ref_3d, ref_mask, skeleton: Skeleton) -> jax.Array:
    """The bone-length prior term (`LossWeights.bone_prior_2d_only`):
    `losses.bone_length_prior_loss` of `pred_3d (N, J, 3)` (metres) against the pairs' mean
    bone lengths (`_bone_term`). Scalar (unitless)."""
    return _bone_term(
        losses.bone_length_prior_loss,
        pred_3d,
        row_mask,
        ref_3d=ref_3d,
        ref_mask=ref_mask,
        skeleton=skeleton,
    )


def bone_ratio_prior(pred_3d, row_mask, *, ref_3d, ref_mask, skeleton: Skeleton) -> jax.Array:
    """The bone-ratio prior term (`LossWeights.bone_ratio_2d_only`): `losses.bone_ratio_loss`
    (each bone's share of the total length) against the pairs' mean bone lengths
    (`_bone_term`). Scalar (unitless)."""
    return _bone_term(
        losses.bone_ratio_loss,
        pred_3d,
        row_mask,
        ref_3d=ref_3d,
        ref_mask=ref_mask,
        skeleton=skeleton,
    )


def novel_views(
    pose_3d: jax.Array,
    translation: jax.Array,
    intrinsics: jax.Array,
    rng: jax.Array,
    *,
    weights: LossWeights,
    skeleton: Skeleton,
) -> tuple[jax.Array, jax.Array]:
    """Random novel views of root-relative poses `pose_3d (N, J, 3)` (metres, camera frame):
    `(rotations (N, 3, 3), 2D (N, J, 2))`, the 2D of each pose turned about its root
    (`geometry.view_rotation`, azimuth uniform in [-pi, pi] about `weights.novel_view_axis`,
    elevation uniform within +-`weights.novel_view_elevation` degrees), placed at
    `translation (N, 3)` and projected with `intrinsics (N, 4)` (both without gradient)."""
    if weights.novel_view_axis not in NOVEL_VIEW_AXES:
        raise ValueError(
            f"loss_weights.novel_view_axis must be one of {NOVEL_VIEW_AXES}, "
            f"got {weights.novel_view_axis!r}"
        )
    n = pose_3d.shape[0]
    k_az, k_el = jax.random.split(rng)
    azimuth = jax.random.uniform(k_az, (n,), minval=-jnp.pi, maxval=jnp.pi)
    e = jnp.deg2rad(weights.novel_view_elevation)
    elevation = jax.random.uniform(k_el, (n,), minval=-e, maxval=e)
    axis = None
    if weights.novel_view_axis == "spine":
        up = pose_3d[:, skeleton.joint_names.index("Thorax")] - pose_3d[:, 0]
        axis = jax.lax.stop_gradient(up / geometry.safe_norm(up, keepdims=True))
    rot = geometry.view_rotation(azimuth, elevation, axis=axis)
    turned = pose_3d @ jnp.swapaxes(rot, -1, -2)
    x2d = geometry.reproject(
        turned, jax.lax.stop_gradient(translation), jax.lax.stop_gradient(intrinsics)
    )
    return rot, x2d


def _novel_view_terms(
    params, pose_3d, translation, intrinsics, rows, *, modules, nets, weights, skeleton, rng
):
    """The novel-view terms of `LossWeights` on the lifts `pose_3d (N, J, 3)` of 2D-only rows
    (`rows (N, 1)` weights; None: every row)."""
    k_view, k_lift = jax.random.split(rng)
    rot, x2d = novel_views(
        pose_3d, translation, intrinsics, k_view, weights=weights, skeleton=skeleton
    )
    terms = {}
    if weights.novel_view_2d_only != 0:
        d2 = modules["disc_2d"].apply({"params": nets["disc_2d"].params}, x2d, train=False)
        terms["novel_view_2d_only"] = losses.masked_mean(losses.lsgan_generator_loss(d2), rows)
    if weights.relift_2d_only != 0:
        # The lifter in train mode on the novel views (its BatchNorm statistics not updated:
        # they are those of the input views), turned back into the input view.
        relifted, _ = apply_module(
            modules["lifter"],
            variables(nets, params, ("lifter",))["lifter"],
            x2d,
            train=True,
            rng=k_lift,
            update_stats=False,
        )
        back = relifted @ rot
        err = jnp.sum(jnp.square(back - pose_3d), axis=-1)
        terms["relift_2d_only"] = losses.masked_mean(err, rows)
    return terms


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


def check_2d_only(networks: Collection[str]) -> None:
    """The one rule for training on 2D-only data: Eq. 17 reprojects the lifted pose with the
    camera branch's prediction, so `networks` (those a stage runs) must include 'camera'."""
    if "camera" not in networks:
        raise ValueError(
            "training on 2D-only data (Eq. 17) needs the camera branch, which places the "
            f"lifted pose for its reprojection; the networks are {sorted(networks)}"
        )


def _pose_outputs(params, data, *, modules, nets, weights, rng):
    """The pose networks of `modules` in train mode on `data`'s 2D and confidences, `params`
    differentiated."""
    pose_modules = {n: m for n, m in modules.items() if n in POSE_NETS}
    return pose_forward(
        pose_modules,
        variables(nets, params, pose_modules),
        data["keypoints_2d"],
        data["confidence"],
        train=True,
        rng=rng,
        trained=params,
        refiner_grad_scale=weights.refiner_downstream,
    )


def _weighted_total(terms: Mapping[str, jax.Array], weights: LossWeights) -> jax.Array:
    """Σ λ_term · term in `_TERM_ORDER` (a fixed order: the float32 sum is reproducible)."""
    total = None
    for name in _TERM_ORDER:
        if name in terms:
            part = getattr(weights, name) * terms[name]
            total = part if total is None else total + part
    return total


def _paired_terms(out, data, paired_mask, camera_mask, weights: LossWeights):
    """Eq. 16's terms on the pair rows (`paired_mask (N,)` nonzero): Eq. 9 and, with a camera
    branch, Eq. 8 (rows weighted by `camera_mask`) and Eq. 7. Also returns the per-joint
    reprojection error of every row (None without a camera branch) for the 2D-only terms."""
    joints_p = jnp.broadcast_to(paired_mask[:, None], data["valid"].shape)
    terms = {
        "pose_3d": losses.masked_mean(
            losses.pose_3d_loss(out["pose_3d"], data["pose_3d"]), joints_p
        )
    }
    if "intrinsics" not in out:
        return terms, None
    terms["camera"] = losses.masked_mean(
        losses.camera_loss(
            out["intrinsics"], out["translation"], data["intrinsics"], data["translation"]
        ),
        camera_mask,
    )
    reproj_err = losses.reprojection_loss(
        out["pose_3d"], out["translation"], out["intrinsics"], data["keypoints_2d_gt"]
    )
    valid_p = data["valid"] * paired_mask[:, None]
    terms["reprojection"] = losses.masked_mean(
        reproj_err, size_weights(data["keypoints_2d_gt"], valid_p, weights.reprojection_balance)
    )
    return terms, reproj_err


def _two_d_only_terms(
    params,
    out,
    data,
    reproj_err,
    *,
    rng: jax.Array,
    rows: jax.Array | None,
    judged_rows: int | None,
    modules,
    nets,
    weights: LossWeights,
    skeleton: Skeleton | None,
    ref_3d: jax.Array | None,
    ref_mask: jax.Array | None,
):
    """Eq. 17 and the (frozen) 2D discriminator's LS-GAN judgement of the reprojection on the
    2D-only rows of `data` (`rows (N,)` nonzero; None: every row), plus the bone-length prior
    (`bone_prior`, against `ref_3d`'s rows where `ref_mask`), the bone-ratio prior, the
    novel-view terms (`novel_views`) and the 3D discriminator's judgement when their weights
    are nonzero. `judged_rows` (static): the 2D-only rows are the last `judged_rows` of `data`
    and only those are judged and seen from novel views (None: every row, the terms masked by
    `rows`). `rng` (the pose forward's key) is folded into the novel views' key."""
    valid_w = data["valid"] if rows is None else data["valid"] * rows[:, None]
    terms = {
        "reprojection_2d_only": losses.masked_mean(
            reproj_err,
            size_weights(data["keypoints_2d_gt"], valid_w, weights.reprojection_balance),
        )
    }
    # The discriminator gets its own projection of the pose: the same values as the loss's,
    # but sharing one would sum the two gradient paths in another float32 order.
    reproj = geometry.reproject(out["pose_3d"], out["translation"], out["intrinsics"])
    judged = slice(None if judged_rows is None else reproj.shape[0] - judged_rows, None)
    d2 = modules["disc_2d"].apply({"params": nets["disc_2d"].params}, reproj[judged], train=False)
    terms["adversarial_2d_only"] = losses.masked_mean(
        losses.lsgan_generator_loss(d2), None if rows is None else rows[judged, None]
    )
    priors = {"bone_prior_2d_only": bone_prior, "bone_ratio_2d_only": bone_ratio_prior}
    for name, prior in priors.items():
        if getattr(weights, name) == 0:
            continue
        if skeleton is None or ref_3d is None:
            raise ValueError(f"loss_weights.{name} != 0 needs the skeleton and ref_3d")
        n, m = out["pose_3d"].shape[0], ref_3d.shape[0]
        terms[name] = prior(
            out["pose_3d"],
            jnp.ones((n,), out["pose_3d"].dtype) if rows is None else rows,
            ref_3d=ref_3d,
            ref_mask=jnp.ones((m,), ref_3d.dtype) if ref_mask is None else ref_mask,
            skeleton=skeleton,
        )
    judged_mask = None if rows is None else rows[judged, None]
    if weights.uses_novel_views:
        if skeleton is None:
            raise ValueError("the novel-view terms need the skeleton")
        terms |= _novel_view_terms(
            params,
            out["pose_3d"][judged],
            out["translation"][judged],
            out["intrinsics"][judged],
            judged_mask,
            modules=modules,
            nets=nets,
            weights=weights,
            skeleton=skeleton,
            rng=jax.random.fold_in(rng, 1),
        )
    if weights.adversarial_3d_2d_only != 0:
        d3 = modules["disc_3d"].apply(
            {"params": nets["disc_3d"].params}, out["pose_3d"][judged], train=False
        )
        terms["adversarial_3d_2d_only"] = losses.masked_mean(
            losses.lsgan_generator_loss(d3), judged_mask
        )
    return terms, valid_w


def _refine_terms(out, data, valid_p, valid_w):
    """Eq. 4 on the refiner's output: over `valid_p` (pair rows; None: none) and `valid_w`
    (2D-only rows; None: none)."""
    err = losses.refinement_loss(
        out["keypoints_2d_refined"], data["keypoints_2d_gt"], data["confidence"]
    )
    terms = {}
    if valid_p is not None:
        terms["refine"] = losses.masked_mean(err, valid_p)
    if valid_w is not None:
        terms["refine_2d_only"] = losses.masked_mean(err, valid_w)
    return terms


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
    check_2d_only(modules)
    out, new_stats = _pose_outputs(
        params, wild, modules=modules, nets=nets, weights=weights, rng=rng
    )
    reproj_err = losses.reprojection_loss(
        out["pose_3d"], out["translation"], out["intrinsics"], wild["keypoints_2d_gt"]
    )
    terms, valid_w = _two_d_only_terms(
        params,
        out,
        wild,
        reproj_err,
        rng=rng,
        rows=None,
        judged_rows=None,
        modules=modules,
        nets=nets,
        weights=weights,
        skeleton=skeleton,
        ref_3d=ref_3d,
        ref_mask=ref_mask,
    )
    if use_refiner_loss:
        terms |= _refine_terms(out, wild, None, valid_w)
    terms["total_2d_only"] = total = _weighted_total(terms, weights)
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
    has_wild = wild_mask is not None
    if has_wild:
        check_2d_only(modules)
    out, new_stats = _pose_outputs(
        params, data, modules=modules, nets=nets, weights=weights, rng=rng
    )
    terms, reproj_err = _paired_terms(
        out, data, paired_mask, paired_mask if camera_mask is None else camera_mask, weights
    )
    valid_w = None
    if has_wild:
        wild_terms, valid_w = _two_d_only_terms(
            params,
            out,
            data,
            reproj_err,
            rng=rng,
            rows=wild_mask,
            judged_rows=wild_rows,
            modules=modules,
            nets=nets,
            weights=weights,
            skeleton=skeleton,
            ref_3d=data["pose_3d"],
            ref_mask=paired_mask,
        )
        terms |= wild_terms
    if use_refiner_loss and "keypoints_2d_refined" in out:
        terms |= _refine_terms(out, data, data["valid"] * paired_mask[:, None], valid_w)
    terms["total"] = total = _weighted_total(terms, weights)
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
