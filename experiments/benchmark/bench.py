"""The shared setup of a benchmark run (`Bench`: config, mesh, data, modules, initial state,
batches) and the programs it times, built as training builds them."""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax.data import pipeline
from cpose_jax.models.discriminator import skipped_kernel_size
from cpose_jax.train import parallel, recipe, steps
from experiments import build, datasets
from experiments.benchmark.flops import kernel_size

KINDS = ("refiner", "supervised", "warmup", "end_to_end", "gan_only")
# Stage names looked up for each kind (first found in config.stages), then any of that kind.
_STAGE_FOR_KIND = {
    "refiner": (("refiner",), "refiner"),
    "supervised": (("pretrain", "supervised"), "supervised"),
    "warmup": (("warmup",), "gan"),
    "end_to_end": (("end_to_end",), "gan"),
}


def find_stage(config, kind: str) -> str | None:
    """The stage a step kind is benchmarked with: of the stages that run, the first named as
    the kind's usual stage, else the first of its stage kind; None if none runs."""
    names, stage_kind = _STAGE_FOR_KIND[kind]
    run = build.stage_names(config)  # a stage's settings may exist outside stages.order
    for n in names:
        if n in run and config.stages[n].kind == stage_kind:
            return n
    for n in run:
        if config.stages[n].kind == stage_kind:
            return n
    return None


def step_options(config, stage: str, modules: Mapping[str, Any]) -> dict[str, Any]:
    """The networks and options of a stage's real step (`build.stage_options` and
    `recipe.stage_modules`, as `build.build_step` uses them), for the analytic pass tables."""
    st = build.stage_options(config, stage)
    gan = build.gan_settings(config)
    return {
        "nets": set(recipe.stage_modules(st, modules)),
        "trained": set(st.trained),
        "feedback": st.feedback,
        "use_2d_only": st.use_2d_only,
        "train_on_fakes": st.train_on_fakes,
        "single_update": st.single_update,
        "disc_every": gan.disc_every if st.kind == "gan" else 1,
        "feedback_batches": gan.feedback_batches,
    }


def with_overrides(config, overrides: Mapping[str, Any]):
    """A copy of `config` with the dotted keys of `overrides` set."""
    cfg = config.copy_and_resolve_references()
    for key, value in overrides.items():
        *parents, leaf = key.split(".")
        node = cfg
        for part in parents:
            node = node[part]
        node[leaf] = value
    return cfg


@dataclasses.dataclass(frozen=True)
class StackedLoader:
    """K consecutive batches of `loader` per step, stacked on axis 1: the rows stay the
    leading axis, so the stack is placed and sharded as one training batch is."""

    loader: pipeline.Loader
    k: int

    @property
    def global_batch_size(self) -> int:
        return self.loader.global_batch_size

    def at_step(self, step: int) -> dict[str, np.ndarray]:
        batches = [self.loader.at_step(step * self.k + j) for j in range(self.k)]
        return {key: np.stack([b[key] for b in batches], axis=1) for key in batches[0]}


def fuse_steps(step: Callable, k: int) -> Callable:
    """K steps in one program: `lax.scan` over K batches stacked on axis 1 (`StackedLoader`);
    metrics of the last step."""

    def fused(state, batches, rng):
        def body(s, batch):
            return step(s, batch, rng)

        steps_first = jax.tree_util.tree_map(lambda x: jnp.swapaxes(x, 0, 1), batches)
        state, metrics = jax.lax.scan(body, state, steps_first)
        return state, jax.tree_util.tree_map(lambda x: x[-1], metrics)

    return fused


def part_step(step: Callable, nets: tuple[str, ...], *, with_pool: bool) -> Callable:
    """The step with only `nets` (and the pool) as outputs: XLA drops the rest."""

    def part(state, batch, rng):
        new, _ = step(state, batch, rng)
        out = {n: new.nets[n] for n in nets}
        return (out, new.pool) if with_pool else (out, None)

    return part


def jit_part(fn: Callable, mesh) -> Any:
    """`part_step` jitted with the train step's shardings, the state not donated (every call
    reads the same state)."""
    rep, dat = parallel.replicated(mesh), parallel.data_sharding(mesh)
    return jax.jit(fn, in_shardings=(rep, dat, rep), out_shardings=rep)


class Bench:
    """Shared setup: config, mesh, data, modules, initial state (host copy), batches."""

    def __init__(
        self,
        config,
        *,
        devices: int | None,
        steps_per_call: int,
        verbose: bool,
        compiler_options: Mapping[str, Any] | None = None,
    ):
        self.config = config
        self.compiler_options = dict(compiler_options or {})
        self.mesh = parallel.make_mesh(devices or None)
        self.k = steps_per_call
        self.verbose = verbose
        n_dev = self.mesh.devices.size
        self.b = config.train.batch_size
        self.bw = config.train.two_d_only_batch_size
        for name, v in (("batch size", self.b), ("2D-only batch size", self.bw)):
            if v % n_dev:
                raise ValueError(f"{name} {v} is not divisible by {n_dev} devices")
        t0 = time.perf_counter()
        self.data = datasets.load_data(config)
        self.data_seconds = time.perf_counter() - t0
        self.modules = build.build_modules(config)
        self.spe = build.stage_steps_per_epoch(config, len(self.data.paired["pose_3d"]))
        first = build.stage_names(config)[0]
        txs = build.build_txs(config, first, self.spe)
        self.host_state = jax.device_get(build.init_state(config, self.modules, txs))
        self.kernels = {  # multiply-adds per sample of one forward pass
            n: kernel_size(net.params) - skipped_kernel_size(self.modules[n])
            for n, net in self.host_state.nets.items()
        }
        self.paired_loader = pipeline.Loader(
            {k: self.data.paired[k] for k in pipeline.PAIRED_KEYS},
            global_batch_size=self.b,
            seed=1,
        )
        self.wild_loader = None
        if self.data.two_d_only is not None:
            self.wild_loader = pipeline.Loader(
                self.data.two_d_only, global_batch_size=self.bw, seed=2
            )
        self.seed_key = parallel.replicate(jax.random.key(0), self.mesh)
        self.compiled: dict[str, Any] = {}  # name -> AOT-compiled executable
        self.calls: dict[str, Callable[[], Any]] = {}  # name -> one timed call
        self.settle: dict[str, float] = {}  # name -> untimed pause after its call group
        self.max_other_cpu = 0.1  # load guard: see timing.time_interleaved
        self.rounds: dict[str, list[dict[str, Any]]] = {}  # timing pass -> its rounds
        self.results: dict[str, Any] = {}
        self.matmul: dict[str, Any] = {}
        self.best: dict[str, Any] = {}  # best_matmul of the main rounds

    def log(self, msg: str) -> None:
        if self.verbose:
            print(msg, file=sys.stderr, flush=True)

    # ---- batches
    def host_batch(self, i: int, *, wild: bool) -> dict[str, dict[str, np.ndarray]]:
        """The host arrays of step i's batch (the gather alone, before placement)."""
        batch = {"paired": self.paired_loader.at_step(i)}
        if wild:
            batch["wild"] = self.wild_loader.at_step(i)
        return batch

    def batch_fn(self, *, wild: bool, fused: bool = False) -> Callable[[int], dict]:
        """Training's `batch_fn(step)` over this run's loaders: the batch gathered and placed
        on the mesh; `fused`: `self.k` batches per call (`StackedLoader`) for `fuse_steps`."""
        paired, two = self.paired_loader, self.wild_loader if wild else None
        if fused and self.k > 1:
            paired = StackedLoader(paired, self.k)
            two = None if two is None else StackedLoader(two, self.k)
        return recipe.make_batch_fn(paired, two, self.mesh)

    def fresh_state(self, state=None):
        return parallel.replicate(self.host_state if state is None else state, self.mesh)

    def step_fn(self, stage: str, config=None) -> Callable:
        config = config or self.config
        txs = build.build_txs(config, stage, self.spe)
        modules = self.modules if config is self.config else build.build_modules(config)
        options = build.stage_options(config, stage, start=0, steps=1000)
        return build.build_step(config, options, modules, txs)

    def jit_timed(self, step: Callable) -> Callable:
        """The jitted program the timings call: one step as training jits it
        (`steps.jit_step`), or `self.k` steps fused into one program (`--steps-per-call`)."""
        return steps.jit_step(step if self.k == 1 else fuse_steps(step, self.k), self.mesh)
