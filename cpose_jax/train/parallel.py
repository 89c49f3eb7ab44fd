"""Data parallelism: one SPMD program over a `('data',)` mesh of every device of every host.

The batch is sharded along its leading axis (`P('data')`), the train state is replicated
(`P()`); the step is ordinary single-device code under `jax.jit` with these shardings, so XLA
inserts the gradient all-reduce and BatchNorm's batch statistics are computed over the GLOBAL
batch. Multi-process: call `initialize_distributed` first; every process then feeds only its
own rows of each global batch (`global_batch_from_local`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

DATA_AXIS = "data"


def initialize_distributed(
    *,
    coordinator_address: str | None = None,
    num_processes: int | None = None,
    process_id: int | None = None,
    local_device_ids: list[int] | None = None,
    coordinator_bind_address: str | None = None,
) -> bool:
    """`jax.distributed.initialize` when launched multi-process; returns True if it ran.

    Explicit arguments win; otherwise the environment variables JAX_COORDINATOR_ADDRESS,
    JAX_NUM_PROCESSES, JAX_PROCESS_ID (and JAX_COORDINATOR_BIND_ADDRESS) are read. With neither,
    on a TPU pod slice or under SLURM/Open MPI JAX auto-detects everything when
    JAX_AUTO_DISTRIBUTED=1 (then `jax.distributed.initialize()` runs without arguments).
    Otherwise this is a single-process run and nothing happens.
    """
    env = os.environ
    coordinator_address = coordinator_address or env.get("JAX_COORDINATOR_ADDRESS") or None
    if num_processes is None and env.get("JAX_NUM_PROCESSES"):
        num_processes = int(env["JAX_NUM_PROCESSES"])
    if process_id is None and env.get("JAX_PROCESS_ID"):
        process_id = int(env["JAX_PROCESS_ID"])
    bind = coordinator_bind_address or env.get("JAX_COORDINATOR_BIND_ADDRESS") or None
    if coordinator_address:
        kwargs: dict[str, Any] = dict(
            coordinator_address=coordinator_address,
            num_processes=num_processes,
            process_id=process_id,
        )
        if local_device_ids is not None:
            kwargs["local_device_ids"] = local_device_ids
        if bind:
            kwargs["coordinator_bind_address"] = bind
        jax.distributed.initialize(**kwargs)
        return True
    if env.get("JAX_AUTO_DISTRIBUTED", "") not in ("", "0"):
        jax.distributed.initialize()
        return True
    return False


def make_mesh(num_devices: int | None = None) -> jax.sharding.Mesh:
    """A 1-D `('data',)` mesh over the first `num_devices` global devices (default: all).

    Auto axis type (GSPMD propagation): the step code needs no sharding annotations.
    """
    devices = jax.devices()
    n = len(devices) if num_devices is None else int(num_devices)
    if not 1 <= n <= len(devices):
        raise ValueError(f"num_devices must be in [1, {len(devices)}], got {n}")
    if n == len(devices):
        return jax.make_mesh((n,), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,))
    return jax.sharding.Mesh(
        np.asarray(devices[:n]), (DATA_AXIS,), axis_types=(jax.sharding.AxisType.Auto,)
    )


def data_sharding(mesh: jax.sharding.Mesh) -> NamedSharding:
    """Leading (batch) axis split over 'data'."""
    return NamedSharding(mesh, P(DATA_AXIS))


def replicated(mesh: jax.sharding.Mesh) -> NamedSharding:
    return NamedSharding(mesh, P())


def replicate(tree: Any, mesh: jax.sharding.Mesh) -> Any:
    """Place a host/device pytree replicated on every device of `mesh` (all processes must
    pass the same values)."""
    sharding = replicated(mesh)
    if jax.process_count() == 1:
        return jax.device_put(tree, sharding)
    return jax.tree_util.tree_map(
        lambda x: jax.make_array_from_process_local_data(sharding, np.asarray(x)), tree
    )


def process_rows(global_batch_size: int, mesh: jax.sharding.Mesh) -> slice:
    """The rows of a global batch that this process feeds (contiguous, in process order)."""
    n_proc = len({d.process_index for d in mesh.devices.flat})
    if global_batch_size % mesh.devices.size:
        raise ValueError(
            f"global batch {global_batch_size} not divisible by {mesh.devices.size} devices"
        )
    per = global_batch_size // n_proc
    index = jax.process_index() if n_proc > 1 else 0
    return slice(index * per, (index + 1) * per)


def global_batch_from_local(
    local: Mapping[str, np.ndarray], mesh: jax.sharding.Mesh, global_batch_size: int
) -> dict[str, jax.Array]:
    """Assemble a `P('data')`-sharded global batch from this process's rows.

    local: this process's rows (`process_rows`) of every array; in a single process that is
    the whole batch.
    """
    sharding = data_sharding(mesh)
    out = {}
    for key, value in local.items():
        value = np.asarray(value)
        shape = (global_batch_size, *value.shape[1:])
        if jax.process_count() == 1:
            if value.shape != shape:
                raise ValueError(f"batch[{key!r}] has shape {value.shape}, expected {shape}")
            out[key] = jax.device_put(value, sharding)
        else:
            out[key] = jax.make_array_from_process_local_data(sharding, value, shape)
    return out


def to_host(tree: Any) -> Any:
    """Fetch (possibly multi-process sharded) arrays as full numpy arrays on every process."""
    if jax.process_count() == 1:
        return jax.device_get(tree)
    from jax.experimental import multihost_utils

    return multihost_utils.process_allgather(tree, tiled=True)


def placement(mesh: jax.sharding.Mesh, global_batch_size: int) -> Callable[[dict], dict]:
    """`place(batch)` for a host batch every process holds whole (e.g. an evaluation set's
    chunk of `global_batch_size` rows): this process's rows, assembled into the global
    `P('data')`-sharded batch."""

    def place(batch: Mapping[str, np.ndarray]) -> dict[str, jax.Array]:
        rows = process_rows(global_batch_size, mesh)
        local = {k: v[rows] for k, v in batch.items()}
        return global_batch_from_local(local, mesh, global_batch_size)

    return place
