"""The printed summary of a benchmark result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


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
