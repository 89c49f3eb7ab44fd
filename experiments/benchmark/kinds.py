"""The step kinds of a config, compiled ahead of time, their FLOPs counted and one call each
registered on the `Bench` for the interleaved timing rounds."""

from __future__ import annotations

import dataclasses
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax

from cpose_jax import models
from experiments.benchmark.bench import (
    Bench,
    find_stage,
    jit_part,
    part_step,
    step_options,
    with_overrides,
)
from experiments.benchmark.flops import (
    Pass,
    dce_jaxpr,
    jaxpr_matmul_flops,
    model_flops,
    step_passes,
    xla_flops,
)


def measure(
    bench: Bench,
    name: str,
    jitted: Any,
    *,
    donate: bool,
    wild: bool,
    passes: list[Pass] | None,
    n_used_outputs: int | None = None,
) -> dict[str, Any]:
    """Compile `jitted` AOT, count FLOPs and register one call for `time_interleaved`.

    donate: a whole train step (the state donated and advanced by every call, `bench.k` steps
    per call); else a part of one, called on the same state every time. n_used_outputs: the
    jaxpr count covers only what the first that many outputs need (what XLA keeps)."""
    k = bench.k if donate else 1
    state = bench.fresh_state()
    batch_fn = bench.batch_fn(wild=wild, fused=donate)
    batches = [batch_fn(i) for i in range(2)]
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
    if n_used_outputs is not None:
        used = [i < n_used_outputs for i in range(len(closed.jaxpr.outvars))]
        closed_dce = dce_jaxpr(closed, used)
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


def measure_step(
    bench: Bench, name: str, step: Callable, *, wild: bool, passes: list[Pass] | None
) -> dict[str, Any]:
    """The record of a whole train step as training runs it: state donated, compiled by
    `Bench.jit_timed`."""
    return measure(bench, name, bench.jit_timed(step), donate=True, wild=wild, passes=passes)


def measure_part(
    bench: Bench,
    name: str,
    step: Callable,
    nets: tuple[str, ...],
    *,
    with_pool: bool,
    wild: bool,
    passes: list[Pass] | None,
) -> dict[str, Any]:
    """The record of the part of `step` that `nets` (and the pool) need (`part_step`)."""
    fn = part_step(step, nets, with_pool=with_pool)
    nets_out = {n: bench.host_state.nets[n] for n in nets}
    outputs = (nets_out, bench.host_state.pool if with_pool else None)
    return measure(
        bench,
        name,
        jit_part(fn, bench.mesh),
        donate=False,
        wild=wild,
        passes=passes,
        n_used_outputs=len(jax.tree_util.tree_leaves(outputs)),
    )


def measure_e2e_variant(
    bench: Bench, stage: str, kind: str, overrides: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(record, step options) of the end-to-end step of the config with `overrides`, its own
    compile, timed as `kind`."""
    cfg = with_overrides(bench.config, overrides)
    opts = step_options(cfg, stage, bench.modules)
    step = bench.step_fn(stage, cfg)
    passes = step_passes("end_to_end", opts, bench.b, bench.bw)
    return measure_step(bench, kind, step, wild=opts["use_2d_only"], passes=passes), opts


def bench_kinds(bench: Bench, kinds) -> dict[str, Any]:
    """Every step kind of `kinds` the config has a stage for, prepared for the timing rounds
    (`gan_only`: the end-to-end step's generator + discriminator part)."""
    config = bench.config
    out: dict[str, Any] = {}
    for kind in kinds:
        stage = find_stage(config, "end_to_end" if kind == "gan_only" else kind)
        if stage is None:
            out[kind] = {"skipped": f"the config has no stage for {kind!r}"}
            continue
        opts = step_options(config, stage, bench.modules)
        wild = opts["use_2d_only"]  # only a GAN stage trains on 2D-only data
        step = bench.step_fn(stage)
        passes = step_passes(kind, opts, bench.b, bench.bw)
        if kind == "gan_only":
            gan = tuple(n for n in models.GAN_NETS if n in bench.modules)
            rec = measure_part(bench, kind, step, gan, with_pool=True, wild=wild, passes=passes)
        else:
            rec = measure_step(bench, kind, step, wild=wild, passes=passes)
            rec["recompiles"] = 0  # AOT-compiled: the timed calls cannot recompile
        rec["stage"] = stage
        rec["samples_per_step"] = {"paired": bench.b, "two_d_only": bench.bw if wild else 0}
        out[kind] = rec
    return out


def bench_variants(
    bench: Bench, variants: Mapping[str, Mapping[str, Any]]
) -> dict[str, dict[str, Any]]:
    """End-to-end steps of config variants (`{name: {dotted key: value}}`, e.g. `single_update`
    or `gan.disc_every`; the networks must stay those of the config), each compiled as
    `bench_kinds` compiles `end_to_end`, as kinds `e2e:<name>` timed in the same rounds."""
    stage = find_stage(bench.config, "end_to_end")
    out: dict[str, dict[str, Any]] = {}
    for name, overrides in variants.items():
        kind = f"e2e:{name}"
        if stage is None:
            out[kind] = {"skipped": "the config has no end-to-end stage"}
            continue
        rec, opts = measure_e2e_variant(bench, stage, kind, overrides)
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
