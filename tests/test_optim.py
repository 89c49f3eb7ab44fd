"""Learning-rate schedules of cpose_jax.train.optim (values worked out by hand)."""

import numpy as np
import pytest

from cpose_jax.train import optim


def test_linear_decay_schedule_is_poseaug_lambda_rule():
    # PoseAug: lr0 * (1 - epoch / (epochs + 1)), stepped once per epoch. 3 epochs of 4 steps:
    # epoch 0 -> 1.0, epoch 1 -> 1 - 1/4 = 0.75, epoch 2 -> 0.5; held at the last epoch's value.
    sched = optim.linear_decay_schedule(2.0, steps_per_epoch=4, epochs=3)
    got = [float(sched(c)) for c in (0, 3, 4, 7, 8, 11, 12, 100)]
    np.testing.assert_allclose(got, [2.0, 2.0, 1.5, 1.5, 1.0, 1.0, 1.0, 1.0], rtol=1e-6)
    ramp = optim.linear_decay_schedule(2.0, steps_per_epoch=4, epochs=3, warmup_steps=2)
    np.testing.assert_allclose([float(ramp(c)) for c in (0, 1, 4)], [1.0, 2.0, 1.5], rtol=1e-6)
    with pytest.raises(ValueError, match="steps_per_epoch"):
        optim.linear_decay_schedule(1.0, steps_per_epoch=0, epochs=3)


def test_per_leaf_optimizer_equals_the_flattened_one():
    """The default per-leaf chain and optax.flatten's one-vector chain are the same update:
    the clip is by the GLOBAL norm over every leaf (a per-leaf clip would differ here, where
    the leaves' norms are 5 and 0.05 and the global one is above the clip norm 1)."""
    import jax
    import jax.numpy as jnp
    import optax

    params = {"a": {"w": jnp.ones((2, 3))}, "b": jnp.full((4,), 0.5)}
    sched = optax.constant_schedule(1e-2)
    leaf = optim.make_optimizer(sched)
    flat = optim.make_optimizer(sched, flatten=True)
    p_leaf, s_leaf = params, leaf.init(params)
    p_flat, s_flat = params, flat.init(params)

    def grad(i):
        return {
            "a": {"w": jnp.full((2, 3), 5.0 / np.sqrt(6.0)) * (i + 1)},
            "b": jnp.asarray([0.05, 0.0, 0.0, 0.0]) * (-1.0) ** i,
        }

    for i in range(4):
        u, s_leaf = leaf.update(grad(i), s_leaf, p_leaf)
        p_leaf = optax.apply_updates(p_leaf, u)
        u, s_flat = flat.update(grad(i), s_flat, p_flat)
        p_flat = optax.apply_updates(p_flat, u)
    for a, b in zip(jax.tree_util.tree_leaves(p_leaf), jax.tree_util.tree_leaves(p_flat)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-6, atol=1e-7)
    # The clip used the global norm: Adam's first moment after one step is 0.1 * g / |g|.
    _, first = leaf.update(grad(0), leaf.init(params), params)
    mu_b = np.asarray(first[1][0].mu["b"])
    np.testing.assert_allclose(mu_b[0] / 0.1, 0.05 / np.hypot(5.0, 0.05), rtol=1e-5)
