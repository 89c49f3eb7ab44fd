"""Checkpoints with orbax's `CheckpointManager` (its `ocp.args` save/restore API).

Layout in the work directory::

    checkpoints/<step>/{state, meta}    the last `keep` checkpoints (whole TrainState + JSON meta)
    best/<step>/{state, meta}           the best model by the selection metric (lower is better)

`meta` is JSON: the run config, the stage/epoch position and the best metric so far, so a
restarted command resumes exactly. Saving is synchronous (the state is donated to the next
step right after) and orbax commits each checkpoint atomically, so a kill leaves the last
complete one intact. Callers must never save a non-finite state (`Checkpointer.save` checks).

Inference reads the pose networks of one checkpoint without the training state's structure:
`find_checkpoint` (best / latest / a step) and `restore_networks` (a partial restore).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

from cpose_jax.train.state import tree_all_finite


class NonFiniteStateError(RuntimeError):
    """Raised instead of saving a state with NaN/Inf."""


def abstract_like(tree: Any) -> Any:
    """ShapeDtypeStructs (with shardings) of `tree`: the restore target."""

    def leaf(x):
        sharding = getattr(x, "sharding", None)
        return jax.ShapeDtypeStruct(np.shape(x), x.dtype, sharding=sharding)

    return jax.tree_util.tree_map(leaf, tree)


def _manager(directory: Path, keep: int) -> ocp.CheckpointManager:
    options = ocp.CheckpointManagerOptions(
        max_to_keep=keep, create=True, enable_async_checkpointing=False
    )
    return ocp.CheckpointManager(directory, options=options)


class Checkpointer:
    """The run's latest-N and best checkpoints."""

    def __init__(self, workdir: str | Path, *, keep: int = 2):
        self.workdir = Path(workdir).absolute()
        self.latest = _manager(self.workdir / "checkpoints", keep)
        self.best = _manager(self.workdir / "best", 1)

    @staticmethod
    def _save(manager: ocp.CheckpointManager, step: int, state: Any, meta: dict) -> None:
        if not bool(jax.device_get(tree_all_finite(state))):
            raise NonFiniteStateError(f"refusing to save a non-finite state at step {step}")
        if step in manager.all_steps():
            return
        manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardSave(state), meta=ocp.args.JsonSave(meta)
            ),
        )
        manager.wait_until_finished()

    def save(self, step: int, state: Any, meta: dict) -> None:
        self._save(self.latest, step, state, meta)

    def save_best(self, step: int, state: Any, meta: dict) -> None:
        for old in self.best.all_steps():
            if old != step:
                self.best.delete(old)
        self._save(self.best, step, state, meta)

    @staticmethod
    def _restore(manager: ocp.CheckpointManager, step: int, target: Any) -> tuple[Any, dict]:
        try:
            out = manager.restore(
                step,
                args=ocp.args.Composite(
                    state=ocp.args.StandardRestore(abstract_like(target)),
                    meta=ocp.args.JsonRestore(),
                ),
            )
        except ValueError as e:
            if "tree structures do not match" not in str(e):
                raise
            raise CheckpointError(
                f"the checkpoint {manager.directory}/{step} does not match this run's training "
                "state: its parameters or optimizer states are laid out differently from what "
                "this config and this version of cpose_jax build (it was written by another "
                "config or another version). Its networks can still be evaluated: "
                "experiments.evaluate and experiments.infer read only the networks. To train, "
                f"use a new work directory. orbax: {' '.join(str(e).split())[:400]}"
            ) from e
        return out.state, dict(out.meta)

    def latest_step(self) -> int | None:
        return self.latest.latest_step()

    def restore_latest(self, target: Any) -> tuple[Any, dict] | None:
        """(state, meta) of the newest checkpoint, or None when there is none."""
        step = self.latest.latest_step()
        if step is None:
            return None
        return self._restore(self.latest, step, target)

    def best_meta(self) -> dict | None:
        step = self.best.latest_step()
        if step is None:
            return None
        out = self.best.restore(step, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))
        return dict(out.meta)

    def restore_best(self, target: Any) -> tuple[Any, dict] | None:
        step = self.best.latest_step()
        if step is None:
            return None
        return self._restore(self.best, step, target)

    def close(self) -> None:
        self.latest.close()
        self.best.close()


# ------------------------------------------------------------------- inference-side reading


class CheckpointError(ValueError):
    """A missing / unreadable checkpoint or model spec; the message is one line."""


def _complete_steps(folder: Path) -> list[int]:
    if not folder.is_dir():
        return []
    # orbax writes into '<step>.orbax-checkpoint-tmp-*' and renames when complete, so a purely
    # numeric folder holding a state is a finished checkpoint.
    return sorted(
        int(p.name) for p in folder.iterdir() if p.name.isdigit() and (p / "state").is_dir()
    )


def find_checkpoint(workdir: str | Path, which: str = "best") -> tuple[Path, str]:
    """(step folder, description) of a work directory's checkpoint `which`: 'best' (the best
    model; the latest checkpoint when there is none), 'latest', or a step number."""
    workdir = Path(workdir)
    best, latest = _complete_steps(workdir / "best"), _complete_steps(workdir / "checkpoints")
    if which == "best":
        if best:
            return workdir / "best" / str(best[-1]), "best"
        if latest:
            return workdir / "checkpoints" / str(latest[-1]), "latest (no best checkpoint)"
    elif which == "latest":
        if latest:
            return workdir / "checkpoints" / str(latest[-1]), "latest"
    elif which.isdigit():
        if int(which) in latest:
            return workdir / "checkpoints" / which, f"step {which}"
        if int(which) in best:
            return workdir / "best" / which, f"step {which} (best)"
        raise CheckpointError(
            f"{workdir}: no checkpoint at step {which}; have {latest} (+ best {best})"
        )
    else:
        raise CheckpointError(f"checkpoint must be best, latest or a step, got {which!r}")
    if not workdir.is_dir():
        raise CheckpointError(f"{workdir}: no such work directory")
    raise CheckpointError(
        f"{workdir}: no complete checkpoint under checkpoints/ or best/ (train with "
        "python -m experiments.run first)"
    )


def read_meta(step_dir: str | Path) -> dict:
    """The JSON meta saved with a checkpoint (config, step, stage, best metric...)."""
    path = Path(step_dir) / "meta" / "metadata"
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{path}: cannot read the checkpoint's metadata ({e})") from None


def restore_networks(step_dir: str | Path, names: tuple[str, ...]) -> tuple[dict, dict]:
    """({name: {'params', 'batch_stats'?}}, meta) of the networks `names` in one checkpoint,
    on this process's first device whatever topology saved it (an orbax partial restore:
    optimizer states, other networks and the fake pool stay on disk)."""
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)  # orbax is chatty at INFO/WARNING
    step_dir = Path(step_dir).absolute()
    meta = read_meta(step_dir)
    ckptr = ocp.PyTreeCheckpointer()
    tree = ckptr.metadata(step_dir / "state")
    tree = getattr(tree, "item_metadata", tree)
    tree = getattr(tree, "tree", tree)
    nets = tree.get("nets", {}) if isinstance(tree, Mapping) else {}
    missing = [n for n in names if n not in nets]
    if missing:
        raise CheckpointError(f"{step_dir}: the checkpoint lacks networks {missing}")
    wanted = {
        "nets": {
            n: {k: nets[n][k] for k in ("params", "batch_stats") if nets[n].get(k)} for n in names
        }
    }
    sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
    target = jax.tree_util.tree_map(
        lambda m: jax.ShapeDtypeStruct(tuple(m.shape), m.dtype, sharding=sharding), wanted
    )
    restore_args = jax.tree_util.tree_map(lambda m: ocp.ArrayRestoreArgs(sharding=sharding), wanted)
    restored = ckptr.restore(
        step_dir / "state",
        args=ocp.args.PyTreeRestore(item=target, restore_args=restore_args, partial_restore=True),
    )
    return {n: dict(restored["nets"][n]) for n in names}, meta
