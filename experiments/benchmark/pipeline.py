"""The input pipeline: how fast batches are gathered and placed, and the end-to-end step fed
by it, against pre-placed batches."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from cpose_jax.data.pipeline import prefetch
from cpose_jax.train import steps
from experiments.benchmark.bench import Bench
from experiments.benchmark.timing import time_calls, time_interleaved


def _prefetched(batch_fn: Callable[[int], Any]) -> prefetch:
    """Placed batches of steps 1, 2, ... gathered and placed by a background thread."""
    return prefetch(map(batch_fn, itertools.count(1)), size=2)


def bench_pipeline(
    bench: Bench, *, wild: bool, repeats: int, min_time: float, step_record=None
) -> dict[str, Any]:
    """Batches/s of the host gather, gather + placement (training's `batch_fn`), and the
    prefetch thread; with `step_record`, each over the step's steps/s."""
    batch_fn = bench.batch_fn(wild=wild)
    step = itertools.count(1)
    out = {}
    t = time_calls(
        lambda: bench.host_batch(next(step), wild=wild), repeats=repeats, min_time=min_time
    )
    out["gather_batches_per_s"] = 1.0 / t["seconds"]
    t = time_calls(lambda: batch_fn(next(step)), repeats=repeats, min_time=min_time)
    out["gather_place_batches_per_s"] = 1.0 / t["seconds"]
    pf = _prefetched(batch_fn)
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
    """The step fed per call by the synchronous pipeline (as the training loop feeds it), by
    the prefetch thread, and with pre-placed batches, timed in interleaved rounds.

    Reuses the end-to-end executable compiled by `bench_kinds` when there is one."""
    step = bench.compiled.get("end_to_end") if bench.k == 1 else None
    if step is None:
        step = steps.jit_step(bench.step_fn(stage), bench.mesh)
    batch_fn = bench.batch_fn(wild=wild)
    holder = {"state": bench.fresh_state(), "i": 0}

    def run(batch):
        holder["state"], metrics = step(holder["state"], batch, bench.seed_key)
        return metrics

    def sync_call():
        holder["i"] += 1
        return run(batch_fn(holder["i"]))

    placed = [batch_fn(i) for i in range(2)]

    def preplaced_call():
        holder["i"] += 1
        return run(placed[holder["i"] % 2])

    pf = _prefetched(batch_fn)
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
