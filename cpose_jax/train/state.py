"""The one training-state pytree: step, every network's variables and optax state, the fake pool.

Layout (a pytree of arrays; orbax saves and restores it whole)::

    TrainState
      step: int32 ()                         global iteration counter over all stages
      nets: dict[name, NetState]             models.POSE_NETS + GAN_NETS a model has
        NetState.params        flax params
        NetState.batch_stats   BatchNorm running statistics ({} for BN-free networks)
        NetState.opt_state     this network's own optax state (never shared)
      pool: PoolState | None                 PoseAug's fake-pose history (None without a GAN)

Static things (flax modules, optax transformations, loss weights) are never inside the state;
step factories close over them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import flax.struct
import jax
import jax.numpy as jnp


@flax.struct.dataclass
class NetState:
    """One network: params, BatchNorm statistics and its own optimizer state."""

    params: Any
    batch_stats: Any
    opt_state: Any

    def variables(self) -> dict[str, Any]:
        """The flax variable dict (`params` and, when present, `batch_stats`)."""
        if self.batch_stats:
            return {"params": self.params, "batch_stats": self.batch_stats}
        return {"params": self.params}


@flax.struct.dataclass
class PoolState:
    """PoseAug's fake-pose pool (`Sample_from_Pool`), fixed-size arrays kept inside jit.

    pose_3d: `(P, J, 3)` metres, camera frame of the generator output (root-relative use is up
    to the consumer); keypoints_2d: `(P, J, 2)` normalized screen coords; count: int32 `()`
    number of filled slots (saturates at P).
    """

    pose_3d: jax.Array
    keypoints_2d: jax.Array
    count: jax.Array


@flax.struct.dataclass
class TrainState:
    """See the module docstring."""

    step: jax.Array
    nets: dict[str, NetState]
    pool: PoolState | None = None


def init_net_state(
    module: Any,
    tx: Any,
    rng: jax.Array,
    *example_args: Any,
    **example_kwargs: Any,
) -> NetState:
    """Initialise a flax module (`train=False`) and its optax state.

    example_args: example inputs (a batch of 2 is enough); `rngs` for 'params', 'dropout'
    and 'noise' are all derived from `rng`.
    """
    k_params, k_dropout, k_noise = jax.random.split(rng, 3)
    variables = module.init(
        {"params": k_params, "dropout": k_dropout, "noise": k_noise},
        *example_args,
        train=False,
        **example_kwargs,
    )
    variables = dict(variables)
    params = variables.pop("params")
    batch_stats = variables.pop("batch_stats", {})
    if variables:
        raise ValueError(f"unsupported flax collections {sorted(variables)} in {module!r}")
    return NetState(params=params, batch_stats=batch_stats, opt_state=tx.init(params))


def init_pool(size: int, num_joints: int) -> PoolState:
    """An empty fake pool of `size` samples (`size` >= one batch of fakes)."""
    if size < 1:
        raise ValueError(f"pool size must be >= 1, got {size}")
    return PoolState(
        pose_3d=jnp.zeros((size, num_joints, 3), jnp.float32),
        keypoints_2d=jnp.zeros((size, num_joints, 2), jnp.float32),
        count=jnp.zeros((), jnp.int32),
    )


def reset_opt_states(
    state: TrainState, txs: Mapping[str, Any], names: tuple[str, ...]
) -> TrainState:
    """Fresh optax states for `names` (a new stage starts its own schedule and moments)."""
    nets = dict(state.nets)
    for name in names:
        net = nets[name]
        nets[name] = net.replace(opt_state=txs[name].init(net.params))
    return state.replace(nets=nets)


def tree_all_finite(tree: Any) -> jax.Array:
    """bool `()`: every floating leaf of `tree` is finite."""
    leaves = [
        jnp.all(jnp.isfinite(x))
        for x in jax.tree_util.tree_leaves(tree)
        if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating)
    ]
    if not leaves:
        return jnp.asarray(True)
    return jnp.all(jnp.stack(leaves))
