"""Training-speed benchmark: every train step kind of a config, the input pipeline, the matmul rate.

    python -m experiments.benchmark [--config=experiments/joint.py[:variants]] [--batch-size N]
        [--devices N] [--steps-per-call K] [--repeats R] [--json out.json] [--breakdown]
        [--variant NAME:KEY=VALUE[,KEY=VALUE] ...] [--config.KEY=VALUE ...]

What it measures, in one process (so every number shares the machine's state):

* **Matmul rate** of the devices: float32 `(M, K) @ (K, N)` jitted, rows sharded over the mesh;
  `layer` = the lifter's hidden layer at batch 1024 (1024 x 1024 by 1024), `layer@B` = the same
  at the config's batch size, `square` = a big square product (`--square`, default 2048).
  The reference for "% of matmul" is `layer` (the issue's target: >= 60 %).
* **Best matmul rate** (the machine's practical roof): the same `layer` and `square` products
  in reference BLAS libraries, timed in the same rounds: numpy's (OpenBLAS in the wheels) and
  torch's (oneDNN/MKL) when torch is importable (it is not a dependency); `best_matmul` is the
  fastest matmul of the run, XLA's included, and "% best" is model FLOP/s over it
  (`--no-reference-blas` times XLA's only). The same per CPU second of this process (all its
  threads: `cpu ms` per step, "% best/cpu"): on a shared machine the wall-clock rates fall
  with the CPU share the process gets, the per-CPU-second ones much less (spinning threads
  count as CPU time, so they are a lower bound of the efficiency).
* **Step kinds** at the config's batch size (`train.batch_size`; 2D-only batch
  `train.two_d_only_batch_size`), each built exactly as training builds it
  (`experiments.build.build_step` + `cpose_jax.train.steps.jit_step`, state donated):
  `refiner` (stage 1), `supervised` (lifter on real pairs, the `pretrain` stage), `warmup`,
  `end_to_end`, and `gan_only`: the generator + discriminator part of the end-to-end iteration
  alone. The step factories do not expose that part, so `gan_only` is the end-to-end step with
  only the G/D networks and the pool as outputs: XLA removes everything they do not depend on
  (steps 3-4 of the iteration). For each: trace+lower and XLA compile time, steps/s, samples/s
  (paired samples, i.e. `batch_size` per step), and FLOP/s three ways:
    - `model` FLOPs: analytic count of the Dense layers, `2 * rows * (sum of kernel sizes)` per
      forward pass (less the first-layer kernel rows a KCS discriminator skips:
      `models.discriminator.skipped_kernel_size`), x3 for a trained pass (forward + input and
      weight gradients), x2 for a frozen network that gradients flow through, x1 for
      inference, x 1/`gan.disc_every` for the discriminator step (run on that share of the
      iterations; pass tables: `_passes`);
    - `jaxpr` FLOPs: every `dot_general` in the traced program (what JAX asked for);
    - `xla` FLOPs: `compiled.cost_analysis()['flops']` (after XLA's simplifications; includes
      element-wise work).
  The "% of matmul" column is model FLOP/s over the `layer` matmul rate.
* `--variant NAME:KEY=VALUE,...`: the end-to-end step of the config with those overrides
  (e.g. `su:stages.end_to_end.single_update=True`, `d2:gan.disc_every=2`), timed as kind
  `e2e:NAME` in the same rounds as the others. With `gan.disc_every` k > 1 the timed calls
  advance the state, so a call group averages D and no-D iterations (groups of >= 2k calls).
* **Input pipeline** (`cpose_jax.data.pipeline.Loader`, as `build_run` uses it): batches/s of
  the host gather alone, gather + placement on the devices (what the training loop does every
  step), and through `pipeline.prefetch` (background thread); the ratio pipeline/step for the
  end-to-end step (target >= 10). Also the end-to-end step *fed* by the synchronous pipeline
  and by the prefetch thread, against pre-placed batches.
* Peak host memory (`ru_maxrss`) of this process.
* `--breakdown`: variants of the end-to-end step (no dropout, no feedback loss, no 2D-only
  batch, no augmented pairs, the pose-network part, other PRNG implementations), timed in
  rounds with the unchanged step, to see where its time goes.
* `--profile DIR`: a `jax.profiler` trace of 3 calls of each kind, summarised as CPU time per
  HLO category (matmul, element-wise, reductions, PRNG, copies, data movement), matmul time
  by output shape, and the top ops.
* `--compile-option KEY=VALUE`: XLA options for every compile (the test uses
  `xla_backend_optimization_level=0` for speed).

Timing: each kind is compiled ahead of time, run twice to warm up, then timed in `--repeats`
interleaved rounds (matmuls and every kind in turn, so drifts in the machine's load hit all of
them alike) of n calls each (n chosen so a call group lasts about `--min-time` seconds); the
reported time is the median round's time per step, and "% of matmul" compares against the
matmul timed in the same rounds. The host syncs every 8 calls as
`cpose_jax.train.loop` does (jax 0.10.2 CPU collectives deadlock with many queued steps).
`--steps-per-call K` fuses K steps in one `lax.scan` over K stacked batches.
Load guard: every round records the share of the machine's CPU that other processes used
during it (from /proc/stat minus this process's CPU time) and the load average; rounds where
others used more than `--max-other-cpu` (default 10 %) are left out of the medians while at
least one quiet round exists, and the table says how many rounds were quiet ("NO QUIET
ROUND" when every round was taken under load: compare variants of the same run, not runs).
No numbers are asserted anywhere: tests only check that the JSON is complete and consistent.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import datetime
import json
import math
import os
import platform
import re
import resource
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from cpose_jax import models
from cpose_jax.data import pipeline
from cpose_jax.models.discriminator import skipped_kernel_size
from cpose_jax.train import parallel, recipe, steps
from experiments import build, datasets
from experiments.configs_common import load_config

KINDS = ("refiner", "supervised", "warmup", "end_to_end", "gan_only")
# Stage names looked up for each kind (first found in config.stages), then any of that kind.
_STAGE_FOR_KIND = {
    "refiner": (("refiner",), "refiner"),
    "supervised": (("pretrain", "supervised"), "supervised"),
    "warmup": (("warmup",), "gan"),
    "end_to_end": (("end_to_end",), "gan"),
}
SYNC_EVERY = 8


# ------------------------------------------------------------------------------------ config


# ------------------------------------------------------------------------------------- FLOPs


def kernel_size(params: Any) -> int:
    """Sum of the sizes of every Dense `kernel` in a flax params tree (= multiply-adds per
    sample of one forward pass through all of them)."""
    total = 0
    for path, leaf in jax.tree_util.tree_flatten_with_path(params)[0]:
        name = getattr(path[-1], "key", None)
        if name == "kernel" and np.ndim(leaf) == 2:
            total += int(np.size(leaf))
    return total


@dataclasses.dataclass(frozen=True)
class Pass:
    """One pass of a network over `rows` samples; `mult` 3 trained, 2 frozen with input
    gradient, 1 inference; `share` the fraction of iterations that run it (the discriminator
    step: 1 / `gan.disc_every`)."""

    net: str
    rows: int
    mult: int
    what: str
    share: float = 1.0


def _passes(kind: str, opts: Mapping[str, Any], b: int, bw: int) -> list[Pass]:
    """The network passes of one step of `kind` (read from cpose_jax.train.steps)."""
    nets = opts["nets"]  # networks present in the step's modules
    trained = opts["trained"]  # networks the step updates
    if kind == "refiner":
        return [Pass("refiner", b, 3, "refiner (Eq. 4)")]
    pose = [n for n in models.POSE_NETS if n in nets]

    def pose_passes(rows: int, what: str, *, inference: bool = False) -> list[Pass]:
        out = []
        for n in pose:
            mult = 1 if inference or n not in trained else 3
            out.append(Pass(n, rows, mult, what))
        return out

    if kind == "supervised":
        return pose_passes(b, "real pairs (Eq. 9/16)")
    # GAN iteration (make_gan_step), steps 1-4.
    out = [
        Pass("generator", b, 3, "1 G"),
        Pass("disc_3d", b, 2, "1 G: D3(fake)"),
        Pass("disc_2d", b, 2, "1 G: D2(fake)"),
    ]
    if opts["feedback"]:
        if opts.get("feedback_batches", "shared") == "separate":
            out.append(Pass("lifter", b, 1, "1 G: feedback lifter, original poses"))
            out.append(Pass("lifter", 2 * b, 2, "1 G: feedback lifter, BA and RT fakes"))
        else:
            out.append(Pass("lifter", 3 * b, 2, "1 G: feedback lifter x3, one batch"))
    wild = opts["use_2d_only"]
    # gan_only's state does not advance: it always times an iteration with the D update.
    share = 1.0 if kind == "gan_only" else 1.0 / opts.get("disc_every", 1)
    disc = []
    if wild:
        disc += pose_passes(bw, "2 D: 2D-only reprojection", inference=True)
    disc.append(Pass("disc_3d", 2 * b, 3, "2 D3 real+fake"))
    disc.append(Pass("disc_2d", 2 * (b + (bw if wild else 0)), 3, "2 D2 real+fake"))
    out += [dataclasses.replace(p, share=share) for p in disc]
    if kind == "gan_only":
        return out
    pairs = b * (2 if opts["train_on_fakes"] else 1)
    if opts.get("single_update") and wild:
        out += pose_passes(pairs + bw, "3+4 pose nets real(+aug)+2D-only, one pass")
        out.append(Pass("disc_2d", bw, 2, "3+4 D2(reprojection of the 2D-only rows)"))
        return out
    out += pose_passes(pairs, "3 pose nets real(+aug)")
    if wild:
        wild_pose = [
            Pass(p.net, p.rows, p.mult, "4 pose nets 2D-only") for p in pose_passes(bw, "")
        ]
        out += wild_pose
        out.append(Pass("disc_2d", bw, 2, "4 D2(reprojection)"))
    return out


def model_flops(passes: list[Pass], kernels: Mapping[str, int]) -> float:
    return float(sum(2.0 * p.rows * kernels[p.net] * p.mult * p.share for p in passes))


def jaxpr_matmul_flops(jaxpr: Any) -> float:
    """FLOPs of every `dot_general` in a (closed) jaxpr, sub-jaxprs included (scan bodies
    times their length, the largest cond branch, while bodies once)."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = 0.0
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            lhs, rhs = (v.aval.shape for v in eqn.invars)
            (_, rc), (_, rb) = eqn.params["dimension_numbers"]
            free_rhs = math.prod(d for i, d in enumerate(rhs) if i not in rc and i not in rb)
            total += 2.0 * math.prod(lhs) * free_rhs
            continue
        subs = []
        for value in eqn.params.values():
            for v in value if isinstance(value, (tuple, list)) else (value,):
                if hasattr(v, "eqns") or hasattr(getattr(v, "jaxpr", None), "eqns"):
                    subs.append(v)
        if not subs:
            continue
        counts = [jaxpr_matmul_flops(s) for s in subs]
        if name == "scan":
            total += eqn.params["length"] * sum(counts)
        elif name == "cond":
            total += max(counts)
        else:
            total += sum(counts)
    return total


def dce_jaxpr(closed: Any, used_outputs: list[bool]) -> Any:
    """The jaxpr with only what `used_outputs` need (JAX internal; None if unavailable)."""
    try:
        from jax._src.interpreters import partial_eval as pe

        jaxpr, _ = pe.dce_jaxpr(closed.jaxpr, used_outputs, instantiate=True)
        return jaxpr
    except Exception:
        return None


def xla_flops(compiled: Any) -> float:
    cost = compiled.cost_analysis()
    if isinstance(cost, (list, tuple)):
        cost = cost[0] if cost else {}
    return float((cost or {}).get("flops", float("nan")))


# ------------------------------------------------------------------------------------ timing


def block(tree: Any) -> None:
    jax.block_until_ready(tree)


def time_calls(call: Callable[[], Any], *, repeats: int, min_time: float) -> dict[str, Any]:
    """Median seconds per call over `repeats` repetitions after 2 warm-up calls.

    call() runs one (asynchronous) call and returns something to block on. A repetition runs
    n calls (n calibrated to last ~min_time s), syncing every SYNC_EVERY calls like the loop.
    """
    for _ in range(2):
        block(call())
    t0 = time.perf_counter()
    block(call())
    first = time.perf_counter() - t0
    n = int(min(100, max(1, math.ceil(min_time / max(first, 1e-6)))))
    times = []
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = None
        for i in range(n):
            out = call()
            if (i + 1) % SYNC_EVERY == 0:
                block(out)
        block(out)
        times.append((time.perf_counter() - t0) / n)
    return {"seconds": statistics.median(times), "calls_per_repeat": n, "all": times}


# ------------------------------------------------------------------------------------ matmul


def matmul_rates(bench: Bench, *, width: int, square: int) -> dict[str, Any]:
    """Prepare float32 matmuls (rows sharded over the mesh's 'data' axis) as timed calls named
    `matmul_<name>`; `time_interleaved` times them in the same rounds as the steps."""
    mesh = bench.mesh
    n_dev = mesh.devices.size
    shapes = {
        "layer": (1024, width, width),
        "layer@B": (bench.b, width, width),
        "square": (square, square, square),
    }
    out = {}
    for i, (name, (m, k, n)) in enumerate(shapes.items()):
        m = max(n_dev, m - m % n_dev)
        ka, kb = jax.random.split(jax.random.key(100 + i))
        a = jax.device_put(jax.random.normal(ka, (m, k), jnp.float32), parallel.data_sharding(mesh))
        b = jax.device_put(jax.random.normal(kb, (k, n), jnp.float32), parallel.replicated(mesh))
        fn = jax.jit(jnp.matmul).lower(a, b).compile()
        bench.calls[f"matmul_{name}"] = lambda fn=fn, a=a, b=b: fn(a, b)
        flops = 2.0 * m * k * n
        out[name] = {"shape": [m, k, n], "flops": flops, "library": "xla"}
    out["reference"] = "layer"
    return out


def reference_blas_libraries() -> dict[str, Callable[[np.ndarray, np.ndarray], Callable]]:
    """Reference BLAS libraries importable here: name -> make(a, b) returning one timed call.

    `numpy` (its BLAS, OpenBLAS in the wheels; always present) and `torch` (oneDNN/MKL on CPU)
    when it is installed: it is not a dependency, install it next to the project for a one-off
    comparison. Both run on the host CPU with their own thread pools, between XLA's calls.
    """
    libs: dict[str, Callable] = {"numpy": lambda a, b: lambda: np.matmul(a, b)}
    try:
        import torch  # optional, not a dependency
    except ImportError:
        return libs

    def make_torch(a, b):
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        return lambda: torch.matmul(ta, tb)

    libs["torch"] = make_torch
    return libs


# Spin-waiting BLAS threads (OpenBLAS keeps its threads busy for a while after a call) would
# slow whatever runs next; a reference call group ends with this pause (not timed).
_BLAS_SETTLE_S = 0.2


def reference_matmul_rates(bench: Bench, *, width: int, square: int) -> dict[str, Any]:
    """The same float32 products as `matmul_rates` (`layer`, `square`) in each reference BLAS
    library, as timed calls `matmul_<lib>:<name>` for the same interleaved rounds."""
    out = {}
    rng = np.random.default_rng(0)
    for lib, make in reference_blas_libraries().items():
        for name, (m, k, n) in {"layer": (1024, width, width), "square": (square,) * 3}.items():
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            bench.calls[f"matmul_{lib}:{name}"] = make(a, b)
            bench.settle[f"matmul_{lib}:{name}"] = _BLAS_SETTLE_S
            out[f"{lib}:{name}"] = {"shape": [m, k, n], "flops": 2.0 * m * k * n, "library": lib}
    return out


def best_matmul(matmul: Mapping[str, Any]) -> dict[str, Any]:
    """The fastest float32 matmul of the run (XLA's and the reference BLAS libraries'): the
    machine's practical roof for the steps' "% of best matmul"."""
    rated = {
        k: v["flops_per_s"]
        for k, v in matmul.items()
        if isinstance(v, dict) and math.isfinite(v.get("flops_per_s", float("nan")))
    }
    if not rated:
        raise ValueError("no matmul was timed")
    name = max(rated, key=rated.get)
    best = {"name": name, "flops_per_s": rated[name]}
    per_cpu = {
        k: v["flops_per_cpu_s"]
        for k, v in matmul.items()
        if isinstance(v, dict) and math.isfinite(v.get("flops_per_cpu_s", float("nan")))
    }
    if per_cpu:
        cpu_name = max(per_cpu, key=per_cpu.get)
        best.update(cpu_name=cpu_name, flops_per_cpu_s=per_cpu[cpu_name])
    return best


def matmul_timing_recs(matmul: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        f"matmul_{k}": {"steps_per_call": 1, "model_flops": v["flops"], "xla_flops": v["flops"]}
        for k, v in matmul.items()
        if isinstance(v, dict)
    }


def fill_matmul(matmul: dict[str, Any], recs: Mapping[str, Mapping[str, Any]]) -> None:
    for k, v in matmul.items():
        if isinstance(v, dict) and f"matmul_{k}" in recs:
            r = recs[f"matmul_{k}"]
            v.update(seconds=r["step_ms"] / 1e3, flops_per_s=r["model_flops_per_s"])
            v["repeat_flops_per_s"] = [v["flops"] / (t / 1e3) for t in r["repeat_ms"]]
            v["flops_per_cpu_s"] = r["model_flops_per_cpu_s"]


# ---------------------------------------------------------------------------------- building


def _find_stage(config, kind: str) -> str | None:
    names, stage_kind = _STAGE_FOR_KIND[kind]
    run = build.stage_names(config)  # a stage's settings may exist outside stages.order
    for n in names:
        if n in run and config.stages[n].kind == stage_kind:
            return n
    for n in run:
        if config.stages[n].kind == stage_kind:
            return n
    return None


def _step_options(config, stage: str, modules: Mapping[str, Any]) -> dict[str, Any]:
    """The networks and options of a stage's real step (`recipe.stage_modules`, as
    `build.build_step` uses them), for the analytic pass tables."""
    st = config.stages[stage]
    trained = set(build.trained_nets(config, stage))
    nets = set(recipe.stage_modules(st.kind, modules, trained))
    return {
        "nets": nets,
        "trained": trained,
        "feedback": bool(st.feedback),
        "use_2d_only": bool(st.use_2d_only) and "camera" in nets,
        "train_on_fakes": bool(st.train_on_fakes),
        "single_update": bool(st.single_update),
        "disc_every": int(config.gan.disc_every) if st.kind == "gan" else 1,
        "feedback_batches": str(config.gan.feedback_batches),
    }


def fuse_steps(step: Callable, k: int) -> Callable:
    """K steps in one program: `lax.scan` over K stacked batches; metrics of the last step."""

    def fused(state, batches, rng):
        def body(s, batch):
            return step(s, batch, rng)

        state, metrics = jax.lax.scan(body, state, batches)
        return state, jax.tree_util.tree_map(lambda x: x[-1], metrics)

    return fused


def jit_fused(step: Callable, mesh: jax.sharding.Mesh) -> Callable:
    rep = parallel.replicated(mesh)
    stacked = NamedSharding(mesh, P(None, parallel.DATA_AXIS))
    return jax.jit(
        step, in_shardings=(rep, stacked, rep), out_shardings=(rep, rep), donate_argnums=(0,)
    )


def jit_timed(step: Callable, bench: Bench) -> Callable:
    """The jitted program the timings call: one step as training jits it, or `bench.k` steps
    fused into one program (`--steps-per-call`)."""
    if bench.k == 1:
        return steps.jit_step(step, bench.mesh)
    return jit_fused(fuse_steps(step, bench.k), bench.mesh)


def part_step(step: Callable, nets: tuple[str, ...], *, with_pool: bool) -> Callable:
    """The step with only `nets` (and the pool) as outputs: XLA drops the rest."""

    def part(state, batch, rng):
        new, _ = step(state, batch, rng)
        out = {n: new.nets[n] for n in nets}
        return (out, new.pool) if with_pool else (out, None)

    return part


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
        self.max_other_cpu = 0.1  # load guard: see time_interleaved
        self.rounds: dict[str, list[dict[str, Any]]] = {}  # timing pass -> its rounds
        self.results: dict[str, Any] = {}
        self.matmul: dict[str, Any] = {}
        self.best: dict[str, Any] = {}  # best_matmul of the main rounds

    def log(self, msg: str) -> None:
        if self.verbose:
            print(msg, file=sys.stderr, flush=True)

    # ---- batches
    def host_batch(self, i: int, *, wild: bool) -> dict[str, dict[str, np.ndarray]]:
        batch = {"paired": self.paired_loader.at_step(i)}
        if wild:
            batch["wild"] = self.wild_loader.at_step(i)
        return batch

    def place(self, batch: Mapping[str, Mapping[str, np.ndarray]]) -> dict:
        """As build_run's batch_fn: each array P('data')-sharded over the mesh."""
        out = {}
        for part, arrays in batch.items():
            size = self.b if part == "paired" else self.bw
            out[part] = parallel.global_batch_from_local(arrays, self.mesh, size)
        return out

    def placed_batches(self, n: int, *, wild: bool) -> list:
        """n distinct placed batches (K stacked per entry when fusing)."""
        out = []
        for i in range(n):
            if self.k == 1:
                out.append(self.place(self.host_batch(i, wild=wild)))
            else:
                hosts = [self.host_batch(i * self.k + j, wild=wild) for j in range(self.k)]
                stacked = jax.tree_util.tree_map(lambda *xs: np.stack(xs), *hosts)
                sharding = NamedSharding(self.mesh, P(None, parallel.DATA_AXIS))
                out.append(jax.device_put(stacked, sharding))
        return out

    def fresh_state(self, state=None):
        return parallel.replicate(self.host_state if state is None else state, self.mesh)

    def step_fn(self, stage: str, config=None) -> Callable:
        config = config or self.config
        txs = build.build_txs(config, stage, self.spe)
        modules = self.modules if config is self.config else build.build_modules(config)
        return build.build_step(config, stage, modules, txs, stage_start=0, stage_steps=1000)


def _measure(
    bench: Bench,
    name: str,
    fn: Callable,
    jitted: Any,
    *,
    donate: bool,
    wild: bool,
    passes: list[Pass] | None,
    used_outputs: Callable[[Any], list[bool]] | None = None,
    host_state=None,
) -> dict[str, Any]:
    """Compile `jitted` AOT, count FLOPs and register one call for `time_interleaved`.

    fn: the un-jitted function (unused; the jaxpr comes from `jitted.trace`)."""
    k = bench.k if donate else 1
    state = bench.fresh_state(host_state)
    batches = (
        bench.placed_batches(2, wild=wild)
        if donate
        else [bench.place(bench.host_batch(i, wild=wild)) for i in range(2)]
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        traced = jitted.trace(state, batches[0], bench.seed_key)
        lowered = traced.lower()
        t1 = time.perf_counter()
        compiled = lowered.compile(bench.compiler_options or None)
        t2 = time.perf_counter()
    donation_warnings = [str(w.message)[:200] for w in caught if "donat" in str(w.message)]
    closed = traced.jaxpr
    if used_outputs is not None:
        closed_dce = dce_jaxpr(closed, used_outputs(closed))
        jx = jaxpr_matmul_flops(closed_dce) if closed_dce is not None else float("nan")
    else:
        jx = jaxpr_matmul_flops(closed)
    xf = xla_flops(compiled)

    holder = {"state": state, "i": 0}
    key = bench.seed_key

    if donate:

        def call():
            holder["state"], metrics = compiled(holder["state"], batches[holder["i"] % 2], key)
            holder["i"] += 1
            return metrics

    else:

        def call():
            holder["i"] += 1
            return compiled(state, batches[holder["i"] % 2], key)

    bench.compiled[name] = compiled
    bench.calls[name] = call
    bench.log(f"[benchmark] {name}: compiled in {t2 - t1:.1f} s")
    mf = model_flops(passes, bench.kernels) if passes is not None else float("nan")
    rec = {
        "lower_s": t1 - t0,
        "compile_s": t2 - t1,
        "steps_per_call": k,
        "model_flops": mf,
        "jaxpr_flops": jx / k,
        # XLA's cost analysis counts a while (scan) body once, so a fused call's count is
        # already per step.
        "xla_flops": xf,
        "donation_warnings": donation_warnings,
    }
    if passes is not None:
        rec["passes"] = [dataclasses.asdict(p) for p in passes]
    return rec


def cpu_counters() -> tuple[float, float, float] | None:
    """(busy CPU s of the whole machine, total CPU s, CPU s of this process) so far; None where
    /proc/stat is not readable (not Linux). Busy excludes idle and iowait."""
    try:
        fields = Path("/proc/stat").read_text().splitlines()[0].split()
    except OSError:
        return None
    if fields[0] != "cpu":
        return None
    hz = os.sysconf("SC_CLK_TCK")
    ticks = [int(x) for x in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)
    total = sum(ticks[:8])  # guest time is already inside user/nice
    return (total - idle) / hz, total / hz, own_cpu_seconds()


def own_cpu_seconds() -> float:
    """CPU seconds this process (all its threads) has used so far."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    return own.ru_utime + own.ru_stime


def other_cpu_fraction(before, after) -> float:
    """Share of the machine's CPU time used by other processes between two `cpu_counters()`
    readings (0 = nothing else ran, 1 = they used every core all the time); nan if unknown."""
    if before is None or after is None or after[1] <= before[1]:
        return float("nan")
    busy, total, own = (a - b for a, b in zip(after, before, strict=True))
    return min(1.0, max(0.0, (busy - own) / total))


def time_interleaved(
    bench: Bench,
    recs: Mapping[str, dict[str, Any]],
    *,
    repeats: int,
    min_time: float,
    label: str = "steps",
) -> None:
    """Time every prepared call in rounds (A B C A B C ...), so slow drifts of the machine's
    load hit all of them alike; fills the timing fields of `recs` (median over rounds).

    Load guard: each round records the share of the CPU other processes used during it
    (`other_cpu_fraction`) and the 1-min load average; rounds where others used more than
    `bench.max_other_cpu` are *busy*. The medians are over the quiet rounds when there is at
    least one (whole rounds are kept or dropped, so every call keeps the same rounds), else
    over all rounds; `bench.rounds[label]` keeps the per-round record.
    """
    names = [n for n in recs if n in bench.calls]
    n_calls, times = {}, {n: [] for n in names}
    for name in names:
        call = bench.calls[name]
        for _ in range(2):
            block(call())
        t0 = time.perf_counter()
        block(call())
        first = time.perf_counter() - t0
        n_calls[name] = int(min(100, max(1, math.ceil(min_time / max(first, 1e-6)))))
    rounds, cpu = [], {n: [] for n in names}
    for _ in range(max(1, repeats)):
        counters, load = cpu_counters(), os.getloadavg()[0]
        for name in names:
            call, n = bench.calls[name], n_calls[name]
            c0, t0 = own_cpu_seconds(), time.perf_counter()
            out = None
            for i in range(n):
                out = call()
                if (i + 1) % SYNC_EVERY == 0:
                    block(out)
            block(out)
            times[name].append((time.perf_counter() - t0) / n)
            cpu[name].append((own_cpu_seconds() - c0) / n)
            if bench.settle.get(name):
                time.sleep(bench.settle[name])
        other = other_cpu_fraction(counters, cpu_counters())
        quiet = not other > bench.max_other_cpu  # unknown (nan) counts as quiet
        rounds.append({"other_cpu": other, "load_1min": load, "quiet": quiet})
    bench.rounds[label] = rounds
    kept = [i for i, r in enumerate(rounds) if r["quiet"]] or list(range(len(rounds)))
    for name in names:
        rec = recs[name]
        k = rec["steps_per_call"]
        step_s = statistics.median(times[name][i] for i in kept) / k
        # CPU time is counted in scheduler ticks: a very short call group can read 0.
        cpu_s = statistics.median(cpu[name][i] for i in kept) / k
        rec.update(
            step_ms=1e3 * step_s,
            steps_per_s=1.0 / step_s,
            samples_per_s=bench.b / step_s,
            calls_per_repeat=n_calls[name],
            repeat_ms=[1e3 * t / k for t in times[name]],
            quiet_rounds=sum(r["quiet"] for r in rounds),
            cpu_ms=1e3 * cpu_s,
            model_flops_per_cpu_s=rec["model_flops"] / cpu_s if cpu_s > 0 else float("nan"),
            model_flops_per_s=rec["model_flops"] / step_s,
            xla_flops_per_s=rec["xla_flops"] / step_s,
        )


def bench_kinds(bench: Bench, kinds, *, repeats: int, min_time: float) -> dict[str, Any]:
    config = bench.config
    out: dict[str, Any] = {}
    for kind in kinds:
        if kind == "gan_only":
            stage = _find_stage(config, "end_to_end")
        else:
            stage = _find_stage(config, kind)
        if stage is None:
            out[kind] = {"skipped": f"the config has no stage for {kind!r}"}
            continue
        opts = _step_options(config, stage, bench.modules)
        wild = config.stages[stage].kind == "gan" and opts["use_2d_only"]
        step = bench.step_fn(stage)
        passes = _passes(kind, opts, bench.b, bench.bw)
        if kind == "gan_only":
            gan = tuple(n for n in models.GAN_NETS if n in bench.modules)
            fn = part_step(step, gan, with_pool=True)
            jitted = _jit_part(fn, bench.mesh)
            rec = _measure(
                bench,
                kind,
                fn,
                jitted,
                donate=False,
                wild=wild,
                passes=passes,
                used_outputs=_used_prefix(gan_out_leaves(bench, gan)),
            )
        else:
            rec = _measure_step(bench, kind, step, wild=wild, passes=passes)
            rec["recompiles"] = 0  # AOT-compiled: the timed calls cannot recompile
        rec["stage"] = stage
        rec["samples_per_step"] = {"paired": bench.b, "two_d_only": bench.bw if wild else 0}
        out[kind] = rec
    return out


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


def _measure_step(
    bench: Bench, kind: str, step: Callable, *, wild: bool, passes: list[Pass]
) -> dict[str, Any]:
    """The record of a whole train step as training runs it: state donated, compiled by
    `jit_timed`."""
    return _measure(
        bench, kind, step, jit_timed(step, bench), donate=True, wild=wild, passes=passes
    )


def _measure_e2e_variant(
    bench: Bench, stage: str, kind: str, overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(record, step options) of the end-to-end step of the config with `overrides`, its own
    compile, timed as `kind`."""
    cfg = with_overrides(bench.config, overrides)
    opts = _step_options(cfg, stage, bench.modules)
    step = bench.step_fn(stage, cfg)
    passes = _passes("end_to_end", opts, bench.b, bench.bw)
    return _measure_step(bench, kind, step, wild=opts["use_2d_only"], passes=passes), opts


def bench_variants(
    bench: Bench, variants: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """End-to-end steps of config variants (`{name: {dotted key: value}}`, e.g. `single_update`
    or `gan.disc_every`; the networks must stay those of the config), each compiled as
    `bench_kinds` compiles `end_to_end`, as kinds `e2e:<name>` timed in the same rounds."""
    stage = _find_stage(bench.config, "end_to_end")
    out: dict[str, dict[str, Any]] = {}
    for name, overrides in variants.items():
        kind = f"e2e:{name}"
        if stage is None:
            out[kind] = {"skipped": "the config has no end-to-end stage"}
            continue
        rec, opts = _measure_e2e_variant(bench, stage, kind, overrides)
        rec.update(
            recompiles=0,
            stage=stage,
            overrides=dict(overrides),
            samples_per_step={
                "paired": bench.b,
                "two_d_only": bench.bw if opts["use_2d_only"] else 0,
            },
        )
        out[kind] = rec
    return out


def _jit_part(fn: Callable, mesh) -> Any:
    rep, dat = parallel.replicated(mesh), parallel.data_sharding(mesh)
    return jax.jit(fn, in_shardings=(rep, dat, rep), out_shardings=rep)


def gan_out_leaves(bench: Bench, names) -> int:
    nets = {n: bench.host_state.nets[n] for n in names}
    return len(jax.tree_util.tree_leaves((nets, bench.host_state.pool)))


def _used_prefix(n_used: int) -> Callable[[Any], list[bool]]:
    def used(closed) -> list[bool]:
        total = len(closed.jaxpr.outvars)
        return [i < n_used for i in range(total)]

    return used


# --------------------------------------------------------------------------------- pipeline


def bench_pipeline(
    bench: Bench, *, wild: bool, repeats: int, min_time: float, step_record=None
) -> dict[str, Any]:
    """Batches/s of the host gather, gather + placement, and the prefetch thread."""
    counter = {"i": 0}

    def gather():
        counter["i"] += 1
        return bench.host_batch(counter["i"], wild=wild)

    def gather_place():
        return bench.place(gather())

    out = {}
    t = time_calls(gather, repeats=repeats, min_time=min_time)
    out["gather_batches_per_s"] = 1.0 / t["seconds"]
    t = time_calls(gather_place, repeats=repeats, min_time=min_time)
    out["gather_place_batches_per_s"] = 1.0 / t["seconds"]

    def endless():
        i = 0
        while True:
            i += 1
            yield bench.host_batch(i, wild=wild)

    pf = pipeline.prefetch(endless(), size=2, transform=bench.place)
    try:
        t = time_calls(lambda: next(pf), repeats=repeats, min_time=min_time)
    finally:
        pf.close()
    out["prefetch_batches_per_s"] = 1.0 / t["seconds"]
    out["batch"] = {"paired": bench.b, "two_d_only": bench.bw if wild else 0}
    if step_record is not None and "steps_per_s" in step_record:
        sps = step_record["steps_per_s"]
        for key in ("gather", "gather_place", "prefetch"):
            out[f"{key}_ratio_to_step"] = out[f"{key}_batches_per_s"] / sps
    return out


def bench_fed(
    bench: Bench, stage: str, *, wild: bool, repeats: int, min_time: float
) -> dict[str, Any]:
    """The step fed per call by the synchronous pipeline (as loop.py), by the prefetch thread,
    and with pre-placed batches, timed in interleaved rounds.

    Reuses the end-to-end executable compiled by `bench_kinds` when there is one."""
    step = bench.compiled.get("end_to_end") if bench.k == 1 else None
    if step is None:
        step = steps.jit_step(bench.step_fn(stage), bench.mesh)
    holder = {"state": bench.fresh_state(), "i": 0}

    def run(batch):
        holder["state"], metrics = step(holder["state"], batch, bench.seed_key)
        return metrics

    def sync_call():
        holder["i"] += 1
        return run(bench.place(bench.host_batch(holder["i"], wild=wild)))

    def endless():
        i = 0
        while True:
            i += 1
            yield bench.host_batch(i, wild=wild)

    placed = [bench.place(bench.host_batch(i, wild=wild)) for i in range(2)]

    def preplaced_call():
        holder["i"] += 1
        return run(placed[holder["i"] % 2])

    pf = pipeline.prefetch(endless(), size=2, transform=bench.place)
    bench.calls["fed_synchronous"] = sync_call
    bench.calls["fed_prefetch"] = lambda: run(next(pf))
    bench.calls["fed_preplaced"] = preplaced_call
    recs = {
        n: {"steps_per_call": 1, "model_flops": float("nan"), "xla_flops": float("nan")}
        for n in ("fed_synchronous", "fed_prefetch", "fed_preplaced")
    }
    try:
        time_interleaved(bench, recs, repeats=repeats, min_time=min_time, label="fed")
    finally:
        pf.close()
    out = {
        "synchronous_steps_per_s": recs["fed_synchronous"]["steps_per_s"],
        "prefetch_steps_per_s": recs["fed_prefetch"]["steps_per_s"],
        "preplaced_steps_per_s": recs["fed_preplaced"]["steps_per_s"],
    }
    if hasattr(step, "_cache_size"):
        out["recompiles"] = max(0, step._cache_size() - 1)
    return out


# -------------------------------------------------------------------------------- breakdown

_DROPOUT_KEYS = ("model.lifter.dropout", "model.refiner.dropout", "model.camera.dropout")


def bench_breakdown(bench: Bench, *, repeats: int, min_time: float) -> dict[str, Any]:
    """Variants of the end-to-end step (each its own compile) to locate its costs."""
    config = bench.config
    stage = _find_stage(config, "end_to_end")
    if stage is None:
        return {"skipped": "no end-to-end stage"}

    def variant(name: str, overrides: dict[str, Any]):
        recs[name], _ = _measure_e2e_variant(bench, stage, name, overrides)

    recs: dict[str, dict[str, Any]] = {}
    if "end_to_end" in bench.calls:
        bench.calls["baseline"] = bench.calls["end_to_end"]
        recs["baseline"] = {
            k: v
            for k, v in bench.results["end_to_end"].items()
            if k in ("steps_per_call", "model_flops", "jaxpr_flops", "xla_flops", "compile_s")
        }
    variant("no_dropout", {k: 0.0 for k in _DROPOUT_KEYS})
    variant("no_feedback", {f"stages.{stage}.feedback": False})
    variant("no_2d_only", {f"stages.{stage}.use_2d_only": False})
    variant("no_fakes", {f"stages.{stage}.train_on_fakes": False})

    # The pose-network part: G forward (its outputs feed step 3) + steps 3-4; XLA drops the
    # generator's backward and the discriminator update.
    step = bench.step_fn(stage)
    pose = tuple(n for n in models.POSE_NETS if n in bench.modules)
    fn = part_step(step, pose, with_pool=False)
    n_used = len(jax.tree_util.tree_leaves({n: bench.host_state.nets[n] for n in pose}))
    rec = _measure(
        bench,
        "pose_only",
        fn,
        _jit_part(fn, bench.mesh),
        donate=False,
        wild=_step_options(config, stage, bench.modules)["use_2d_only"],
        passes=None,
        used_outputs=_used_prefix(n_used),
    )
    recs["pose_only"] = rec

    # Other PRNG implementations for the same step (dropout masks, generator noise, pool).
    for impl in ("rbg", "unsafe_rbg"):
        saved = bench.seed_key
        bench.seed_key = parallel.replicate(jax.random.key(0, impl=impl), bench.mesh)
        try:
            step = bench.step_fn(stage)
            rec = _measure(
                bench,
                f"prng_{impl}",
                step,
                jit_timed(step, bench),
                donate=True,
                wild=_step_options(config, stage, bench.modules)["use_2d_only"],
                passes=None,
            )
            recs[f"prng_{impl}"] = rec
        finally:
            bench.seed_key = saved
    recs["matmul_layer"] = matmul_timing_recs(bench.matmul)["matmul_layer"]
    bench.log("[benchmark] timing the end-to-end variants (interleaved rounds)")
    time_interleaved(bench, recs, repeats=repeats, min_time=min_time, label="breakdown")
    ref = recs["matmul_layer"]["model_flops_per_s"]
    out = {name: _short(rec) for name, rec in recs.items()}
    best = bench.best.get("flops_per_s", float("nan"))
    for rec in out.values():
        if math.isfinite(rec.get("model_flops", float("nan"))):
            rec["fraction_of_matmul"] = rec["model_flops"] / (rec["step_ms"] / 1e3) / ref
            rec["fraction_of_best_matmul"] = rec["model_flops"] / (rec["step_ms"] / 1e3) / best
            best_cpu = bench.best.get("flops_per_cpu_s", float("nan"))
            rec["fraction_of_best_matmul_cpu"] = rec["model_flops_per_cpu_s"] / best_cpu
    return out


def _short(rec: Mapping[str, Any]) -> dict[str, Any]:
    keys = (
        "compile_s",
        "step_ms",
        "cpu_ms",
        "model_flops_per_cpu_s",
        "steps_per_s",
        "model_flops",
        "xla_flops",
        "jaxpr_flops",
        "repeat_ms",
    )
    return {k: rec[k] for k in keys if k in rec}


# ---------------------------------------------------------------------------------- profile

_HLO_INSTR = re.compile(r"^\s*(?:ROOT\s+)?%?([\w.\-]+)\s*=\s*(.+?)\s+([a-z][\w\-]*)\((.*)$")
_HLO_COMP = re.compile(r"^\s*(?:ENTRY\s+)?%?([\w.\-]+)\s.*\{\s*$")
_CALLS = re.compile(r"calls=%?([\w.\-]+)")


def hlo_categories(hlo_text: str) -> dict[str, tuple[str, str]]:
    """Instruction name -> (category, output type) for an optimized HLO module's text.

    Categories: 'matmul' (dot, or a fusion containing one), 'prng' (threefry bit mixing:
    xor + shifts), 'reduce' (reductions: BatchNorm statistics, losses, norms), 'copy'
    (copy/transpose), 'elementwise' (other fusions and arithmetic), 'data' (slices,
    concatenates, scatters/gathers, dynamic updates), 'control' (while/conditional/call:
    their bodies are listed separately), 'other'.
    """
    comps: dict[str, list[tuple[str, str, str, str]]] = {}
    current = None
    for line in hlo_text.splitlines():
        m = _HLO_INSTR.match(line)
        if m and current is not None:
            comps[current].append(m.groups())
            continue
        c = _HLO_COMP.match(line)
        if c and "=" not in line.split("{")[0]:
            current = c.group(1)
            comps[current] = []

    def ops_of(comp: str, seen=()) -> set[str]:
        out = set()
        for _, _, op, rest in comps.get(comp, []):
            out.add(op)
            for callee in _CALLS.findall(rest):
                if callee not in seen:
                    out |= ops_of(callee, (*seen, callee))
        return out

    def category(op: str, rest: str) -> str:
        ops = {op}
        if op == "fusion":
            for callee in _CALLS.findall(rest):
                ops |= ops_of(callee)
        if ops & {"dot", "convolution"}:
            return "matmul"
        if "xor" in ops and ("shift-right-logical" in ops or "shift-left" in ops):
            return "prng"
        if ops & {"rng-bit-generator", "rng"}:
            return "prng"
        if ops & {"reduce", "reduce-window"}:
            return "reduce"
        if op in ("copy", "transpose") or ops <= {"copy", "transpose", "bitcast", "parameter"}:
            return "copy"
        if ops & {
            "slice",
            "dynamic-slice",
            "dynamic-update-slice",
            "concatenate",
            "gather",
            "scatter",
            "pad",
        } and not ops & {"add", "multiply", "subtract", "divide", "maximum", "exponential"}:
            return "data"
        if op == "fusion" or ops & {"add", "multiply", "subtract", "divide", "maximum", "select"}:
            return "elementwise"
        return "other"

    out = {}
    for instrs in comps.values():
        for name, typ, op, rest in instrs:
            # Control flow: its body's ops are profiled (and categorised) on their own.
            cat = "control" if op in ("while", "conditional", "call") else category(op, rest)
            out[name] = (cat, typ)
    return out


def profile_compiled(
    compiled: Any, call: Callable[[], Any], *, calls: int, logdir: str, top: int = 15
) -> dict[str, Any]:
    """Trace `calls` calls with jax.profiler; CPU time per HLO category and the top ops.

    Times are summed over all XLA threads (so they add up to CPU time, not wall time) and
    divided by `calls`.
    """
    import glob

    block(call())
    jax.profiler.start_trace(logdir)
    try:
        out = None
        for _ in range(calls):
            out = call()
        block(out)
    finally:
        jax.profiler.stop_trace()
    files = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))
    data = jax.profiler.ProfileData.from_file(files[-1])
    cats = hlo_categories(compiled.as_text())
    per_op: dict[str, float] = {}
    for plane in data.planes:
        for line in plane.lines:
            if line.name == "python":
                continue
            for ev in line.events:
                name = ev.name
                if name in cats and cats[name][0] != "control":
                    per_op[name] = per_op.get(name, 0.0) + ev.duration_ns
    by_cat: dict[str, float] = {}
    for name, ns in per_op.items():
        by_cat[cats[name][0]] = by_cat.get(cats[name][0], 0.0) + ns
    total = sum(by_cat.values())
    ranked = sorted(per_op.items(), key=lambda kv: -kv[1])[:top]
    by_type: dict[str, float] = {}  # matmul CPU time by output type (which layers)
    for name, ns in per_op.items():
        if cats[name][0] == "matmul":
            typ = cats[name][1].split("{")[0]
            by_type[typ] = by_type.get(typ, 0.0) + ns
    return {
        "cpu_ms_per_call": total / 1e6 / calls,
        "by_category_ms": {
            k: v / 1e6 / calls for k, v in sorted(by_cat.items(), key=lambda x: -x[1])
        },
        "matmul_by_output_ms": {
            k: v / 1e6 / calls for k, v in sorted(by_type.items(), key=lambda x: -x[1])[:top]
        },
        "top_ops_by_category": {
            c: [
                {"op": n, "type": cats[n][1].split("{")[0][:60], "ms": ns / 1e6 / calls}
                for n, ns in sorted(per_op.items(), key=lambda kv: -kv[1])
                if cats[n][0] == c
            ][:5]
            for c in by_cat
        },
        "top_ops": [
            {"op": n, "category": cats[n][0], "type": cats[n][1][:60], "ms": ns / 1e6 / calls}
            for n, ns in ranked
        ],
    }


# ------------------------------------------------------------------------------------ report


def peak_rss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 1024.0 if sys.platform != "darwin" else rss / 2**20


def format_table(result: Mapping[str, Any]) -> str:
    ref = result["matmul"][result["matmul"]["reference"]]["flops_per_s"]
    lines = []
    meta = result["meta"]
    lines.append(
        f"config {meta['config']}  batch {meta['batch_size']} "
        f"(2D-only {meta['two_d_only_batch_size']})  devices {meta['devices']} "
        f"({meta['device_kind']})  steps/call {meta['steps_per_call']}"
    )
    mm = result["matmul"]
    lines.append(
        "matmul f32 (GFLOP/s): "
        + ", ".join(
            f"{k if ':' in k else 'xla:' + k} {'x'.join(map(str, v['shape']))} "
            f"{v['flops_per_s'] / 1e9:.1f}"
            for k, v in mm.items()
            if isinstance(v, dict)
        )
    )
    best = result.get("best_matmul", {"name": mm["reference"], "flops_per_s": ref})
    lines.append(
        f"best matmul rate: {best['flops_per_s'] / 1e9:.1f} GFLOP/s ({best['name']}); "
        f"'% matmul' = model FLOP/s over xla:{mm['reference']}, '% best' over the best"
    )
    if "flops_per_cpu_s" in best:
        lines.append(
            f"per CPU second of this process (load-independent): best matmul "
            f"{best['flops_per_cpu_s'] / 1e9:.1f} GFLOP/cpu-s ({best['cpu_name']}); "
            f"'cpu ms' = CPU time per step (all threads), '% best/cpu' = model FLOP per "
            f"CPU second over it"
        )
    head = (
        f"{'step':<16}{'compile s':>10}{'ms/step':>10}{'steps/s':>9}{'samples/s':>11}"
        f"{'model GF':>10}{'xla GF':>9}{'jaxpr GF':>10}{'model GF/s':>11}{'% matmul':>9}"
        f"{'% best':>8}{'cpu ms':>8}{'% best/cpu':>11}"
    )
    lines += [head, "-" * len(head)]
    for kind, r in result["steps"].items():
        if "skipped" in r:
            lines.append(f"{kind:<16}skipped: {r['skipped']}")
            continue
        lines.append(
            f"{kind:<16}{r['compile_s']:>10.1f}{r['step_ms']:>10.1f}{r['steps_per_s']:>9.2f}"
            f"{r['samples_per_s']:>11.0f}{r['model_flops'] / 1e9:>10.2f}"
            f"{r['xla_flops'] / 1e9:>9.2f}{r['jaxpr_flops'] / 1e9:>10.2f}"
            f"{r['model_flops_per_s'] / 1e9:>11.1f}{100 * r['model_flops_per_s'] / ref:>8.0f}%"
            f"{100 * r['model_flops_per_s'] / best['flops_per_s']:>7.0f}%"
            f"{r.get('cpu_ms', float('nan')):>8.0f}"
            f"{100 * r.get('fraction_of_best_matmul_cpu', float('nan')):>10.0f}%"
        )
    pl = result.get("pipeline")
    if pl:
        lines.append(
            f"pipeline (batches/s, paired {pl['batch']['paired']} + 2D-only "
            f"{pl['batch']['two_d_only']}): gather {pl['gather_batches_per_s']:.0f}, "
            f"gather+place {pl['gather_place_batches_per_s']:.0f}, prefetch "
            f"{pl['prefetch_batches_per_s']:.0f}"
            + (
                f"; ratio to end_to_end step: {pl['gather_place_ratio_to_step']:.0f}x "
                f"(prefetch {pl['prefetch_ratio_to_step']:.0f}x)"
                if "gather_place_ratio_to_step" in pl
                else ""
            )
        )
    fed = result.get("fed")
    if fed:
        lines.append(
            f"end_to_end fed by the pipeline (steps/s): pre-placed "
            f"{fed['preplaced_steps_per_s']:.2f}, synchronous "
            f"{fed['synchronous_steps_per_s']:.2f}, prefetch thread "
            f"{fed['prefetch_steps_per_s']:.2f}"
        )
    bd = result.get("breakdown")
    if bd and "skipped" not in bd:
        lines.append(
            "end_to_end variants (ms/step): "
            + ", ".join(
                f"{k} {v['step_ms']:.0f}"
                + (f" ({100 * v['fraction_of_matmul']:.0f}%)" if "fraction_of_matmul" in v else "")
                for k, v in bd.items()
            )
        )
    for name, prof in result.get("profile", {}).items():
        cats = ", ".join(f"{k} {v:.0f}" for k, v in prof["by_category_ms"].items())
        lines.append(f"profile {name}: CPU ms per step {prof['cpu_ms_per_call']:.0f} = {cats}")
    for label, rounds in result.get("rounds", {}).items():
        n_quiet = sum(r["quiet"] for r in rounds)
        shares = ", ".join(f"{100 * r['other_cpu']:.0f}%" for r in rounds)
        lines.append(
            f"load guard ({label}): {n_quiet}/{len(rounds)} rounds quiet (other processes' CPU "
            f"share per round: {shares}; limit {100 * meta.get('max_other_cpu', 0.1):.0f}%)"
            + ("" if n_quiet else "; NO QUIET ROUND: timings taken under load")
        )
    lines.append(f"peak host memory (ru_maxrss): {result['peak_rss_mib']:.0f} MiB")
    la, lb = meta.get("load_average_at_start"), meta.get("load_average_at_end")
    if la and lb:
        lines.append(
            f"host load average (1 min) at start {la[0]:.1f}, at end {lb[0]:.1f} "
            f"on {meta['host_cpus']} CPUs (other processes make every timing slower)"
        )
    return "\n".join(lines)


def run(
    config,
    *,
    config_name: str = "",
    devices: int | None = None,
    steps_per_call: int = 1,
    repeats: int = 5,
    min_time: float = 0.5,
    square: int = 2048,
    kinds=KINDS,
    pipeline_timing: bool = True,
    fed: bool = True,
    breakdown: bool = False,
    verbose: bool = True,
    compiler_options: Mapping[str, Any] | None = None,
    profile_dir: str | None = None,
    reference_blas: bool = True,
    max_other_cpu: float = 0.1,
    variants: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """Run the benchmark for `config`; returns the JSON-able result dict. `variants`:
    `bench_variants`."""
    if steps_per_call < 1:
        raise ValueError(f"steps_per_call must be >= 1, got {steps_per_call}")
    if not 0.0 <= max_other_cpu <= 1.0:
        raise ValueError(f"max_other_cpu must be in [0, 1], got {max_other_cpu}")
    t_start = time.perf_counter()
    load_before = os.getloadavg()
    bench = Bench(
        config,
        devices=devices,
        steps_per_call=steps_per_call,
        verbose=verbose,
        compiler_options=compiler_options,
    )
    dev = bench.mesh.devices.flat[0]
    result: dict[str, Any] = {
        "meta": {
            "config": config_name or config.name,
            "batch_size": bench.b,
            "two_d_only_batch_size": bench.bw,
            "devices": int(bench.mesh.devices.size),
            "device_kind": getattr(dev, "device_kind", dev.platform),
            "platform": dev.platform,
            "host_cpus": os.cpu_count(),
            "steps_per_call": steps_per_call,
            "repeats": repeats,
            "min_time_s": min_time,
            "jax": jax.__version__,
            "python": platform.python_version(),
            "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "data_load_s": bench.data_seconds,
            "kernel_sizes": bench.kernels,
            "compiler_options": bench.compiler_options,
            "load_average_at_start": load_before,
            "max_other_cpu": max_other_cpu,
        }
    }
    bench.max_other_cpu = max_other_cpu
    width = config.model.lifter.features
    result["matmul"] = matmul_rates(bench, width=width, square=square)
    if reference_blas:
        result["matmul"].update(reference_matmul_rates(bench, width=width, square=square))
    result["steps"] = bench_kinds(bench, kinds, repeats=repeats, min_time=min_time)
    result["steps"].update(bench_variants(bench, variants or {}))
    bench.results = result["steps"]
    bench.matmul = result["matmul"]
    bench.log("[benchmark] timing matmuls and steps (interleaved rounds)")
    recs = matmul_timing_recs(result["matmul"])
    recs.update({k: v for k, v in result["steps"].items() if "skipped" not in v})
    time_interleaved(bench, recs, repeats=repeats, min_time=min_time)
    fill_matmul(result["matmul"], recs)
    bench.best = best_matmul(result["matmul"])
    ref = result["matmul"]["layer"]["flops_per_s"]
    result["best_matmul"] = best = bench.best
    for rec in result["steps"].values():
        if "model_flops_per_s" in rec:
            rec["fraction_of_matmul"] = rec["model_flops_per_s"] / ref
            rec["fraction_of_best_matmul"] = rec["model_flops_per_s"] / best["flops_per_s"]
            if "flops_per_cpu_s" in best:
                rec["fraction_of_best_matmul_cpu"] = (
                    rec["model_flops_per_cpu_s"] / best["flops_per_cpu_s"]
                )
    e2e = result["steps"].get("end_to_end", {})
    stage = _find_stage(config, "end_to_end")
    wild = stage is not None and _step_options(config, stage, bench.modules)["use_2d_only"]
    if pipeline_timing:
        bench.log("[benchmark] input pipeline")
        result["pipeline"] = bench_pipeline(
            bench, wild=wild, repeats=repeats, min_time=min_time, step_record=e2e
        )
    if fed and stage is not None and steps_per_call == 1:
        bench.log("[benchmark] end_to_end fed by the pipeline")
        result["fed"] = bench_fed(bench, stage, wild=wild, repeats=repeats, min_time=min_time)
    if breakdown:
        result["breakdown"] = bench_breakdown(bench, repeats=repeats, min_time=min_time)
    if profile_dir:
        result["profile"] = {}
        for name in kinds:
            if name in bench.compiled:
                bench.log(f"[benchmark] profiling {name}")
                result["profile"][name] = profile_compiled(
                    bench.compiled[name],
                    bench.calls[name],
                    calls=3,
                    logdir=os.path.join(profile_dir, name),
                )
    result["rounds"] = bench.rounds
    result["peak_rss_mib"] = peak_rss_mib()
    result["meta"]["load_average_at_end"] = os.getloadavg()
    result["total_s"] = time.perf_counter() - t_start
    return result


def _parse(argv: list[str]) -> tuple[argparse.Namespace, dict[str, str]]:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmark",
        description="Train-step, input-pipeline and matmul benchmark (see the module docstring).",
    )
    parser.add_argument("--config", default="experiments/joint.py", help="file[:variants]")
    parser.add_argument("--batch-size", type=int, default=None, help="global batch (both kinds)")
    parser.add_argument("--devices", type=int, default=None, help="mesh over the first N devices")
    parser.add_argument("--steps-per-call", type=int, default=1, help="steps fused by lax.scan")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--min-time", type=float, default=0.5, help="seconds per repetition")
    parser.add_argument("--square", type=int, default=2048, help="big square matmul size")
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated step kinds")
    parser.add_argument("--no-pipeline", action="store_true", help="skip the pipeline timings")
    parser.add_argument("--breakdown", action="store_true", help="end-to-end variants")
    parser.add_argument(
        "--compile-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="XLA compiler option for every compile, e.g. xla_backend_optimization_level=0 "
        "(faster compiles, for tests); repeatable",
    )
    parser.add_argument(
        "--profile", default=None, metavar="DIR", help="jax.profiler traces + per-op summary"
    )
    parser.add_argument(
        "--no-reference-blas",
        action="store_true",
        help="time only XLA's matmuls (no numpy/torch reference for the best matmul rate)",
    )
    parser.add_argument(
        "--max-other-cpu",
        type=float,
        default=0.1,
        help="load guard: rounds where other processes used more than this share of the CPU "
        "are left out of the medians while a quiet round exists (default 0.1)",
    )
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:KEY=VALUE[,KEY=VALUE]",
        help="also time the end-to-end step of the config with these overrides, as kind "
        "e2e:NAME in the same rounds (e.g. d2:gan.disc_every=2); repeatable",
    )
    parser.add_argument("--json", default=None, help="write the result here")
    parser.add_argument("--quiet", action="store_true")
    args, rest = parser.parse_known_args(argv)
    for item in rest:
        if not item.startswith("--config.") or "=" not in item:
            parser.error(f"unrecognized argument {item!r} (overrides: --config.KEY=VALUE)")
    if args.batch_size is not None:
        rest += [
            f"--config.train.{k}={args.batch_size}" for k in ("batch_size", "two_d_only_batch_size")
        ]
    return args, rest


def _literal_pair(item: str) -> tuple[str, Any]:
    key, sep, text = item.partition("=")
    if not sep:
        raise SystemExit(f"need KEY=VALUE, got {item!r}")
    try:
        return key, ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return key, text


def parse_variant(item: str) -> tuple[str, dict[str, Any]]:
    """`NAME:KEY=VALUE[,KEY=VALUE]` -> (NAME, {KEY: VALUE}); values as Python literals."""
    name, sep, rest = item.partition(":")
    pairs = [p for p in rest.split(",") if p.strip()]
    if not (sep and name and pairs):
        raise SystemExit(f"--variant needs NAME:KEY=VALUE[,KEY=VALUE], got {item!r}")
    return name, dict(_literal_pair(p.strip()) for p in pairs)


def checked_variants(config, variants: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """`variants` if each keeps the config's networks (a variant times the config's state with
    another step; a network the state lacks, e.g. `model.refiner.enabled=True` on the
    ground-truth default, cannot run), else SystemExit naming the variant, before any work."""
    nets = build.network_names(config)
    for name, overrides in variants.items():
        try:
            other = build.network_names(with_overrides(config, overrides))
        except (KeyError, AttributeError) as e:
            raise SystemExit(f"error: --variant {name}: unknown config key {e}") from None
        if other != nets:
            raise SystemExit(
                f"error: --variant {name} changes the networks ({', '.join(nets)} -> "
                f"{', '.join(other)}); benchmark that config with --config instead"
            )
    return variants


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, overrides = _parse(sys.argv[1:] if argv is None else argv)
    try:
        config = load_config(args.config, overrides)
    except ValueError as e:
        raise SystemExit(f"error: {e}") from None
    kinds = tuple(k.strip() for k in args.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in KINDS]
    if bad:
        raise SystemExit(f"unknown step kinds {bad}; known: {', '.join(KINDS)}")
    result = run(
        config,
        config_name=args.config,
        devices=args.devices,
        steps_per_call=args.steps_per_call,
        repeats=args.repeats,
        min_time=args.min_time,
        square=args.square,
        kinds=kinds,
        pipeline_timing=not args.no_pipeline,
        fed=not args.no_pipeline,
        breakdown=args.breakdown,
        verbose=not args.quiet,
        compiler_options=dict(_literal_pair(x) for x in args.compile_option),
        profile_dir=args.profile,
        reference_blas=not args.no_reference_blas,
        max_other_cpu=args.max_other_cpu,
        variants=checked_variants(config, dict(parse_variant(v) for v in args.variant)),
    )
    result["meta"]["command"] = " ".join(
        ["python -m experiments.benchmark", *(argv or sys.argv[1:])]
    )
    result["meta"]["overrides"] = overrides
    print(format_table(result))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=1, default=float))
    return result


if __name__ == "__main__":
    main()
