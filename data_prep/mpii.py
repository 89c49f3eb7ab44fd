"""MPII Human Pose -> prepared 2D dataset (the official ``.mat`` release or the HRNet JSON).

Both routes give one sample per person in pixels (0-based: MPII coordinates are MATLAB 1-based,
so 1 is subtracted, as HRNet does), mapped MPII-16 -> H36M-17 by name
(``joint_maps.MPII16_TO_H36M17``: pelvis -> Hip, thorax -> Thorax, upper neck -> Neck/Nose,
head top -> Head, spine = mid(pelvis, thorax)). Occluded but labelled joints are labels
(confidence 1); joints absent from the annotation (or at the ``-1, -1`` sentinel) are missing.

"Clean single-person samples" (paper §4.3: ~10k MPII training samples "filtered ... by checking
the joints annotations"): by default a person is kept only if it is a training annotation, it
is separated from other people (``.mat``: listed in ``single_person``; JSON, which lacks that
list: the only person annotated in its image) and all 16 joints are labelled
(``--min-joints 16``). Loosen with ``--min-joints`` / ``--all-people``.

    python -m data_prep.mpii --mat mpii_human_pose_v1_u12_1.mat --image-dir images --out mpii.npz
    python -m data_prep.mpii --json annot/train.json --image-size 1280 720 --out mpii.npz

MPII annotations do not store image sizes: pass ``--image-dir`` (sizes read from the JPEG
headers) or ``--image-size W H`` (one size for all; most MPII frames are 1280x720).
Ids: ``subject`` = image file name, ``camera`` = person index within the image (0-based).
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from cpose_jax.data.joint_maps import map_to_h36m17
from data_prep._common import (
    Converted,
    fail,
    image_size_from_header,
    make_parser,
    numeric,
    read_json,
    require_file,
    run_cli,
)

NUM_MPII = 16


def _sizes(names: list[str], image_dir, image_size, path) -> tuple[np.ndarray, str]:
    if image_dir is not None:
        d = Path(image_dir)
        cache: dict[str, tuple[int, int]] = {}
        for n in names:
            if n not in cache:
                cache[n] = image_size_from_header(d / n)
        return np.asarray([cache[n] for n in names], dtype=np.float64).reshape(-1, 2), "headers"
    if image_size is not None:
        w, h = image_size
        if w <= 0 or h <= 0:
            raise fail(path, f"--image-size must be positive, got {image_size}")
        return np.tile(np.asarray([w, h], dtype=np.float64), (len(names), 1)), "given"
    raise fail(
        path,
        "MPII annotations hold no image sizes: pass --image-dir (JPEG headers) or --image-size W H",
    )


def _keep(people: list, skipped: Counter, min_joints: int, joints, present, name, index) -> None:
    """Adds a person with at least ``min_joints`` labelled joints to ``people``, else counts it
    skipped. joints: (16, 2) 1-based px; present: (16,) bool; index: person in its image."""
    if present.sum() < min_joints:
        skipped["too_few_joints"] += 1
    else:
        people.append((joints, present, name, index))


def _finish(people: list, image_dir, image_size, path, meta) -> Converted:
    """The kept people (``_keep``) -> H36M-17 in 0-based pixels, with their image sizes."""
    joints, present, names, index = zip(*people) if people else ((), (), (), ())
    kp1 = np.asarray(joints, dtype=np.float64).reshape(-1, NUM_MPII, 2)
    present = np.asarray(present, dtype=bool).reshape(-1, NUM_MPII)
    sizes, how = _sizes(names, image_dir, image_size, path)
    kp0 = kp1 - 1.0  # MATLAB 1-based -> 0-based pixels
    xy, conf = map_to_h36m17(kp0, present.astype(np.float64), source="mpii16")
    meta.update(
        {
            "source": "mpii",
            "file": str(path),
            "source_layout": "mpii16",
            "coordinates": "MATLAB 1-based in the file; 1 subtracted (0-based pixels)",
            "image_size_source": how,
            "ids": {"subject": "image file name", "camera": "person index in the image"},
        }
    )
    arrays = {
        "keypoints_2d": xy,
        "confidence": conf,
        "image_size": sizes,
        "subject": np.asarray(names, dtype=str),
        "camera": np.asarray(index, dtype=np.int64),
    }
    return Converted(arrays, meta)


# ------------------------------------------------------------------------------ HRNet JSON


def _vis_value(v: Any) -> float:
    """Visibility may be numeric, a string ('0'/'1') or empty; empty means unknown (kept)."""
    if v is None:
        return 1.0
    if isinstance(v, str):
        v = v.strip()
        return float(v) if v else 1.0
    a = np.asarray(v)
    return float(a.ravel()[0]) if a.size else 1.0


def convert_json(
    json_file: str | Path,
    *,
    image_dir: str | Path | None = None,
    image_size: tuple[float, float] | None = None,
    min_joints: int = NUM_MPII,
    single_person: bool = True,
) -> Converted:
    """HRNet / mmpose MPII JSON (list of ``{image, joints, joints_vis, center, scale}``)."""
    path = Path(json_file)
    data = read_json(path)
    if not isinstance(data, list):
        raise fail(path, "an MPII JSON file must hold a list of person dicts")
    per_image = Counter()
    for i, d in enumerate(data):
        if not isinstance(d, dict) or "image" not in d:
            raise fail(path, f"entry {i} is not a person dict with an 'image' key")
        if not isinstance(d["image"], str):
            raise fail(
                path,
                f"entry {i}: image: must be a file name (string), got "
                f"{type(d['image']).__name__} {d['image']!r:.40}",
            )
        per_image[d["image"]] += 1
    skipped = Counter()
    people = []
    seen = Counter()
    for i, d in enumerate(data):
        name = str(d["image"])
        k = seen[name]
        seen[name] += 1
        if "joints" not in d:
            skipped["no_joints"] += 1  # test-split JSON
            continue
        j = numeric(d["joints"], path, f"entry {i} ({name}): joints")
        if j.shape != (NUM_MPII, 2):
            raise fail(path, f"entry {i} ({name}): joints: must be (16, 2), got {j.shape}")
        vis_raw = d.get("joints_vis", [1] * NUM_MPII)
        if not isinstance(vis_raw, list | tuple) or len(vis_raw) != NUM_MPII:
            raise fail(
                path,
                f"entry {i} ({name}): joints_vis: must be a list of 16 values, got "
                f"{type(vis_raw).__name__} {vis_raw!r:.40}",
            )
        try:
            vis = np.asarray([_vis_value(v) for v in vis_raw])
        except (TypeError, ValueError) as e:
            raise fail(path, f"entry {i} ({name}): joints_vis: bad value ({e})") from None
        sentinel = np.all(j == -1.0, axis=-1)
        present = np.isfinite(j).all(-1) & ~sentinel & ~((vis == 0) & np.all(j <= 0, axis=-1))
        if single_person and per_image[name] > 1:
            skipped["not_single_person"] += 1
            continue
        _keep(people, skipped, min_joints, j, present, name, k)
    meta = {
        "format": "hrnet_json",
        "min_joints": min_joints,
        "single_person": "only person annotated in its image" if single_person else "off",
        "skipped": dict(skipped),
    }
    return _finish(people, image_dir, image_size, path, meta)


# ------------------------------------------------------------------------------ .mat release


def _empty(x: Any) -> bool:
    return x is None or (isinstance(x, np.ndarray) and x.size == 0)


def _items(x: Any) -> list:
    """A MATLAB struct array / cell (squeezed by loadmat) as a Python list."""
    if _empty(x):
        return []
    if isinstance(x, np.ndarray):
        return list(x.ravel())
    return [x]


def _field(s: Any, name: str) -> Any:
    v = getattr(s, name, None)
    return None if _empty(v) else v


def _scalar(x: Any) -> float:
    a = np.asarray(x, dtype=np.float64).ravel()
    if a.size != 1:
        raise ValueError(f"expected one number, got {a.size}")
    return float(a[0])


def convert_mat(
    mat_file: str | Path,
    *,
    image_dir: str | Path | None = None,
    image_size: tuple[float, float] | None = None,
    min_joints: int = NUM_MPII,
    single_person: bool = True,
    include_test: bool = False,
) -> Converted:
    """The official ``mpii_human_pose_v1_u12_1.mat`` (MATLAB v5, ``scipy.io.loadmat``)."""
    import scipy.io

    path = require_file(mat_file)
    try:
        mat = scipy.io.loadmat(path, struct_as_record=False, squeeze_me=True)
    except Exception as e:
        raise fail(
            path, f"not a MATLAB v5 .mat file scipy can read ({type(e).__name__}: {e})"
        ) from e
    if "RELEASE" not in mat:
        raise fail(
            path, f"no 'RELEASE' struct (variables: {sorted(k for k in mat if k[0] != '_')})"
        )
    rel = mat["RELEASE"]
    annolist = _items(_field(rel, "annolist"))
    if not annolist:
        raise fail(path, "RELEASE.annolist is missing or empty")
    n_img = len(annolist)
    img_train = _field(rel, "img_train")
    img_train = (
        np.ones(n_img, dtype=int) if img_train is None else np.atleast_1d(img_train).astype(int)
    )
    if img_train.shape != (n_img,):
        raise fail(path, f"RELEASE.img_train has {img_train.size} entries for {n_img} images")
    sp_field = _field(rel, "single_person")
    if single_person and sp_field is None:
        raise fail(path, "RELEASE.single_person is missing; pass --all-people to keep everyone")
    sp_list = _items(sp_field) if sp_field is not None else [None] * n_img
    if sp_field is not None and np.ndim(sp_field) == 0:
        sp_list = [sp_field]
    if single_person and len(sp_list) != n_img:
        raise fail(path, f"RELEASE.single_person has {len(sp_list)} entries for {n_img} images")

    skipped = Counter()
    people = []
    for i, ann in enumerate(annolist):
        if not include_test and img_train[i] != 1:
            skipped["test_image"] += 1
            continue
        image = _field(ann, "image")
        name = _field(image, "name") if image is not None else None
        if name is None:
            raise fail(path, f"annolist({i + 1}).image.name is missing")
        name = str(name)
        rects = _items(_field(ann, "annorect"))
        if not rects:
            skipped["no_annorect"] += 1
            continue
        singles = None
        if single_person:
            singles = {int(v) for v in np.atleast_1d(np.asarray(sp_list[i], dtype=float)) if v > 0}
        for r, rect in enumerate(rects):
            if singles is not None and (r + 1) not in singles:  # 1-based rect ids
                skipped["not_single_person"] += 1
                continue
            annopoints = _field(rect, "annopoints")
            points = _items(_field(annopoints, "point")) if annopoints is not None else []
            if not points:
                skipped["no_annopoints"] += 1
                continue
            j = np.full((NUM_MPII, 2), np.nan)
            for pt in points:
                try:
                    jid = int(_scalar(_field(pt, "id")))
                    x, y = _scalar(_field(pt, "x")), _scalar(_field(pt, "y"))
                    _vis_value(_field(pt, "is_visible"))  # validates; occluded still a label
                except (TypeError, ValueError) as e:
                    raise fail(path, f"annolist({i + 1}).annorect({r + 1}): bad point ({e})") from e
                if not 0 <= jid < NUM_MPII:
                    raise fail(
                        path, f"annolist({i + 1}).annorect({r + 1}): joint id {jid} not in 0..15"
                    )
                j[jid] = (x, y)
            present = np.isfinite(j).all(-1)
            _keep(
                people, skipped, min_joints, np.where(present[:, None], j, -1.0), present, name, r
            )
    meta = {
        "format": "mat_release",
        "min_joints": min_joints,
        "single_person": "RELEASE.single_person" if single_person else "off",
        "include_test": include_test,
        "skipped": dict(skipped),
    }
    return _finish(people, image_dir, image_size, path, meta)


def main(argv: Sequence[str] | None = None) -> int:
    p = make_parser("mpii", __doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--mat", help="mpii_human_pose_v1_u12_1.mat (official release)")
    src.add_argument("--json", help="HRNet/mmpose MPII JSON (train.json / valid.json)")
    p.add_argument("--image-dir", help="folder of the MPII images (sizes from JPEG headers)")
    p.add_argument("--image-size", type=float, nargs=2, metavar=("W", "H"))
    p.add_argument("--min-joints", type=int, default=NUM_MPII, help="min labelled joints (16)")
    p.add_argument("--all-people", action="store_true", help="do not filter to single persons")
    p.add_argument("--include-test", action="store_true", help=".mat: keep img_train == 0")

    def run(a):
        kw = dict(
            image_dir=a.image_dir,
            image_size=tuple(a.image_size) if a.image_size else None,
            min_joints=a.min_joints,
            single_person=not a.all_people,
        )
        if a.mat:
            return convert_mat(a.mat, include_test=a.include_test, **kw)
        return convert_json(a.json, **kw)

    return run_cli(p, run, argv)


if __name__ == "__main__":
    sys.exit(main())
