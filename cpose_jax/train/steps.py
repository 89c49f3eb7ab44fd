"""Pure train steps: `step(state, batch, seed_key) -> (state, metrics)`, built by factories.

Every step draws its randomness from `fold_in(seed_key, state.step)` (so a resumed run draws
the same numbers), updates networks only through `optim.update_networks` (one call per network
group, each network with its own optax state; the losses are the named objectives of
`train.objectives`, each returning `(loss, optim.Aux)`) and returns scalar metrics named
`train/<net>/<loss>`. Modules, optimizers, loss weights and the stage's options
(`recipe.StageOptions`) are closed over; `jit_step` compiles a step once with the state
donated and the batch sharded over the `('data',)` mesh.

Batches are dicts of model-space arrays (`cpose_jax.data.pipeline`): `{"paired": {...}}`
(2D-3D pairs, ϕ) and, for a GAN stage on 2D-only data, `{"wild": {...}}` (2D-only, ϕ').

Step kinds:
- `make_refiner_step`: stage 1, the refiner alone (Eq. 4).
- `make_supervised_step`: the lifter (and optionally the camera branch) on real pairs (Eq. 9 /
  Eq. 10); the `supervised` baseline.
- `make_gan_step`: one iteration of paper §4.3 in ONE program, the updates in this order:
  1. `update_generator`: LS-GAN terms against both discriminators, PoseAug's range losses and
     (optionally) its feedback loss with the lifter frozen;
  2. `update_discriminators`: real poses vs. pooled fakes and, with 2D-only data, the
     reprojections of the 2D-only batch (Eq. 12-15), every `gan.disc_every`-th iteration;
  3. `update_pose_networks`: refiner/lifter/camera on real + augmented pairs (Eq. 16) and,
     with 2D-only data, on the 2D-only batch (Eq. 17 + the 2D discriminator's judgement of
     the reprojection), in one update (`single_update`) or a second one.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from cpose_jax import diagnostics, geometry
from cpose_jax.data.pipeline import PAIRED_KEYS, UNPAIRED_KEYS
from cpose_jax.models import GAN_NETS, POSE_NETS
from cpose_jax.skeleton import Skeleton
from cpose_jax.train import objectives, optim, rows
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
    "make_coverage_fn",
    "make_gan_step",
    "make_refiner_step",
    "make_supervised_step",
]


def _keys(rng: jax.Array, step: jax.Array, n: int) -> list[jax.Array]:
    return list(jax.random.split(jax.random.fold_in(rng, step), n))


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
        data = rows.concat(*[{k: p[k] for k in UNPAIRED_KEYS} for p in parts])
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
    stage=None,
):
    """The lifter (+ camera branch when `modules` has one, + the refiner when `stage` (a
    `recipe.StageOptions`) trains it) on real pairs: Eq. 9 (lifter only) or Eq. 10/16."""
    train_refiner = stage is not None and stage.train_refiner and "refiner" in modules
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


class GanSetup(NamedTuple):
    """What every update of a GAN iteration closes over (static under `jit`)."""

    modules: Mapping[str, Any]
    txs: Mapping[str, optax.GradientTransformation]
    skeleton: Skeleton
    stage: Any  # recipe.StageOptions
    weights: LossWeights
    gan: GanSettings
    pose_names: tuple[str, ...]  # the pose networks it trains
    train_refiner: bool


def make_gan_step(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    skeleton: Skeleton,
    stage,
    *,
    weights: LossWeights = _WEIGHTS,
    gan: GanSettings = _GAN,
):
    """One GAN iteration (paper §4.3) of `stage` (a `recipe.StageOptions` of kind 'gan'): the
    warm-up, the end-to-end stage or the PoseAug baseline, by its options.

    modules: needs 'lifter', 'generator', 'disc_3d', 'disc_2d'; 'refiner' and 'camera'
      optional (absent = not part of the model, e.g. PoseAug has no camera branch).

    The discriminators update at the stage's iterations 0, k, 2k, ... (k = `gan.disc_every`;
    `optim.every_k_schedule` keeps their lr schedule on the iteration clock); skipped
    iterations report the D metrics as 0 with `train/disc_*/updated` 0. The generator's
    bone-angle hardness target grows linearly over the stage (PoseAug: 3 -> 5). Metrics also
    include the fake statistics of `cpose_jax.diagnostics` (the RT fakes against the real 2D
    of the paired batch) as `train/generator/fake_<statistic>`.
    """
    for required in ("lifter", *GAN_NETS):
        if required not in modules:
            raise ValueError(f"make_gan_step needs a {required!r} module; got {sorted(modules)}")
    if not (isinstance(gan.disc_every, int) and gan.disc_every >= 1):
        raise ValueError(f"gan.disc_every must be an integer >= 1, got {gan.disc_every!r}")
    if stage.use_2d_only:
        objectives.check_2d_only(modules)
    train_refiner = stage.train_refiner and "refiner" in modules
    pose_names = _pose_names(modules, train_refiner)
    s = GanSetup(modules, txs, skeleton, stage, weights, gan, pose_names, train_refiner)

    def step(state: TrainState, batch: Batch, rng: jax.Array):
        k_gen, k_fb, k_pool, k_dwild, k_pose, k_wild = _keys(rng, state.step, 6)
        paired, wild = batch["paired"], batch["wild"] if stage.use_2d_only else None
        it = state.step - stage.start  # the iteration within the stage
        nets, metrics, (fakes, x_rt) = update_generator(s, state.nets, paired, it, k_gen, k_fb)
        pool, fake_3d, fake_2d = pool_query(state.pool, fakes.ba, x_rt, k_pool)
        nets, d_metrics = update_discriminators(
            s, nets, paired, fake_3d, fake_2d, wild, it, k_dwild
        )
        nets, p_metrics = update_pose_networks(s, nets, paired, fakes, x_rt, wild, k_pose, k_wild)
        new_state = state.replace(step=state.step + 1, nets=nets, pool=pool)
        return new_state, metrics | d_metrics | p_metrics

    return step


def make_coverage_fn(
    generator, sample: diagnostics.CoverageSample, *, gan: GanSettings = _GAN, seed: int = 0
):
    """`coverage_fn(state) -> metrics`, for a GAN stage's epoch ends (`loop.Stage.epoch_fn`):
    the generator's fakes of `sample.sources` (one fixed noise draw, train-mode BatchNorm as in
    the step, its statistics not kept) against `sample.reference`, as
    `train/generator/{coverage_mm, coverage_usable_mm, real_coverage_mm, pose_coverage_mm,
    real_pose_coverage_mm}`
    (`diagnostics.fake_coverage`; usable: `rows.usable_fakes` of the fakes projected like the
    step's). One small jitted forward and a few hundred nearest-neighbour searches on the host,
    outside the training step."""
    sources, intrinsics = jnp.asarray(sample.sources), jnp.asarray(sample.intrinsics)
    key = jax.random.PRNGKey(seed)
    clip = gan.project_clip if gan.project_clip > 0 else None

    @jax.jit
    def fakes(variables):
        out, _ = generator.apply(
            variables, sources, train=True, rngs={"noise": key}, mutable=["batch_stats"]
        )
        fake_2d = geometry.project(out.rt, intrinsics, clip_xy=clip)
        return out.rt, rows.usable_fakes(out.rt, fake_2d, gan)

    def coverage_fn(state: TrainState) -> dict[str, float]:
        rt, ok = jax.device_get(fakes(state.nets["generator"].variables()))
        stats = diagnostics.fake_coverage(rt, sample, usable=ok)
        return {f"train/generator/{k}": v for k, v in stats.items()}

    return coverage_fn


# ------------------------------------------------------------------ the updates of a GAN step


def update_generator(s: GanSetup, nets, paired, it, rng, feedback_rng):
    """Step 1: the generator's update on the paired batch's real poses. Returns (nets,
    metrics, (fakes, their 2D)) with the fakes of the generator before this update."""
    progress = jnp.clip(it / max(s.stage.steps, 1), 0.0, 1.0)
    g_loss = functools.partial(
        objectives.generator_objective,
        modules=s.modules,
        nets=nets,
        real_abs=geometry.join_root(paired["pose_3d"], paired["translation"]),
        intrinsics=paired["intrinsics"],
        skeleton=s.skeleton,
        gan=s.gan,
        hard_ba=s.gan.hard_ba_start + (s.gan.hard_ba_end - s.gan.hard_ba_start) * progress,
        feedback=s.stage.feedback,
        rng=rng,
        feedback_rng=feedback_rng,
    )
    nets, aux = update_networks(nets, ("generator",), g_loss, s.txs)
    fakes, x_rt = jax.lax.stop_gradient(aux.outputs)
    stats = diagnostics.fake_statistics(
        fakes.rt,
        x_rt,
        paired["keypoints_2d_gt"],
        s.skeleton,
        real_mask=jnp.all(paired["valid"] > 0, axis=-1),
    )
    metrics = dict(aux.metrics) | {f"train/generator/fake_{k}": v for k, v in stats.items()}
    return nets, metrics, (fakes, x_rt)


def update_discriminators(s: GanSetup, nets, paired, fake_3d, fake_2d, wild, it, rng):
    """Step 2: both discriminators on real poses vs. the pooled fakes and, with a 2D-only
    batch `wild`, its labels vs. the current pose networks' reprojections of it; every
    `gan.disc_every`-th iteration of the stage (`_every`: the skipped ones compute nothing)."""

    def update(discs):
        wild_fakes, novel_2d, fake_3d_all = None, None, fake_3d
        if wild is not None:
            pose_modules = {n: s.modules[n] for n in POSE_NETS if n in s.modules}
            lifted = rows.lift_2d_only(pose_modules, nets, wild, rng)
            wild_fakes = dict(wild, reprojection=lifted["reprojection"])
            if s.weights.novel_view_2d_only != 0:
                _, novel_2d = objectives.novel_views(
                    lifted["pose_3d"],
                    lifted["translation"],
                    lifted["intrinsics"],
                    jax.random.fold_in(rng, 1),
                    weights=s.weights,
                    skeleton=s.skeleton,
                )
            if s.weights.adversarial_3d_2d_only != 0:
                fake_3d_all = jnp.concatenate([fake_3d, lifted["pose_3d"]], axis=0)
        real_2d, real_2d_mask, fake_2d_all, fake_2d_mask = rows.disc_2d_data(
            paired, fake_2d, wild_fakes, novel_2d
        )
        d_loss = functools.partial(
            objectives.discriminator_objective,
            modules=s.modules,
            real_3d=paired["pose_3d"],
            fake_3d=fake_3d_all,
            real_2d=real_2d,
            fake_2d=fake_2d_all,
            real_2d_mask=real_2d_mask,
            fake_2d_mask=fake_2d_mask,
        )
        new, aux = update_networks({**nets, **discs}, DISCRIMINATORS, d_loss, s.txs)
        return {n: new[n] for n in DISCRIMINATORS}, dict(aux.metrics)

    discs = {n: nets[n] for n in DISCRIMINATORS}
    if s.gan.disc_every == 1:
        discs, metrics = update(discs)
    else:
        discs, metrics = optim.update_every(
            it % s.gan.disc_every == 0,
            update,
            discs,
            updated=[f"train/{n}/updated" for n in DISCRIMINATORS],
        )
    return {**nets, **discs}, metrics


def update_pose_networks(s: GanSetup, nets, paired, fakes, x_rt, wild, rng, wild_rng):
    """Step 3: refiner/lifter/camera on the real (+ usable augmented) pairs, Eq. 16, and with
    a 2D-only batch `wild` Eq. 17: in the same update (`stage.single_update`: one forward
    and one optax update per network on all rows, each term masked to its rows) or in a
    second update on `wild` alone."""
    b = paired["pose_3d"].shape[0]
    metrics = {}
    data = {k: paired[k] for k in PAIRED_KEYS}
    mask = jnp.ones((b,), jnp.float32)
    if s.stage.train_on_fakes:
        data, mask, usable = rows.with_augmented(data, fakes.rt, x_rt, paired, s.gan)
        metrics["train/generator/usable_fraction"] = usable
    # Eq. 8 on the augmented rows weighted by camera_fakes (0 = real pairs only).
    camera_mask = mask
    if s.stage.train_on_fakes and s.weights.camera_fakes != 1.0:
        fake_rows = jnp.arange(mask.shape[0]) >= b
        camera_mask = mask * jnp.where(fake_rows, s.weights.camera_fakes, 1.0)
    single = s.stage.single_update and wild is not None
    ref_3d, ref_mask = data["pose_3d"], mask  # the pairs, for the separate 2D-only update
    wild_mask, n_wild = None, None
    if single:
        data, mask, wild_mask = rows.with_2d_only(data, mask, wild)
        n_wild = wild_mask.shape[0] - camera_mask.shape[0]
        camera_mask = jnp.concatenate([camera_mask, jnp.zeros((n_wild,), jnp.float32)])
    common = dict(
        modules=s.modules, weights=s.weights, use_refiner_loss=s.train_refiner, skeleton=s.skeleton
    )
    p_loss = functools.partial(
        objectives.iteration_pose_objective,
        nets=nets,
        data=data,
        paired_mask=mask,
        wild_mask=wild_mask,
        camera_mask=camera_mask,
        wild_rows=n_wild,
        rng=rng,
        **common,
    )
    nets, aux = update_networks(nets, s.pose_names, p_loss, s.txs)
    metrics |= aux.metrics
    if wild is None or single:
        return nets, metrics
    w_loss = functools.partial(
        objectives.two_d_only_objective,
        nets=nets,
        wild=wild,
        rng=wild_rng,
        ref_3d=ref_3d,
        ref_mask=ref_mask,
        **common,
    )
    nets, aux = update_networks(nets, s.pose_names, w_loss, s.txs)
    return nets, metrics | aux.metrics


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
