"""Reading 2D keypoints for inference: COCO-style detector JSON, ``.npy`` and ``.npz`` arrays.

Every reader returns a :class:`Keypoints` in the Human3.6M 17-joint order (pixels, x right,
y down) with per-joint confidences in [0, 1] (0 = missing) and a per-person image size. Joint
layouts other than H36M-17 are mapped by :func:`cpose_jax.data.joint_maps.map_to_h36m17` (the one
mapping table; derived joints such as the pelvis get the mean confidence of their sources).

Accepted inputs (:func:`load_keypoints` picks by file suffix):

* **COCO-style JSON** (``.json``), one of

  - a detector's *results list* ``[{"image_id", "keypoints": [x, y, s] * K, "score"?,
    "category_id"?, "bbox"?}, ...]`` (mmpose / HRNet ``results.json``);
  - a dict with that list under ``"annotations"`` (a COCO keypoint annotation file) or
    ``"results"``.

  Image sizes, per image (images of different sizes are fine): the dict's own ``"images"``
  list (``{"id", "width", "height"}`` as in COCO), else the ``images=`` argument (the path of a
  COCO annotation file with such a list), else per entry ``"image_size": [w, h]`` or
  ``"width"``/``"height"``, else the ``image_size=(w, h)`` argument for all. The third value of
  each triplet is a detector score (clipped to [0, 1]) or, in an annotation file (integers 0-2
  only), the COCO visibility flag (0 = not labelled -> missing, 1/2 -> confidence 1).
* **.npy**: ``(N, K, 3)`` ``[x, y, score]`` or ``(N, K, 2)`` (confidence 1 where finite) pixels;
  the image size comes from ``image_size=(w, h)``.
* **.npz**: either a prepared dataset (:mod:`cpose_jax.data.schema`, H36M-17 already), or
  arrays ``keypoints (N, K, 2|3)`` (or ``keypoints_2d`` + optional ``confidence (N, K)``),
  ``image_size`` ``(N, 2)`` or ``(2,)`` (else the ``image_size`` argument), optional ``layout``
  (a string, e.g. ``'coco17'``) and optional ``image_id (N,)``.

``layout`` names the source joint layout (``JOINT_MAPS`` keys: ``coco17``, ``h36m17``,
``mpii16``, ``openpose18``, ...). JSON defaults to ``'coco17'`` (the COCO keypoint format); for
arrays without a ``layout`` it is inferred from the joint count when one layout has it (18 ->
openpose18, 33 -> blazepose33, ...) and required where the count is ambiguous (16, 17: a
Human3.6M-ordered array is never silently read as COCO).

People are kept when at least ``min_keypoints`` source joints are usable (the one rule of
:func:`cpose_jax.data.coco_json.usable_keypoints`: finite coordinates and confidence > 0, shared
with ``data_prep.coco`` and ``data_prep.detections``). A person with none (typical of COCO's
zero-area boxes) is skipped and counted in ``Keypoints.skipped``; the box itself is never
needed. A file with no people is valid (zero people). Keypoints mostly outside their declared
images (a wrong ``--image-size``) or far outside (coordinates not in pixels) are refused
(:func:`cpose_jax.data.schema.check_keypoints_in_image`). Everything that cannot be read raises
:class:`KeypointInputError` with a one-line message naming the file, the entry and the field.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np

from cpose_jax.data import coco_json, joint_maps

__all__ = ["KeypointInputError", "Keypoints", "load_keypoints", "read_array", "read_coco_json"]


class KeypointInputError(ValueError):
    """An input keypoint file that cannot be used; the message is one line."""


def _fail(path, problem: str) -> KeypointInputError:
    return KeypointInputError(f"{path}: {problem}")


@dataclasses.dataclass
class Keypoints:
    """People's 2D keypoints in H36M-17 order.

    keypoints_2d: ``(N, 17, 2)`` pixels (missing joints 0); confidence: ``(N, 17)`` in [0, 1];
    image_size: ``(N, 2)`` width, height in pixels; image_id: ``(N,)`` ids (str); source_index:
    ``(N,)`` index of the person's entry in the input; skipped: counts of dropped entries by
    reason; layout: the source joint layout; file_name: ``(N,)`` image file names when the
    input's ``images`` list gives them ('' otherwise), else None.
    """

    keypoints_2d: np.ndarray
    confidence: np.ndarray
    image_size: np.ndarray
    image_id: np.ndarray
    source_index: np.ndarray
    skipped: dict[str, int]
    layout: str
    path: str = ""
    file_name: np.ndarray | None = None  # (N,) image file names from a COCO 'images' list

    def __len__(self) -> int:
        return int(self.keypoints_2d.shape[0])


def _jmap(layout: str, path):
    try:
        return joint_maps.get_joint_map(layout)
    except ValueError as e:
        raise _fail(path, str(e)) from None


def _size_pair(value, path, where: str) -> tuple[float, float]:
    try:
        w, h = (float(v) for v in value)
    except (TypeError, ValueError):
        raise _fail(
            path, f"{where}: image size must be two numbers (width, height), got {value!r:.60}"
        ) from None
    if not (math.isfinite(w) and math.isfinite(h) and w > 0 and h > 0):
        raise _fail(path, f"{where}: image size must be positive, got ({w}, {h})")
    return w, h


def _finish(
    kp, conf, sizes, ids, index, skipped, jmap, path, min_keypoints, names=None
) -> Keypoints:
    """Source-layout pixels (N, K, 2) + confidences -> H36M-17 Keypoints."""
    k = jmap.num_source
    kp = np.asarray(kp, np.float64).reshape(-1, k, 2)
    conf = np.asarray(conf, np.float64).reshape(-1, k)
    kp, conf, keep, dropped = coco_json.drop_unusable(kp, conf, min_keypoints=min_keypoints)
    conf = np.clip(conf, 0.0, 1.0)
    skipped = dict(skipped)
    for reason, n in dropped.items():
        skipped[reason] = skipped.get(reason, 0) + n
    from cpose_jax.data import schema

    try:
        schema.check_keypoints_in_image(
            kp[keep],
            conf[keep],
            np.asarray(sizes, np.float64).reshape(-1, 2)[keep],
            source=str(path),
            key="keypoints",
            entries=np.asarray(index).reshape(-1)[keep],
        )
    except schema.DatasetError as e:
        raise KeypointInputError(str(e).replace(": key 'keypoints':", ": keypoints:")) from None
    xy, c = joint_maps.map_to_h36m17(kp[keep], conf[keep], source=jmap)
    return Keypoints(
        keypoints_2d=xy.astype(np.float32),
        confidence=c.astype(np.float32),
        image_size=np.asarray(sizes, np.float32).reshape(-1, 2)[keep],
        image_id=np.asarray([str(i) for i in ids], dtype=str).reshape(-1)[keep],
        source_index=np.asarray(index, np.int64).reshape(-1)[keep],
        skipped=skipped,
        layout=jmap.name,
        path=str(path),
        file_name=None if names is None else np.asarray(names, dtype=str).reshape(-1)[keep],
    )


def read_coco_json(
    path: str | Path,
    *,
    layout: str = "coco17",
    images: str | Path | None = None,
    image_size: tuple[float, float] | None = None,
    min_keypoints: int = 1,
    min_score: float = 0.0,
) -> Keypoints:
    """A COCO-style keypoint JSON (results list or annotation file), read by the one COCO
    reader :func:`cpose_jax.data.coco_json.read_coco_keypoints`; see the module docstring.

    min_score: people whose ``score`` (when given) is below it are skipped.
    """
    path = Path(path)
    jmap = _jmap(layout, path)
    try:
        people = coco_json.read_coco_keypoints(
            path,
            num_keypoints=jmap.num_source,
            layout=jmap.name,
            images=images,
            image_size=image_size,
            min_score=min_score,
            min_keypoints=min_keypoints,
        )
    except coco_json.CocoFormatError as e:
        raise KeypointInputError(str(e)) from None
    return _finish(
        people.keypoints,
        people.confidence,
        people.image_size,
        people.image_id,
        people.source_index,
        people.skipped,
        jmap,
        path,
        min_keypoints,
        names=people.file_name if people.has_file_names else None,
    )


def _split_array(arr: np.ndarray, conf, jmap, path, key: str):
    if arr.dtype.kind not in "fiu":
        raise _fail(path, f"{key}: expected a numeric array, got dtype {arr.dtype}")
    k = jmap.num_source
    if arr.ndim == 2 and arr.shape[0] == k and arr.shape[1] in (2, 3):
        arr = arr[None]
    if arr.ndim != 3 or arr.shape[1] != k or arr.shape[2] not in (2, 3):
        raise _fail(
            path,
            f"{key}: expected (N, {k}, 2) or (N, {k}, 3) [x, y, score] for layout "
            f"{jmap.name!r}, got {arr.shape}",
        )
    arr = arr.astype(np.float64)
    if conf is not None:
        conf = np.asarray(conf, np.float64)
        if conf.shape != arr.shape[:2]:
            raise _fail(path, f"confidence: expected {arr.shape[:2]}, got {conf.shape}")
    elif arr.shape[2] == 3:
        conf = arr[..., 2]
    else:
        conf = np.ones(arr.shape[:2])
    return arr[..., :2], conf


def _sizes_for(n: int, size, image_size, path) -> np.ndarray:
    if size is None:
        if image_size is None:
            raise _fail(path, "no image sizes in the file: pass --image-size W H")
        size = image_size
    size = np.asarray(size, np.float64)
    if size.shape == (2,):
        size = np.tile(size, (n, 1))
    if size.shape != (n, 2):
        raise _fail(path, f"image_size: expected (2,) or ({n}, 2), got {size.shape}")
    for i, s in enumerate(size):
        _size_pair(s, path, f"image_size[{i}]")
    return size


def _array_layout(arr: np.ndarray, layout: str | None, path, key: str) -> str:
    """The source layout of an array file: given, else inferred from the joint count when only
    one known layout has it; an ambiguous count (16, 17) needs ``layout``."""
    if layout:
        return layout
    k = arr.shape[-2] if arr.ndim >= 2 else None
    fits = sorted(n for n, m in joint_maps.JOINT_MAPS.items() if m.num_source == k)
    if len(fits) == 1:
        return fits[0]
    if not fits:
        return "coco17"  # the shape check names the expected shapes
    raise _fail(
        path,
        f"{key}: {k} joints per person fit layouts {', '.join(fits)}: pass --layout "
        "(or store a 'layout' string in the .npz)",
    )


def _numeric(arr: np.ndarray, path, key: str) -> np.ndarray:
    if arr.dtype.kind not in "fiu":
        raise _fail(path, f"{key}: expected a numeric array, got dtype {arr.dtype}")
    return arr


def read_array(
    path: str | Path,
    *,
    layout: str | None = None,
    image_size: tuple[float, float] | None = None,
    min_keypoints: int = 1,
) -> Keypoints:
    """A ``.npy`` or ``.npz`` keypoint file; see the module docstring."""
    import zipfile
    import zlib

    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if path.stat().st_size == 0:
        raise _fail(path, "empty file")
    unreadable = (ValueError, OSError, EOFError, zipfile.BadZipFile, zlib.error, KeyError)
    try:
        loaded = np.load(path, allow_pickle=False)
    except unreadable as e:
        raise _fail(
            path, f"not a readable .npy/.npz file (truncated?) ({type(e).__name__}: {e})"
        ) from None
    if isinstance(loaded, np.ndarray):
        _numeric(loaded, path, "array")
        n = loaded.shape[0] if loaded.ndim else 0
        sizes = _sizes_for(n, None, image_size, path)
        jmap = _jmap(_array_layout(loaded, layout, path, "array"), path)
        xy, conf = _split_array(loaded, None, jmap, path, "array")
        return _finish(xy, conf, sizes, np.arange(n), np.arange(n), {}, jmap, path, min_keypoints)
    try:
        with loaded as z:
            files = set(z.files)
            if "format_version" in files:
                return _read_prepared(path, min_keypoints)
            key = "keypoints" if "keypoints" in files else "keypoints_2d"
            if key not in files:
                raise _fail(
                    path, f"an .npz needs 'keypoints' (or 'keypoints_2d'); it has {sorted(files)}"
                )
            arrays = {k: z[k] for k in files}  # reads everything now: a truncated file fails here
    except KeypointInputError:
        raise
    except unreadable as e:
        raise _fail(
            path, f"not a readable .npz file (truncated?) ({type(e).__name__}: {e})"
        ) from None
    file_layout = None
    if "layout" in arrays:
        if arrays["layout"].dtype.kind != "U" or arrays["layout"].shape != ():
            raise _fail(path, f"layout: expected a string, got {arrays['layout'].dtype}")
        file_layout = str(arrays["layout"])
    kp = _numeric(arrays[key], path, key)
    jmap = _jmap(_array_layout(kp, layout or file_layout, path, key), path)
    conf = arrays.get("confidence")
    if conf is not None:
        _numeric(conf, path, "confidence")
    xy, conf = _split_array(kp, conf, jmap, path, key)
    n = xy.shape[0]
    size = arrays.get("image_size")
    if size is not None:
        _numeric(size, path, "image_size")
    sizes = _sizes_for(n, size, image_size, path)
    ids = arrays.get("image_id", np.arange(n))
    if np.shape(ids) != (n,) or ids.dtype.kind not in "iuU":
        raise _fail(
            path, f"image_id: expected ({n},) integers or strings, got {ids.dtype} {np.shape(ids)}"
        )
    return _finish(xy, conf, sizes, ids, np.arange(n), {}, jmap, path, min_keypoints)


def _read_prepared(path: Path, min_keypoints: int) -> Keypoints:
    from cpose_jax.data import schema

    try:
        ds = schema.load_dataset(path)
    except schema.DatasetError as e:
        raise KeypointInputError(str(e).replace("\n", " ")) from None
    if ds.skeleton.name != "h36m17":
        raise _fail(path, f"prepared dataset skeleton {ds.skeleton.name!r}; inference needs h36m17")
    n = len(ds)
    ids = ds["subject"] if "subject" in ds else np.arange(n)
    return _finish(
        ds["keypoints_2d"],
        ds["confidence"],
        ds["image_size"],
        ids,
        np.arange(n),
        {},
        joint_maps.get_joint_map("h36m17"),
        path,
        min_keypoints,
    )


def load_keypoints(
    path: str | Path,
    *,
    layout: str | None = None,
    images: str | Path | None = None,
    image_size: tuple[float, float] | None = None,
    min_keypoints: int = 1,
    min_score: float = 0.0,
) -> Keypoints:
    """Reads any supported keypoint file (by suffix: .json, .npy, .npz)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".json":
        return read_coco_json(
            path,
            layout=layout or "coco17",
            images=images,
            image_size=image_size,
            min_keypoints=min_keypoints,
            min_score=min_score,
        )
    if suffix in (".npy", ".npz"):
        return read_array(path, layout=layout, image_size=image_size, min_keypoints=min_keypoints)
    raise _fail(path, f"unsupported input type {suffix!r}: use .json (COCO-style), .npy or .npz")
