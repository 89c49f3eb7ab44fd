"""Pure train steps: `step(state, batch, seed_key) -> (state, metrics)`, built by factories.

Every step draws its randomness from `fold_in(seed_key, state.step)` (so a resumed run draws
the same numbers), updates networks only through `optim.update_networks` (one call per network
group, each network with its own optax state; the losses are the named objectives of
`train.objectives`, each returning `(loss, optim.Aux)`) and returns scalar metrics named
`train/<net>/<loss>`. Modules, optimizers and
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
     reprojections of the 2D-only batch (Eq. 12-15), every `gan.disc_every`-th iteration
     (a `lax.cond`: the skipped iterations do not compute them);
  3. refiner/lifter/camera on real + augmented pairs (Eq. 16);
  4. (optional) refiner/lifter/camera on the 2D-only batch (Eq. 17) including the 2D
     discriminator's judgement of the reprojection.
  Options select the warm-up stage (no 2D-only data, lifter on real pairs only), the end-to-end
  stage and the PoseAug baseline (no camera, no 2D-only data); with `single_update`, 3 and 4
  are one forward and one update per pose network on all their rows together.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from cpose_jax import diagnostics, geometry
from cpose_jax.data.pipeline import PAIRED_KEYS, UNPAIRED_KEYS
from cpose_jax.forward import pose_forward
from cpose_jax.models import GAN_NETS, POSE_NETS
from cpose_jax.skeleton import Skeleton
from cpose_jax.train import objectives
from cpose_jax.train.objectives import GanSettings, LossWeights
from cpose_jax.train.optim import update_networks
from cpose_jax.train.pool import pool_query
from cpose_jax.train.state import TrainState

Batch = Mapping[str, Mapping[str, jax.Array]]
DISCRIMINATORS = ("disc_3d", "disc_2d")  # updated together, in step 2
_WEIGHTS, _GAN = LossWeights(), GanSettings()  # the defaults (paper §4.3, PoseAug)

__all__ = [
    "GanSettings",
    "LossWeights",
    "jit_step",
    "make_gan_step",
    "make_refiner_step",
    "make_supervised_step",
]


def _keys(rng: jax.Array, step: jax.Array, n: int) -> list[jax.Array]:
    return list(jax.random.split(jax.random.fold_in(rng, step), n))


def _concat(*trees):
    return jax.tree_util.tree_map(lambda *xs: jnp.concatenate(xs, axis=0), *trees)


def _pose_names(modules: Mapping[str, Any], train_refiner: bool) -> tuple[str, ...]:
    return tuple(n for n in POSE_NETS if n in modules and (n != "refiner" or train_refiner))


# --------------------------------------------------------------------------------- factories


def make_refiner_step(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    *,
    use_2d_only: bool = False,
):
    """Stage 1: the refiner alone, Eq. 4 against the ground-truth 2D of the paired batch
    (and of the 2D-only batch with `use_2d_only`)."""

    def step(state: TrainState, batch: Batch, rng: jax.Array):
        (key,) = _keys(rng, state.step, 1)
        parts = [batch["paired"]] + ([batch["wild"]] if use_2d_only else [])
        data = _concat(*[{k: p[k] for k in UNPAIRED_KEYS} for p in parts])
        loss = functools.partial(
            objectives.refiner_objective, modules=modules, nets=state.nets, data=data, rng=key
        )
        nets, aux = update_networks(state.nets, ("refiner",), loss, txs)
        return state.replace(step=state.step + 1, nets=nets), aux.metrics

    return step


def make_supervised_step(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    *,
    weights: LossWeights = _WEIGHTS,
    train_refiner: bool = False,
):
    """The lifter (+ camera branch when `modules` has one, + refiner with `train_refiner`) on
    real pairs: Eq. 9 (lifter only) or Eq. 10/16."""
    names = _pose_names(modules, train_refiner)

    def step(state: TrainState, batch: Batch, rng: jax.Array):
        (key,) = _keys(rng, state.step, 1)
        paired = batch["paired"]
        loss = functools.partial(
            objectives.paired_objective,
            modules=modules,
            nets=state.nets,
            data=paired,
            sample_mask=jnp.ones(paired["pose_3d"].shape[:1], jnp.float32),
            weights=weights,
            rng=key,
            use_refiner_loss=train_refiner,
        )
        nets, aux = update_networks(state.nets, names, loss, txs)
        return state.replace(step=state.step + 1, nets=nets), aux.metrics

    return step


def make_gan_step(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    skeleton: Skeleton,
    *,
    weights: LossWeights = _WEIGHTS,
    gan: GanSettings = _GAN,
    train_on_fakes: bool = True,
    use_2d_only: bool = True,
    feedback: bool = True,
    train_refiner: bool = True,
    wild_nets: Collection[str] = POSE_NETS,
    stage_start: int = 0,
    stage_steps: int = 1,
    single_update: bool = False,
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
      target grows linearly over the stage (PoseAug: 3 -> 5 over the epochs), and the
      discriminators update at the stage's iterations 0, k, 2k, ... (k = `gan.disc_every`;
      their optimizer count is then ceil(iterations / k): `optim.every_k_schedule` keeps
      their lr schedule on the iteration clock; skipped iterations report the D metrics as 0
      with `train/disc_*/updated` 0, run iterations with it 1).
    single_update: steps 3 and 4 as ONE forward and ONE optax update of each pose network:
      real pairs, usable augmented pairs and the 2D-only batch in one BatchNorm batch, each
      loss term masked to its rows (`objectives.iteration_pose_objective`), so every network's
      optimizer count equals the iteration count (with separate steps 3 and 4 the pose
      networks take two updates per iteration and their lr schedules run at double speed).
      Needs `wild_nets` to include every trained pose network.

    Metrics also include the fake statistics of `cpose_jax.diagnostics` (the RT fakes against
    the real 2D of the paired batch) as `train/generator/fake_<statistic>`.
    """
    for required in ("lifter", *GAN_NETS):
        if required not in modules:
            raise ValueError(f"make_gan_step needs a {required!r} module; got {sorted(modules)}")
    if not (isinstance(gan.disc_every, int) and gan.disc_every >= 1):
        raise ValueError(f"gan.disc_every must be an integer >= 1, got {gan.disc_every!r}")
    if use_2d_only and "camera" not in modules:
        raise ValueError("2D-only training (Eq. 17) needs the camera branch")
    train_refiner = train_refiner and "refiner" in modules
    pose_names = _pose_names(modules, train_refiner)
    pose_modules = {n: modules[n] for n in POSE_NETS if n in modules}
    wild_names = tuple(n for n in pose_names if n in wild_nets)
    if single_update and use_2d_only and wild_names != pose_names:
        raise ValueError(
            f"single_update trains {pose_names} on the 2D-only rows too; wild_nets={wild_nets}"
        )

    def step(state: TrainState, batch: Batch, rng: jax.Array):
        k_gen, k_fb, k_pool, k_dwild, k_pose, k_wild = _keys(rng, state.step, 6)
        nets = state.nets
        paired = batch["paired"]
        b = paired["pose_3d"].shape[0]
        metrics: dict[str, jax.Array] = {}

        # 1. Generator.
        progress = jnp.clip((state.step - stage_start) / max(stage_steps, 1), 0.0, 1.0)
        g_loss = functools.partial(
            objectives.generator_objective,
            modules=modules,
            nets=nets,
            real_abs=geometry.join_root(paired["pose_3d"], paired["translation"]),
            intrinsics=paired["intrinsics"],
            skeleton=skeleton,
            gan=gan,
            hard_ba=gan.hard_ba_start + (gan.hard_ba_end - gan.hard_ba_start) * progress,
            feedback=feedback,
            rng=k_gen,
            feedback_rng=k_fb,
        )
        nets, aux = update_networks(nets, ("generator",), g_loss, txs)
        metrics |= aux.metrics
        fakes, x_rt = jax.lax.stop_gradient(aux.outputs)
        stats = diagnostics.fake_statistics(
            fakes.rt,
            x_rt,
            paired["keypoints_2d_gt"],
            skeleton,
            real_mask=jnp.all(paired["valid"] > 0, axis=-1),
        )
        metrics |= {f"train/generator/fake_{k}": v for k, v in stats.items()}

        # 2. Discriminators: real poses vs. the generator's pre-update fakes (through the
        # pool) and, with 2D-only data, the reprojections of the 2D-only batch; every
        # `gan.disc_every`-th iteration of the stage (PoseAug: 2). The pool takes the fakes
        # every iteration.
        pool, fake_3d, fake_2d = pool_query(state.pool, fakes.ba, x_rt, k_pool)

        def update_discriminators(discs):
            wild = None
            if use_2d_only:
                reproj = _reproject(pose_modules, nets, batch["wild"], k_dwild)
                wild = dict(batch["wild"], reprojection=reproj)
            real_2d, real_2d_mask, fake_2d_all, fake_2d_mask = _disc_2d_data(paired, fake_2d, wild)
            d_loss = functools.partial(
                objectives.discriminator_objective,
                modules=modules,
                real_3d=paired["pose_3d"],
                fake_3d=fake_3d,
                real_2d=real_2d,
                fake_2d=fake_2d_all,
                real_2d_mask=real_2d_mask,
                fake_2d_mask=fake_2d_mask,
            )
            new, aux = update_networks({**nets, **discs}, DISCRIMINATORS, d_loss, txs)
            return {n: new[n] for n in DISCRIMINATORS}, dict(aux.metrics)

        discs = {n: nets[n] for n in DISCRIMINATORS}
        if gan.disc_every == 1:
            discs, d_metrics = update_discriminators(discs)
        else:
            discs, d_metrics = _every(
                (state.step - stage_start) % gan.disc_every == 0,
                update_discriminators,
                discs,
                updated=[f"train/{n}/updated" for n in DISCRIMINATORS],
            )
        nets = {**nets, **discs}
        metrics |= d_metrics

        # 3. Refiner/lifter/camera on real (+ usable augmented) pairs, Eq. 16.
        data = {k: paired[k] for k in PAIRED_KEYS}
        mask = jnp.ones((b,), jnp.float32)
        if train_on_fakes:
            data, mask, usable = _with_augmented(data, fakes.rt, x_rt, paired, gan)
            metrics["train/generator/usable_fraction"] = usable
        # Eq. 8 on the augmented rows weighted by camera_fakes (0 = real pairs only).
        camera_mask = mask
        if train_on_fakes and weights.camera_fakes != 1.0:
            fake_rows = jnp.arange(mask.shape[0]) >= b
            camera_mask = mask * jnp.where(fake_rows, weights.camera_fakes, 1.0)
        wild_mask, n_wild = None, None
        if single_update and use_2d_only:
            # 3+4 in one forward and one update (see the docstring).
            data, mask, wild_mask = _with_2d_only(data, mask, batch["wild"])
            n_wild = wild_mask.shape[0] - camera_mask.shape[0]
            camera_mask = jnp.concatenate([camera_mask, jnp.zeros((n_wild,), jnp.float32)])
        p_loss = functools.partial(
            objectives.iteration_pose_objective,
            modules=modules,
            nets=nets,
            data=data,
            paired_mask=mask,
            wild_mask=wild_mask,
            camera_mask=camera_mask,
            wild_rows=n_wild,
            weights=weights,
            rng=k_pose,
            use_refiner_loss=train_refiner,
            skeleton=skeleton,
        )
        nets, aux = update_networks(nets, pose_names, p_loss, txs)
        metrics |= aux.metrics
        if single_update:
            return state.replace(step=state.step + 1, nets=nets, pool=pool), metrics

        # 4. 2D-only batch, Eq. 17 + the 2D discriminator's judgement of the reprojection.
        if use_2d_only and wild_names:
            w_loss = functools.partial(
                objectives.two_d_only_objective,
                modules=modules,
                nets=nets,
                wild=batch["wild"],
                weights=weights,
                rng=k_wild,
                use_refiner_loss=train_refiner and "refiner" in wild_names,
                skeleton=skeleton,
                ref_3d=data["pose_3d"],  # the step-3 pairs (real + usable augmented)
                ref_mask=mask,
            )
            nets, aux = update_networks(nets, wild_names, w_loss, txs)
            metrics |= aux.metrics

        return state.replace(step=state.step + 1, nets=nets, pool=pool), metrics

    return step


def _every(due: jax.Array, update, nets, *, updated: Collection[str]):
    """`update(nets) -> (nets, metrics)` where `due` (a traced bool), else `nets` unchanged
    and every metric 0, in a `lax.cond` (one branch runs: the skipped work is not done). The
    metrics named `updated` are 1.0 where the update ran, 0.0 where not: the training loop
    averages a network's other metrics over its updated iterations only."""
    _, shapes = jax.eval_shape(update, nets)

    def run(nets):
        new, metrics = update(nets)
        return new, metrics | {k: jnp.float32(1.0) for k in updated}

    def skip(nets):
        zeros = {k: jnp.zeros(v.shape, v.dtype) for k, v in shapes.items()}
        return nets, zeros | {k: jnp.float32(0.0) for k in updated}

    return jax.lax.cond(due, run, skip, nets)


def _reproject(pose_modules, nets, wild, rng) -> jax.Array:
    """The current pose networks' reprojection (inference mode, no gradient) of a 2D-only
    batch: the fakes the 2D discriminator learns to reject."""
    out, _ = pose_forward(
        pose_modules,
        objectives.variables(nets, {}, pose_modules),
        wild["keypoints_2d"],
        wild["confidence"],
        rng=rng,
    )
    reproj = geometry.reproject(out["pose_3d"], out["translation"], out["intrinsics"])
    return jax.lax.stop_gradient(reproj)


def _disc_2d_data(paired, fake_2d, wild=None):
    """(real 2D, its (B,) mask, fake 2D, its mask) for the 2D discriminator: the paired batch's
    labels (rows with every joint labelled) vs. the pooled fakes and, with `wild` (a 2D-only
    batch plus its 'reprojection'), its labels vs. its reprojections."""
    real_2d = paired["keypoints_2d_gt"]
    real_2d_mask = jnp.all(paired["valid"] > 0, axis=-1).astype(jnp.float32)
    fake_2d_mask = jnp.ones((fake_2d.shape[0],), jnp.float32)
    if wild is not None:
        wild_full = jnp.all(wild["valid"] > 0, axis=-1).astype(jnp.float32)
        real_2d = jnp.concatenate([real_2d, wild["keypoints_2d_gt"]], axis=0)
        real_2d_mask = jnp.concatenate([real_2d_mask, wild_full])
        fake_2d = jnp.concatenate([fake_2d, wild["reprojection"]], axis=0)
        fake_2d_mask = jnp.concatenate([fake_2d_mask, wild_full])
    return real_2d, real_2d_mask, fake_2d, fake_2d_mask


def _with_augmented(data, fake_abs, fake_2d, paired, gan: GanSettings):
    """Real pairs followed by the generator's augmented pairs `fake_abs (B, J, 3)` (camera
    frame, projected to `fake_2d`), and the `(2B,)` sample mask. An unusable fake (out of view,
    behind the camera, non-finite) is replaced by its real source pair with weight 0: the row
    still feeds BatchNorm realistic statistics. Also returns the usable fraction."""
    aug_rel, aug_root = geometry.split_root(fake_abs)
    ok = jnp.all(jnp.abs(fake_2d) <= gan.max_aug_coord, axis=(-2, -1)) & jnp.all(
        fake_abs[..., 2] > gan.min_aug_depth, axis=-1
    )
    ok = ok & jnp.all(jnp.isfinite(fake_2d), axis=(-2, -1))
    aug = {
        "keypoints_2d": fake_2d,
        "confidence": jnp.ones_like(paired["confidence"]),
        "keypoints_2d_gt": fake_2d,
        "valid": jnp.ones_like(paired["valid"]),
        "pose_3d": aug_rel,
        "translation": aug_root,
        "intrinsics": paired["intrinsics"],
    }
    aug = {
        k: jnp.where(ok.reshape(ok.shape + (1,) * (v.ndim - 1)), v, data[k]) for k, v in aug.items()
    }
    mask = jnp.concatenate([jnp.ones((len(ok),), jnp.float32), ok.astype(jnp.float32)])
    return _concat(data, aug), mask, jnp.mean(ok.astype(jnp.float32))


def _with_2d_only(data, paired_mask, wild):
    """The pair rows `data (B, ...)` followed by the 2D-only batch `wild (B', ...)` (its
    missing pair keys filled with zeros, masked out), the `(B + B',)` pair mask and the
    `(B + B',)` 2D-only mask."""
    n = wild["keypoints_2d"].shape[0]
    filled = {
        k: wild[k] if k in wild else jnp.zeros((n, *v.shape[1:]), v.dtype) for k, v in data.items()
    }
    zeros_w, zeros_p = jnp.zeros((n,), jnp.float32), jnp.zeros_like(paired_mask)
    wild_mask = jnp.concatenate([zeros_p, jnp.ones((n,), jnp.float32)])
    return _concat(data, filled), jnp.concatenate([paired_mask, zeros_w]), wild_mask


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
