"""Plumbing shared by the ``data_prep`` converters: CLI, errors, readers, writing.

Every converter module has ``convert(...) -> Converted`` (pure: reads files, returns arrays) and
``main(argv=None) -> int`` (argparse CLI). Errors about the input are :class:`ConversionError`
(a :class:`~cpose_jax.data.schema.DatasetError`, hence a ``ValueError``) whose message names the
file and the problem; the CLI prints it as one line and exits with status 2. Output is written by
:func:`cpose_jax.data.schema.save_dataset` (validated, atomic), so a failed run leaves nothing.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import pickle
import struct
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cpose_jax.data.schema import DatasetError, save_dataset

SKELETON = "h36m17"


class ConversionError(DatasetError):
    """The input of a converter is unreadable or breaks its format (message names the file)."""


def fail(path: str | os.PathLike | None, problem: str) -> ConversionError:
    """Builds the error for ``path`` (``'<file>: <problem>'``)."""
    return ConversionError(f"{path}: {problem}" if path is not None else problem)


@dataclasses.dataclass
class Converted:
    """Arrays for :func:`save_dataset` (keyword names of the schema) plus JSON metadata."""

    arrays: dict[str, np.ndarray]
    meta: dict[str, Any]

    def __len__(self) -> int:
        return int(self.arrays["keypoints_2d"].shape[0])


# --------------------------------------------------------------------------------- readers


def require_file(path: str | os.PathLike) -> Path:
    p = Path(path)
    if not p.exists():
        raise fail(p, "file not found")
    if not p.is_file():
        raise fail(p, "not a regular file")
    return p


def read_json(path: str | os.PathLike) -> Any:
    p = require_file(path)
    try:
        with open(p, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise fail(p, f"not valid JSON ({e})") from e
    except UnicodeDecodeError as e:
        raise fail(p, f"not a UTF-8 text file ({e})") from e


def read_pickle_latin1(path: str | os.PathLike) -> Any:
    """Python-2 pickles (3DPW): ``encoding='latin1'`` keeps numpy arrays intact."""
    p = require_file(path)
    try:
        with open(p, "rb") as f:
            return pickle.load(f, encoding="latin1")
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError) as e:
        raise fail(p, f"not a readable pickle ({type(e).__name__}: {e})") from e


def read_npz_object(path: str | os.PathLike, key: str) -> Any:
    """``np.load(path, allow_pickle=True)[key]``, unwrapping a 0-d object array (``.item()``)."""
    p = require_file(path)
    try:
        with np.load(p, allow_pickle=True) as z:
            if key not in z.files:
                raise fail(p, f"missing key {key!r} (keys: {sorted(z.files)})")
            a = z[key]
    except ConversionError:
        raise
    except Exception as e:
        raise fail(p, f"not a readable .npz file ({type(e).__name__}: {e})") from e
    if a.dtype == object and a.shape == ():
        return a.item()
    return a


def read_npy(path: str | os.PathLike) -> np.ndarray:
    p = require_file(path)
    try:
        return np.load(p, allow_pickle=False)
    except Exception as e:
        raise fail(p, f"not a readable numeric .npy file ({type(e).__name__}: {e})") from e


def open_h5(path: str | os.PathLike):
    """Opens an HDF5 file (also MATLAB v7.3 ``.mat``) read-only with h5py."""
    import h5py

    p = require_file(path)
    try:
        return h5py.File(p, "r")
    except OSError as e:
        raise fail(p, f"not an HDF5 / MATLAB v7.3 file ({e})") from e


def numeric(x: Any, path, field: str, *, min_ndim: int = 0) -> np.ndarray:
    """``x`` as a float64 array, or a one-line :class:`ConversionError` naming the file and the
    field (strings, ragged lists, objects; a scalar where an array is expected)."""
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise fail(path, f"{field}: must be numeric ({type(e).__name__}: {e})") from None
    if a.ndim < min_ndim:
        raise fail(path, f"{field}: expected an array of >= {min_ndim} dimensions, got {a.shape}")
    return a


def h5_array(f, key: str, path) -> np.ndarray:
    if key not in f:
        raise fail(path, f"missing dataset {key!r} (has: {sorted(f.keys())})")
    return np.asarray(f[key])


def image_size_from_header(path: str | os.PathLike) -> tuple[int, int]:
    """(width, height) of a JPEG or PNG, read from its header (no imaging library needed)."""
    p = require_file(path)
    with open(p, "rb") as f:
        head = f.read(26)
        if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
            w, h = struct.unpack(">II", head[16:24])
            return int(w), int(h)
        if head[:2] != b"\xff\xd8":
            raise fail(p, "not a JPEG or PNG image (cannot read its size)")
        f.seek(2)
        while True:
            byte = f.read(1)
            while byte and byte != b"\xff":
                byte = f.read(1)
            while byte == b"\xff":
                byte = f.read(1)
            if not byte:
                break
            marker = byte[0]
            if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:
                continue
            seg = f.read(2)
            if len(seg) < 2:
                break
            (length,) = struct.unpack(">H", seg)
            # SOF0..SOF15 except DHT (C4), JPG (C8), DAC (CC) carry the frame size.
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                data = f.read(5)
                h, w = struct.unpack(">HH", data[1:5])
                return int(w), int(h)
            f.seek(length - 2, 1)
    raise fail(p, "JPEG without a frame header (cannot read its size)")


# --------------------------------------------------------------------------------- helpers


def parse_list(text: str | None) -> list[str] | None:
    """``'S1,S5'`` -> ``['S1', 'S5']``; None or '' -> None."""
    if not text:
        return None
    return [t.strip() for t in text.split(",") if t.strip()]


def clip_scores(scores: np.ndarray, meta: dict, key: str = "scores_clipped") -> np.ndarray:
    """Detector scores into [0, 1] (HRNet heatmap maxima can exceed 1); counts what changed."""
    s = np.asarray(scores, dtype=np.float64)
    s = np.where(np.isfinite(s), s, 0.0)
    clipped = np.clip(s, 0.0, 1.0)
    meta[key] = int(np.count_nonzero(clipped != s))
    return clipped


def stack(parts: list[dict[str, np.ndarray]], path_for_errors) -> dict[str, np.ndarray]:
    """Concatenates per-sequence array dicts (same keys) along the sample axis."""
    if not parts:
        raise fail(path_for_errors, "no samples left after filtering; nothing to write")
    return {k: np.concatenate([p[k] for p in parts], axis=0) for k in parts[0]}


def jit_chunks(
    fn: Callable, per_sample: Sequence[np.ndarray], *shared: np.ndarray, chunk: int = 2048
) -> tuple[np.ndarray, ...]:
    """Runs a jitted ``fn(*per_sample_chunks, *shared) -> array or tuple`` over fixed-size chunks.

    ``per_sample`` arrays share the leading axis N and are cut into chunks of ``chunk`` rows
    (the last padded with copies of row 0, so one compilation serves any N); ``shared`` arrays
    are passed whole. Runs in float64 (``jax.enable_x64``) so converter geometry is exact.
    Outputs are trimmed back to N rows.
    """
    import jax

    xs = [np.asarray(x, np.float64) for x in per_sample]
    n = xs[0].shape[0]
    if any(x.shape[0] != n for x in xs):
        raise ValueError(f"per_sample arrays must share N, got {[x.shape for x in xs]}")
    consts = [np.asarray(a, np.float64) for a in shared]
    outs: list[list[np.ndarray]] = []
    with jax.enable_x64(True):
        for start in range(0, max(n, 1), chunk):
            parts = []
            for x in xs:
                part = x[start : start + chunk]
                fill = x[:1] if n else np.ones((1, *x.shape[1:]))
                pad = np.broadcast_to(fill, (chunk - part.shape[0], *x.shape[1:]))
                parts.append(np.concatenate([part, pad]))
            m = min(chunk, n - start) if n else 0
            res = fn(*parts, *consts)
            res = res if isinstance(res, tuple) else (res,)
            if not outs:
                outs = [[] for _ in res]
            for o, r in zip(outs, res):
                o.append(np.asarray(r, np.float64)[:m])
    return tuple(np.concatenate(o) for o in outs)


def write(out: str | os.PathLike, converted: Converted, *, overwrite: bool = False) -> Path:
    """Writes ``converted`` with :func:`save_dataset` (atomic); refuses an existing file."""
    out = Path(out)
    target = out if out.suffix == ".npz" else out.with_name(out.name + ".npz")
    if target.exists() and not overwrite:
        raise fail(target, "output exists; pass --overwrite to replace it")
    if len(converted) == 0:
        raise fail(target, "no samples to write (everything was filtered out)")
    return save_dataset(target, skeleton=SKELETON, extra_meta=converted.meta, **converted.arrays)


# --------------------------------------------------------------------------------- CLI


def make_parser(prog: str, description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=f"python -m data_prep.{prog}",
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", required=True, help="output dataset file (.npz, schema v1)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    return p


def run_cli(
    parser: argparse.ArgumentParser,
    convert_args: Callable[[argparse.Namespace], Converted],
    argv: Sequence[str] | None,
) -> int:
    """Parses ``argv``, converts, writes; a bad input is one line on stderr and exit status 2."""
    args = parser.parse_args(argv)
    try:
        converted = convert_args(args)
        converted.meta.setdefault("command", " ".join([parser.prog, *(argv or sys.argv[1:])]))
        path = write(args.out, converted, overwrite=args.overwrite)
    except (ValueError, OSError, KeyError) as e:
        msg = str(e).replace("\n", " ") or type(e).__name__
        print(f"{parser.prog}: error: {msg}", file=sys.stderr)
        return 2
    except (TypeError, IndexError, AttributeError) as e:
        # A structure the converter did not expect (a scalar where a list belongs, ...): still
        # one line; the converters name file and field for every case they check.
        msg = str(e).replace("\n", " ")
        print(f"{parser.prog}: error: malformed input ({type(e).__name__}: {msg})", file=sys.stderr)
        return 2
    print(f"wrote {len(converted)} samples to {path}")
    return 0
