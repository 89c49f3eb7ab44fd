"""CPU time of a compiled program per HLO category and per op, from a `jax.profiler` trace."""

from __future__ import annotations

import glob
import os
import re
from collections.abc import Callable
from typing import Any

import jax

from experiments.benchmark.timing import block

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
