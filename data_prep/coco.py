"""MS-COCO keypoints JSON (``person_keypoints_{train,val}2017.json``) -> prepared 2D dataset.

One sample per person annotation, mapped COCO-17 -> H36M-17 (``joint_maps.COCO17_TO_H36M17``:
pelvis = mid-hip, thorax = mid-shoulder, spine = mid(pelvis, thorax), head = mid-eyes).
Visibility ``v = 0`` (not labelled) -> confidence 0; ``v = 1`` (labelled, occluded) and ``v = 2``
-> confidence 1. Skipped: crowd annotations (``iscrowd = 1``), people with no usable keypoint
(the one rule of ``cpose_jax.data.coco_json``, shared with ``experiments.infer`` and
``data_prep.detections``), boxes of zero width/height, non-person categories, and people with
fewer than ``--min-keypoints`` labelled COCO joints. Counts of what was skipped go into the
metadata. Every field is type-checked (``error: FILE: entry N: FIELD: problem``).

    python -m data_prep.coco --ann person_keypoints_val2017.json --out coco_val.npz

Ids: ``subject`` = COCO image id, ``camera`` = annotation id (COCO has no subjects/cameras).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from cpose_jax.data import coco_json
from cpose_jax.data.joint_maps import map_to_h36m17
from data_prep._common import Converted, fail, make_parser, run_cli


def convert(
    ann_file: str | Path, *, min_keypoints: int = 1, include_crowd: bool = False
) -> Converted:
    """Reads a COCO keypoints annotation JSON; returns H36M-17 2D labels in pixels.

    The file is read by the one COCO reader (:mod:`cpose_jax.data.coco_json`), which
    type-checks every field and applies the one "usable keypoint" rule.
    """
    path = Path(ann_file)
    try:
        people = coco_json.read_coco_keypoints(
            path,
            min_keypoints=min_keypoints,
            include_crowd=include_crowd,
            skip_zero_area_box=True,
            visibility="flags",
            require_annotations=True,
        )
    except coco_json.CocoFormatError as e:
        raise fail(None, str(e)) from None
    xy, conf = map_to_h36m17(people.keypoints, people.confidence, source="coco17")
    skipped = dict.fromkeys(
        ("crowd", "no_keypoints", "zero_area_box", "other_category", "too_few_keypoints"), 0
    )
    skipped |= people.skipped
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
        "image_size": people.image_size,
        "subject": people.image_id,
        "camera": people.annotation_id,
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
