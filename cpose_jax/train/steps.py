"""Pure train steps: `step(state, batch, seed_key) -> (state, metrics)`, built by factories.

Every step draws its randomness from `fold_in(seed_key, state.step)` (so a resumed run draws
the same numbers), updates networks only through `optim.update_networks` (each with its own
optax state) and returns scalar metrics named `train/<net>/<loss>`. Modules, optimizers and
loss weights are closed over; `jit_step` compiles a step once with the state donated and the
batch sharded over the `('data',)` mesh.

Batches are dicts of model-space arrays (CONTRACT "Model-space batch dicts"):
`{"paired": {...}}` for steps on 2D-3D pairs (ϕ) and additionally `{"wild": {...}}` (2D-only,
ϕ') for the end-to-end iteration.

Step kinds:
- `make_refiner_step`: stage 1, the refiner alone (Eq. 4).
- `make_supervised_step`: the lifter (and optionally the camera branch) on real pairs (Eq. 9 /
  Eq. 10); the `supervised` baseline.
- `make_gan_step`: one iteration of paper §4.3 in ONE program, in this order:
  1. generator: LS-GAN adversarial terms against both discriminators, PoseAug's range losses
     and (optionally) its feedback loss with the lifter frozen;
  2. discriminators, on real poses vs. pooled fakes (PoseAug pool) and, with 2D-only data, the
     reprojections of the 2D-only batch (Eq. 12-15);
  3. refiner/lifter/camera on real + augmented pairs (Eq. 16);
  4. (optional) refiner/lifter/camera on the 2D-only batch (Eq. 17) including the 2D
     discriminator's judgement of the reprojection.
  Options select the warm-up stage (no 2D-only data, lifter on real pairs only), the end-to-end
  stage and the PoseAug baseline (no camera, no 2D-only data).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from cpose_jax import geometry, losses
from cpose_jax.skeleton import Skeleton
from cpose_jax.train.optim import update_networks
from cpose_jax.train.pool import pool_query
from cpose_jax.train.state import NetState, TrainState

Batch = Mapping[str, Mapping[str, jax.Array]]


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


@dataclasses.dataclass(frozen=True)
class GanSettings:
    """PoseAug's generator-loss settings (research/poseaug.md §1.1, §1.5)."""

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


# --------------------------------------------------------------------------------- helpers


def _keys(rng: jax.Array, step: jax.Array, n: int) -> list[jax.Array]:
    return list(jax.random.split(jax.random.fold_in(rng, step), n))


def apply_net(
    module: Any,
    net: NetState,
    params: Any,
    *args: Any,
    train: bool,
    rng: jax.Array | None = None,
    update_stats: bool = True,
) -> tuple[Any, Any]:
    """Run a flax module with `params` (possibly traced for grad) and the net's BN statistics.

    Returns (output, batch_stats): new statistics when `train` and `update_stats` and the
    module has BatchNorm, else the old ones. rng feeds the 'dropout' and 'noise' streams.
    """
    variables = {"params": params}
    if net.batch_stats:
        variables["batch_stats"] = net.batch_stats
    rngs = None
    if rng is not None:
        k_drop, k_noise = jax.random.split(rng)
        rngs = {"dropout": k_drop, "noise": k_noise}
    if train and net.batch_stats:
        out, mutated = module.apply(
            variables, *args, train=True, rngs=rngs, mutable=["batch_stats"]
        )
        return out, (mutated["batch_stats"] if update_stats else net.batch_stats)
    return module.apply(variables, *args, train=train, rngs=rngs), net.batch_stats


def _concat(*trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=0), *trees)


def _sample_mask(mask: jax.Array, ndim: int) -> jax.Array:
    return mask.reshape(mask.shape + (1,) * (ndim - 1))


def _params(nets: Mapping[str, NetState], params: Mapping[str, Any], name: str):
    """The differentiated params of `name` when it is being updated, else its frozen ones."""
    return params[name] if name in params else nets[name].params


@dataclasses.dataclass(frozen=True)
class _Pose2DTo3D:
    """refiner? -> lifter -> camera? forward with per-network stat bookkeeping."""

    modules: Mapping[str, Any]

    def __call__(
        self,
        nets: Mapping[str, NetState],
        params: Mapping[str, Any],
        keypoints_2d: jax.Array,
        confidence: jax.Array,
        *,
        train: bool,
        rng: jax.Array,
        new_stats: dict[str, Any],
    ) -> dict[str, jax.Array]:
        k_ref, k_lift, k_cam = jax.random.split(rng, 3)
        out = {}
        x = keypoints_2d
        if "refiner" in self.modules:
            # A frozen refiner (not in params) runs in inference mode, like at test time.
            ref_train = train and "refiner" in params
            x, stats = apply_net(
                self.modules["refiner"],
                nets["refiner"],
                _params(nets, params, "refiner"),
                keypoints_2d,
                losses.normalize_confidence(confidence),
                train=ref_train,
                rng=k_ref,
            )
            if ref_train:
                new_stats["refiner"] = stats
            else:
                x = jax.lax.stop_gradient(x)
            out["refined"] = x
        pose, stats = apply_net(
            self.modules["lifter"],
            nets["lifter"],
            _params(nets, params, "lifter"),
            x,
            train=train,
            rng=k_lift,
        )
        if train and "lifter" in params:
            new_stats["lifter"] = stats
        out["pose_3d"] = pose
        if "camera" in self.modules:
            cam, stats = apply_net(
                self.modules["camera"],
                nets["camera"],
                _params(nets, params, "camera"),
                x,
                train=train,
                rng=k_cam,
            )
            if train and "camera" in params:
                new_stats["camera"] = stats
            out.update(cam)
        return out


def _paired_losses(
    out: Mapping[str, jax.Array],
    batch: Mapping[str, jax.Array],
    sample_mask: jax.Array,
    weights: LossWeights,
    *,
    use_refiner_loss: bool,
) -> tuple[jax.Array, dict[str, jax.Array]]:
    """Eq. 16 on a (real or real+augmented) paired batch; returns (loss, per-term metrics)."""
    valid = batch["valid"] * sample_mask[:, None]
    joint_mask = jnp.broadcast_to(sample_mask[:, None], batch["valid"].shape)
    terms = {
        "pose_3d": losses.masked_mean(
            losses.pose_3d_loss(out["pose_3d"], batch["pose_3d"]), joint_mask
        )
    }
    total = weights.pose_3d * terms["pose_3d"]
    if "intrinsics" in out:
        terms["camera"] = losses.masked_mean(
            losses.camera_loss(
                out["intrinsics"], out["translation"], batch["intrinsics"], batch["translation"]
            ),
            sample_mask,
        )
        terms["reprojection"] = losses.masked_mean(
            losses.reprojection_loss(
                out["pose_3d"], out["translation"], out["intrinsics"], batch["keypoints_2d_gt"]
            ),
            valid,
        )
        total = total + weights.camera * terms["camera"]
        total = total + weights.reprojection * terms["reprojection"]
    if use_refiner_loss and "refined" in out:
        terms["refine"] = losses.masked_mean(
            losses.refinement_loss(out["refined"], batch["keypoints_2d_gt"], batch["confidence"]),
            valid,
        )
        total = total + weights.refine * terms["refine"]
    return total, terms


# Which network a pose-loss term is reported under (`train/<net>/<loss>`): the 3D term is the
# lifter's, the camera and reprojection terms the camera branch's, Eq. 4 the refiner's; the
# weighted sums (Eq. 16 / 17) go under the lifter.
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
}


def _named(net: str | None, terms: Mapping[str, jax.Array]) -> dict[str, jax.Array]:
    """`train/<net>/<term>`; net None: each pose term under its network (_TERM_NET)."""
    return {f"train/{net or _TERM_NET[k]}/{k}": v for k, v in terms.items()}


# --------------------------------------------------------------------------------- factories


def make_refiner_step(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    *,
    use_2d_only: bool = False,
):
    """Stage 1: the refiner alone, Eq. 4 against the ground-truth 2D of the paired batch
    (and of the 2D-only batch with `use_2d_only`)."""
    refiner = modules["refiner"]

    def step(state: TrainState, batch: Batch, rng: jax.Array):
        (key,) = _keys(rng, state.step, 1)
        parts = [batch["paired"]] + ([batch["wild"]] if use_2d_only else [])
        data = _concat(*[{k: p[k] for k in _2D_KEYS} for p in parts])

        def loss_fn(params):
            refined, stats = apply_net(
                refiner,
                state.nets["refiner"],
                params["refiner"],
                data["keypoints_2d"],
                losses.normalize_confidence(data["confidence"]),
                train=True,
                rng=key,
            )
            loss = losses.masked_mean(
                losses.refinement_loss(refined, data["keypoints_2d_gt"], data["confidence"]),
                data["valid"],
            )
            return loss, ({"refiner": stats}, {"train/refiner/refine": loss})

        nets, metrics = update_networks(state.nets, ("refiner",), loss_fn, txs)
        return state.replace(step=state.step + 1, nets=nets), metrics

    return step


_2D_KEYS = ("keypoints_2d", "confidence", "keypoints_2d_gt", "valid")


def make_supervised_step(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    *,
    weights: LossWeights = LossWeights(),
    train_refiner: bool = False,
):
    """The lifter (+ camera branch when `modules` has one, + refiner with `train_refiner`) on
    real pairs: Eq. 9 (lifter only) or Eq. 10/16."""
    forward = _Pose2DTo3D(modules)
    names = tuple(
        n
        for n in ("refiner", "lifter", "camera")
        if n in modules and (n != "refiner" or train_refiner)
    )

    def step(state: TrainState, batch: Batch, rng: jax.Array):
        (key,) = _keys(rng, state.step, 1)
        paired = batch["paired"]
        ones = jnp.ones(paired["pose_3d"].shape[:1], jnp.float32)

        def loss_fn(params):
            new_stats: dict[str, Any] = {}
            out = forward(
                state.nets,
                params,
                paired["keypoints_2d"],
                paired["confidence"],
                train=True,
                rng=key,
                new_stats=new_stats,
            )
            loss, terms = _paired_losses(out, paired, ones, weights, use_refiner_loss=train_refiner)
            return loss, (new_stats, _named(None, terms | {"total": loss}))

        nets, metrics = update_networks(state.nets, names, loss_fn, txs)
        return state.replace(step=state.step + 1, nets=nets), metrics

    return step


def make_gan_step(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    skeleton: Skeleton,
    *,
    weights: LossWeights = LossWeights(),
    gan: GanSettings = GanSettings(),
    train_on_fakes: bool = True,
    use_2d_only: bool = True,
    feedback: bool = True,
    train_refiner: bool = True,
    wild_nets: tuple[str, ...] = ("refiner", "lifter", "camera"),
    stage_start: int = 0,
    stage_steps: int = 1,
):
    """One end-to-end iteration (paper §4.3), or the warm-up / PoseAug variants of it.

    modules: needs 'lifter', 'generator', 'disc_3d', 'disc_2d'; 'refiner' and 'camera'
      optional (absent = not part of the model, e.g. PoseAug has no camera branch).
    train_on_fakes: step 3 also trains on the generator's augmented pairs (else real only,
      the warm-up setting).
    use_2d_only: run step 4 on `batch['wild']` and let the 2D discriminator see its
      reprojections as fakes (needs a camera branch).
    feedback: PoseAug's feedback (hardness) loss for the generator, lifter frozen in train
      mode (its BN statistics are NOT updated by these passes, unlike PoseAug's side effect).
    train_refiner: whether the refiner is updated in steps 3-4 (else frozen, inference mode).
    wild_nets: networks step 4 updates (of those present).
    stage_start, stage_steps: the stage's first global step and length; the BA hardness
      target grows linearly over the stage (PoseAug: 3 -> 5 over the epochs).
    """
    for required in ("lifter", "generator", "disc_3d", "disc_2d"):
        if required not in modules:
            raise ValueError(f"make_gan_step needs a {required!r} module; got {sorted(modules)}")
    if use_2d_only and "camera" not in modules:
        raise ValueError("2D-only training (Eq. 17) needs the camera branch")
    has_refiner = "refiner" in modules
    train_refiner = train_refiner and has_refiner
    forward = _Pose2DTo3D(modules)
    pose_names = tuple(
        n
        for n in ("refiner", "lifter", "camera")
        if n in modules and (n != "refiner" or train_refiner)
    )
    wild_names = tuple(n for n in pose_names if n in wild_nets)

    def step(state: TrainState, batch: Batch, rng: jax.Array):
        k_gen, k_fb, k_pool, k_dwild, k_pose, k_wild = _keys(rng, state.step, 6)
        nets = state.nets
        paired = batch["paired"]
        b = paired["pose_3d"].shape[0]
        intr = paired["intrinsics"]
        real_abs = paired["pose_3d"] + paired["translation"][:, None, :]
        metrics: dict[str, jax.Array] = {}

        # 1. Generator.
        progress = jnp.clip((state.step - stage_start) / max(stage_steps, 1), 0.0, 1.0)
        hard_ba = gan.hard_ba_start + (gan.hard_ba_end - gan.hard_ba_start) * progress

        def g_loss(params):
            out, g_stats = apply_net(
                modules["generator"],
                nets["generator"],
                params["generator"],
                real_abs,
                train=True,
                rng=k_gen,
            )
            x_rt = geometry.project(out.rt, intr)
            d3 = modules["disc_3d"].apply({"params": nets["disc_3d"].params}, out.ba, train=False)
            d2 = modules["disc_2d"].apply({"params": nets["disc_2d"].params}, x_rt, train=False)
            adv_3d = losses.masked_mean(losses.lsgan_generator_loss(d3))
            adv_2d = losses.masked_mean(losses.lsgan_generator_loss(d2))
            ba_range = losses.masked_mean(
                losses.diff_range_loss(
                    jnp.mean(out.ba_diff, axis=-1),
                    center=gan.ba_range_center,
                    radius=gan.ba_range_radius,
                )
            )
            bl_range = losses.masked_mean(
                losses.rectified_l2(out.bl_ratios, threshold=gan.bl_range)
            )
            total = gan.adv_3d * adv_3d + gan.adv_2d * adv_2d + gan.range * (ba_range + bl_range)
            terms = {"adv_3d": adv_3d, "adv_2d": adv_2d, "ba_range": ba_range, "bl_range": bl_range}
            if feedback:
                x_orig = geometry.project(real_abs, intr)
                x_ba = geometry.project(out.ba, intr)
                inputs = jnp.concatenate([x_orig, x_ba, x_rt], axis=0)
                # Frozen lifter in train mode (BN batch statistics, dropout), as PoseAug.
                pred, _ = apply_net(
                    modules["lifter"],
                    nets["lifter"],
                    nets["lifter"].params,
                    inputs,
                    train=True,
                    rng=k_fb,
                    update_stats=False,
                )
                p_orig, p_ba, p_rt = pred[:b], pred[b : 2 * b], pred[2 * b :]
                t_orig = geometry.root_relative(real_abs)
                fb_ba = losses.masked_mean(
                    losses.feedback_hardness_loss(
                        p_ba,
                        geometry.root_relative(out.ba),
                        p_orig,
                        t_orig,
                        skeleton,
                        center=hard_ba,
                        radius=gan.hard_ba_radius,
                    )
                )
                fb_rt = losses.masked_mean(
                    losses.feedback_hardness_loss(
                        p_rt,
                        geometry.root_relative(out.rt),
                        p_orig,
                        t_orig,
                        skeleton,
                        center=gan.hard_rt_center,
                        radius=gan.hard_rt_radius,
                    )
                )
                total = total + gan.feedback_ba * fb_ba + gan.feedback_rt * fb_rt
                terms |= {"feedback_ba": fb_ba, "feedback_rt": fb_rt}
            terms["total"] = total
            return total, {
                "batch_stats": {"generator": g_stats},
                "metrics": terms,
                "outputs": (out, x_rt),
            }

        nets, g_metrics, (gen_out, x_rt) = _update(nets, ("generator",), g_loss, txs)
        metrics |= _named("generator", g_metrics)
        gen_out = jax.lax.stop_gradient(gen_out)
        x_rt = jax.lax.stop_gradient(x_rt)

        # 2. Discriminators (the generator's pre-update fakes, through the pool).
        pool, fake_3d, fake_2d = pool_query(state.pool, gen_out.ba, x_rt, k_pool)
        real_2d = paired["keypoints_2d_gt"]
        real_2d_mask = jnp.all(paired["valid"] > 0, axis=-1).astype(jnp.float32)
        fake_2d_mask = jnp.ones((fake_2d.shape[0],), jnp.float32)
        if use_2d_only:
            wild = batch["wild"]
            wild_out = forward(
                nets,
                {},
                wild["keypoints_2d"],
                wild["confidence"],
                train=False,
                rng=k_dwild,
                new_stats={},
            )
            wild_reproj = jax.lax.stop_gradient(
                geometry.project(
                    wild_out["pose_3d"] + wild_out["translation"][:, None, :],
                    wild_out["intrinsics"],
                )
            )
            real_2d = jnp.concatenate([real_2d, wild["keypoints_2d_gt"]], axis=0)
            wild_full = jnp.all(wild["valid"] > 0, axis=-1).astype(jnp.float32)
            real_2d_mask = jnp.concatenate([real_2d_mask, wild_full])
            fake_2d = jnp.concatenate([fake_2d, wild_reproj], axis=0)
            fake_2d_mask = jnp.concatenate([fake_2d_mask, wild_full])

        def d_loss(params):
            d3_real = modules["disc_3d"].apply(
                {"params": params["disc_3d"]}, paired["pose_3d"], train=True
            )
            d3_fake = modules["disc_3d"].apply({"params": params["disc_3d"]}, fake_3d, train=True)
            r3, f3 = losses.lsgan_discriminator_loss(d3_real, d3_fake)
            d2_real = modules["disc_2d"].apply({"params": params["disc_2d"]}, real_2d, train=True)
            d2_fake = modules["disc_2d"].apply({"params": params["disc_2d"]}, fake_2d, train=True)
            r2, f2 = losses.lsgan_discriminator_loss(d2_real, d2_fake)
            l3 = losses.masked_mean(r3) + losses.masked_mean(f3)
            l2 = losses.masked_mean(r2, real_2d_mask[:, None]) + losses.masked_mean(
                f2, fake_2d_mask[:, None]
            )
            return l3 + l2, {"batch_stats": {}, "metrics": {"disc_3d": l3, "disc_2d": l2}}

        nets, d_metrics, _ = _update(nets, ("disc_3d", "disc_2d"), d_loss, txs)
        metrics["train/disc_3d/lsgan"] = d_metrics["disc_3d"]
        metrics["train/disc_2d/lsgan"] = d_metrics["disc_2d"]

        # 3. Refiner/lifter/camera on real (+ augmented) pairs, Eq. 16.
        data = {k: paired[k] for k in _PAIRED_KEYS}
        mask = jnp.ones((b,), jnp.float32)
        if train_on_fakes:
            aug_rel = geometry.root_relative(gen_out.rt)
            ok = jnp.all(jnp.abs(x_rt) <= gan.max_aug_coord, axis=(-2, -1)) & jnp.all(
                gen_out.rt[..., 2] > gan.min_aug_depth, axis=-1
            )
            ok = ok & jnp.all(jnp.isfinite(x_rt), axis=(-2, -1))
            aug = {
                "keypoints_2d": x_rt,
                "confidence": jnp.ones_like(paired["confidence"]),
                "keypoints_2d_gt": x_rt,
                "valid": jnp.ones_like(paired["valid"]),
                "pose_3d": aug_rel,
                "translation": gen_out.rt[:, 0, :],
                "intrinsics": intr,
            }
            # An unusable fake (out of view, behind the camera) is replaced by its real source
            # pair with weight 0: the row still feeds BatchNorm realistic statistics.
            aug = {k: jnp.where(_sample_mask(ok, v.ndim), v, data[k]) for k, v in aug.items()}
            data = _concat(data, aug)
            mask = jnp.concatenate([mask, ok.astype(jnp.float32)])
            metrics["train/generator/usable_fraction"] = jnp.mean(ok.astype(jnp.float32))

        def pose_loss(params):
            new_stats: dict[str, Any] = {}
            out = forward(
                nets,
                params,
                data["keypoints_2d"],
                data["confidence"],
                train=True,
                rng=k_pose,
                new_stats=new_stats,
            )
            loss, terms = _paired_losses(out, data, mask, weights, use_refiner_loss=train_refiner)
            terms["total"] = loss
            return loss, {"batch_stats": new_stats, "metrics": terms}

        nets, p_metrics, _ = _update(nets, pose_names, pose_loss, txs)
        metrics |= _named(None, p_metrics)

        # 4. 2D-only batch, Eq. 17 + the 2D discriminator's judgement of the reprojection.
        if use_2d_only and wild_names:
            wild = batch["wild"]

            def wild_loss(params):
                new_stats: dict[str, Any] = {}
                out = forward(
                    nets,
                    params,
                    wild["keypoints_2d"],
                    wild["confidence"],
                    train=True,
                    rng=k_wild,
                    new_stats=new_stats,
                )
                x_cam = out["pose_3d"] + out["translation"][:, None, :]
                reproj = geometry.project(x_cam, out["intrinsics"])
                l2d = losses.masked_mean(
                    losses.reprojection_loss(
                        out["pose_3d"],
                        out["translation"],
                        out["intrinsics"],
                        wild["keypoints_2d_gt"],
                    ),
                    wild["valid"],
                )
                d2 = modules["disc_2d"].apply(
                    {"params": nets["disc_2d"].params}, reproj, train=False
                )
                adv = losses.masked_mean(losses.lsgan_generator_loss(d2))
                total = weights.reprojection_2d_only * l2d + weights.adversarial_2d_only * adv
                terms = {"reprojection_2d_only": l2d, "adversarial_2d_only": adv}
                if train_refiner and "refiner" in wild_names:
                    lref = losses.masked_mean(
                        losses.refinement_loss(
                            out["refined"], wild["keypoints_2d_gt"], wild["confidence"]
                        ),
                        wild["valid"],
                    )
                    total = total + weights.refine_2d_only * lref
                    terms["refine_2d_only"] = lref
                terms["total_2d_only"] = total
                return total, {"batch_stats": new_stats, "metrics": terms}

            nets, w_metrics, _ = _update(nets, wild_names, wild_loss, txs)
            metrics |= _named(None, w_metrics)

        return state.replace(step=state.step + 1, nets=nets, pool=pool), metrics

    return step


_PAIRED_KEYS = (
    "keypoints_2d",
    "confidence",
    "keypoints_2d_gt",
    "valid",
    "pose_3d",
    "translation",
    "intrinsics",
)


def _update(nets, names, loss_fn, txs):
    """`update_networks` with a dict aux: {'batch_stats', 'metrics', optional 'outputs'}."""

    def wrapped(params):
        loss, aux = loss_fn(params)
        return loss, (aux["batch_stats"], (aux["metrics"], aux.get("outputs")))

    new_nets, (metrics, outputs) = update_networks(nets, names, wrapped, txs)
    return new_nets, metrics, outputs


# --------------------------------------------------------------------------------- compile


def jit_step(step, mesh: jax.sharding.Mesh | None = None, *, compiler_options=None):
    """Compile `step(state, batch, seed_key)` once: state donated and replicated, batch
    sharded over 'data' (no mesh: plain jit on the default device). compiler_options go to
    XLA (e.g. `{'xla_backend_optimization_level': 0}` halves CPU compile time in tests)."""
    if mesh is None:
        return jax.jit(step, donate_argnums=(0,), compiler_options=compiler_options)
    from cpose_jax.train.parallel import data_sharding, replicated

    rep, dat = replicated(mesh), data_sharding(mesh)
    return jax.jit(
        step,
        in_shardings=(rep, dat, rep),
        out_shardings=(rep, rep),
        donate_argnums=(0,),
        compiler_options=compiler_options,
    )
