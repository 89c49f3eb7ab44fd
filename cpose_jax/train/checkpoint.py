"""Checkpoints with orbax's `CheckpointManager` (v0 API, research/jaxstack.md §5).

Layout in the work directory::

    checkpoints/<step>/{state, meta}    the last `keep` checkpoints (whole TrainState + JSON meta)
    best/<step>/{state, meta}           the best model by the selection metric (lower is better)

`meta` is JSON: the run config, the stage/epoch position and the best metric so far, so a
restarted command resumes exactly. Saving is synchronous (the state is donated to the next
step right after) and orbax commits each checkpoint atomically, so a kill leaves the last
complete one intact. Callers must never save a non-finite state (`Checkpointer.save` checks).
"""

from __future__ import annotations

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
        out = manager.restore(
            step,
            args=ocp.args.Composite(
                state=ocp.args.StandardRestore(abstract_like(target)),
                meta=ocp.args.JsonRestore(),
            ),
        )
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
