"""The training loop: stages of jitted steps, resumable checkpoints, logs, model selection.

`run_stages` runs a list of `Stage`s back to back over ONE global step counter
(`TrainState.step`). Stage `i` owns global steps `[start_i, start_i + epochs_i *
steps_per_epoch_i)`. At its first step the optimizer states of the networks it trains are reset
(fresh moments, its own learning-rate schedule); this is a pure function of the params, so a run
resumed exactly at a stage boundary does the same. Batches come from `Stage.batch_fn(local_step)`
(a pure function of the step: a resumed run sees the same data) and randomness from
`fold_in(seed, step)` inside the steps, so a run killed at any point and restarted ends with the
same parameters as an uninterrupted one.

Host syncs: metrics are fetched at least every `sync_every` steps (jax 0.10.2 deadlocks with
many queued collective steps on fake CPU devices), checked for NaN/Inf (a non-finite loss raises
`NonFiniteLossError` naming the network, the loss and the step; no checkpoint is written after
it) and written to metrics.jsonl / TensorBoard as means over the window (`window_means`: a
network that is not updated every step is averaged over its updated steps). Checkpoints every
`checkpoint_every` steps and at every stage end; validation at epoch ends of stages with
`validate=True`, keeping the best model (lowest `select_metric`) apart, and a stage's own
`epoch_fn` diagnostics at its epoch ends.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import jax

from cpose_jax.train.checkpoint import Checkpointer
from cpose_jax.train.logging import MetricWriter, progress_bar
from cpose_jax.train.state import TrainState, reset_opt_states


class NonFiniteLossError(RuntimeError):
    """A training loss became NaN/Inf; the message names network, loss and step."""


@dataclasses.dataclass
class Stage:
    """One training stage.

    name: e.g. 'refiner', 'warmup', 'end_to_end'.
    epochs, steps_per_epoch: the stage runs `epochs * steps_per_epoch` steps ("epoch" = the
      unit of validation and of the lr schedule; with an epoch scale it may cover part of the
      data, see the experiment configs).
    step_fn: jitted `step(state, batch, seed_key) -> (state, metrics)`.
    batch_fn: `batch_fn(local_step) -> global batch` (already placed/sharded for step_fn).
    txs: the optimizers of this stage (for the reset at its start).
    reset_nets: networks whose optimizer state is reset at the stage start.
    validate: run `LoopOptions.validate_fn` at epoch ends and keep the best model.
    epoch_fn: `epoch_fn(state, epoch) -> {name: value}` run at the end of every epoch (1-based
      within the stage), its values (if any) logged at that step: diagnostics too slow for
      every step (e.g. `steps.make_coverage_fn`); None = nothing.
    """

    name: str
    epochs: int
    steps_per_epoch: int
    step_fn: Callable
    batch_fn: Callable[[int], Any]
    txs: Mapping[str, Any]
    reset_nets: tuple[str, ...]
    validate: bool = False
    epoch_fn: Callable[[TrainState, int], Mapping[str, float]] | None = None

    @property
    def num_steps(self) -> int:
        return self.epochs * self.steps_per_epoch


@dataclasses.dataclass
class LoopOptions:
    workdir: str
    seed_key: jax.Array
    meta: dict  # JSON-able (the config); stored with every checkpoint
    sync_every: int = 8
    checkpoint_every: int = 500
    keep: int = 2
    validate_fn: Callable[[TrainState], dict[str, float]] | None = None
    select_metric: str = "val/mpjpe"
    state_sharding: Any = None  # e.g. replicated NamedSharding; None: default device
    progress: bool = True
    tensorboard: bool = True
    # Called with the global step count after each step (and its checkpoint), e.g. a test's
    # simulated preemption; None = no hook.
    after_step: Callable[[int], None] | None = None


@dataclasses.dataclass
class LoopResult:
    state: TrainState
    best_metric: float
    best_step: int | None
    resumed_from: int | None
    seconds: float


def stage_bounds(stages: Sequence[Stage]) -> list[int]:
    """Global step where each stage starts, plus the total at the end."""
    bounds = [0]
    for stage in stages:
        bounds.append(bounds[-1] + stage.num_steps)
    return bounds


def window_means(records: list[Mapping[str, float]]) -> dict[str, float]:
    """The logged value of each metric over a window of steps: its mean, except that the
    metrics `train/<net>/...` of a network with a `train/<net>/updated` metric (1 where the
    step updated it, 0 where not: `steps.make_gan_step` with `gan.disc_every` > 1) are
    averaged over its updated steps only, and left out of a window without one; `updated`
    itself is averaged over all steps (the fraction updated)."""
    sums: dict[str, float] = {}
    weights: dict[str, float] = {}
    for m in records:
        for k, v in m.items():
            parts = k.split("/")
            flag = "/".join([*parts[:2], "updated"])
            w = m[flag] if len(parts) == 3 and flag in m and k != flag else 1.0
            sums[k] = sums.get(k, 0.0) + w * v
            weights[k] = weights.get(k, 0.0) + w
    return {k: sums[k] / weights[k] for k in sums if weights[k] > 0}


def _describe_nonfinite(key: str, value: float, step: int, stage: Stage, epoch: int, ckpt) -> str:
    parts = key.split("/")
    net = parts[1] if len(parts) > 2 else "?"
    loss = "/".join(parts[2:]) if len(parts) > 2 else key
    last = ckpt.latest_step()
    where = f"step {last} in {ckpt.workdir / 'checkpoints'}" if last is not None else "none yet"
    return (
        f"non-finite loss: network '{net}', loss '{loss}' ({key} = {value}) at step {step} "
        f"(stage '{stage.name}', epoch {epoch + 1}). Training stopped; the last good checkpoint "
        f"({where}) is intact."
    )


def run_stages(state: TrainState, stages: Sequence[Stage], options: LoopOptions) -> LoopResult:
    """Train through `stages` from `state` (or from the workdir's latest checkpoint)."""
    t_start = time.time()
    ckpt = Checkpointer(options.workdir, keep=options.keep)
    resumed_from = None
    restored = ckpt.restore_latest(state)
    if restored is not None:
        state, _ = restored
        resumed_from = int(jax.device_get(state.step))
    writer = MetricWriter(
        options.workdir, tensorboard=options.tensorboard, keep_until=resumed_from or 0
    )
    best_meta = ckpt.best_meta()
    best = float(best_meta["best_metric"]) if best_meta else math.inf
    best_step = int(best_meta["step"]) if best_meta else None

    bounds = stage_bounds(stages)
    total = bounds[-1]
    step = int(jax.device_get(state.step))
    bar = progress_bar(total, initial=min(step, total), enabled=None if options.progress else False)
    try:
        for si, stage in enumerate(stages):
            start, end = bounds[si], bounds[si + 1]
            if step >= end:
                continue
            if step == start and stage.reset_nets:
                reset = functools.partial(reset_opt_states, txs=stage.txs, names=stage.reset_nets)
                state = jax.jit(reset, out_shardings=options.state_sharding)(state)
            pending: list[tuple[int, dict]] = []

            def flush(stage=stage, start=start, pending=pending):
                if not pending:
                    return
                fetched = jax.device_get([m for _, m in pending])
                records = []
                for (s, _), m in zip(pending, fetched):
                    record = {k: float(v) for k, v in m.items()}
                    for k, v in record.items():
                        if not math.isfinite(v):
                            epoch = (s - start) // stage.steps_per_epoch
                            raise NonFiniteLossError(
                                _describe_nonfinite(k, v, s, stage, epoch, ckpt)
                            )
                    records.append(record)
                writer.write(pending[-1][0] + 1, window_means(records))
                pending.clear()

            for s in range(step, end):
                local = s - start
                epoch = local // stage.steps_per_epoch
                if local % stage.steps_per_epoch == 0 or s == step:
                    bar.set_description(
                        f"{stage.name} ({si + 1}/{len(stages)}) epoch {epoch + 1}/{stage.epochs}"
                    )
                batch = stage.batch_fn(local)
                state, metrics = stage.step_fn(state, batch, options.seed_key)
                pending.append((s, metrics))
                done = s + 1
                epoch_end = (done - start) % stage.steps_per_epoch == 0
                save = done % options.checkpoint_every == 0 or done == end
                if len(pending) >= options.sync_every or epoch_end or save:
                    flush()
                bar.update(1)
                if epoch_end and stage.epoch_fn is not None:
                    extra = dict(stage.epoch_fn(state, epoch + 1))
                    if extra:
                        writer.write(done, extra)
                if epoch_end and stage.validate and options.validate_fn is not None:
                    val = options.validate_fn(state)
                    writer.write(done, val)
                    value = float(val[options.select_metric])
                    if writer.enabled:
                        bar.write(
                            f"[{stage.name}] epoch {epoch + 1}/{stage.epochs} step {done}: "
                            + ", ".join(
                                f"{k} {v:.2f}" for k, v in val.items() if k.startswith("val/")
                            )
                        )
                    if value < best:
                        best, best_step = value, done
                        ckpt.save_best(
                            done,
                            state,
                            dict(
                                options.meta,
                                step=done,
                                stage=stage.name,
                                epoch=epoch + 1,
                                best_metric=best,
                                select_metric=options.select_metric,
                            ),
                        )
                if save:
                    ckpt.save(
                        done,
                        state,
                        dict(options.meta, step=done, stage=stage.name, epoch=epoch + 1),
                    )
                if options.after_step is not None:
                    options.after_step(done)
            step = end
            writer.flush()
    finally:
        bar.close()
        writer.close()
        ckpt.close()
    return LoopResult(
        state=state,
        best_metric=best,
        best_step=best_step,
        resumed_from=resumed_from,
        seconds=time.time() - t_start,
    )
