"""FLOP counts of a train step three ways: the analytic Dense-layer count of its network passes
(`step_passes`, `model_flops`), the `dot_general`s of its traced jaxpr (`jaxpr_matmul_flops`) and
XLA's cost analysis of the compiled program (`xla_flops`)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from cpose_jax import models


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


def step_passes(kind: str, opts: Mapping[str, Any], b: int, bw: int) -> list[Pass]:
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
