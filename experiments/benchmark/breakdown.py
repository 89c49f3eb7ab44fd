"""Variants of the end-to-end step, timed in rounds with the unchanged step, to see where its
time goes (`--breakdown`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import jax

from cpose_jax import models
from cpose_jax.train import parallel
from experiments.benchmark.bench import Bench, find_stage, step_options
from experiments.benchmark.kinds import measure_e2e_variant, measure_part, measure_step
from experiments.benchmark.matmul import matmul_timing_recs
from experiments.benchmark.timing import time_interleaved

_DROPOUT_KEYS = ("model.lifter.dropout", "model.refiner.dropout", "model.camera.dropout")
# The fields of a breakdown record (the baseline's are copied from the main rounds' record).
_SHORT_KEYS = (
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


def bench_breakdown(bench: Bench, *, repeats: int, min_time: float) -> dict[str, Any]:
    """Variants of the end-to-end step (each its own compile) to locate its costs: no
    dropout, no feedback loss, no 2D-only batch, no augmented pairs, the pose-network part,
    other PRNG implementations."""
    config = bench.config
    stage = find_stage(config, "end_to_end")
    if stage is None:
        return {"skipped": "no end-to-end stage"}

    def variant(name: str, overrides: dict[str, Any]):
        recs[name], _ = measure_e2e_variant(bench, stage, name, overrides)

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
    wild = step_options(config, stage, bench.modules)["use_2d_only"]
    pose = tuple(n for n in models.POSE_NETS if n in bench.modules)
    recs["pose_only"] = measure_part(
        bench, "pose_only", bench.step_fn(stage), pose, with_pool=False, wild=wild, passes=None
    )

    # Other PRNG implementations for the same step (dropout masks, generator noise, pool).
    for impl in ("rbg", "unsafe_rbg"):
        saved = bench.seed_key
        bench.seed_key = parallel.replicate(jax.random.key(0, impl=impl), bench.mesh)
        try:
            step = bench.step_fn(stage)
            recs[f"prng_{impl}"] = measure_step(bench, f"prng_{impl}", step, wild=wild, passes=None)
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
    return {k: rec[k] for k in _SHORT_KEYS if k in rec}
