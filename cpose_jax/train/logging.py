"""Run logs: a JSON-lines metrics file, TensorBoard event files (tensorboardX) and a tqdm bar.

Only process 0 writes; other processes get no-op writers.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import jax


class MetricWriter:
    """`metrics.jsonl` (one object per logged step) + TensorBoard scalars in `workdir/tb`."""

    def __init__(self, workdir: str | Path, *, enabled: bool | None = None, tensorboard=True):
        self.enabled = jax.process_index() == 0 if enabled is None else enabled
        self._jsonl = None
        self._tb = None
        if not self.enabled:
            return
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self._jsonl = open(workdir / "metrics.jsonl", "a", encoding="utf-8")
        if tensorboard:
            from tensorboardX import SummaryWriter

            self._tb = SummaryWriter(str(workdir / "tb"))

    def write(self, step: int, scalars: dict[str, Any]) -> None:
        if not self.enabled:
            return
        clean = {k: float(v) for k, v in scalars.items()}
        record = {"step": int(step), "time": round(time.time(), 3)}
        record.update({k: (v if math.isfinite(v) else str(v)) for k, v in clean.items()})
        self._jsonl.write(json.dumps(record) + "\n")
        self._jsonl.flush()
        if self._tb is not None:
            for key, value in clean.items():
                self._tb.add_scalar(key, value, int(step))

    def flush(self) -> None:
        if self._tb is not None:
            self._tb.flush()

    def close(self) -> None:
        if self._jsonl is not None:
            self._jsonl.close()
            self._jsonl = None
        if self._tb is not None:
            self._tb.close()
            self._tb = None


def progress_bar(total: int, initial: int = 0, *, enabled: bool | None = None):
    """A tqdm bar over all steps of all stages (stage/epoch go in its description)."""
    from tqdm.auto import tqdm

    enabled = jax.process_index() == 0 if enabled is None else enabled
    return tqdm(
        total=total,
        initial=initial,
        disable=not enabled,
        dynamic_ncols=True,
        unit="it",
        smoothing=0.1,
        mininterval=1.0,
    )
