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

``layout`` (default ``'coco17'`` for JSON and plain arrays) names the source joint layout
(``JOINT_MAPS`` keys: ``coco17``, ``h36m17``, ``mpii16``, ``openpose18``, ...).

People are kept when at least ``min_keypoints`` source joints are present (default 1). A
person with no visible keypoint (typical of COCO's zero-area boxes) is skipped and counted in
``Keypoints.skipped``; the box itself is never needed. A file with no people is valid (zero
people). Everything that cannot be read raises :class:`KeypointInputError` with a one-line
message naming the file, the entry and the problem.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cpose_jax.data import joint_maps

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


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise _fail(path, "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise _fail(path, f"cannot read as text ({type(e).__name__}: {e})") from None
    if not text.strip():
        raise _fail(path, "empty file (expected a COCO-style JSON list or object)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise _fail(path, f"not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})") from None


def _image_table(images: Any, path, where: str) -> dict[str, tuple[float, float, str]]:
    """{image id: (width, height, file_name)} of a COCO 'images' list."""
    if not isinstance(images, list):
        raise _fail(path, f"{where}: 'images' must be a list of {{id, width, height}}")
    table = {}
    for i, im in enumerate(images):
        if not isinstance(im, Mapping) or "id" not in im:
            raise _fail(path, f"{where}: images[{i}] needs 'id', 'width', 'height'")
        w, h = _size_pair(
            (im.get("width"), im.get("height")), path, f"{where}: images[{i}] (id {im['id']})"
        )
        table[str(im["id"])] = (w, h, str(im.get("file_name", "")))
    return table


def _finish(
    kp, conf, sizes, ids, index, skipped, jmap, path, min_keypoints, names=None
) -> Keypoints:
    """Source-layout pixels (N, K, 2) + confidences -> H36M-17 Keypoints."""
    k = jmap.num_source
    kp = np.asarray(kp, np.float64).reshape(-1, k, 2)
    conf = np.asarray(conf, np.float64).reshape(-1, k)
    finite = np.all(np.isfinite(kp), axis=-1)
    conf = np.where(finite & np.isfinite(conf), np.clip(conf, 0.0, 1.0), 0.0)
    present = (conf > 0).sum(-1)
    keep = present >= max(1, min_keypoints)
    skipped = dict(skipped)
    n_none = int(np.sum(present == 0))
    if n_none:
        skipped["no_keypoints"] = skipped.get("no_keypoints", 0) + n_none
    n_few = int(np.sum((present > 0) & ~keep))
    if n_few:
        skipped["too_few_keypoints"] = skipped.get("too_few_keypoints", 0) + n_few
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
    """A COCO-style keypoint JSON (results list or annotation file); see the module docstring.

    min_score: people whose ``score`` (when given) is below it are skipped.
    """
    path = Path(path)
    data = _read_json(path)
    jmap = _jmap(layout, path)
    table = None
    if isinstance(data, Mapping):
        if "images" in data:
            table = _image_table(data["images"], path, "top level")
        entries = data.get("annotations", data.get("results"))
        if entries is None:
            raise _fail(
                path, "a JSON object must hold an 'annotations' (or 'results') list of people"
            )
    else:
        entries = data
    if not isinstance(entries, list):
        raise _fail(path, f"expected a list of people, got {type(entries).__name__}")
    if table is None and images is not None:
        ann = _read_json(Path(images))
        if not isinstance(ann, Mapping) or "images" not in ann:
            raise _fail(images, "an images file must be a COCO JSON object with an 'images' list")
        table = _image_table(ann["images"], images, "images")
    default_size = None
    if image_size is not None:
        default_size = _size_pair(image_size, path, "image_size argument")

    k = jmap.num_source
    triplets = np.zeros((len(entries), k, 3))
    sizes = np.zeros((len(entries), 2))
    ids, names, keep = [], [""] * len(entries), np.ones(len(entries), bool)
    skipped = {"low_score": 0, "other_category": 0, "zero_area_box": 0}
    for i, det in enumerate(entries):
        where = f"entry {i}"
        if not isinstance(det, Mapping):
            raise _fail(path, f"{where}: expected an object with 'keypoints', got {det!r:.60}")
        if "keypoints" not in det:
            raise _fail(path, f"{where}: no 'keypoints'")
        try:
            flat = np.asarray(det["keypoints"], dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise _fail(path, f"{where}: 'keypoints' must be a list of numbers") from None
        if flat.size != 3 * k:
            raise _fail(
                path,
                f"{where}: {flat.size} keypoint numbers, expected {k} (x, y, score) triplets = "
                f"{3 * k} for layout {jmap.name!r}",
            )
        triplets[i] = flat.reshape(k, 3)
        iid = det.get("image_id", i)
        ids.append(iid)
        if det.get("category_id", 1) != 1:
            skipped["other_category"] += 1
            keep[i] = False
            continue
        score = det.get("score")
        if score is not None and float(score) < min_score:
            skipped["low_score"] += 1
            keep[i] = False
            continue
        box = det.get("bbox")
        if isinstance(box, list | tuple) and len(box) == 4 and float(box[2]) * float(box[3]) <= 0:
            skipped["zero_area_box"] += 1  # counted only; kept when it has keypoints
        if table is not None and str(iid) in table:
            *sizes[i], names[i] = table[str(iid)]
        elif "image_size" in det:
            sizes[i] = _size_pair(det["image_size"], path, where)
        elif "width" in det and "height" in det:
            sizes[i] = _size_pair((det["width"], det["height"]), path, where)
        elif default_size is not None:
            sizes[i] = default_size
        elif table is not None:
            raise _fail(path, f"{where}: image_id {iid!r} is not in the 'images' list")
        else:
            raise _fail(
                path,
                "no image sizes: give an 'images' list ({id, width, height}) in the file, "
                "--images=COCO_ANNOTATION.json, per-entry 'image_size', or --image-size W H",
            )
    third = triplets[keep, :, 2]
    # COCO annotation visibility flags: integers 0/1/2 and no 'score' keys.
    flags = (
        isinstance(data, Mapping)
        and "annotations" in data
        and third.size > 0
        and np.all(np.isin(third, (0.0, 1.0, 2.0)))
    )
    conf = (third > 0).astype(np.float64) if flags else third
    skipped = {r: n for r, n in skipped.items() if n and r != "zero_area_box"} | (
        {"zero_area_box (kept if keypoints)": skipped["zero_area_box"]}
        if skipped["zero_area_box"]
        else {}
    )
    return _finish(
        triplets[keep, :, :2],
        conf,
        sizes[keep],
        np.asarray([str(x) for x in ids], dtype=str)[keep] if ids else np.zeros(0, str),
        np.flatnonzero(keep),
        skipped,
        jmap,
        path,
        min_keypoints,
        names=None if table is None else np.asarray(names, dtype=str)[keep],
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


def read_array(
    path: str | Path,
    *,
    layout: str | None = None,
    image_size: tuple[float, float] | None = None,
    min_keypoints: int = 1,
) -> Keypoints:
    """A ``.npy`` or ``.npz`` keypoint file; see the module docstring."""
    path = Path(path)
    if not path.exists():
        raise _fail(path, "no such file")
    if path.stat().st_size == 0:
        raise _fail(path, "empty file")
    try:
        loaded = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise _fail(path, f"not a readable .npy/.npz file ({type(e).__name__}: {e})") from None
    if isinstance(loaded, np.ndarray):
        jmap = _jmap(layout or "coco17", path)
        xy, conf = _split_array(loaded, None, jmap, path, "array")
        n = xy.shape[0]
        sizes = _sizes_for(n, None, image_size, path)
        return _finish(xy, conf, sizes, np.arange(n), np.arange(n), {}, jmap, path, min_keypoints)
    with loaded as z:
        files = set(z.files)
        if "format_version" in files:
            return _read_prepared(path, min_keypoints)
        key = "keypoints" if "keypoints" in files else "keypoints_2d"
        if key not in files:
            raise _fail(
                path, f"an .npz needs 'keypoints' (or 'keypoints_2d'); it has {sorted(files)}"
            )
        file_layout = str(z["layout"]) if "layout" in files else None
        jmap = _jmap(layout or file_layout or "coco17", path)
        xy, conf = _split_array(
            z[key], z["confidence"] if "confidence" in files else None, jmap, path, key
        )
        n = xy.shape[0]
        sizes = _sizes_for(n, z["image_size"] if "image_size" in files else None, image_size, path)
        ids = z["image_id"] if "image_id" in files else np.arange(n)
        if np.shape(ids) != (n,):
            raise _fail(path, f"image_id: expected ({n},), got {np.shape(ids)}")
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
