"""All-or-nothing file output: the one place every command writes its results through.

A command first decides its output paths and calls :func:`check_targets` (before any work: an
existing file needs ``overwrite=True``, a folder cannot be replaced by a file), then builds every
output in memory (validated: JSON without NaN/Infinity tokens) and hands the whole group to
:func:`write_files`. Each file is written to a temporary file in its target folder, flushed and
fsynced; only when *every* temporary file is complete are they renamed into place. A failure
(full disk, a bad value found while serialising, an interrupt) removes the temporary files and
any folder this call created, so nothing is left behind and an existing output is untouched.

Used by ``experiments.infer`` (JSON, npz, figures), ``experiments.evaluate`` (JSON, markdown),
``experiments.run`` (``config.json``, results), ``experiments.report`` (RESULTS.md, its figures and
summary), :func:`cpose_jax.viz.save_figure` and :func:`cpose_jax.data.schema.save_dataset`
(every ``data_prep`` converter and the synthetic world).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "OutputError",
    "check_targets",
    "figure_bytes",
    "finite_or_null",
    "json_bytes",
    "npz_bytes",
    "write_files",
]


class OutputError(ValueError):
    """An output path that cannot be written as asked; the message is one line."""


def check_targets(paths: Iterable[str | os.PathLike], *, overwrite: bool = False) -> None:
    """Refuses targets that exist (without ``overwrite``) or that are folders.

    Also refuses a target whose parent path is an existing file. Call it before any work.
    """
    for p in map(Path, paths):
        if p.is_dir():
            raise OutputError(f"{p}: is a folder; cannot write a file there")
        if p.exists() and not overwrite:
            raise OutputError(f"{p}: output exists; pass --overwrite to replace it")
        for parent in p.parents:
            if parent.exists():
                if not parent.is_dir():
                    raise OutputError(f"{p}: {parent} is a file, not a folder")
                break


def finite_or_null(doc: Any) -> Any:
    """``doc`` with every non-finite float (NaN, ±Infinity) replaced by None (JSON null)."""
    if isinstance(doc, Mapping):
        return {k: finite_or_null(v) for k, v in doc.items()}
    if isinstance(doc, list | tuple):
        return [finite_or_null(v) for v in doc]
    if isinstance(doc, float | np.floating) and not np.isfinite(doc):
        return None
    return doc


def json_bytes(doc: Any, *, indent: int | None = 1, source: str = "output") -> bytes:
    """Strict JSON (``allow_nan=False``): NaN / Infinity are refused, never written as tokens
    (pass ``finite_or_null(doc)`` where a missing number is meaningful)."""
    try:
        text = json.dumps(doc, indent=indent, allow_nan=False)
    except ValueError as e:
        raise OutputError(f"{source}: non-finite number (NaN/Infinity) in the JSON ({e})") from None
    return (text + "\n").encode("utf-8")


def npz_bytes(arrays: Mapping[str, Any]) -> bytes:
    """An ``.npz`` in memory (``np.savez``, no pickled objects)."""
    buf = io.BytesIO()
    np.savez(buf, **{k: np.asarray(v) for k, v in arrays.items()})
    return buf.getvalue()


def figure_bytes(fig: Any, *, fmt: str = "png", dpi: int = 110) -> bytes:
    """A matplotlib figure rendered in memory (``fmt``: png, pdf, svg, ...; white background)."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, dpi=dpi, facecolor="white")
    return buf.getvalue()


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _make_parents(path: Path, created: list[Path]) -> None:
    missing = []
    for parent in path.parents:
        if parent.exists():
            break
        missing.append(parent)
    for d in reversed(missing):
        d.mkdir()
        created.append(d)


Content = bytes | str | Callable[[Any], None]


def write_files(files: Mapping[str | os.PathLike, Content]) -> list[Path]:
    """Writes every ``path -> content`` all or nothing.

    content: bytes; str (written as UTF-8); or ``fn(binary_file)`` that writes into the open
    temporary file (large arrays: ``lambda f: np.savez(f, **arrays)`` needs no copy in memory).
    Parent folders are created. Returns the paths written, in the given order.
    """
    created_dirs: list[Path] = []
    temps: list[tuple[str, Path]] = []
    renamed: list[Path] = []
    mode = 0o666 & ~_umask()  # mkstemp makes 0600; give the usual file mode
    try:
        for target, content in files.items():
            target = Path(target)
            _make_parents(target, created_dirs)
            fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
            temps.append((tmp, target))
            with os.fdopen(fd, "wb") as f:
                if callable(content):
                    content(f)
                else:
                    f.write(content.encode("utf-8") if isinstance(content, str) else content)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, mode)
        for tmp, target in temps:
            os.replace(tmp, target)
            renamed.append(target)
    except BaseException:
        for tmp, _ in temps:
            try:
                os.unlink(tmp)
            except FileNotFoundError:
                pass
        # A rename failing after others succeeded (rare: the data is already on disk) leaves
        # those; only folders this call created and that are still empty are removed.
        for d in reversed(created_dirs):
            try:
                d.rmdir()
            except OSError:
                pass
        raise
    return [Path(t) for t in files]
