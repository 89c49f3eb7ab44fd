"""Ski-Pose PTZ (``{train,test}/labels.h5``) -> prepared 2D-3D dataset, one sample per image.

``labels.h5`` datasets (one row per 256x256 crop): ``seq``, ``cam``, ``frame``, ``subj``; ``3D``
``(N, 51)`` = 17 joints in the camera frame; ``2D`` ``(N, 34)`` in [0, 1] of the crop (x256 ->
pixels); ``cam_intrinsic`` ``(N, 3, 3)`` or ``(N, 9)`` normalized by 256 (x256, then K[2,2] = 1);
``cam_position``, ``R_cam_2_world`` (not needed here). The joints are already in H36M order
(``joint_maps.SKIPOSE17_TO_H36M17`` is the identity).

Two facts the public loaders leave open are decided from the data and recorded in the metadata:
  * units: millimetres if the median thigh length exceeds 10 (``--units auto``), else metres;
  * root: if joint 0 is at the origin in every row the 3D is root-relative, and the root's
    camera-frame position is recovered per sample by linear least squares from the 2D and the
    intrinsics (``(u - cx)(Z + tz) = fx (X + tx)``, the same for v); otherwise it is absolute.
The reprojection error of the result (``geometry.project``) is reported (median / max px).

    python -m data_prep.skipose --labels Ski-PosePTZ-CameraDataset-png/test/labels.h5 --out ski.npz

Ids: ``subject`` = subj, ``action`` = seq, ``camera`` = cam (integers).
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cpose_jax.data.joint_maps import map_to_h36m17
from data_prep._common import (
    Converted,
    fail,
    h5_array,
    jit_chunks,
    make_parser,
    numeric,
    open_h5,
    run_cli,
)

CROP = 256.0


@functools.cache
def _jitted_projection():
    import jax

    from cpose_jax import geometry

    return jax.jit(lambda x_cam, intr: geometry.project(x_cam, intr, min_depth=None))


def root_translation(rel: np.ndarray, uv: np.ndarray, intr: np.ndarray) -> np.ndarray:
    """Per-sample root position `(N, 3)` m from root-relative `(N, J, 3)` m and 2D `(N, J, 2)` px.

    Linear least squares over the J joints of
    ``fx tx - (u - cx) tz = (u - cx) Z - fx X`` and ``fy ty - (v - cy) tz = (v - cy) Z - fy Y``.
    """
    fx, fy, cx, cy = (intr[:, i : i + 1] for i in range(4))
    du, dv = uv[..., 0] - cx, uv[..., 1] - cy
    n, j = du.shape
    a = np.zeros((n, 2 * j, 3))
    a[:, :j, 0] = fx
    a[:, :j, 2] = -du
    a[:, j:, 1] = fy
    a[:, j:, 2] = -dv
    b = np.concatenate(
        [du * rel[..., 2] - fx * rel[..., 0], dv * rel[..., 2] - fy * rel[..., 1]], 1
    )
    ata = np.einsum("nki,nkj->nij", a, a)
    atb = np.einsum("nki,nk->ni", a, b)
    return np.linalg.solve(ata, atb[..., None])[..., 0]


def _rows(a: np.ndarray, n: int, width: tuple[int, ...], path, key: str) -> np.ndarray:
    a = numeric(a, path, f"dataset {key!r}", min_ndim=1)
    if a.shape[0] != n or int(np.prod(a.shape[1:])) != int(np.prod(width)):
        raise fail(path, f"dataset {key!r} has shape {a.shape}; expected ({n}, {np.prod(width)})")
    return a.reshape(n, *width)


def convert(labels: str | Path, *, units: str = "auto") -> Converted:
    """Converts one ``labels.h5``; see the module docstring."""
    if units not in ("auto", "m", "mm"):
        raise ValueError(f"units must be 'auto', 'm' or 'mm', got {units!r}")
    path = Path(labels)
    with open_h5(path) as f:
        raw3 = numeric(h5_array(f, "3D", path), path, "dataset '3D'", min_ndim=1)
        n = raw3.shape[0]
        x3 = _rows(raw3, n, (17, 3), path, "3D")
        x2 = _rows(h5_array(f, "2D", path), n, (17, 2), path, "2D")
        k = _rows(h5_array(f, "cam_intrinsic", path), n, (3, 3), path, "cam_intrinsic")
        ids = {key: np.asarray(h5_array(f, key, path)).ravel() for key in ("seq", "cam", "subj")}
    for key, v in ids.items():
        if v.shape != (n,):
            raise fail(path, f"dataset {key!r} has {v.size} entries for {n} rows")
    if not (np.isfinite(x3).all() and np.isfinite(x2).all() and np.isfinite(k).all()):
        raise fail(path, "non-finite values in 3D / 2D / cam_intrinsic")
    thigh = np.linalg.norm(x3[:, 2] - x3[:, 1], axis=-1)  # right knee - right hip
    if units == "auto":
        units = "mm" if n and np.median(thigh) > 10 else "m"
    if units == "mm":
        x3 = x3 / 1000.0
    uv = x2 * CROP
    kk = k * CROP
    intr = np.stack([kk[:, 0, 0], kk[:, 1, 1], kk[:, 0, 2], kk[:, 1, 2]], -1)
    if np.any(intr[:, :2] <= 0):
        raise fail(path, "cam_intrinsic has non-positive focal lengths")
    root_relative = bool(n) and float(np.abs(x3[:, 0]).max()) < 1e-6
    if root_relative:
        t = root_translation(x3, uv, intr)
        pose = x3 + t[:, None]
    else:
        pose = x3
    if n and pose[:, 0, 2].min() <= 0:
        raise fail(path, "root depth <= 0 in the camera frame; cannot place the 3D in front")
    (reproj,) = jit_chunks(_jitted_projection(), [pose, intr]) if n else (uv,)
    err = np.linalg.norm(reproj - uv, axis=-1)
    pose17, _ = map_to_h36m17(pose, source="skipose17")
    uv17, conf = map_to_h36m17(uv, source="skipose17")
    arrays = {
        "keypoints_2d": uv17,
        "confidence": conf,
        "pose_3d": pose17,
        "intrinsics": intr,
        "image_size": np.tile([CROP, CROP], (n, 1)),
        "subject": ids["subj"].astype(np.int64),
        "action": ids["seq"].astype(np.int64),
        "camera": ids["cam"].astype(np.int64),
    }
    meta = {
        "source": "skipose_ptz",
        "file": str(path),
        "units_in_file": units,
        "root": "estimated by least squares from 2D" if root_relative else "absolute in file",
        "reprojection_px": {
            "median": float(np.median(err)) if n else 0.0,
            "max": float(err.max()) if n else 0.0,
        },
        "ids": {"subject": "subj", "action": "seq", "camera": "cam"},
    }
    return Converted(arrays, meta)


def main(argv: Sequence[str] | None = None) -> int:
    p = make_parser("skipose", __doc__)
    p.add_argument("--labels", required=True, help="Ski-PosePTZ {train,test}/labels.h5")
    p.add_argument("--units", choices=("auto", "m", "mm"), default="auto")
    return run_cli(p, lambda a: convert(a.labels, units=a.units), argv)


if __name__ == "__main__":
    sys.exit(main())
