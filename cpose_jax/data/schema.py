"""The on-disk format of a prepared dataset, its validation, and atomic save/load.

A prepared dataset is one ``.npz`` file (or a folder of ``.npz`` files with the same keys and
skeleton, concatenated in sorted file-name order). Every converter in ``data_prep/`` and the
synthetic world write it with :func:`save_dataset`; everything downstream reads it with
:func:`load_dataset`. N samples, J joints of the named skeleton, in its joint order
(``skeleton.get_skeleton``; ``h36m17`` is VideoPose3D's Human3.6M order).

Keys (pixels on disk; 3D absolute, camera frame, metres):

==================  ==========  =========  ==================================================
key                 shape       dtype      meaning
==================  ==========  =========  ==================================================
format_version      ()          int64      :data:`FORMAT_VERSION`; other versions are refused
skeleton            ()          str        skeleton name, e.g. ``'h36m17'`` (``get_skeleton``)
meta                ()          str        JSON object (``extra_meta``: source, split, seed...)
keypoints_2d        (N, J, 2)   float      model-input 2D keypoints, pixels (x right, y down);
                                           GT labels or detections. Missing joints: any finite
                                           value (0 by convention) with confidence 0
confidence          (N, J)      float      in [0, 1]: detector score, or 1 for a label and 0
                                           for a missing joint
image_size          (N, 2)      float      image width, height in pixels (> 0)
pose_3d             (N, J, 3)   float      optional; absolute 3D joints, camera frame, metres
                                           (x right, y down, z forward; root depth > 0)
intrinsics          (N, 4)      float      optional; fx, fy, cx, cy in pixels (fx, fy > 0)
keypoints_2d_gt     (N, J, 2)   float      optional; ground-truth 2D, pixels, when
                                           ``keypoints_2d`` are detections
valid               (N, J)      bool       optional; True where a ground-truth 2D label exists.
                                           Default when absent: all True if
                                           ``keypoints_2d_gt`` is present, else
                                           ``confidence > 0``
subject             (N,)        int / str  optional ids; strings are stored as fixed-width
action              (N,)        int / str  unicode (never pickled objects)
camera              (N,)        int / str
==================  ==========  =========  ==================================================

Float arrays keep the precision they were given (float32 or float64; integers are widened to
float64), so a converter that needs sub-1e-4-pixel consistency can store float64. Files are
read with ``allow_pickle=False``. Writes are atomic: validated first, written to a temporary
file in the target folder, fsynced, then renamed over the target; nothing is left behind on
failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cpose_jax import atomic_io

__all__ = [
    "ARRAY_KEYS",
    "FORMAT_VERSION",
    "ID_KEYS",
    "OPTIONAL_KEYS",
    "REQUIRED_KEYS",
    "Dataset",
    "DatasetError",
    "check_bone_lengths",
    "check_keypoints_in_image",
    "load_dataset",
    "save_dataset",
    "validate",
]

FORMAT_VERSION = 1

REQUIRED_KEYS = ("keypoints_2d", "confidence", "image_size")
OPTIONAL_KEYS = ("pose_3d", "intrinsics", "keypoints_2d_gt", "valid")
ID_KEYS = ("subject", "action", "camera")
ARRAY_KEYS = REQUIRED_KEYS + OPTIONAL_KEYS + ID_KEYS
_HEADER_KEYS = ("format_version", "skeleton", "meta")

# Trailing shape of each per-sample key; "J" is the skeleton's joint count.
_TRAILING = {
    "keypoints_2d": ("J", 2),
    "confidence": ("J",),
    "image_size": (2,),
    "pose_3d": ("J", 3),
    "intrinsics": (4,),
    "keypoints_2d_gt": ("J", 2),
    "valid": ("J",),
    "subject": (),
    "action": (),
    "camera": (),
}

# Larger absolute 3D coordinates than this are almost surely millimetres, not metres.
_MAX_ABS_METRES = 100.0
# Detector scores such as HRNet's heatmap maxima can exceed 1 by float noise; beyond this, refuse.
_CONF_TOL = 1e-6


class DatasetError(ValueError):
    """A dataset file (or the arrays about to be written) breaks the schema."""


def _fail(source: str, key: str | None, problem: str) -> DatasetError:
    where = f"{source}" + (f": key '{key}'" if key else "")
    return DatasetError(f"{where}: {problem}")


def _known_skeletons() -> dict[str, int]:
    """Skeleton name -> joint count, from ``cpose_jax.skeleton`` when it is importable."""
    try:
        from cpose_jax.skeleton import get_skeleton
    except ImportError:  # pragma: no cover - only before the skeleton module exists
        return {"h36m17": 17, "h36m16": 16}
    out = {}
    for name in ("h36m17", "h36m16"):
        out[name] = get_skeleton(name).num_joints
    return out


def _num_joints(name: str, source: str) -> int:
    try:
        from cpose_jax.skeleton import get_skeleton
    except ImportError:  # pragma: no cover
        known = _known_skeletons()
        if name not in known:
            raise _fail(
                source, "skeleton", f"unknown skeleton {name!r}; known: {sorted(known)}"
            ) from None
        return known[name]
    try:
        return get_skeleton(name).num_joints
    except (KeyError, ValueError) as e:
        raise _fail(
            source, "skeleton", f"unknown skeleton {name!r}; known: {sorted(_known_skeletons())}"
        ) from e


def _as_id_array(x: Any, source: str, key: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "U":
        return a
    if a.dtype.kind in "SO":
        try:
            return np.asarray([v.decode() if isinstance(v, bytes) else str(v) for v in a.ravel()])
        except Exception as e:  # pragma: no cover - defensive
            raise _fail(source, key, f"cannot convert ids of dtype {a.dtype} to str: {e}") from e
    if a.dtype.kind == "b":
        return a.astype(np.int64)
    raise _fail(source, key, f"ids must be integers or strings, got dtype {a.dtype}")


def _as_float(x: Any, source: str, key: str) -> np.ndarray:
    a = np.asarray(x)
    if a.dtype.kind == "f":
        if a.dtype not in (np.float32, np.float64):
            a = a.astype(np.float64)
        return a
    if a.dtype.kind in "iub":
        return a.astype(np.float64)
    raise _fail(source, key, f"expected a float array, got dtype {a.dtype}")


def validate(
    arrays: Mapping[str, Any],
    *,
    skeleton: str,
    source: str = "<arrays>",
    format_version: int = FORMAT_VERSION,
) -> dict[str, np.ndarray]:
    """Checks arrays against the schema and returns them with canonical dtypes.

    Args:
      arrays: key -> array for the keys in :data:`ARRAY_KEYS` (``None`` values are dropped).
      skeleton: skeleton name (``'h36m17'`` or ``'h36m16'``).
      source: file name (or description) to put in error messages.
      format_version: version found in the file.

    Returns:
      A new dict: floats as float32/float64, ``valid`` as bool, ids as int64 or unicode.

    Raises:
      DatasetError: naming ``source``, the key, the shape and the problem.
    """
    if format_version != FORMAT_VERSION:
        raise _fail(
            source,
            "format_version",
            f"format version {format_version} is not supported (this code reads "
            f"version {FORMAT_VERSION}); re-run the converter",
        )
    if not isinstance(skeleton, str):
        raise _fail(source, "skeleton", f"skeleton must be a name (str), got {type(skeleton)}")
    num_j = _num_joints(skeleton, source)
    arrays = {k: v for k, v in arrays.items() if v is not None}
    unknown = sorted(set(arrays) - set(ARRAY_KEYS))
    if unknown:
        raise _fail(source, None, f"unknown keys {unknown}; allowed: {list(ARRAY_KEYS)}")
    for k in REQUIRED_KEYS:
        if k not in arrays:
            raise _fail(source, k, f"missing required key (required: {list(REQUIRED_KEYS)})")

    out: dict[str, np.ndarray] = {}
    n = None
    for k in ARRAY_KEYS:
        if k not in arrays:
            continue
        if k in ID_KEYS:
            a = _as_id_array(arrays[k], source, k)
        elif k == "valid":
            a = np.asarray(arrays[k])
            if a.dtype.kind == "f":
                if not np.all(np.isin(a, (0.0, 1.0))):
                    raise _fail(source, k, "float 'valid' must hold only 0 and 1")
            elif a.dtype.kind not in "biu":
                raise _fail(source, k, f"expected bool, got dtype {a.dtype}")
            a = a.astype(bool)
        else:
            a = _as_float(arrays[k], source, k)
        trailing = tuple(num_j if d == "J" else d for d in _TRAILING[k])
        want = ("N", *trailing)
        if a.ndim != 1 + len(trailing) or tuple(a.shape[1:]) != trailing:
            raise _fail(
                source,
                k,
                f"shape {tuple(a.shape)} does not match expected {want} "
                f"(skeleton {skeleton!r} has J={num_j})",
            )
        if n is None:
            n = a.shape[0]
        elif a.shape[0] != n:
            raise _fail(
                source, k, f"shape {tuple(a.shape)} has {a.shape[0]} samples, expected N={n}"
            )
        if a.dtype.kind == "f":
            bad = ~np.isfinite(a)
            if bad.any():
                idx = np.argwhere(bad)[0]
                raise _fail(
                    source,
                    k,
                    f"shape {tuple(a.shape)}: {int(bad.sum())} non-finite values (NaN/Inf), "
                    f"first at index {tuple(int(i) for i in idx)}",
                )
        out[k] = a

    conf = out["confidence"]
    lo, hi = float(conf.min(initial=0.0)), float(conf.max(initial=0.0))
    if lo < 0.0 or hi > 1.0 + _CONF_TOL:
        raise _fail(
            source,
            "confidence",
            f"shape {tuple(conf.shape)}: values must lie in [0, 1], got range [{lo:g}, {hi:g}]",
        )
    if hi > 1.0:
        out["confidence"] = np.minimum(conf, 1.0).astype(conf.dtype)
    size = out["image_size"]
    if size.size and float(size.min()) <= 0.0:
        raise _fail(
            source, "image_size", f"shape {tuple(size.shape)}: width/height must be > 0 pixels"
        )
    if "intrinsics" in out:
        f = out["intrinsics"][:, :2]
        if f.size and float(f.min()) <= 0.0:
            raise _fail(
                source,
                "intrinsics",
                f"shape {tuple(out['intrinsics'].shape)}: focal lengths fx, fy must be > 0 px",
            )
    check_keypoints_in_image(
        out["keypoints_2d"], out["confidence"], out["image_size"], source=source
    )
    if "pose_3d" in out:
        p = out["pose_3d"]
        if p.size:
            amax = float(np.abs(p).max())
            if amax > _MAX_ABS_METRES:
                raise _fail(
                    source,
                    "pose_3d",
                    f"shape {tuple(p.shape)}: coordinates up to {amax:g}; metres are expected "
                    "(millimetres? divide by 1000)",
                )
            zmin = float(p[:, 0, 2].min())
            if zmin <= 0.0:
                raise _fail(
                    source,
                    "pose_3d",
                    f"shape {tuple(p.shape)}: root depth z must be > 0 in the camera frame "
                    f"(got min {zmin:g}); world coordinates instead of camera frame?",
                )
            check_bone_lengths(p, skeleton=skeleton, source=source)
    return out


# Sanity limits that catch a wrong image size or unit (named in the message, never guessed):
# more than half of a file's keypoints outside their declared images (10 % margin), a keypoint
# more than 10 image sizes away, or a median bone length outside 2 cm - 2 m.
_MAX_OUTSIDE_FRACTION = 0.5
_IMAGE_MARGIN = 0.1
_FAR_IMAGES = 10.0
_BONE_RANGE_M = (0.02, 2.0)


def check_keypoints_in_image(
    keypoints,
    confidence,
    image_size,
    *,
    source: str,
    key: str = "keypoints_2d",
    entries=None,
) -> None:
    """Refuses 2D keypoints that mostly lie outside their declared images (a wrong image size,
    or coordinates not in pixels).

    Args:
      keypoints: ``(N, J, 2)`` pixels; confidence: ``(N, J)`` (only keypoints with a finite
        position and confidence > 0 count); image_size: ``(N, 2)`` w, h pixels.
      source, key: named in the message; entries: ``(N,)`` entry numbers for the message
        (default 0..N-1).

    Raises:
      DatasetError: more than half of the keypoints are outside the images (by more than 10 %
        of the size), or one is more than 10 image sizes away.
    """
    kp = np.asarray(keypoints, np.float64)
    conf = np.asarray(confidence, np.float64)
    size = np.asarray(image_size, np.float64).reshape(-1, 1, 2)
    present = np.all(np.isfinite(kp), axis=-1) & np.isfinite(conf) & (conf > 0)
    if not present.any():
        return
    with np.errstate(over="ignore", invalid="ignore"):
        rel = kp / size
    far = present & np.any((rel < -_FAR_IMAGES) | (rel > 1 + _FAR_IMAGES), axis=-1)
    out = present & np.any((rel < -_IMAGE_MARGIN) | (rel > 1 + _IMAGE_MARGIN), axis=-1)
    entries = np.arange(kp.shape[0]) if entries is None else np.asarray(entries)

    def example(mask) -> str:
        n, j = (int(i) for i in np.argwhere(mask)[0])
        x, y = kp[n, j]
        w, h = size[n, 0]
        return f"entry {entries[n]}: joint {j} at ({x:.6g}, {y:.6g}) px in a {w:g} x {h:g} image"

    hint = "wrong image size (image_size / --image-size) or coordinates not in pixels?"
    if far.any():
        raise _fail(source, key, f"keypoint far outside its image ({example(far)}); {hint}")
    n_out, n_all = int(out.sum()), int(present.sum())
    if n_out > _MAX_OUTSIDE_FRACTION * n_all:
        raise _fail(
            source,
            key,
            f"{n_out} of {n_all} keypoints lie outside the declared image size (e.g. "
            f"{example(out)}); {hint}",
        )


def check_bone_lengths(pose_3d, *, skeleton: str, source: str, key: str = "pose_3d") -> None:
    """Refuses 3D poses whose bones are not human-sized in metres (a unit mistake: millimetres
    read as metres, or metres divided by 1000 again).

    Args:
      pose_3d: ``(N, J, 3)`` metres; skeleton: its name (for the parents).

    Raises:
      DatasetError: the median bone length over the file lies outside 2 cm - 2 m.
    """
    p = np.asarray(pose_3d, np.float64)
    if p.size == 0:
        return
    from cpose_jax.skeleton import get_skeleton

    parents = np.asarray(get_skeleton(skeleton).parents)
    lengths = np.linalg.norm(p[:, 1:] - p[:, parents[1:]], axis=-1)
    med = float(np.median(lengths[np.isfinite(lengths)])) if np.isfinite(lengths).any() else 0.0
    lo, hi = _BONE_RANGE_M
    why_small = "metres divided by 1000 again, or collapsed poses"
    if not lo <= med <= hi:
        raise _fail(
            source,
            key,
            f"median bone length {med:.4g} m; a human's is about 0.1-0.5 m: the coordinates are "
            f"not in metres ({'millimetres read as metres' if med > hi else why_small}?)",
        )


def _parse_meta(raw: Any, source: str) -> dict:
    try:
        meta = json.loads(str(raw))
    except json.JSONDecodeError as e:
        raise _fail(source, "meta", f"not valid JSON: {e}") from e
    if not isinstance(meta, dict):
        raise _fail(source, "meta", f"must be a JSON object, got {type(meta).__name__}")
    return meta


def save_dataset(
    path: str | os.PathLike,
    *,
    keypoints_2d,
    confidence,
    image_size,
    skeleton: str,
    pose_3d=None,
    intrinsics=None,
    keypoints_2d_gt=None,
    subject=None,
    action=None,
    camera=None,
    valid=None,
    extra_meta: dict | None = None,
) -> Path:
    """Validates the arrays and writes one dataset ``.npz`` atomically.

    Args (shapes as in the module docstring; pixels, camera-frame metres):
      path: target file; ``.npz`` is appended if missing. Parent folders are created.
      keypoints_2d: (N, J, 2) px. confidence: (N, J) in [0, 1]. image_size: (N, 2) or (2,)
        (broadcast to every sample) w, h px.
      skeleton: skeleton name. pose_3d: (N, J, 3) m. intrinsics: (N, 4) or (4,) px.
      keypoints_2d_gt: (N, J, 2) px. valid: (N, J) bool. subject/action/camera: (N,) ids.
      extra_meta: JSON-serialisable dict stored as ``meta``.

    Returns:
      The path written.

    Raises:
      DatasetError: when an array breaks the schema (nothing is written).
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    source = str(path)
    kp = np.asarray(keypoints_2d)
    n = kp.shape[0] if kp.ndim else 0

    def _bcast(x, width, key):
        if x is None:
            return None
        a = np.asarray(x)
        if a.shape == (width,):
            a = np.broadcast_to(a, (n, width)).copy()
        return a

    arrays = dict(
        keypoints_2d=kp,
        confidence=confidence,
        image_size=_bcast(image_size, 2, "image_size"),
        pose_3d=pose_3d,
        intrinsics=_bcast(intrinsics, 4, "intrinsics"),
        keypoints_2d_gt=keypoints_2d_gt,
        valid=valid,
        subject=subject,
        action=action,
        camera=camera,
    )
    out = validate(arrays, skeleton=skeleton, source=source)
    try:
        meta_json = json.dumps(extra_meta or {}, sort_keys=True)
    except TypeError as e:
        raise _fail(source, "meta", f"extra_meta is not JSON-serialisable: {e}") from e
    out["format_version"] = np.asarray(FORMAT_VERSION, dtype=np.int64)
    out["skeleton"] = np.asarray(skeleton)
    out["meta"] = np.asarray(meta_json)

    atomic_io.write_files({path: lambda f: np.savez(f, **out)})
    return path


class Dataset(Mapping):
    """A validated dataset in memory: read-only mapping key -> numpy array.

    ``ds["pose_3d"]``, ``ds.get("intrinsics")``, ``"pose_3d" in ds``, ``len(ds)`` (samples),
    ``ds.keys()`` (array keys present), ``ds.skeleton`` (a ``Skeleton``), ``ds.skeleton_name``,
    ``ds.meta`` (dict), ``ds.path``. ``ds.valid_2d`` is the GT-label mask with its default.
    """

    def __init__(
        self,
        arrays: Mapping[str, np.ndarray],
        *,
        skeleton_name: str,
        path: Path | None = None,
        meta: dict | None = None,
    ):
        self._arrays = dict(arrays)
        self.skeleton_name = skeleton_name
        self.path = path
        self.meta = dict(meta or {})

    def __getitem__(self, key: str) -> np.ndarray:
        try:
            return self._arrays[key]
        except KeyError:
            raise KeyError(
                f"{self.path}: dataset has no key {key!r}; present: {sorted(self._arrays)}"
            ) from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._arrays)

    def __len__(self) -> int:
        return int(self._arrays["keypoints_2d"].shape[0])

    @property
    def num_samples(self) -> int:
        return len(self)

    @property
    def skeleton(self):
        from cpose_jax.skeleton import get_skeleton

        return get_skeleton(self.skeleton_name)

    @property
    def has_3d(self) -> bool:
        return "pose_3d" in self._arrays

    @property
    def valid_2d(self) -> np.ndarray:
        """(N, J) bool: where a ground-truth 2D label exists (schema default applied)."""
        if "valid" in self._arrays:
            return self._arrays["valid"]
        if "keypoints_2d_gt" in self._arrays:
            return np.ones(self._arrays["confidence"].shape, dtype=bool)
        return self._arrays["confidence"] > 0

    @property
    def keypoints_2d_gt(self) -> np.ndarray:
        """(N, J, 2) px: the GT 2D (``keypoints_2d`` itself when it holds the labels)."""
        return self._arrays.get("keypoints_2d_gt", self._arrays["keypoints_2d"])

    def select(self, index) -> Dataset:
        """A new Dataset with the samples ``index`` (int array, slice or bool mask)."""
        return Dataset(
            {k: v[index] for k, v in self._arrays.items()},
            skeleton_name=self.skeleton_name,
            path=self.path,
            meta=self.meta,
        )

    def __repr__(self) -> str:
        keys = ", ".join(f"{k}{tuple(v.shape)}" for k, v in self._arrays.items())
        return f"Dataset({self.path}, skeleton={self.skeleton_name!r}, {keys})"


def _load_file(path: Path) -> tuple[dict[str, np.ndarray], str, dict]:
    source = str(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            raw = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DatasetError(f"{source}: file not found") from None
    except ValueError as e:
        # allow_pickle=False raises ValueError on object arrays.
        raise _fail(source, None, f"cannot read (pickled objects are not allowed): {e}") from e
    except Exception as e:
        raise _fail(source, None, f"not a readable .npz file: {e}") from e
    for k in _HEADER_KEYS:
        if k not in raw:
            raise _fail(source, k, f"missing header key (every file needs {list(_HEADER_KEYS)})")
    fv = raw.pop("format_version")
    if fv.shape != () or fv.dtype.kind not in "iu":
        raise _fail(source, "format_version", f"must be a scalar int, got {fv.dtype} {fv.shape}")
    skel = raw.pop("skeleton")
    if skel.shape != () or skel.dtype.kind != "U":
        raise _fail(source, "skeleton", f"must be a scalar str, got {skel.dtype} {skel.shape}")
    meta = _parse_meta(raw.pop("meta"), source)
    arrays = validate(raw, skeleton=str(skel), source=source, format_version=int(fv))
    return arrays, str(skel), meta


def load_dataset(path: str | os.PathLike) -> Dataset:
    """Loads and validates a dataset ``.npz`` (or a folder of them, concatenated).

    Raises:
      DatasetError: naming the file, key, shape and problem.
    """
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.npz"))
        if not files:
            raise DatasetError(f"{path}: folder holds no .npz files")
    elif path.exists():
        files = [path]
    elif path.with_name(path.name + ".npz").exists():
        path = path.with_name(path.name + ".npz")
        files = [path]
    else:
        raise DatasetError(f"{path}: file not found")
    parts = [_load_file(f) for f in files]
    arrays, skel, meta = parts[0]
    if len(parts) > 1:
        for f, (a, s, _) in zip(files[1:], parts[1:]):
            if s != skel:
                raise _fail(str(f), "skeleton", f"{s!r} differs from {skel!r} in {files[0]}")
            if set(a) != set(arrays):
                raise _fail(
                    str(f),
                    None,
                    f"keys {sorted(a)} differ from {sorted(arrays)} in {files[0]}",
                )
        arrays = {
            k: np.concatenate([_merge_dtype(p[0][k], [q[0][k] for q in parts]) for p in parts])
            for k in arrays
        }
        meta = {"files": [str(f.name) for f in files], "parts": [p[2] for p in parts]}
    return Dataset(arrays, skeleton_name=skel, path=path, meta=meta)


def _merge_dtype(a: np.ndarray, all_parts: list[np.ndarray]) -> np.ndarray:
    kinds = {p.dtype.kind for p in all_parts}
    if kinds <= {"U"} or kinds <= {"i"} or kinds <= {"b"}:
        return a
    if "U" in kinds:  # mixed int and str ids: make everything str
        return a.astype(str)
    return a
