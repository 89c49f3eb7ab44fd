"""The training recipe, config-free: which networks a model has and a stage trains, the initial
state, the step of a stage, its batches.

`experiments/build.py` turns a config into the keyword arguments of these functions; tests and
other projects call them directly. Stage kinds (paper §4.3): 'refiner' (stage 1, the refiner
alone), 'supervised' (lifter [+ camera] on 2D-3D pairs: the supervised baseline and an
optional pre-training stage), 'gan' (warm-up and end-to-end iterations with the PoseAug
generator and discriminators).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from cpose_jax.models import GAN_NETS, POSE_NETS
from cpose_jax.skeleton import Skeleton
from cpose_jax.train import parallel, steps
from cpose_jax.train.objectives import GanSettings, LossWeights, check_2d_only
from cpose_jax.train.state import TrainState, init_net_state, init_pool

STAGE_KINDS = ("refiner", "supervised", "gan")
_WEIGHTS, _GAN = LossWeights(), GanSettings()


def network_names(*, refiner: bool, camera: bool, gan: bool) -> tuple[str, ...]:
    """The networks of a model, in `POSE_NETS` then `GAN_NETS` order."""
    names = [n for n in POSE_NETS if n == "lifter" or (refiner if n == "refiner" else camera)]
    return (*names, *(GAN_NETS if gan else ()))


def trained_networks(
    kind: str, present: Collection[str], *, train_refiner: bool, train_camera: bool
) -> tuple[str, ...]:
    """The networks a stage of `kind` updates, of those `present` (a GAN stage always trains
    the camera branch when there is one, and the generator and discriminators)."""
    if kind not in STAGE_KINDS:
        raise ValueError(f"stage kind must be one of {STAGE_KINDS}, got {kind!r}")
    if kind == "refiner":
        return ("refiner",)
    out = ["refiner"] if "refiner" in present and train_refiner else []
    out.append("lifter")
    if "camera" in present and (kind == "gan" or train_camera):
        out.append("camera")
    if kind == "gan":
        out.extend(GAN_NETS)
    return tuple(out)


def init_train_state(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    *,
    seed: int,
    num_joints: int,
    lifter_output_scale: float = 1.0,
    pool_size: int = 0,
) -> TrainState:
    """Every network initialised from `seed` (network i in name order from
    `fold_in(key(seed), 1000 + i)`), with the optimizer states of `txs` and, with a generator,
    an empty fake pool of `pool_size` samples.

    lifter_output_scale: the lifter's last layer (named 'out') is multiplied by this at init
      (0 = start predicting every joint at the root; a Kaiming-initialised output layer puts
      joints metres away, and their reprojection loss of ~1e5 swamps every other term).
    """
    key = jax.random.key(seed)
    j = num_joints
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
    if lifter_output_scale != 1.0 and "lifter" in nets:
        params = nets["lifter"].params
        if "out" not in params:
            raise ValueError("lifter_output_scale needs a lifter layer named 'out'")
        params = {
            **params,
            "out": jax.tree_util.tree_map(lambda x: x * lifter_output_scale, params["out"]),
        }
        nets["lifter"] = nets["lifter"].replace(params=params, opt_state=txs["lifter"].init(params))
    pool = init_pool(pool_size, j) if "generator" in modules else None
    return TrainState(step=jnp.zeros((), jnp.int32), nets=nets, pool=pool)


@dataclasses.dataclass(frozen=True)
class StageOptions:
    """What one training stage runs, in one object (built once from a config by
    `experiments.build.stage_options`; read by `make_stage_step` and the benchmark).

    kind: 'refiner' (stage 1, the refiner alone), 'supervised' (lifter [+ camera] on 2D-3D
      pairs) or 'gan' (warm-up / end-to-end iterations with generator and discriminators).
    trained: the networks the stage updates (`trained_networks`).
    train_on_fakes: a GAN stage's pose networks also train on the generator's augmented pairs
      (else real pairs only: the warm-up).
    use_2d_only: a GAN stage also trains on a 2D-only batch (Eq. 17) and lets the 2D
      discriminator judge its reprojections; needs the camera branch (`check_2d_only`).
    feedback: PoseAug's feedback (hardness) loss for the generator.
    single_update: the pose networks take ONE forward and ONE update per iteration on the real,
      augmented and 2D-only rows together (else Eq. 16, then Eq. 17: two updates).
    start, steps: the stage's first global step and its length (the generator's hardness
      target grows over the stage; the discriminators update on the stage's iteration clock).
    """

    kind: str
    trained: tuple[str, ...]
    train_on_fakes: bool = True
    use_2d_only: bool = False
    feedback: bool = True
    single_update: bool = False
    start: int = 0
    steps: int = 1

    def __post_init__(self):
        if self.kind not in STAGE_KINDS:
            raise ValueError(f"stage kind must be one of {STAGE_KINDS}, got {self.kind!r}")
        if self.use_2d_only:
            if self.kind != "gan":
                raise ValueError(f"only a 'gan' stage trains on 2D-only data, not {self.kind!r}")
            check_2d_only(self.trained)

    @property
    def train_refiner(self) -> bool:
        return "refiner" in self.trained


def stage_modules(stage: StageOptions, modules: Mapping[str, Any]) -> dict[str, Any]:
    """The modules a stage's step runs: those it trains plus the refiner (frozen unless
    trained) and the lifter; never the GAN networks in a supervised stage."""
    if stage.kind == "refiner":
        return {"refiner": modules["refiner"]}
    keep = set(stage.trained) | {"refiner", "lifter"}
    mods = {k: v for k, v in modules.items() if k in keep}
    if stage.kind == "supervised":
        mods = {k: v for k, v in mods.items() if k not in GAN_NETS}
    return mods


def make_stage_step(
    modules: Mapping[str, Any],
    txs: Mapping[str, optax.GradientTransformation],
    stage: StageOptions,
    *,
    skeleton: Skeleton | None = None,
    weights: LossWeights = _WEIGHTS,
    gan: GanSettings = _GAN,
) -> Callable:
    """The (un-jitted) step `step(state, batch, seed_key) -> (state, metrics)` of a stage,
    running `stage_modules(stage, modules)`. skeleton: needed by a 'gan' stage."""
    mods = stage_modules(stage, modules)
    if stage.kind == "refiner":
        return steps.make_refiner_step(mods, txs)
    if stage.kind == "supervised":
        return steps.make_supervised_step(mods, txs, weights=weights, stage=stage)
    if skeleton is None:
        raise ValueError("a 'gan' stage needs the skeleton")
    return steps.make_gan_step(mods, txs, skeleton, stage, weights=weights, gan=gan)


def make_batch_fn(paired: Any, wild: Any | None, mesh: jax.sharding.Mesh) -> Callable[[int], dict]:
    """`batch_fn(local_step) -> {'paired': ..., 'wild'?: ...}`: this process's rows of the
    stage's global batches (`pipeline.Loader.at_step`, a pure function of the step), placed as
    one global array sharded over the mesh's 'data' axis."""

    def batch_fn(local: int) -> dict:
        batch = {
            "paired": parallel.global_batch_from_local(
                paired.at_step(local), mesh, paired.global_batch_size
            )
        }
        if wild is not None:
            batch["wild"] = parallel.global_batch_from_local(
                wild.at_step(local), mesh, wild.global_batch_size
            )
        return batch

    return batch_fn
