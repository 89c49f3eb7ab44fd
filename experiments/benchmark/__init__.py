"""Training-speed benchmark: every train step kind of a config, the input pipeline, the matmul rate.

    python -m experiments.benchmark [--config=experiments/joint.py[:variants]] [--batch-size N]
        [--devices N] [--steps-per-call K] [--repeats R] [--json out.json] [--breakdown]
        [--variant NAME:KEY=VALUE[,KEY=VALUE] ...] [--config.KEY=VALUE ...]

What it measures, in one process (so every number shares the machine's state):

* **Matmul rate** of the devices: float32 `(M, K) @ (K, N)` jitted, rows sharded over the mesh;
  `layer` = the lifter's hidden layer at batch 1024 (1024 x 1024 by 1024), `layer@B` = the same
  at the config's batch size, `square` = a big square product (`--square`, default 2048).
  The reference for "% of matmul" is `layer`.
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
      iterations; pass tables: `flops.step_passes`);
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
`--steps-per-call K` fuses K steps in one `lax.scan` over K batches, stacked on axis 1 and
placed as training places one batch.
Load guard: every round records the share of the machine's CPU that other processes used
during it (from /proc/stat minus this process's CPU time) and the load average; rounds where
others used more than `--max-other-cpu` (default 10 %) are left out of the medians while at
least one quiet round exists, and the table says how many rounds were quiet ("NO QUIET
ROUND" when every round was taken under load: compare variants of the same run, not runs).
No numbers are asserted anywhere: tests only check that the JSON is complete and consistent.

Modules: `cli` (the run and the command), `bench` (the shared setup and the programs timed),
`kinds` (compile and count each step kind), `flops`, `timing`, `load` (the load guard's CPU
counters), `matmul`, `pipeline`, `breakdown`, `profile`, `table`.
"""

from experiments.benchmark.bench import KINDS, find_stage, step_options, with_overrides
from experiments.benchmark.cli import checked_variants, main, parse_variant, run
from experiments.benchmark.flops import (
    Pass,
    jaxpr_matmul_flops,
    kernel_size,
    model_flops,
    step_passes,
    xla_flops,
)
from experiments.benchmark.load import cpu_counters, other_cpu_fraction
from experiments.benchmark.matmul import best_matmul
from experiments.benchmark.profile import hlo_categories, profile_compiled
from experiments.benchmark.table import format_table
from experiments.benchmark.timing import time_calls, time_interleaved
from experiments.configs_common import load_config

__all__ = [
    "KINDS",
    "Pass",
    "best_matmul",
    "checked_variants",
    "cpu_counters",
    "find_stage",
    "format_table",
    "hlo_categories",
    "jaxpr_matmul_flops",
    "kernel_size",
    "load_config",
    "main",
    "model_flops",
    "other_cpu_fraction",
    "parse_variant",
    "profile_compiled",
    "run",
    "step_options",
    "step_passes",
    "time_calls",
    "time_interleaved",
    "with_overrides",
    "xla_flops",
]
