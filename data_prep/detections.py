"""Generic 2D detections with confidences -> prepared 2D dataset (e.g. HRNet output).

Inputs:
  * a COCO-style *results* JSON: a list of ``{image_id, category_id, keypoints: [x, y, score]*J,
    score}`` (HRNet / mmpose ``results.json``); image sizes come from ``--coco-ann`` (the COCO
    annotation file's ``images``) or ``--image-size``;
  * a ``.npy`` array ``(N, J, 3)`` ``[x, y, score]`` or ``(N, J, 2)`` (scores then 1), with
    ``--image-size W H``.

Joints are mapped from ``--layout`` (default ``coco17``; also ``mpii16``, ``h36m17``,
``openpose18``, ``blazepose33``, ...; see ``cpose_jax.data.joint_maps.JOINT_MAPS``) to H36M-17;
derived joints get the mean score of their sources (paper §4.2; Eq. 3 normalizes later).
Scores are clipped into [0, 1] (HRNet heatmap maxima may exceed 1; how many were clipped is in
the metadata); a score of 0 means missing. People with no usable keypoint (finite coordinates
and a score > 0: the one rule of ``cpose_jax.data.coco_json``, shared with ``experiments.infer``
and ``data_prep.coco``) are skipped and counted (``meta.skipped.no_keypoints``). JSON files are
read by that module's COCO reader (every field type-checked).

    python -m data_prep.detections --results hrnet_results.json --coco-ann val.json --out d.npz
    python -m data_prep.detections --npy dets.npy --layout h36m17 --image-size 1000 1000 --out d.npz

Ids: ``subject`` = image id (JSON) or row index (npy).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cpose_jax.data import coco_json
from cpose_jax.data.joint_maps import JOINT_MAPS, get_joint_map, map_to_h36m17
from data_prep._common import Converted, clip_scores, fail, make_parser, read_npy, run_cli


def _finish(kp: np.ndarray, conf, layout: str, sizes, ids, meta: dict, path) -> Converted:
    """Source-layout pixels ``(N, K, 2)`` + confidences ``(N, K)`` (None: 1 where finite) ->
    H36M-17, after dropping people with no usable keypoint (the one rule)."""
    jmap = get_joint_map(layout)
    if conf is None:
        conf = np.ones(kp.shape[:2])
    kp, conf, keep, dropped = coco_json.drop_unusable(kp, conf)
    skipped = meta.setdefault("skipped", {})
    for reason, n in dropped.items():
        skipped[reason] = skipped.get(reason, 0) + n
    xy, c = map_to_h36m17(kp[keep], conf[keep], source=jmap)
    meta.update(
        {
            "source": "detections",
            "file": str(path),
            "source_layout": layout,
            "derived_joint_confidence": "mean of sources",
            "usable_keypoint": "finite coordinates and confidence > 0",
        }
    )
    arrays = {
        "keypoints_2d": xy,
        "confidence": c,
        "image_size": np.asarray(sizes, dtype=np.float64).reshape(-1, 2)[keep],
        "subject": np.asarray(ids).reshape(-1)[keep],
    }
    return Converted(arrays, meta)


def convert_results_json(
    results: str | Path,
    *,
    layout: str = "coco17",
    coco_ann: str | Path | None = None,
    image_size: tuple[float, float] | None = None,
    min_score: float = 0.0,
    best_per_image: bool = False,
) -> Converted:
    """COCO-style keypoint results JSON -> H36M-17 detections with confidences (read by the
    one COCO reader, :mod:`cpose_jax.data.coco_json`)."""
    path = Path(results)
    jmap = get_joint_map(layout)
    try:
        people = coco_json.read_coco_keypoints(
            path,
            num_keypoints=jmap.num_source,
            layout=layout,
            images=coco_ann,
            image_size=image_size,
            min_score=min_score,
            best_per_image=best_per_image,
            visibility="scores",
        )
    except coco_json.CocoFormatError as e:
        raise fail(None, str(e)) from None
    meta = {
        "format": "results_json",
        "min_score": min_score,
        "skipped": dict(people.skipped),
        "scores_clipped": people.scores_clipped,
        "has_scores": True,
    }
    return _finish(
        people.keypoints, people.confidence, layout, people.image_size, people.image_id, meta, path
    )


def convert_npy(
    npy: str | Path, *, layout: str = "coco17", image_size: tuple[float, float]
) -> Converted:
    """``(N, J, 3)`` ``[x, y, score]`` or ``(N, J, 2)`` pixels -> H36M-17 detections."""
    path = Path(npy)
    kp = read_npy(path)
    if kp.dtype.kind not in "fiu":
        raise fail(path, f"expected a numeric array, got dtype {kp.dtype}")
    if image_size is None:
        raise fail(path, ".npy detections hold no image sizes: pass --image-size W H")
    jmap = get_joint_map(layout)
    if kp.ndim != 3 or kp.shape[1] != jmap.num_source or kp.shape[2] not in (2, 3):
        raise fail(
            path,
            f"detections must be (N, {jmap.num_source}, 2|3) for layout {layout!r}, got {kp.shape}",
        )
    kp = kp.astype(np.float64)
    meta = {"format": "npy", "has_scores": kp.shape[2] == 3}
    conf = clip_scores(kp[..., 2], meta) if kp.shape[2] == 3 else None
    n = kp.shape[0]
    sizes = np.tile(np.asarray(image_size, dtype=np.float64), (n, 1))
    return _finish(kp[..., :2], conf, layout, sizes, np.arange(n), meta, path)


def main(argv: Sequence[str] | None = None) -> int:
    p = make_parser("detections", __doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--results", help="COCO-style keypoint results JSON")
    src.add_argument("--npy", help="(N, J, 3) [x, y, score] or (N, J, 2) array")
    p.add_argument("--layout", default="coco17", choices=sorted(JOINT_MAPS))
    p.add_argument("--coco-ann", help="COCO annotation JSON (for image sizes)")
    p.add_argument("--image-size", type=float, nargs=2, metavar=("W", "H"))
    p.add_argument("--min-score", type=float, default=0.0, help="drop people scored below")
    p.add_argument("--best-per-image", action="store_true", help="keep the top person per image")

    def run(a):
        size = tuple(a.image_size) if a.image_size else None
        if a.npy:
            return convert_npy(a.npy, layout=a.layout, image_size=size)
        return convert_results_json(
            a.results,
            layout=a.layout,
            coco_ann=a.coco_ann,
            image_size=size,
            min_score=a.min_score,
            best_per_image=a.best_per_image,
        )

    return run_cli(p, run, argv)


if __name__ == "__main__":
    sys.exit(main())
