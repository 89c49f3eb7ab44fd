"""MPI-INF-3DHP test set (``TS{1..6}/annot_data.mat``, MATLAB v7.3 = HDF5) -> prepared 2D-3D set.

Per sequence, read with h5py: ``annot2`` (h5py view ``(N, 1, 17, 2)``, pixels), ``annot3`` and
``univ_annot3`` (``(N, 1, 17, 3)``, camera frame, mm), ``valid_frame`` (``(N, 1)``) and
``activity_annotation`` (``(N, 1)``, 1..7). Only ``valid_frame == 1`` frames are kept (the
official evaluation's rule) unless ``--all-frames``. The 3D is ``univ_annot3`` by default (the
skeleton rescaled to the H36M "universal" height: what the official evaluation compares with;
it does not reproject exactly onto ``annot2``) or ``annot3`` (``--joints3d annot3``), in metres.
Joints: 3DHP test order -> H36M-17 by name (``joint_maps.MPI_INF_3DHP17_TO_H36M17``; H36M
Head = 3DHP head_top, Neck/Nose = 3DHP head).

Intrinsics are not in the files: one pinhole camera per sequence (``CAMERAS``: fits of annot3
onto annot2, each real test frame reprojects within 1 px on average): TS1-4 studio 2048x2048,
TS5-6 outdoor GoPro 1920x1080 with lens distortion (coefficients in the metadata; the 2D labels
are used as given).

Units: ``annot3`` / ``univ_annot3`` are millimetres and are divided by 1000; a file whose bones
are not human-sized in millimetres (e.g. already in metres) is refused naming the file and the
field, so a metres file never becomes a millimetre-sized person.

    python -m data_prep.mpi_inf_3dhp --root mpi_inf_3dhp_test_set --out 3dhp_test.npz

Ids: ``subject`` = sequence ('TS1'), ``action`` = activity (1..7), ``camera`` = frame index
(0-based, in the sequence).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from cpose_jax.data.joint_maps import map_to_h36m17
from cpose_jax.data.schema import DatasetError, check_bone_lengths
from data_prep._common import (
    Converted,
    fail,
    h5_array,
    make_parser,
    numeric,
    open_h5,
    parse_list,
    run_cli,
    stack,
)

SEQUENCES = ("TS1", "TS2", "TS3", "TS4", "TS5", "TS6")
# Pinhole intrinsics fx, fy, cx, cy (pixels) per test sequence: mmpose's least-squares fits of
# annot3 onto annot2 (its cameras_test.pkl). TS2 differs from the official studio calibration
# ("cam_8", 1500.17 / 1500.83 / 1017.39 / 1043.03) by 3.6 px of focal length and 4.4 px of
# centre: a real TS2 frame reprojects at 6.2 px with the shared set and at 0.4 px with its own
# (tests/test_realdata.py). TS5-6 are a GoPro with lens distortion (official calibration,
# OpenCV order k1, k2, p1, p2, k3; stored in the metadata only: the 2D labels are used as
# given).
_GOPRO_DISTORTION = (-0.276859611, 0.131125256, -0.000360494, -0.001149441, -0.049318332)
CAMERAS = {
    "TS1": dict(size=(2048.0, 2048.0), intrinsics=(1500.0686, 1500.6591, 1017.3795, 1043.0628)),
    "TS2": dict(size=(2048.0, 2048.0), intrinsics=(1503.7797, 1501.2691, 1015.2348, 1038.6791)),
    "TS3": dict(size=(2048.0, 2048.0), intrinsics=(1500.0407, 1500.5895, 1017.3923, 1043.0464)),
    "TS4": dict(size=(2048.0, 2048.0), intrinsics=(1499.9260, 1500.7572, 1017.3680, 1042.9888)),
    "TS5": dict(size=(1920.0, 1080.0), intrinsics=(1683.4826, 1671.9272, 939.9278, 560.2072)),
    "TS6": dict(size=(1920.0, 1080.0), intrinsics=(1683.9754, 1672.6748, 939.8483, 560.1158)),
}
for _seq in ("TS1", "TS2", "TS3", "TS4"):
    CAMERAS[_seq]["dist"] = None
for _seq in ("TS5", "TS6"):
    CAMERAS[_seq]["dist"] = _GOPRO_DISTORTION
ACTIVITIES = {
    1: "Standing/Walking", 2: "Exercising", 3: "Sitting", 4: "Reaching/Crouching",
    5: "On The Floor", 6: "Sports", 7: "Miscellaneous",
}  # fmt: skip


def _joints(a: np.ndarray, dim: int, path, key: str) -> np.ndarray:
    """h5py view ``(N, 1, 17, dim)`` (or ``(N, 17, dim)``) -> ``(N, 17, dim)``."""
    if a.ndim == 4 and a.shape[1] == 1 and a.shape[2:] == (17, dim):
        return a[:, 0]
    if a.ndim == 3 and a.shape[1:] == (17, dim):
        return a
    if a.ndim == 4 and a.shape[:3] == (dim, 17, 1):  # MATLAB order stored untransposed
        return np.transpose(a[:, :, 0], (2, 1, 0))
    raise fail(path, f"dataset {key!r} has shape {a.shape}; expected (N, 1, 17, {dim})")


def _per_frame(a: np.ndarray, n: int, path, key: str) -> np.ndarray:
    v = np.asarray(a).ravel()
    if v.shape != (n,):
        raise fail(path, f"dataset {key!r} has shape {np.shape(a)}; expected ({n}, 1)")
    return v


def convert_sequence(
    annot_file: str | Path, seq: str, *, joints3d: str = "univ", all_frames: bool = False
) -> tuple[dict[str, np.ndarray], dict]:
    path = Path(annot_file)
    if seq not in CAMERAS:
        raise fail(path, f"unknown test sequence {seq!r} (known: {list(CAMERAS)})")
    with open_h5(path) as f:
        a2 = _joints(numeric(h5_array(f, "annot2", path), path, "annot2"), 2, path, "annot2")
        key3 = "univ_annot3" if joints3d == "univ" else "annot3"
        a3 = _joints(numeric(h5_array(f, key3, path), path, key3), 3, path, key3)
        n = a2.shape[0]
        if a3.shape[0] != n:
            raise fail(path, f"{key3} has {a3.shape[0]} frames, annot2 has {n}")
        valid = _per_frame(
            numeric(h5_array(f, "valid_frame", path), path, "valid_frame"), n, path, "valid_frame"
        )
        act = (
            _per_frame(np.asarray(f["activity_annotation"]), n, path, "activity_annotation")
            if "activity_annotation" in f
            else np.zeros(n)
        )
    keep = np.ones(n, bool) if all_frames else valid > 0.5
    if not (np.isfinite(a2[keep]).all() and np.isfinite(a3[keep]).all()):
        raise fail(path, "non-finite joint coordinates in kept frames")
    xy, conf = map_to_h36m17(a2[keep], source="mpi_inf_3dhp17")
    pose, _ = map_to_h36m17(a3[keep] / 1000.0, source="mpi_inf_3dhp17")
    try:
        check_bone_lengths(pose, skeleton="h36m17", source=str(path), key=key3)
    except DatasetError as e:
        raise fail(None, f"{e} (the file must hold millimetres)") from None
    if pose.size and pose[:, 0, 2].min() <= 0:
        raise fail(path, f"{key3}: pelvis depth <= 0; camera-frame millimetres expected")
    cam = CAMERAS[seq]
    m = int(keep.sum())
    part = {
        "keypoints_2d": xy,
        "confidence": conf,
        "pose_3d": pose,
        "intrinsics": np.tile(np.asarray(cam["intrinsics"]), (m, 1)),
        "image_size": np.tile(np.asarray(cam["size"]), (m, 1)),
        "subject": np.full(m, seq),
        "action": act[keep].astype(np.int64),
        "camera": np.flatnonzero(keep).astype(np.int64),
    }
    return part, {"frames": n, "kept": m}


def convert(
    root: str | Path | None = None,
    *,
    files: dict[str, str | Path] | None = None,
    sequences: Sequence[str] | None = None,
    joints3d: str = "univ",
    all_frames: bool = False,
) -> Converted:
    """Converts ``root/TS*/annot_data.mat`` (or ``files``: sequence -> annot_data.mat)."""
    if joints3d not in ("univ", "annot3"):
        raise ValueError(f"joints3d must be 'univ' or 'annot3', got {joints3d!r}")
    if files is None:
        if root is None:
            raise ValueError("give root or files")
        root = Path(root)
        seqs = list(sequences) if sequences else [s for s in SEQUENCES if (root / s).is_dir()]
        if not seqs:
            raise fail(root, "no TS1..TS6 folders found (expected the test-set root)")
        files = {s: root / s / "annot_data.mat" for s in seqs}
    parts, per_seq = [], {}
    for seq, fpath in files.items():
        part, info = convert_sequence(fpath, seq, joints3d=joints3d, all_frames=all_frames)
        parts.append(part)
        per_seq[seq] = info
    arrays = stack(parts, root if root is not None else next(iter(files.values())))
    meta = {
        "source": "mpi_inf_3dhp_test",
        "files": {s: str(p) for s, p in files.items()},
        "source_layout": "mpi_inf_3dhp17",
        "joints3d": "univ_annot3" if joints3d == "univ" else "annot3",
        "frames": "all" if all_frames else "valid_frame == 1",
        "sequences": per_seq,
        "head": "H36M Head = 3DHP head_top; Neck/Nose = 3DHP head",
        "distortion_opencv_k1k2p1p2k3": {s: CAMERAS[s]["dist"] for s in files},
        "activities": ACTIVITIES,
        "ids": {"subject": "sequence", "action": "activity 1..7", "camera": "frame index"},
    }
    return Converted(arrays, meta)


def main(argv: Sequence[str] | None = None) -> int:
    p = make_parser("mpi_inf_3dhp", __doc__)
    p.add_argument("--root", required=True, help="mpi_inf_3dhp_test_set folder (holds TS1..TS6)")
    p.add_argument("--sequences", help="comma-separated, e.g. TS1,TS5 (default: all present)")
    p.add_argument("--joints3d", choices=("univ", "annot3"), default="univ")
    p.add_argument("--all-frames", action="store_true", help="also keep valid_frame == 0")
    return run_cli(
        p,
        lambda a: convert(
            a.root,
            sequences=parse_list(a.sequences),
            joints3d=a.joints3d,
            all_frames=a.all_frames,
        ),
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
