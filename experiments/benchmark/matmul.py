"""The matmul rates the steps are compared with: XLA's float32 products on the mesh and the same
products in reference BLAS libraries, timed in the same rounds as the steps."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax.train import parallel

if TYPE_CHECKING:
    from experiments.benchmark.bench import Bench


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
