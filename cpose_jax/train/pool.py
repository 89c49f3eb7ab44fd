"""PoseAug's fake-pose history pool (its `utils/gan_utils.Sample_from_Pool`, 4096 samples), as a
pure function on fixed-size arrays so it lives inside the jitted iteration.

Semantics (Shrivastava et al.; CycleGAN's image pool): while the pool is not full every fake
is stored and passed through; once full, each fake is, with probability 1/2, swapped for a
random stored one (the stored one goes to the discriminator, the new one takes its slot),
otherwise passed through. Vectorised per batch: the batch size must divide the pool size, so a
batch either only fills or only swaps, and swap slots are distinct (no write collisions, hence
identical results however the batch is sharded).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from cpose_jax.train.state import PoolState


def pool_query(
    pool: PoolState,
    pose_3d: jax.Array,
    keypoints_2d: jax.Array,
    rng: jax.Array,
) -> tuple[PoolState, jax.Array, jax.Array]:
    """Push a batch of fakes, return (new pool, fakes for the discriminators).

    pose_3d: `(B, J, 3)`; keypoints_2d: `(B, J, 2)`; the pool holds `(P, J, ·)` with P % B == 0.
    The returned fakes are treated as constants (no gradient flows into the pool).
    """
    size = pool.pose_3d.shape[0]
    n = pose_3d.shape[0]
    if pose_3d.shape[1:] != pool.pose_3d.shape[1:] or keypoints_2d.shape[0] != n:
        raise ValueError(
            f"fakes {pose_3d.shape}, {keypoints_2d.shape} do not match pool "
            f"{pool.pose_3d.shape}, {pool.keypoints_2d.shape}"
        )
    if size % n:
        raise ValueError(f"pool size {size} must be a multiple of the fake batch {n}")
    pose_3d = jax.lax.stop_gradient(pose_3d)
    keypoints_2d = jax.lax.stop_gradient(keypoints_2d)

    # Not full: append at `count`, pass the batch through.
    start = jnp.minimum(pool.count, size - n)
    fill_3d = jax.lax.dynamic_update_slice_in_dim(pool.pose_3d, pose_3d, start, axis=0)
    fill_2d = jax.lax.dynamic_update_slice_in_dim(pool.keypoints_2d, keypoints_2d, start, axis=0)

    # Full: each sample swaps with prob 1/2 with a distinct random slot.
    k_swap, k_slot = jax.random.split(rng)
    swap = jax.random.bernoulli(k_swap, 0.5, (n,))
    slots = jax.random.permutation(k_slot, size)[:n]
    out_3d = jnp.where(swap[:, None, None], pool.pose_3d[slots], pose_3d)
    out_2d = jnp.where(swap[:, None, None], pool.keypoints_2d[slots], keypoints_2d)
    write = jnp.where(swap, slots, size)  # out of range -> dropped
    swap_3d = pool.pose_3d.at[write].set(pose_3d, mode="drop")
    swap_2d = pool.keypoints_2d.at[write].set(keypoints_2d, mode="drop")

    full = pool.count >= size
    new_pool = PoolState(
        pose_3d=jnp.where(full, swap_3d, fill_3d),
        keypoints_2d=jnp.where(full, swap_2d, fill_2d),
        count=jnp.minimum(pool.count + n, size).astype(jnp.int32),
    )
    return (
        new_pool,
        jnp.where(full, out_3d, pose_3d),
        jnp.where(full, out_2d, keypoints_2d),
    )
