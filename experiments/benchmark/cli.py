"""The benchmark run (`run`: every measurement in one process, one JSON-able result) and the
command line (`main`)."""

from __future__ import annotations

import argparse
import ast
import datetime
import json
import os
import platform
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax

from experiments import build
from experiments.benchmark.bench import KINDS, Bench, find_stage, step_options, with_overrides
from experiments.benchmark.breakdown import bench_breakdown
from experiments.benchmark.kinds import bench_kinds, bench_variants
from experiments.benchmark.load import peak_rss_mib
from experiments.benchmark.matmul import (
    best_matmul,
    fill_matmul,
    matmul_rates,
    matmul_timing_recs,
    reference_matmul_rates,
)
from experiments.benchmark.pipeline import bench_fed, bench_pipeline
from experiments.benchmark.profile import profile_compiled
from experiments.benchmark.table import format_table
from experiments.benchmark.timing import time_interleaved
from experiments.configs_common import load_config


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
    result["steps"] = bench_kinds(bench, kinds)
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
    stage = find_stage(config, "end_to_end")
    wild = stage is not None and step_options(config, stage, bench.modules)["use_2d_only"]
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
