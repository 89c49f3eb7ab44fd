"""Timing of prepared calls: `time_calls` (one call alone) and `time_interleaved` (every call in
rounds, with the load guard)."""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax

from cpose_jax.train import loop
from experiments.benchmark.load import cpu_counters, other_cpu_fraction, own_cpu_seconds

if TYPE_CHECKING:
    from experiments.benchmark.bench import Bench

# The host waits for the queued calls every this many calls, as the training loop does.
SYNC_EVERY = loop.LoopOptions.sync_every


def block(tree: Any) -> None:
    jax.block_until_ready(tree)


def _calls_per_group(call: Callable[[], Any], min_time: float) -> int:
    """Warm `call` up (2 calls), then time one: the number of calls that last ~min_time s
    (1 to 100)."""
    for _ in range(2):
        block(call())
    t0 = time.perf_counter()
    block(call())
    first = time.perf_counter() - t0
    return int(min(100, max(1, math.ceil(min_time / max(first, 1e-6)))))


def _time_group(call: Callable[[], Any], n: int) -> float:
    """Seconds per call of n calls in a row, syncing every SYNC_EVERY calls like the loop."""
    t0 = time.perf_counter()
    out = None
    for i in range(n):
        out = call()
        if (i + 1) % SYNC_EVERY == 0:
            block(out)
    block(out)
    return (time.perf_counter() - t0) / n


def time_calls(call: Callable[[], Any], *, repeats: int, min_time: float) -> dict[str, Any]:
    """Median seconds per call over `repeats` repetitions after 2 warm-up calls.

    call() runs one (asynchronous) call and returns something to block on. A repetition runs
    n calls (n calibrated to last ~min_time s), syncing every SYNC_EVERY calls like the loop.
    """
    n = _calls_per_group(call, min_time)
    times = [_time_group(call, n) for _ in range(max(1, repeats))]
    return {"seconds": statistics.median(times), "calls_per_repeat": n, "all": times}


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
    n_calls = {name: _calls_per_group(bench.calls[name], min_time) for name in names}
    rounds, times, cpu = [], {n: [] for n in names}, {n: [] for n in names}
    for _ in range(max(1, repeats)):
        counters, load = cpu_counters(), os.getloadavg()[0]
        for name in names:
            n, c0 = n_calls[name], own_cpu_seconds()
            times[name].append(_time_group(bench.calls[name], n))
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
