"""THE pose forward pass (refined 2D -> 3D -> camera), shared by inference and training.

`pose_forward` runs the pose networks a model has (`models.POSE_NETS`: refiner optional,
lifter, camera optional) in order; `apply_module` runs one flax module with its BatchNorm
statistics and the 'dropout' / 'noise' rng streams. Training steps call them with `train=True`
and the networks they update in `trained`; `inference.predict` calls them with `train=False`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

import jax


def apply_module(
    module: Any,
    variables: Mapping[str, Any],
    *args: Any,
    train: bool,
    rng: jax.Array | None = None,
    update_stats: bool = True,
) -> tuple[Any, Any]:
    """Run a flax module; returns (output, batch_stats).

    variables: `{'params': ..., 'batch_stats'?: ...}` (params possibly traced for grad).
    train: training mode (dropout on, BatchNorm on batch statistics). The returned statistics
      are the new ones when `train` and `update_stats` and the module has BatchNorm, else the
      given ones ({} without BatchNorm). rng feeds the 'dropout' and 'noise' streams.
    """
    stats = variables.get("batch_stats") or {}
    variables = {"params": variables["params"], **({"batch_stats": stats} if stats else {})}
    rngs = None
    if rng is not None:
        k_drop, k_noise = jax.random.split(rng)
        rngs = {"dropout": k_drop, "noise": k_noise}
    if train and stats:
        out, mutated = module.apply(
            variables, *args, train=True, rngs=rngs, mutable=["batch_stats"]
        )
        return out, (mutated["batch_stats"] if update_stats else stats)
    return module.apply(variables, *args, train=train, rngs=rngs), stats


def pose_forward(
    modules: Mapping[str, Any],
    variables: Mapping[str, Mapping[str, Any]],
    keypoints_2d: jax.Array,
    confidence: jax.Array,
    *,
    train: bool = False,
    rng: jax.Array | None = None,
    trained: Collection[str] = (),
    refiner_grad_scale: float = 1.0,
) -> tuple[dict[str, jax.Array], dict[str, Any]]:
    """refiner? -> lifter -> camera? on a batch of 2D poses.

    Args:
      modules: flax modules by name; 'lifter' required, 'refiner' and 'camera' optional.
      variables: per network `{'params', 'batch_stats'?}`.
      keypoints_2d: `(B, J, 2)` normalized screen coordinates.
      confidence: `(B, J)` raw confidences (the refiner normalizes them, Eq. 3).
      train: training mode for the lifter and camera branch.
      rng: split into one key per network (needed when `train`).
      trained: the networks being updated. A refiner not in it runs in inference mode with
        its output's gradient stopped (frozen, as at test time); the new BatchNorm statistics
        of networks in it (and in `modules`) are returned when `train`.
      refiner_grad_scale: a trained refiner's output feeds the lifter and camera with its
        gradient scaled by this (same values): 1 = end to end (the paper); 0 = the
        downstream losses do not reach the refiner (trained by Eq. 4 on
        `keypoints_2d_refined` alone).

    Returns:
      (outputs, new_batch_stats). outputs: `pose_3d (B, J, 3)` root-relative metres; with a
      refiner `keypoints_2d_refined (B, J, 2)`; with a camera branch `intrinsics (B, 4)`
      normalized and `translation (B, 3)` metres.
    """
    keys = jax.random.split(rng, 3) if rng is not None else (None, None, None)
    out: dict[str, jax.Array] = {}
    new_stats: dict[str, Any] = {}
    x = keypoints_2d
    if "refiner" in modules:
        ref_train = train and "refiner" in trained
        x, stats = apply_module(
            modules["refiner"],
            variables["refiner"],
            keypoints_2d,
            confidence,
            train=ref_train,
            rng=keys[0],
        )
        out["keypoints_2d_refined"] = x
        if ref_train:
            new_stats["refiner"] = stats
            if refiner_grad_scale != 1.0:
                frozen = jax.lax.stop_gradient(x)
                x = frozen + refiner_grad_scale * (x - frozen)
        else:
            x = jax.lax.stop_gradient(x)
            out["keypoints_2d_refined"] = x
    for name, key in (("lifter", keys[1]), ("camera", keys[2])):
        if name not in modules:
            continue
        y, stats = apply_module(modules[name], variables[name], x, train=train, rng=key)
        if train and name in trained:
            new_stats[name] = stats
        if name == "lifter":
            out["pose_3d"] = y
        else:
            out.update(y)
    return out, new_stats
