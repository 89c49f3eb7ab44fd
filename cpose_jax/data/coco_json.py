"""The one reader of COCO-style keypoint JSON, and the one rule for usable keypoints.

Read by ``cpose_jax.io_keypoints`` (inference input), ``data_prep.coco`` (annotation files) and
``data_prep.detections`` (detector results), so all three accept the same files, skip the same
people and give the same messages.

Accepted documents:

* a *results list* ``[{"image_id", "keypoints": [x, y, s] * K, "score"?, "category_id"?,
  "bbox"?}, ...]`` (a detector's output, e.g. HRNet / mmpose ``results.json``);
* an object with that list under ``"annotations"`` (a COCO keypoint annotation file, with its
  ``"images"`` and ``"categories"``) or ``"results"``.

The third number of each triplet is a detector score (clipped to [0, 1]) or, in an annotation
file whose values are all 0, 1 or 2, the COCO visibility flag (0 = not labelled -> confidence
0; 1 occluded, 2 visible -> 1).

**Usable keypoint** (:func:`usable_keypoints`, the one rule): finite coordinates and a finite
confidence > 0. A person with no usable keypoint is skipped and counted as ``no_keypoints``;
one with fewer than ``min_keypoints`` as ``too_few_keypoints``. Also skipped and counted:
crowd regions (``iscrowd``), other categories, scores below ``min_score``.

Every field is type-checked; a problem raises :class:`CocoFormatError` with one line
``FILE: entry N: FIELD: problem``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from cpose_jax.data.joint_maps import COCO17_NAMES

__all__ = [
    "CocoFormatError",
    "CocoPeople",
    "drop_unusable",
    "read_coco_keypoints",
    "usable_keypoints",
]


class CocoFormatError(ValueError):
    """A COCO-style file that cannot be used; the message is one line naming file and field."""


def usable_keypoints(keypoints: np.ndarray, confidence: np.ndarray) -> np.ndarray:
    """The one rule: ``(..., K, 2)`` pixels + ``(..., K)`` confidences -> ``(..., K)`` bool,
    True where the coordinates are finite and the confidence is finite and > 0."""
    kp, conf = np.asarray(keypoints, np.float64), np.asarray(confidence, np.float64)
    return np.all(np.isfinite(kp), axis=-1) & np.isfinite(conf) & (conf > 0)


def drop_unusable(
    keypoints: np.ndarray, confidence: np.ndarray, *, min_keypoints: int = 1
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, int]]:
    """Applies the one rule to ``(N, K, 2)`` pixels and ``(N, K)`` confidences.

    Returns ``(keypoints, confidence, keep, skipped)``: every keypoint that is not usable gets
    coordinates 0 and confidence 0 (all N people, float64), ``keep`` ``(N,)`` marks the people
    with at least ``max(1, min_keypoints)`` usable keypoints, and ``skipped`` counts the others
    by reason (``no_keypoints``, ``too_few_keypoints``; zero counts left out).
    """
    kp, conf = np.asarray(keypoints, np.float64), np.asarray(confidence, np.float64)
    usable = usable_keypoints(kp, conf)
    conf = np.where(usable, conf, 0.0)
    kp = np.where(usable[..., None], kp, 0.0)
    present = usable.sum(-1)
    keep = present >= max(1, min_keypoints)
    counts = {
        "no_keypoints": int(np.sum(present == 0)),
        "too_few_keypoints": int(np.sum((present > 0) & ~keep)),
    }
    return kp, conf, keep, {reason: n for reason, n in counts.items() if n}


@dataclasses.dataclass
class CocoPeople:
    """The people kept, in file order, in the source joint layout.

    keypoints ``(N, K, 2)`` pixels; confidence ``(N, K)`` in [0, 1] (0 where not usable; the
    coordinates there are 0); image_size ``(N, 2)`` w, h px; image_id ``(N,)`` (int64 when
    every id is an integer, else str); annotation_id ``(N,)`` int64 (-1 if absent);
    source_index ``(N,)`` entry index in the file; file_name ``(N,)`` str ('' if unknown);
    skipped: counts by reason; visibility_flags: the third values were COCO flags;
    scores_clipped: how many scores were outside [0, 1].
    """

    keypoints: np.ndarray
    confidence: np.ndarray
    image_size: np.ndarray
    image_id: np.ndarray
    annotation_id: np.ndarray
    source_index: np.ndarray
    file_name: np.ndarray
    skipped: dict[str, int]
    visibility_flags: bool
    scores_clipped: int = 0
    has_file_names: bool = False

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])


def _is_number(x) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool)


def _describe(x) -> str:
    return f"{type(x).__name__} {x!r:.40}"


def read_json(path: str | Path) -> Any:
    """A JSON document, or a one-line :class:`CocoFormatError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CocoFormatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise CocoFormatError(f"{path}: is a folder, not a JSON file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise CocoFormatError(f"{path}: cannot read as text ({type(e).__name__}: {e})") from None
    if not text.strip():
        raise CocoFormatError(f"{path}: empty file (expected a COCO-style JSON list or object)")
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise CocoFormatError(
            f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg})"
        ) from None


class _Checker:
    def __init__(self, path):
        self.path = path

    def fail(self, where: str, field: str | None, problem: str) -> CocoFormatError:
        parts = [str(self.path), where] + ([field] if field else []) + [problem]
        return CocoFormatError(": ".join(p for p in parts if p))

    def number(self, x, where, field, *, positive=False) -> float:
        if not _is_number(x):
            raise self.fail(where, field, f"must be a number, got {_describe(x)}")
        v = float(x)
        if not math.isfinite(v) or (positive and v <= 0):
            raise self.fail(where, field, f"must be a {'positive ' if positive else ''}finite "
                            f"number, got {v}")  # fmt: skip
        return v

    def ident(self, x, where, field):
        if isinstance(x, bool) or not isinstance(x, int | str):
            raise self.fail(where, field, f"must be an integer or a string, got {_describe(x)}")
        return x

    def size_pair(self, value, where, field) -> tuple[float, float]:
        if not isinstance(value, list | tuple) or len(value) != 2:
            raise self.fail(where, field, f"must be [width, height], got {_describe(value)}")
        return (
            self.number(value[0], where, f"{field}[0] (width)", positive=True),
            self.number(value[1], where, f"{field}[1] (height)", positive=True),
        )


def image_table(images: Any, path, *, where: str = "") -> dict[str, tuple[float, float, str]]:
    """``{str(image id): (width, height, file_name)}`` of a COCO ``images`` list."""
    c = _Checker(path)
    if not isinstance(images, list):
        raise c.fail(where, "images", f"must be a list of {{id, width, height}}, got "
                     f"{type(images).__name__}")  # fmt: skip
    table = {}
    for i, im in enumerate(images):
        w = f"{where + ': ' if where else ''}images[{i}]"
        if not isinstance(im, Mapping):
            raise c.fail(w, None, f"must be an object {{id, width, height}}, got {_describe(im)}")
        for key in ("id", "width", "height"):
            if key not in im:
                raise c.fail(w, key, "missing")
        iid = c.ident(im["id"], w, "id")
        size = (
            c.number(im["width"], w, "width", positive=True),
            c.number(im["height"], w, "height", positive=True),
        )
        name = im.get("file_name", "")
        if not isinstance(name, str):
            raise c.fail(w, "file_name", f"must be a string, got {_describe(name)}")
        table[str(iid)] = (*size, name)
    return table


def _person_categories(data: Mapping, c: _Checker, layout: str) -> set | None:
    """Category ids of people (those with keypoints or named 'person'); None = any / 1."""
    cats = data.get("categories")
    if cats is None:
        return None
    if not isinstance(cats, list):
        raise c.fail("", "categories", f"must be a list, got {type(cats).__name__}")
    ids = set()
    for i, cat in enumerate(cats):
        w = f"categories[{i}]"
        if not isinstance(cat, Mapping) or "id" not in cat:
            raise c.fail(w, None, f"must be an object with 'id', got {_describe(cat)}")
        if cat.get("name") == "person" or "keypoints" in cat:
            names = cat.get("keypoints")
            if names is not None:
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise c.fail(w, "keypoints", "must be a list of joint names")
                if layout == "coco17" and tuple(names) != COCO17_NAMES:
                    raise c.fail(w, "keypoints", f"names {names} are not the COCO-17 layout")
            ids.add(c.ident(cat["id"], w, "id"))
    if not ids and cats:
        raise c.fail("", "categories", "no 'person' category with keypoints")
    return ids or None


def _keypoint_numbers(raw, c: _Checker, where: str, k: int, layout: str) -> np.ndarray:
    if not isinstance(raw, list):
        raise c.fail(where, "keypoints", f"must be a list of numbers, got {_describe(raw)}")
    if len(raw) != 3 * k:
        raise c.fail(
            where,
            "keypoints",
            f"{len(raw)} numbers, expected {k} (x, y, score) triplets = {3 * k} for layout "
            f"{layout!r}",
        )
    out = np.empty(3 * k)
    for j, v in enumerate(raw):
        if v is None:  # null: a missing value
            out[j] = np.nan
        elif _is_number(v):
            out[j] = float(v)
        else:
            raise c.fail(where, "keypoints", f"element {j} must be a number, got {_describe(v)}")
    return out.reshape(k, 3)


def read_coco_keypoints(
    path: str | Path,
    *,
    num_keypoints: int = 17,
    layout: str = "coco17",
    images: str | Path | None = None,
    image_size: tuple[float, float] | None = None,
    min_score: float = 0.0,
    min_keypoints: int = 1,
    include_crowd: bool = False,
    skip_zero_area_box: bool = False,
    visibility: str = "auto",
    best_per_image: bool = False,
    require_annotations: bool = False,
) -> CocoPeople:
    """Reads a COCO-style keypoint JSON; see the module docstring.

    Args:
      path: the JSON file.
      num_keypoints, layout: K joints per person of the named source layout (for messages and
        the COCO-17 name check).
      images: a COCO annotation file whose ``images`` list gives the image sizes (used when
        the file has none of its own).
      image_size: ``(w, h)`` px for people whose size is found nowhere else.
      min_score: people with a ``score`` below it are skipped.
      min_keypoints: people with fewer usable keypoints are skipped.
      include_crowd: keep ``iscrowd`` annotations.
      skip_zero_area_box: skip people whose ``bbox`` has zero width or height (else counted).
      visibility: 'auto' (flags in an annotation file whose values are all 0/1/2), 'flags'
        (required: other values are an error), 'scores'.
      best_per_image: keep only the highest-scored person of each image.
      require_annotations: the file must be an annotation file (an object with 'annotations').
    """
    path = Path(path)
    c = _Checker(path)
    data = read_json(path)
    table = None
    cat_ids = None
    is_annotation_file = isinstance(data, Mapping) and "annotations" in data
    if isinstance(data, Mapping):
        if "images" in data:
            table = image_table(data["images"], path)
        cat_ids = _person_categories(data, c, layout)
        entries = data.get("annotations", data.get("results"))
        if entries is None:
            raise c.fail("", None, "a JSON object must hold an 'annotations' (or 'results') list")
    else:
        entries = data
    if require_annotations and not is_annotation_file:
        raise c.fail("", None, "not a COCO annotation file (no 'annotations' list)")
    if not isinstance(entries, list):
        raise c.fail("", "annotations", f"must be a list of people, got {type(entries).__name__}")
    if table is None and images is not None:
        ann = read_json(images)
        if not isinstance(ann, Mapping) or "images" not in ann:
            raise CocoFormatError(f"{images}: an images file must be a COCO JSON object with an "
                                  "'images' list")  # fmt: skip
        table = image_table(ann["images"], images)
    default_size = None
    if image_size is not None:
        default_size = c.size_pair(list(image_size), "", "image size argument")

    k = num_keypoints
    rows, sizes, ids, ann_ids, index, names, scores = [], [], [], [], [], [], []
    skipped = dict.fromkeys(
        ("crowd", "other_category", "low_score", "no_keypoints", "too_few_keypoints"), 0
    )
    zero_area = 0
    for i, det in enumerate(entries):
        where = f"entry {i}"
        if not isinstance(det, Mapping):
            raise c.fail(where, None, f"expected an object with 'keypoints', got {_describe(det)}")
        if "keypoints" not in det:
            raise c.fail(where, "keypoints", "missing")
        trip = _keypoint_numbers(det["keypoints"], c, where, k, layout)
        iid = c.ident(det["image_id"], where, "image_id") if "image_id" in det else i
        aid = det.get("id", -1)
        if not isinstance(aid, int) or isinstance(aid, bool):
            aid = -1  # annotation ids are informational; results lists may use anything
        cat = det.get("category_id", 1)
        if isinstance(cat, bool) or not isinstance(cat, int | str):
            raise c.fail(where, "category_id", f"must be an integer, got {_describe(cat)}")
        score = det.get("score")
        if score is not None:
            score = c.number(score, where, "score")
        crowd = det.get("iscrowd", 0)
        if crowd not in (0, 1, True, False):
            raise c.fail(where, "iscrowd", f"must be 0 or 1, got {_describe(crowd)}")
        box = det.get("bbox")
        box_area = None
        if box is not None:
            if not isinstance(box, list | tuple) or len(box) != 4:
                raise c.fail(where, "bbox", f"must be [x, y, width, height], got {_describe(box)}")
            bw = c.number(box[2], where, "bbox[2] (width)")
            bh = c.number(box[3], where, "bbox[3] (height)")
            c.number(box[0], where, "bbox[0] (x)")
            c.number(box[1], where, "bbox[1] (y)")
            box_area = bw * bh
        if (cat not in cat_ids) if cat_ids is not None else (cat != 1):
            skipped["other_category"] += 1
            continue
        if crowd and not include_crowd:
            skipped["crowd"] += 1
            continue
        if score is not None and score < min_score:
            skipped["low_score"] += 1
            continue
        if box_area is not None and box_area <= 0:
            zero_area += 1
            if skip_zero_area_box:
                continue
        if table is not None and str(iid) in table:
            *size, name = table[str(iid)]
        elif "image_size" in det:
            size, name = c.size_pair(det["image_size"], where, "image_size"), ""
        elif "width" in det or "height" in det:
            size = (
                c.number(det.get("width"), where, "width", positive=True),
                c.number(det.get("height"), where, "height", positive=True),
            )
            name = ""
        elif default_size is not None:
            size, name = default_size, ""
        elif table is not None:
            raise c.fail(where, "image_id", f"{iid!r} is not in the 'images' list")
        else:
            raise c.fail(
                "",
                None,
                "no image sizes: give an 'images' list ({id, width, height}) in the file, "
                "--images / --coco-ann COCO_ANNOTATION.json, per-entry 'image_size', or "
                "--image-size W H",
            )
        rows.append(trip)
        sizes.append(size)
        ids.append(iid)
        ann_ids.append(aid)
        index.append(i)
        names.append(name)
        scores.append(np.nan if score is None else score)

    trip = np.asarray(rows, np.float64).reshape(-1, k, 3)
    third = trip[..., 2]
    finite_third = third[np.isfinite(third)]
    is_flags = bool(np.all(np.isin(finite_third, (0.0, 1.0, 2.0))))
    if visibility == "flags":
        if not is_flags:
            bad = int(np.flatnonzero(~np.all(np.isin(third, (0.0, 1.0, 2.0)), axis=-1))[0])
            raise c.fail(
                f"entry {index[bad]}",
                "keypoints",
                f"visibility flags must be 0, 1 or 2, got {third[bad].tolist()}",
            )
        flags = True
    elif visibility == "scores":
        flags = False
    else:
        flags = is_annotation_file and finite_third.size > 0 and is_flags
    if flags:
        conf = (third > 0).astype(np.float64)
        clipped = 0
    else:
        s = np.where(np.isfinite(third), third, 0.0)
        conf = np.clip(s, 0.0, 1.0)
        clipped = int(np.count_nonzero(conf != s))
    xy = trip[..., :2]
    xy, conf, keep, dropped = drop_unusable(xy, conf, min_keypoints=min_keypoints)
    for reason, n in dropped.items():
        skipped[reason] += n
    if best_per_image:
        best: dict = {}
        sc = np.nan_to_num(np.asarray(scores, np.float64), nan=-np.inf)
        for j in np.flatnonzero(keep):
            key = str(ids[j])
            if key not in best or sc[j] > sc[best[key]]:
                best[key] = j
        chosen = np.zeros_like(keep)
        chosen[list(best.values())] = True
        skipped["not_best_in_image"] = int(keep.sum() - chosen.sum())
        keep = chosen
    kept_ids = [ids[j] for j in np.flatnonzero(keep)]
    if all(isinstance(x, int) for x in kept_ids):
        id_array = np.asarray(kept_ids, np.int64).reshape(-1)
    else:
        id_array = np.asarray([str(x) for x in kept_ids], dtype=str).reshape(-1)
    skipped = {r: n for r, n in skipped.items() if n}
    if zero_area:
        key = "zero_area_box" if skip_zero_area_box else "zero_area_box (kept if keypoints)"
        skipped[key] = zero_area
    return CocoPeople(
        keypoints=xy[keep],
        confidence=conf[keep],
        image_size=np.asarray(sizes, np.float64).reshape(-1, 2)[keep],
        image_id=id_array,
        annotation_id=np.asarray(ann_ids, np.int64).reshape(-1)[keep],
        source_index=np.asarray(index, np.int64).reshape(-1)[keep],
        file_name=np.asarray(names, dtype=str).reshape(-1)[keep],
        skipped=skipped,
        visibility_flags=flags,
        scores_clipped=clipped,
        has_file_names=table is not None,
    )
