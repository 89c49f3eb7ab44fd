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
the metadata); a score of 0 means missing.

    python -m data_prep.detections --results hrnet_results.json --coco-ann val.json --out d.npz
    python -m data_prep.detections --npy dets.npy --layout h36m17 --image-size 1000 1000 --out d.npz

Ids: ``subject`` = image id (JSON) or row index (npy).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cpose_jax.data.joint_maps import JOINT_MAPS, get_joint_map, map_to_h36m17
from data_prep._common import (
    Converted,
    clip_scores,
    fail,
    make_parser,
    read_json,
    read_npy,
    run_cli,
)
from data_prep.coco import image_table


def _finish(kp: np.ndarray, layout: str, sizes, ids, meta: dict, path) -> Converted:
    jmap = get_joint_map(layout)
    if kp.ndim != 3 or kp.shape[1] != jmap.num_source or kp.shape[2] not in (2, 3):
        raise fail(
            path,
            f"detections must be (N, {jmap.num_source}, 2|3) for layout {layout!r}, got {kp.shape}",
        )
    scores = clip_scores(kp[..., 2], meta) if kp.shape[2] == 3 else None
    xy, conf = map_to_h36m17(kp[..., :2].astype(np.float64), scores, source=jmap)
    meta.update(
        {
            "source": "detections",
            "file": str(path),
            "source_layout": layout,
            "has_scores": scores is not None,
            "derived_joint_confidence": "mean of sources",
        }
    )
    arrays = {
        "keypoints_2d": xy,
        "confidence": conf,
        "image_size": np.asarray(sizes, dtype=np.float64).reshape(-1, 2),
        "subject": np.asarray(ids),
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
    """COCO-style keypoint results JSON -> H36M-17 detections with confidences."""
    path = Path(results)
    data = read_json(path)
    if isinstance(data, dict) and "annotations" in data:
        data = data["annotations"]
    if not isinstance(data, list):
        raise fail(path, "a results file must hold a list of {image_id, keypoints, score}")
    images = image_table(read_json(coco_ann), coco_ann) if coco_ann is not None else None
    if images is None and image_size is None:
        raise fail(path, "results hold no image sizes: pass --coco-ann or --image-size W H")
    jmap = get_joint_map(layout)
    rows, ids, sizes, scores = [], [], [], []
    skipped = {"low_score": 0, "not_best_in_image": 0}
    for i, det in enumerate(data):
        try:
            iid = det["image_id"]
            k = np.asarray(det["keypoints"], dtype=np.float64)
        except (KeyError, TypeError, ValueError) as e:
            raise fail(path, f"entry {i}: needs 'image_id' and numeric 'keypoints' ({e})") from e
        if k.size != jmap.num_source * 3:
            raise fail(
                path,
                f"entry {i}: {k.size} keypoint numbers, expected {jmap.num_source}*3 for "
                f"layout {layout!r}",
            )
        score = float(det.get("score", 1.0))
        if score < min_score:
            skipped["low_score"] += 1
            continue
        if images is not None:
            try:
                size = images[int(iid)]["size"]
            except (KeyError, ValueError):
                raise fail(path, f"entry {i}: image_id {iid!r} not in {coco_ann}") from None
        else:
            size = image_size
        rows.append(k.reshape(jmap.num_source, 3))
        ids.append(iid)
        sizes.append(size)
        scores.append(score)
    if best_per_image and rows:
        best: dict = {}
        for j, (iid, sc) in enumerate(zip(ids, scores)):
            if iid not in best or sc > scores[best[iid]]:
                best[iid] = j
        keep = sorted(best.values())
        skipped["not_best_in_image"] = len(rows) - len(keep)
        rows, ids, sizes = [rows[j] for j in keep], [ids[j] for j in keep], [sizes[j] for j in keep]
    kp = np.asarray(rows, dtype=np.float64).reshape(-1, jmap.num_source, 3)
    meta = {"format": "results_json", "min_score": min_score, "skipped": skipped}
    return _finish(kp, layout, sizes, ids, meta, path)


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
    n = kp.shape[0] if kp.ndim else 0
    sizes = np.tile(np.asarray(image_size, dtype=np.float64), (n, 1))
    return _finish(kp, layout, sizes, np.arange(n), {"format": "npy"}, path)


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
