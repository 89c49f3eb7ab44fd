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


def _kept_records(path: Path, keep_until: int) -> bytes:
    """The complete, readable lines of an existing ``metrics.jsonl`` logged at steps <=
    ``keep_until`` (a line cut by a crash, or one logged after the checkpoint a run resumes
    from, would otherwise sit in the log twice or corrupt the next record)."""
    kept = []
    for line in path.read_bytes().split(b"\n")[:-1]:  # the last piece has no newline: cut
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if isinstance(record, dict) and int(record.get("step", keep_until + 1)) <= keep_until:
            kept.append(line + b"\n")
    return b"".join(kept)


class MetricWriter:
    """`metrics.jsonl` (one object per logged step) + TensorBoard scalars in `workdir/tb`.

    keep_until: the step the run restarts from (the restored checkpoint's; 0 for a fresh
    start). Records of an earlier attempt logged after it, and a partial last line, are
    dropped from `metrics.jsonl` (rewritten all or nothing) before appending, so a resumed
    run's log reads as an uninterrupted one. None: append to the file as it is.
    """

    def __init__(
        self,
        workdir: str | Path,
        *,
        enabled: bool | None = None,
        tensorboard=True,
        keep_until: int | None = None,
    ):
        self.enabled = jax.process_index() == 0 if enabled is None else enabled
        self._jsonl = None
        self._tb = None
        if not self.enabled:
            return
        workdir = Path(workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        path = workdir / "metrics.jsonl"
        if keep_until is not None and path.exists():
            from cpose_jax import atomic_io

            atomic_io.write_files({path: _kept_records(path, keep_until)})
        self._jsonl = open(path, "a", encoding="utf-8")
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
