"""Optimizers and THE "loss -> gradient -> optax update" helper used by every network.

Every network owns one optax transformation, always of the same structure
`chain(clip_by_global_norm, adam(w)(schedule))` so a network's optimizer state keeps one tree
structure across stages (a stage swaps the schedule and resets the state, see
`state.reset_opt_states`). PoseAug clips every network's gradient (generator, discriminators
and lifter) to global norm 1.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from cpose_jax.train.state import NetState


def step_decay_schedule(
    base_lr: float, *, boundaries: Sequence[int], factor: float, warmup_steps: int = 0
) -> optax.Schedule:
    """lr = base_lr * factor ** (number of boundaries <= count); boundaries in optimizer steps.

    The paper (§4.3) decays the learning rate at given epochs without naming the factor;
    callers convert epochs to steps (`epoch * steps_per_epoch`). warmup_steps > 0 ramps the
    lr linearly from base_lr / warmup_steps up to the schedule over the first steps (fresh Adam
    moments at a high lr move every parameter by ~lr at once).
    """
    if base_lr < 0 or factor <= 0:
        raise ValueError(f"need base_lr >= 0 and factor > 0, got {base_lr}, {factor}")
    bounds = sorted(int(b) for b in boundaries if int(b) > 0)
    decay = optax.piecewise_constant_schedule(base_lr, {b: factor for b in bounds})
    if warmup_steps <= 0:
        return decay
    warm = float(warmup_steps)

    def schedule(count):
        return decay(count) * jnp.minimum(1.0, (count + 1) / warm)

    return schedule


def linear_decay_schedule(
    base_lr: float, *, steps_per_epoch: int, epochs: int, warmup_steps: int = 0
) -> optax.Schedule:
    """PoseAug's learning rate (``get_scheduler(policy='lambda')``, stepped once per epoch):
    ``base_lr * (1 - e / (epochs + 1))`` during epoch ``e = count // steps_per_epoch`` (0, 1,
    ...), i.e. a staircase from ``base_lr`` down to ``2 base_lr / (epochs + 1)`` in the last
    epoch, held after it (PoseAug's ``LambdaLR``). ``warmup_steps``: as in
    :func:`step_decay_schedule`.
    """
    if base_lr < 0 or steps_per_epoch < 1 or epochs < 0:
        raise ValueError(
            f"need base_lr >= 0, steps_per_epoch >= 1, epochs >= 0; got {base_lr}, "
            f"{steps_per_epoch}, {epochs}"
        )

    def schedule(count):
        epoch = jnp.minimum(count // steps_per_epoch, max(epochs - 1, 0))
        lr = base_lr * (1.0 - epoch / (epochs + 1.0))
        if warmup_steps > 0:
            lr = lr * jnp.minimum(1.0, (count + 1) / float(warmup_steps))
        return lr

    return schedule


def every_k_schedule(schedule: optax.Schedule, k: int) -> optax.Schedule:
    """The schedule of a network updated every `k`-th iteration (its updates at iterations 0,
    k, 2k, ...), kept on the iteration clock: its n-th update (optimizer count n) gets
    `schedule(n * k)`, the value at the iteration it runs in. k = 1 returns `schedule`."""
    if not (isinstance(k, int) and k >= 1):
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if k == 1:
        return schedule
    return lambda count: schedule(count * k)


def make_optimizer(
    learning_rate: optax.Schedule,
    *,
    clip_norm: float = 1.0,
    b1: float = 0.9,
    b2: float = 0.999,
    weight_decay: float = 0.0,
    flatten: bool = False,
) -> optax.GradientTransformation:
    """`chain(clip_by_global_norm(clip_norm), adamw)`; clip_norm <= 0 disables clipping.

    Always the same chain (AdamW with weight_decay 0 is Adam) so that the state structure does
    not depend on the settings.
    """
    max_norm = float(clip_norm) if clip_norm > 0 else float("inf")
    tx = optax.chain(
        optax.clip_by_global_norm(max_norm),
        optax.adamw(learning_rate, b1=b1, b2=b2, weight_decay=weight_decay),
    )
    # Per parameter leaf by default: XLA fuses each leaf's clip, Adam and apply into one pass
    # over its memory. `flatten=True` (optax.flatten: one vector per network, fewer ops, so a
    # quicker compile) concatenates the gradients and slices the updates back, which makes
    # each step slower. The two layouts give the same updates but different optimizer-state
    # trees, so a checkpoint of one does not restore into the other.
    return optax.flatten(tx) if flatten else tx


def apply_gradients(net: NetState, grads: Any, tx: optax.GradientTransformation) -> NetState:
    """One optax update of one network from its gradient."""
    updates, opt_state = tx.update(grads, net.opt_state, net.params)
    return net.replace(params=optax.apply_updates(net.params, updates), opt_state=opt_state)


class Aux(NamedTuple):
    """What every loss function returns beside its value (the one aux convention).

    batch_stats: new BatchNorm statistics by network name (any network, e.g. a frozen one run
      in train mode; networks not named keep theirs).
    metrics: scalars named `train/<net>/<loss>`.
    outputs: anything the caller needs afterwards (e.g. the generator's fakes), or None.
    """

    batch_stats: Mapping[str, Any]
    metrics: Mapping[str, jax.Array]
    outputs: Any = None


def update_networks(
    nets: Mapping[str, NetState],
    names: Sequence[str],
    loss_fn: Callable[[dict[str, Any]], tuple[jax.Array, Aux]],
    txs: Mapping[str, optax.GradientTransformation],
) -> tuple[dict[str, NetState], Aux]:
    """THE update helper: differentiate `loss_fn` w.r.t. the params of `names`, update each net
    with its own optimizer, store the new BatchNorm statistics of `Aux.batch_stats`.

    loss_fn(params: {name: params}) -> (scalar loss, Aux). Networks not in `names` keep their
    params and optimizer state untouched. Returns (new nets dict, the loss's Aux).
    """
    params = {name: nets[name].params for name in names}
    (_, aux), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    out = dict(nets)
    for name in names:
        out[name] = apply_gradients(nets[name], grads[name], txs[name])
    for name, stats in aux.batch_stats.items():
        if stats:
            out[name] = out[name].replace(batch_stats=stats)
    return out, aux


def update_every(due: jax.Array, update, nets, *, updated: Collection[str]):
    """`update(nets) -> (nets, metrics)` where `due` (a traced bool), else `nets` unchanged
    and every metric 0, in a `lax.cond` (one branch runs: the skipped work is not done). The
    metrics named `updated` are 1.0 where the update ran, 0.0 where not: the training loop
    averages a network's other metrics over its updated iterations only."""
    _, shapes = jax.eval_shape(update, nets)

    def run(nets):
        new, metrics = update(nets)
        return new, metrics | {k: jnp.float32(1.0) for k in updated}

    def skip(nets):
        zeros = {k: jnp.zeros(v.shape, v.dtype) for k, v in shapes.items()}
        return nets, zeros | {k: jnp.float32(0.0) for k in updated}

    return jax.lax.cond(due, run, skip, nets)
