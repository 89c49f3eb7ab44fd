"""Everything built from a config, in ONE place: networks, optimizers, data, state, stages.

`experiments.run` calls `build_run(config, workdir)`; tests use the same functions with tiny
configs. The library (`cpose_jax`) never sees the config: this module turns it into plain
keyword arguments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from cpose_jax import evaluation, metrics, models
from cpose_jax.data import pipeline, schema, synthetic
from cpose_jax.predict import predict, variables_of
from cpose_jax.skeleton import get_skeleton
from cpose_jax.train import loop, optim, parallel, steps
from cpose_jax.train.state import TrainState, init_net_state, init_pool

GAN_NETS = ("generator", "disc_3d", "disc_2d")


class ConfigError(ValueError):
    """A config value that cannot work; the message says which key and why."""


# ------------------------------------------------------------------------------- networks


def stage_names(config) -> list[str]:
    names = [s.strip() for s in config.stages.order.split(",") if s.strip()]
    for name in names:
        if name not in config.stages or not isinstance(
            config.stages[name], ml_collections.ConfigDict
        ):
            raise ConfigError(f"stages.order names unknown stage {name!r}")
        kind = config.stages[name].kind
        if kind not in ("refiner", "supervised", "gan"):
            raise ConfigError(f"stages.{name}.kind must be refiner|supervised|gan, got {kind!r}")
    if not names:
        raise ConfigError("stages.order is empty")
    return names


def network_names(config) -> tuple[str, ...]:
    """The networks this config's model has."""
    kinds = {config.stages[s].kind for s in stage_names(config)}
    names = []
    if config.model.refiner.enabled:
        names.append("refiner")
    names.append("lifter")
    if config.model.camera.enabled:
        names.append("camera")
    if "gan" in kinds:
        names.extend(GAN_NETS)
    if "refiner" in kinds and not config.model.refiner.enabled:
        raise ConfigError("a 'refiner' stage needs model.refiner.enabled=True")
    return tuple(names)


def build_modules(config) -> dict[str, Any]:
    """flax modules by network name (architecture only)."""
    skel = get_skeleton(config.skeleton)
    j = skel.num_joints
    m = config.model
    out: dict[str, Any] = {}
    names = network_names(config)
    if "refiner" in names:
        out["refiner"] = models.Refiner(
            j,
            features=m.refiner.features,
            num_blocks=m.refiner.num_blocks,
            dropout=m.refiner.dropout,
        )
    lifter_cls = {"martinez": models.MartinezLifter, "videopose": models.VideoPose3DLifter}
    if m.lifter.kind not in lifter_cls:
        raise ConfigError(f"model.lifter.kind must be martinez|videopose, got {m.lifter.kind!r}")
    input_norm = m.lifter.get("input_norm", "none")  # absent from checkpoints before it existed
    if input_norm not in models.lifter.INPUT_NORMS:
        raise ConfigError(
            f"model.lifter.input_norm must be one of {models.lifter.INPUT_NORMS}, "
            f"got {input_norm!r}"
        )
    out["lifter"] = lifter_cls[m.lifter.kind](
        j,
        features=m.lifter.features,
        num_blocks=m.lifter.num_blocks,
        dropout=m.lifter.dropout,
        input_norm=input_norm,
    )
    if "camera" in names:
        out["camera"] = models.CameraBranch(
            j,
            features=m.camera.features,
            num_blocks=m.camera.num_blocks,
            dropout=m.camera.dropout,
            focal_prior=m.camera.focal_prior,
            depth_prior=m.camera.depth_prior,
            log_range=m.camera.log_range,
            root_ray=m.camera.root_ray,
        )
    if "generator" in names:
        g = m.generator
        out["generator"] = models.PoseGenerator(
            config.skeleton,
            features=g.features,
            num_blocks=g.num_blocks,
            noise_dim=g.noise_dim,
            bl_limit=g.bl_limit,
            depth_prior=g.depth_prior,
            depth_log_range=g.depth_log_range,
            view_limit=g.view_limit,
        )
        out["disc_3d"] = models.Discriminator3D(
            config.skeleton, features=m.disc_3d.features, mid_features=m.disc_3d.mid_features
        )
        out["disc_2d"] = models.Discriminator2D(
            config.skeleton,
            input_kind=m.disc_2d.input_kind,
            features=m.disc_2d.features,
            mid_features=m.disc_2d.mid_features,
        )
    return out


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
    decays (x decay_factor) at the stage's decay epochs, gradient clipping, Adam(W)."""
    st = config.stages[stage_name]
    txs = {}
    for name in network_names(config):
        o = config.optim[name]
        schedule = optim.step_decay_schedule(
            st.lr * o.lr_scale,
            boundaries=[int(e) * steps_per_epoch for e in st.decay_epochs],
            factor=st.decay_factor,
            warmup_steps=round(st.warmup_epochs * steps_per_epoch),
        )
        txs[name] = optim.make_optimizer(
            schedule, clip_norm=o.clip_norm, b1=o.b1, b2=o.b2, weight_decay=o.weight_decay
        )
    return txs


def trained_nets(config, stage_name: str) -> tuple[str, ...]:
    st = config.stages[stage_name]
    names = network_names(config)
    if st.kind == "refiner":
        return ("refiner",)
    out = []
    if "refiner" in names and st.train_refiner:
        out.append("refiner")
    out.append("lifter")
    if "camera" in names and (st.kind == "gan" or st.train_camera):
        out.append("camera")
    if st.kind == "gan":
        out.extend(GAN_NETS)
    return tuple(out)


def init_state(config, modules: Mapping[str, Any], txs: Mapping[str, Any]) -> TrainState:
    """All networks initialised from `seed`, with (first-stage) optimizer states and the pool."""
    skel = get_skeleton(config.skeleton)
    j = skel.num_joints
    key = jax.random.key(config.seed)
    x2 = jnp.zeros((2, j, 2), jnp.float32)
    conf = jnp.ones((2, j), jnp.float32)
    # A plausible example pose (a vertical chain 5 m in front) for initialising the generator.
    x3 = jnp.zeros((2, j, 3), jnp.float32).at[..., 1].set(-0.1 * jnp.arange(j)).at[..., 2].add(5)
    args = {
        "refiner": (x2, conf),
        "lifter": (x2,),
        "camera": (x2,),
        "generator": (x3,),
        "disc_3d": (x3,),
        "disc_2d": (x2,),
    }
    nets = {}
    for i, (name, module) in enumerate(sorted(modules.items())):
        nets[name] = init_net_state(
            module, txs[name], jax.random.fold_in(key, 1000 + i), *args[name]
        )
    nets = _scale_lifter_output(nets, config.model.lifter.output_init_scale, txs)
    pool = None
    if "generator" in modules:
        pool = init_pool(config.gan.pool_batches * config.train.batch_size, j)
    return TrainState(step=jnp.zeros((), jnp.int32), nets=nets, pool=pool)


def _scale_lifter_output(nets, scale: float, txs):
    """Shrink the lifter's last layer at init (workaround, see configs_common: the models'
    Kaiming-initialised output layer predicts joints metres away from the root, and the
    reprojection loss of such poses is ~1e5 and swamps every other term for hundreds of steps).
    """
    if scale == 1.0 or "lifter" not in nets:
        return nets
    params = nets["lifter"].params
    if "out" not in params:
        raise ConfigError("model.lifter.output_init_scale needs a lifter layer named 'out'")
    out = jax.tree_util.tree_map(lambda x: x * scale, params["out"])
    params = {**params, "out": out}
    net = nets["lifter"].replace(params=params, opt_state=txs["lifter"].init(params))
    return {**nets, "lifter": net}


def gan_settings(config) -> steps.GanSettings:
    names = [f.name for f in dataclasses.fields(steps.GanSettings)]
    return steps.GanSettings(**{n: config.gan[n] for n in names})


def loss_weights(config) -> steps.LossWeights:
    names = [f.name for f in dataclasses.fields(steps.LossWeights)]
    return steps.LossWeights(**{n: config.loss_weights[n] for n in names})


def build_step(
    config,
    stage_name: str,
    modules: Mapping[str, Any],
    txs: Mapping[str, Any],
    *,
    stage_start: int = 0,
    stage_steps: int = 1,
) -> Callable:
    """The (un-jitted) step function of one stage."""
    st = config.stages[stage_name]
    skel = get_skeleton(config.skeleton)
    if st.kind == "refiner":
        return steps.make_refiner_step(modules, txs)
    names = set(trained_nets(config, stage_name))
    mods = {k: v for k, v in modules.items() if k in names or k in ("refiner", "lifter")}
    if "camera" in modules and "camera" in names:
        mods["camera"] = modules["camera"]
    if st.kind == "supervised":
        mods = {k: v for k, v in mods.items() if k not in GAN_NETS}
        return steps.make_supervised_step(
            mods, txs, weights=loss_weights(config), train_refiner="refiner" in names
        )
    return steps.make_gan_step(
        mods,
        txs,
        skel,
        weights=loss_weights(config),
        gan=gan_settings(config),
        train_on_fakes=st.train_on_fakes,
        use_2d_only=st.use_2d_only and "camera" in mods,
        feedback=st.feedback,
        train_refiner="refiner" in names,
        stage_start=stage_start,
        stage_steps=stage_steps,
    )


# ------------------------------------------------------------------------------------ data


@dataclasses.dataclass
class Data:
    paired: dict[str, np.ndarray]
    two_d_only: dict[str, np.ndarray] | None
    val: dict[str, np.ndarray] | None
    tests: dict[str, dict[str, np.ndarray]]
    pck_sets: tuple[str, ...]
    sources: dict[str, str]


def _load(path: str | Path, input_2d: str) -> dict[str, np.ndarray]:
    return pipeline.to_model_space(schema.load_dataset(path), input_2d=input_2d)


def needs_two_d_only(config) -> bool:
    return (
        any(
            config.stages[s].kind == "gan" and config.stages[s].use_2d_only
            for s in stage_names(config)
        )
        and config.model.camera.enabled
    )


def synthetic_world(config, *, verbose: bool = False) -> dict[str, Path]:
    """{split: path} of the synthetic world `config.data.synthetic` describes (generated once,
    then read from the cache; training, evaluation and inference all call this)."""
    s = config.data.synthetic
    sizes = {k: max(1, round(v * s.scale)) for k, v in synthetic.DEFAULT_SIZES.items()}
    world = synthetic.make_world(
        s.seed,
        sizes=sizes,
        cache_dir=s.cache_dir or None,
        wild_rare_fraction=s.rare_fraction,
        verbose=verbose,
    )
    return {k: Path(v) for k, v in world.items()}


def load_data(config, *, verbose: bool = False) -> Data:
    d = config.data
    if d.source not in ("synthetic", "files"):
        raise ConfigError(f"data.source must be synthetic|files, got {d.source!r}")
    if d.input_2d not in pipeline.INPUT_2D:
        raise ConfigError(f"data.input_2d must be one of {pipeline.INPUT_2D}, got {d.input_2d!r}")
    paths: dict[str, str] = {}
    tests: dict[str, str] = {}
    if d.source == "synthetic":
        world = synthetic_world(config, verbose=verbose)
        paths = {
            "paired": str(world["lab_train"]),
            "two_d_only": str(world["wild_2d"]),
            "val": str(world["lab_val"]),
        }
        tests = {s: str(world[s]) for s in synthetic.TEST_SPLITS}
    for role in ("paired", "two_d_only", "val"):
        if d[role]:
            paths[role] = d[role]
    if d.tests:
        tests = {}
        for item in d.tests.split(","):
            if "=" not in item:
                raise ConfigError(f"data.tests items must be name=path, got {item!r}")
            name, path = item.split("=", 1)
            tests[name.strip()] = path.strip()
    if "paired" not in paths:
        raise ConfigError("data.paired (a prepared 2D-3D .npz) is required with data.source=files")
    if needs_two_d_only(config) and "two_d_only" not in paths:
        raise ConfigError("a stage uses 2D-only data (use_2d_only) but data.two_d_only is empty")
    inp = d.input_2d
    paired = _load(paths["paired"], inp)
    for key in pipeline.PAIRED_KEYS:
        if key not in paired:
            raise ConfigError(f"{paths['paired']}: the 2D-3D training set lacks {key!r}")
    two = _load(paths["two_d_only"], inp) if needs_two_d_only(config) else None
    if two is not None:
        two = {k: two[k] for k in pipeline.UNPAIRED_KEYS}
    val = _load(paths["val"], inp) if "val" in paths else None
    test_arrays = {name: _load(p, inp) for name, p in tests.items()}
    pck = tuple(s.strip() for s in d.pck_sets.split(",") if s.strip())
    return Data(
        paired,
        two,
        val,
        test_arrays,
        pck,
        dict(paths, **{f"test:{k}": v for k, v in tests.items()}),
    )


# ------------------------------------------------------------------------------------ run


@dataclasses.dataclass
class Run:
    config: Any
    mesh: jax.sharding.Mesh
    modules: dict[str, Any]
    state: TrainState
    stages: list[loop.Stage]
    data: Data
    predict_fn: Callable  # predict_fn(variables, keypoints_2d, confidence) -> outputs
    validate_fn: Callable | None
    evaluate_fn: Callable  # evaluate_fn(state) -> {set: metrics}


def make_predict(config, modules) -> Callable:
    """`predict_fn(variables, keypoints_2d, confidence)` of this config's model (one object,
    so evaluation compiles once)."""
    skel = get_skeleton(config.skeleton)
    names = tuple(n for n in ("refiner", "lifter", "camera") if n in modules)
    pose_modules = {n: modules[n] for n in names}
    flip = bool(config.eval.flip)

    def predict_fn(variables, keypoints_2d, confidence):
        return predict(variables, pose_modules, keypoints_2d, confidence, skeleton=skel, flip=flip)

    predict_fn.networks = names
    return predict_fn


def _eval_placement(mesh, batch_size):
    def place(batch):
        rows = parallel.process_rows(batch_size, mesh)
        return parallel.global_batch_from_local(
            {k: v[rows] for k, v in batch.items()}, mesh, batch_size
        )

    return place


def build_run(config, *, verbose: bool = False) -> Run:
    """Data, networks, state and stages for `config` on all devices (or train.num_devices)."""
    names = stage_names(config)
    skel = get_skeleton(config.skeleton)
    mesh = parallel.make_mesh(config.train.num_devices or None)
    n_dev = mesh.devices.size
    for key in ("batch_size", "two_d_only_batch_size"):
        if config.train[key] % n_dev:
            raise ConfigError(
                f"train.{key}={config.train[key]} is not divisible by {n_dev} devices"
            )
    if config.eval.batch_size % n_dev:
        raise ConfigError(f"eval.batch_size={config.eval.batch_size} not divisible by {n_dev}")
    if config.train.sync_every < 1 or config.train.checkpoint_every < 1:
        raise ConfigError("train.sync_every and train.checkpoint_every must be >= 1")

    data = load_data(config, verbose=verbose)
    modules = build_modules(config)
    spe = stage_steps_per_epoch(config, len(data.paired["pose_3d"]))
    pc, pi = jax.process_count(), jax.process_index()

    def loader(arrays, batch_size, seed):
        return pipeline.Loader(
            arrays, global_batch_size=batch_size, seed=seed, process_index=pi, process_count=pc
        )

    stages: list[loop.Stage] = []
    start = 0
    first_txs = None
    for si, name in enumerate(names):
        st = config.stages[name]
        txs = build_txs(config, name, spe)
        first_txs = first_txs or txs
        n_steps = st.epochs * spe
        step_fn = steps.jit_step(
            build_step(config, name, modules, txs, stage_start=start, stage_steps=n_steps), mesh
        )
        seed = config.seed * 100 + si
        paired = loader(
            {k: data.paired[k] for k in pipeline.PAIRED_KEYS}, config.train.batch_size, seed
        )
        two = None
        if st.kind == "gan" and st.use_2d_only and data.two_d_only is not None:
            two = loader(data.two_d_only, config.train.two_d_only_batch_size, seed + 50)

        def batch_fn(local, paired=paired, two=two):
            batch = {
                "paired": parallel.global_batch_from_local(
                    paired.at_step(local), mesh, paired.global_batch_size
                )
            }
            if two is not None:
                batch["wild"] = parallel.global_batch_from_local(
                    two.at_step(local), mesh, two.global_batch_size
                )
            return batch

        stages.append(
            loop.Stage(
                name=name,
                epochs=st.epochs,
                steps_per_epoch=spe,
                step_fn=step_fn,
                batch_fn=batch_fn,
                txs=txs,
                reset_nets=trained_nets(config, name),
                validate=bool(st.validate) and st.kind != "refiner" and data.val is not None,
            )
        )
        start += n_steps

    state = parallel.replicate(init_state(config, modules, first_txs), mesh)
    predict_fn = make_predict(config, modules)
    place = _eval_placement(mesh, config.eval.batch_size)
    fetch = parallel.to_host
    pck_joints = metrics.joint_preset("3dhp14", skel)

    def evaluate_set(state, arrays, pck: bool):
        return evaluation.evaluate_arrays(
            predict_fn,
            variables_of(state, predict_fn.networks),
            arrays,
            batch_size=config.eval.batch_size,
            joints=pck_joints if pck else None,
            pck=pck,
            place_fn=place,
            fetch_fn=fetch,
        )

    validate_fn = None
    if data.val is not None:
        val = data.val
        if config.eval.val_max_samples:
            val = {k: v[: config.eval.val_max_samples] for k, v in val.items()}

        # Optionally the test sets too (first N samples each), so a report can compare the
        # model selected on validation with the best epoch per test set (an oracle).
        n_test = config.eval.test_samples_each_epoch
        tracked = {"val": (val, False)}
        if n_test:
            for name, arrays in data.tests.items():
                sub = {k: v[:n_test] for k, v in arrays.items()}
                tracked[f"test/{name}"] = (sub, name in data.pck_sets)
        keys = ("mpjpe", "n_mpjpe", "pa_mpjpe", "log_scale", "pck", "auc")

        def validate_fn(state):
            out = {}
            for prefix, (arrays, pck) in tracked.items():
                res = evaluate_set(state, arrays, pck)
                out.update({f"{prefix}/{k}": res[k] for k in keys if k in res})
            return out

    def evaluate_fn(state):
        return {
            name: evaluate_set(state, arrays, name in data.pck_sets)
            for name, arrays in data.tests.items()
        }

    return Run(config, mesh, modules, state, stages, data, predict_fn, validate_fn, evaluate_fn)
