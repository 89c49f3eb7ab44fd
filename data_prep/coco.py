"""MS-COCO keypoints JSON (``person_keypoints_{train,val}2017.json``) -> prepared 2D dataset.

One sample per person annotation, mapped COCO-17 -> H36M-17 (``joint_maps.COCO17_TO_H36M17``:
pelvis = mid-hip, thorax = mid-shoulder, spine = mid(pelvis, thorax), head = mid-eyes).
Visibility ``v = 0`` (not labelled) -> confidence 0; ``v = 1`` (labelled, occluded) and ``v = 2``
-> confidence 1. Skipped: crowd annotations (``iscrowd = 1``), ``num_keypoints == 0`` /
no labelled joint, boxes of zero width/height, non-person categories, and people with fewer
than ``--min-keypoints`` labelled COCO joints. Counts of what was skipped go into the metadata.

    python -m data_prep.coco --ann person_keypoints_val2017.json --out coco_val.npz

Ids: ``subject`` = COCO image id, ``camera`` = annotation id (COCO has no subjects/cameras).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cpose_jax.data.joint_maps import COCO17_NAMES, map_to_h36m17
from data_prep._common import Converted, fail, make_parser, read_json, run_cli


def person_category_ids(data: dict, path) -> set[int]:
    cats = data.get("categories")
    if not cats:
        return {1}
    ids = set()
    for c in cats:
        if c.get("name") == "person" or "keypoints" in c:
            names = c.get("keypoints")
            if names is not None and tuple(names) != COCO17_NAMES:
                raise fail(
                    path,
                    f"category {c.get('id')} keypoint names {names} are not the COCO-17 layout",
                )
            ids.add(int(c["id"]))
    if not ids:
        raise fail(path, "no 'person' category with keypoints in 'categories'")
    return ids


def image_table(data: dict, path) -> dict[int, dict]:
    images = data.get("images")
    if not isinstance(images, list):
        raise fail(path, "missing 'images' list (a COCO annotation file has one)")
    table = {}
    for im in images:
        try:
            table[int(im["id"])] = {
                "size": (float(im["width"]), float(im["height"])),
                "file_name": str(im.get("file_name", "")),
            }
        except (KeyError, TypeError, ValueError) as e:
            raise fail(path, f"image entry {im!r:.80} lacks id/width/height ({e})") from e
    return table


def convert(
    ann_file: str | Path, *, min_keypoints: int = 1, include_crowd: bool = False
) -> Converted:
    """Reads a COCO keypoints annotation JSON; returns H36M-17 2D labels in pixels."""
    path = Path(ann_file)
    data = read_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("annotations"), list):
        raise fail(path, "not a COCO annotation file (no 'annotations' list)")
    cat_ids = person_category_ids(data, path)
    images = image_table(data, path)

    skipped = {"crowd": 0, "no_keypoints": 0, "zero_area_box": 0, "other_category": 0}
    skipped["too_few_keypoints"] = 0
    kps, sizes, image_ids, ann_ids = [], [], [], []
    for ann in data["annotations"]:
        aid = ann.get("id")
        if int(ann.get("category_id", 1)) not in cat_ids:
            skipped["other_category"] += 1
            continue
        if ann.get("iscrowd", 0) and not include_crowd:
            skipped["crowd"] += 1
            continue
        raw = ann.get("keypoints")
        if raw is None or len(raw) == 0 or ann.get("num_keypoints", None) == 0:
            skipped["no_keypoints"] += 1
            continue
        k = np.asarray(raw, dtype=np.float64)
        if k.shape != (51,):
            raise fail(
                path, f"annotation {aid}: 'keypoints' must hold 17*3=51 numbers, got {k.shape}"
            )
        k = k.reshape(17, 3)
        if not np.all(np.isin(k[:, 2], (0, 1, 2))):
            raise fail(path, f"annotation {aid}: visibility flags must be 0/1/2, got {k[:, 2]}")
        n_lab = int(np.count_nonzero(k[:, 2] > 0))
        if n_lab == 0:
            skipped["no_keypoints"] += 1
            continue
        bbox = ann.get("bbox")
        if bbox is not None and (len(bbox) != 4 or bbox[2] <= 0 or bbox[3] <= 0):
            skipped["zero_area_box"] += 1
            continue
        if n_lab < min_keypoints:
            skipped["too_few_keypoints"] += 1
            continue
        iid = int(ann.get("image_id", -1))
        if iid not in images:
            raise fail(path, f"annotation {aid}: image_id {iid} not in 'images'")
        kps.append(k)
        sizes.append(images[iid]["size"])
        image_ids.append(iid)
        ann_ids.append(int(aid) if aid is not None else -1)

    kp = np.asarray(kps, dtype=np.float64).reshape(-1, 17, 3)
    xy, conf = map_to_h36m17(kp[..., :2], (kp[..., 2] > 0).astype(np.float64), source="coco17")
    meta = {
        "source": "coco",
        "file": str(path),
        "source_layout": "coco17",
        "visibility": "v=0 -> confidence 0; v=1,2 -> 1",
        "min_keypoints": min_keypoints,
        "skipped": skipped,
        "ids": {"subject": "COCO image_id", "camera": "COCO annotation id"},
    }
    arrays = {
        "keypoints_2d": xy,
        "confidence": conf,
        "image_size": np.asarray(sizes, dtype=np.float64).reshape(-1, 2),
        "subject": np.asarray(image_ids, dtype=np.int64),
        "camera": np.asarray(ann_ids, dtype=np.int64),
    }
    return Converted(arrays, meta)


def main(argv: Sequence[str] | None = None) -> int:
    p = make_parser("coco", __doc__)
    p.add_argument("--ann", required=True, help="COCO person keypoints annotation JSON")
    p.add_argument("--min-keypoints", type=int, default=1, help="min labelled COCO joints")
    p.add_argument("--include-crowd", action="store_true", help="keep iscrowd=1 annotations")
    return run_cli(
        p,
        lambda a: convert(a.ann, min_keypoints=a.min_keypoints, include_crowd=a.include_crowd),
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
