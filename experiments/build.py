"""Everything built from a config, in ONE place: networks, optimizers, state, steps, stages.

`experiments.run` calls `build_run(config)`; tests use the same functions with tiny configs.
The library (`cpose_jax`, the recipe in `cpose_jax.train.recipe`) never sees the config: this
module turns it into plain keyword arguments. The data a config names: `experiments.datasets`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

import jax

from cpose_jax import diagnostics, evaluation, inference, metrics, models
from cpose_jax.data import pipeline
from cpose_jax.inference import predict, variables_of
from cpose_jax.skeleton import get_skeleton
from cpose_jax.train import loop, objectives, optim, parallel, recipe, steps
from cpose_jax.train.state import TrainState
from cpose_jax.train.steps import jit_step
from experiments import datasets
from experiments.datasets import ConfigError, stage_names

# ------------------------------------------------------------------------------- networks


def network_names(config) -> tuple[str, ...]:
    """The networks this config's model has."""
    kinds = {config.stages[s].kind for s in stage_names(config)}
    if "refiner" in kinds and not config.model.refiner.enabled:
        raise ConfigError("a 'refiner' stage needs model.refiner.enabled=True")
    return recipe.network_names(
        refiner=config.model.refiner.enabled, camera=config.model.camera.enabled, gan="gan" in kinds
    )


def _module(cls, section, *args):
    """`cls(*args, **kw)` with every key of the config `section` that is a field of `cls`
    (config keys are named like the modules' fields; `enabled`, `kind`... are not fields)."""
    fields = {f.name for f in dataclasses.fields(cls)}
    return cls(*args, **{k: v for k, v in section.items() if k in fields})


def build_modules(config) -> dict[str, Any]:
    """flax modules by network name (architecture only)."""
    j, m, skel = get_skeleton(config.skeleton).num_joints, config.model, config.skeleton
    lifter_cls = {"martinez": models.MartinezLifter, "videopose": models.VideoPose3DLifter}
    if m.lifter.kind not in lifter_cls:
        raise ConfigError(f"model.lifter.kind must be martinez|videopose, got {m.lifter.kind!r}")
    if m.lifter.get("input_norm", "none") not in models.lifter.INPUT_NORMS:
        raise ConfigError(
            f"model.lifter.input_norm must be one of {models.lifter.INPUT_NORMS}, "
            f"got {m.lifter.input_norm!r}"
        )
    if m.generator.translation not in models.generator.TRANSLATIONS:
        raise ConfigError(
            f"model.generator.translation must be one of {models.generator.TRANSLATIONS}, "
            f"got {m.generator.translation!r}"
        )
    build = {
        "refiner": lambda: _module(models.Refiner, m.refiner, j),
        "lifter": lambda: _module(lifter_cls[m.lifter.kind], m.lifter, j),
        "camera": lambda: _module(models.CameraBranch, m.camera, j),
        "generator": lambda: _module(models.PoseGenerator, m.generator, skel),
        "disc_3d": lambda: _module(models.Discriminator3D, m.disc_3d, skel),
        "disc_2d": lambda: _module(models.Discriminator2D, m.disc_2d, skel),
    }
    return {name: build[name]() for name in network_names(config)}


def model_spec(config) -> dict[str, Any]:
    """The model spec a run saves next to its checkpoints (`cpose_jax.inference.model_spec`):
    what `cpose_jax.inference.load_pose_model` needs to rebuild the pose networks."""
    return inference.model_spec(
        build_modules(config),
        skeleton=config.skeleton,
        input_2d=config.data.input_2d,
        name=config.name,
    )


def stage_steps_per_epoch(config, paired_size: int) -> int:
    """Steps of one (scaled) epoch: `epoch_scale` passes over the 2D-3D set."""
    full = paired_size // config.train.batch_size
    if full < 1:
        raise ConfigError(
            f"the 2D-3D training set has {paired_size} samples, fewer than one batch "
            f"(train.batch_size={config.train.batch_size})"
        )
    return max(1, round(full * config.stages.epoch_scale))


def build_txs(config, stage_name: str, steps_per_epoch: int) -> dict[str, Any]:
    """Every network's optimizer for one stage: lr = stage lr * optim.<net>.lr_scale, step
    decays (x decay_factor) at the stage's decay epochs (decay_kind 'step') or PoseAug's
    per-epoch linear decay ('linear'), gradient clipping, Adam(W). In a GAN stage the
    discriminators' schedules run on the iteration clock (`gan.disc_every`)."""
    st = config.stages[stage_name]
    txs = {}
    if st.decay_kind not in ("step", "linear"):
        raise ConfigError(
            f"stages.{stage_name}.decay_kind must be step|linear, got {st.decay_kind!r}"
        )
    for name in network_names(config):
        o = config.optim[name]
        warmup = round(st.warmup_epochs * steps_per_epoch)
        if st.decay_kind == "linear":
            schedule = optim.linear_decay_schedule(
                st.lr * o.lr_scale,
                steps_per_epoch=steps_per_epoch,
                epochs=int(st.epochs),
                warmup_steps=warmup,
            )
        else:
            schedule = optim.step_decay_schedule(
                st.lr * o.lr_scale,
                boundaries=[int(e) * steps_per_epoch for e in st.decay_epochs],
                factor=st.decay_factor,
                warmup_steps=warmup,
            )
        if st.kind == "gan" and name in steps.DISCRIMINATORS:
            schedule = optim.every_k_schedule(schedule, config.gan.disc_every)
        txs[name] = optim.make_optimizer(
            schedule, clip_norm=o.clip_norm, b1=o.b1, b2=o.b2, weight_decay=o.weight_decay
        )
    return txs


def trained_nets(config, stage_name: str) -> tuple[str, ...]:
    st = config.stages[stage_name]
    return recipe.trained_networks(
        st.kind,
        network_names(config),
        train_refiner=st.train_refiner,
        train_camera=st.train_camera,
    )


def init_state(config, modules: Mapping[str, Any], txs: Mapping[str, Any]) -> TrainState:
    """All networks initialised from `seed`, with (first-stage) optimizer states and the pool."""
    try:
        return recipe.init_train_state(
            modules,
            txs,
            seed=config.seed,
            num_joints=get_skeleton(config.skeleton).num_joints,
            lifter_output_scale=config.model.lifter.output_init_scale,
            pool_size=config.gan.pool_batches * config.train.batch_size,
        )
    except ValueError as e:
        raise ConfigError(f"model.lifter.output_init_scale: {e}") from None


def gan_settings(config) -> objectives.GanSettings:
    names = [f.name for f in dataclasses.fields(objectives.GanSettings)]
    return objectives.GanSettings(**{n: config.gan[n] for n in names})


def loss_weights(config) -> objectives.LossWeights:
    names = [f.name for f in dataclasses.fields(objectives.LossWeights)]
    return objectives.LossWeights(**{n: config.loss_weights[n] for n in names})


def stage_options(config, stage_name: str, *, start: int = 0, steps: int = 1):
    """The `recipe.StageOptions` of one stage: the config's per-stage options, read once."""
    st = config.stages[stage_name]
    try:
        return recipe.StageOptions(
            kind=st.kind,
            trained=trained_nets(config, stage_name),
            train_on_fakes=bool(st.train_on_fakes),
            use_2d_only=bool(st.use_2d_only),
            feedback=bool(st.feedback),
            single_update=bool(st.single_update),
            start=start,
            steps=steps,
        )
    except ValueError as e:
        raise ConfigError(f"stages.{stage_name}: {e}") from None


def build_step(
    config, stage: recipe.StageOptions, modules: Mapping[str, Any], txs: Mapping[str, Any]
) -> Callable:
    """The (un-jitted) step function of one stage (`stage_options`)."""
    return recipe.make_stage_step(
        modules,
        txs,
        stage,
        skeleton=get_skeleton(config.skeleton),
        weights=loss_weights(config),
        gan=gan_settings(config),
    )


# ------------------------------------------------------------------------------------ run


@dataclasses.dataclass
class Run:
    config: Any
    mesh: jax.sharding.Mesh
    modules: dict[str, Any]
    state: TrainState
    stages: list[loop.Stage]
    data: datasets.Data
    predict_fn: Callable  # predict_fn(variables, keypoints_2d, confidence) -> outputs
    validate_fn: Callable | None
    evaluate_fn: Callable  # evaluate_fn(state) -> {set: metrics}


def make_predict(config, modules) -> Callable:
    """`predict_fn(variables, keypoints_2d, confidence)` of this config's model (one object,
    so evaluation compiles once)."""
    skel = get_skeleton(config.skeleton)
    names = tuple(n for n in models.POSE_NETS if n in modules)
    pose_modules = {n: modules[n] for n in names}
    flip = bool(config.eval.flip)

    def predict_fn(variables, keypoints_2d, confidence):
        return predict(variables, pose_modules, keypoints_2d, confidence, skeleton=skel, flip=flip)

    predict_fn.networks = names
    return predict_fn


def build_run(config, *, verbose: bool = False) -> Run:
    """Data, networks, state and stages for `config` on all devices (or train.num_devices)."""
    names = stage_names(config)
    mesh = parallel.make_mesh(config.train.num_devices or None)
    n_dev = mesh.devices.size
    for key in ("train.batch_size", "train.two_d_only_batch_size", "eval.batch_size"):
        section, leaf = key.split(".")
        if config[section][leaf] % n_dev:
            raise ConfigError(f"{key}={config[section][leaf]} is not divisible by {n_dev} devices")
    if config.train.sync_every < 1 or config.train.checkpoint_every < 1:
        raise ConfigError("train.sync_every and train.checkpoint_every must be >= 1")

    data = datasets.load_data(config, verbose=verbose)
    modules = build_modules(config)
    spe = stage_steps_per_epoch(config, len(data.paired["pose_3d"]))

    def loader(arrays, batch_size, seed):
        return pipeline.Loader(
            arrays,
            global_batch_size=batch_size,
            seed=seed,
            process_index=jax.process_index(),
            process_count=jax.process_count(),
        )

    coverage_fn = _coverage_fn(config, modules, data)
    stages: list[loop.Stage] = []
    start = 0
    for si, name in enumerate(names):
        st = config.stages[name]
        txs = build_txs(config, name, spe)
        n_steps = st.epochs * spe
        options = stage_options(config, name, start=start, steps=n_steps)
        step = build_step(config, options, modules, txs)
        seed = config.seed * 100 + si
        paired = loader(
            {k: data.paired[k] for k in pipeline.PAIRED_KEYS}, config.train.batch_size, seed
        )
        two = None
        if options.use_2d_only:
            two = loader(data.two_d_only, config.train.two_d_only_batch_size, seed + 50)
        stages.append(
            loop.Stage(
                name=name,
                epochs=st.epochs,
                steps_per_epoch=spe,
                step_fn=jit_step(step, mesh),
                batch_fn=recipe.make_batch_fn(paired, two, mesh),
                txs=txs,
                reset_nets=options.trained,
                validate=bool(st.validate) and st.kind != "refiner" and data.val is not None,
                epoch_fn=coverage_fn if st.kind == "gan" else None,
            )
        )
        start += n_steps

    state = parallel.replicate(init_state(config, modules, stages[0].txs), mesh)
    predict_fn = make_predict(config, modules)
    validate_fn, evaluate_fn = _evaluators(config, mesh, predict_fn, data)
    return Run(config, mesh, modules, state, stages, data, predict_fn, validate_fn, evaluate_fn)


def _coverage_fn(config, modules, data: datasets.Data) -> Callable | None:
    """The GAN stages' `loop.Stage.epoch_fn`: every `train.coverage_every` epochs, the
    coverage of the generator's fakes beyond a fixed sample of the 2D-3D training poses
    (`steps.make_coverage_fn`). None when that is 0, or without a generator or the 17-joint
    skeleton the coverage metric compares."""
    every = config.train.coverage_every
    if not every or "generator" not in modules or get_skeleton(config.skeleton).num_joints != 17:
        return None
    p = data.paired
    sample = diagnostics.coverage_sample(
        p["pose_3d"] + p["translation"][:, None, :], p["intrinsics"], seed=config.seed
    )
    coverage = steps.make_coverage_fn(
        modules["generator"], sample, gan=gan_settings(config), seed=config.seed
    )
    return lambda state, epoch: coverage(state) if epoch % every == 0 else {}


_TRACKED = ("mpjpe", "n_mpjpe", "pa_mpjpe", "log_scale", "pck", "auc")


def _evaluators(config, mesh, predict_fn, data: datasets.Data) -> tuple[Callable | None, Callable]:
    """validate_fn(state) -> {'val/<metric>', 'test/<set>/<metric>'} (None without a
    validation set) and evaluate_fn(state) -> {test set: metrics}, data-parallel."""
    pck_joints = metrics.joint_preset("3dhp14", get_skeleton(config.skeleton))
    place = parallel.placement(mesh, config.eval.batch_size)

    def evaluate_set(state, arrays, pck: bool):
        return evaluation.evaluate_arrays(
            predict_fn,
            variables_of(state, predict_fn.networks),
            arrays,
            batch_size=config.eval.batch_size,
            joints=pck_joints if pck else None,
            pck=pck,
            place_fn=place,
            fetch_fn=parallel.to_host,
        )

    def evaluate_fn(state):
        return {n: evaluate_set(state, a, n in data.pck_sets) for n, a in data.tests.items()}

    if data.val is None:
        return None, evaluate_fn
    head = lambda arrays, n: {k: v[:n] for k, v in arrays.items()} if n else arrays
    tracked = {"val": (head(data.val, config.eval.val_max_samples), False)}
    # Optionally the test sets too (first N samples each), so a report can compare the model
    # selected on validation with the best epoch per test set (an oracle).
    if config.eval.test_samples_each_epoch:
        n = config.eval.test_samples_each_epoch
        tracked |= {f"test/{t}": (head(a, n), t in data.pck_sets) for t, a in data.tests.items()}

    def validate_fn(state):
        out = {}
        for prefix, (arrays, pck) in tracked.items():
            res = evaluate_set(state, arrays, pck)
            out.update({f"{prefix}/{k}": res[k] for k in _TRACKED if k in res})
        return out

    return validate_fn, evaluate_fn
