"""3DPW (``sequenceFiles/<split>/<seq>.pkl``) -> prepared 2D-3D dataset, one sample per actor/frame.

Each pickle (Python 2; read with ``encoding='latin1'``) holds, per actor, ``jointPositions``
(``(N, 72)`` = 24 SMPL joints, world frame, metres) and ``campose_valid`` (``(N,)``), and per
sequence ``cam_poses`` (``(N, 4, 4)`` world -> camera, ``X_cam = R X + t``) and ``cam_intrinsics``
(3x3, pixels). The joints are moved into the camera frame, mapped SMPL-24 -> H36M-17
(``joint_maps.SMPL24_TO_H36M17``: SMPL has no head top, so H36M Head is extrapolated
``2*head - neck`` and Neck/Nose = SMPL head; SMPL joint centres differ from H36M markers:
compare with PA-MPJPE on a consistent joint subset), and projected with the pinhole
intrinsics (``geometry.project``) to give the GT 2D. Only ``campose_valid`` frames are kept
(the evaluation protocol) unless ``--all-frames``.

``--keypoints-2d openpose`` uses the sequence's OpenPose COCO-18 detections (``poses2d``,
``(N, 3, 18)`` rows x, y, confidence) as the model input instead, with the GT 2D beside them.

No image sizes are stored in 3DPW files: by default they are (2 cx, 2 cy) rounded (3DPW frames
are 1080x1920 or 1920x1080 with the principal point at the centre); ``--image-size W H``
overrides. This route maps the provided joint positions and needs no SMPL model (the mesh + H36M
regressor protocol of SPIN/VIBE needs the licensed SMPL model).

    python -m data_prep.pw3d --root 3DPW/sequenceFiles --split test --out 3dpw_test.npz

Ids: ``subject`` = '<sequence>/<actor>', ``action`` = sequence name, ``camera`` = frame index.
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
    jit_chunks,
    make_parser,
    numeric,
    read_pickle_latin1,
    run_cli,
    stack,
)


@functools.cache
def _jitted_projection():
    import jax

    from cpose_jax import geometry

    return jax.jit(lambda x_cam, intr: geometry.project(x_cam, intr, min_depth=None))


def _get(d: dict, key: str, path):
    if key not in d:
        raise fail(path, f"missing key {key!r} (keys: {sorted(d)})")
    return d[key]


def convert_sequence(
    pkl: str | Path,
    *,
    keypoints_2d: str = "gt",
    all_frames: bool = False,
    image_size: tuple[float, float] | None = None,
) -> tuple[list[dict[str, np.ndarray]], dict]:
    path = Path(pkl)
    d = read_pickle_latin1(path)
    if not isinstance(d, dict):
        raise fail(path, f"expected a dict, got {type(d).__name__}")
    name = str(d.get("sequence", path.stem))
    joints = _get(d, "jointPositions", path)
    valid_all = _get(d, "campose_valid", path)
    cam_poses = numeric(_get(d, "cam_poses", path), path, "cam_poses", min_ndim=1)
    k = numeric(_get(d, "cam_intrinsics", path), path, "cam_intrinsics")
    if k.shape != (3, 3):
        raise fail(path, f"cam_intrinsics must be 3x3, got {k.shape}")
    n = cam_poses.shape[0]
    if cam_poses.shape != (n, 4, 4):
        raise fail(path, f"cam_poses must be (N, 4, 4), got {cam_poses.shape}")
    if not isinstance(joints, list | tuple) or len(joints) != len(valid_all):
        raise fail(path, "jointPositions and campose_valid must be per-actor lists of equal length")
    intr = np.array([k[0, 0], k[1, 1], k[0, 2], k[1, 2]])
    size = (
        np.asarray(image_size, np.float64)
        if image_size is not None
        else np.round(2 * intr[2:]).astype(np.float64)
    )
    poses2d = d.get("poses2d") if keypoints_2d == "openpose" else None
    if keypoints_2d == "openpose" and poses2d is None:
        raise fail(path, "no 'poses2d' (OpenPose detections) in this sequence")
    parts, info = [], {"frames": n, "actors": len(joints), "kept": 0, "behind_camera": 0}
    for actor, (jp, valid) in enumerate(zip(joints, valid_all)):
        jp = numeric(jp, path, f"jointPositions[{actor}]")
        if jp.shape != (n, 72):
            raise fail(path, f"actor {actor}: jointPositions shape {jp.shape}, expected ({n}, 72)")
        valid = np.asarray(valid).ravel()
        if valid.shape != (n,):
            raise fail(
                path, f"actor {actor}: campose_valid has {valid.size} entries for {n} frames"
            )
        world = jp.reshape(n, 24, 3)
        x_cam = np.einsum("nij,nkj->nki", cam_poses[:, :3, :3], world) + cam_poses[:, None, :3, 3]
        keep = np.ones(n, bool) if all_frames else valid > 0.5
        keep &= np.isfinite(x_cam).all(axis=(1, 2))
        front = x_cam[..., 2].min(axis=1) > 0
        info["behind_camera"] += int(np.count_nonzero(keep & ~front))
        keep &= front
        pose, _ = map_to_h36m17(x_cam[keep], source="smpl24")
        (uv,) = jit_chunks(_jitted_projection(), [pose], intr[None])
        m = int(keep.sum())
        part = {
            "pose_3d": pose,
            "intrinsics": np.tile(intr, (m, 1)),
            "image_size": np.tile(size, (m, 1)),
            "subject": np.full(m, f"{name}/{actor}"),
            "action": np.full(m, name),
            "camera": np.flatnonzero(keep).astype(np.int64),
        }
        if poses2d is None:
            part["keypoints_2d"], part["confidence"] = uv, np.ones((m, 17))
        else:
            p2 = numeric(poses2d[actor], path, f"poses2d[{actor}]")
            if p2.shape != (n, 3, 18):
                raise fail(path, f"actor {actor}: poses2d shape {p2.shape}, expected ({n}, 3, 18)")
            p2 = np.transpose(p2, (0, 2, 1))[keep]
            xy, conf = map_to_h36m17(
                p2[..., :2], np.clip(np.nan_to_num(p2[..., 2]), 0, 1), source="openpose18"
            )
            part["keypoints_2d"], part["confidence"], part["keypoints_2d_gt"] = xy, conf, uv
        parts.append(part)
        info["kept"] += m
    return parts, info


def convert(
    root: str | Path | None = None,
    *,
    split: str = "test",
    files: Sequence[str | Path] | None = None,
    keypoints_2d: str = "gt",
    all_frames: bool = False,
    image_size: tuple[float, float] | None = None,
) -> Converted:
    """Converts the pickles of one split under ``root`` (or the given ``files``)."""
    if keypoints_2d not in ("gt", "openpose"):
        raise ValueError(f"keypoints_2d must be 'gt' or 'openpose', got {keypoints_2d!r}")
    where: Path
    if files is None:
        if root is None:
            raise ValueError("give root or files")
        root = Path(root)
        cands = [root / split, root / "sequenceFiles" / split]
        folder = next((c for c in cands if c.is_dir()), None)
        if folder is None:
            raise fail(root, f"no '{split}' folder of sequence pickles (looked in {cands})")
        files = sorted(folder.glob("*.pkl"))
        if not files:
            raise fail(folder, "no .pkl sequence files")
        where = folder
    else:
        files = [Path(f) for f in files]
        where = files[0] if files else Path(".")
    parts, per_seq = [], {}
    for f in files:
        p, info = convert_sequence(
            f, keypoints_2d=keypoints_2d, all_frames=all_frames, image_size=image_size
        )
        parts.extend(p)
        per_seq[Path(f).stem] = info
    arrays = stack([p for p in parts if len(p["subject"])] or parts[:0], where)
    meta = {
        "source": "3dpw",
        "split": split if root is not None else None,
        "files": [str(f) for f in files],
        "keypoints_2d": "OpenPose poses2d" if keypoints_2d == "openpose" else "projected GT",
        "frames": "all" if all_frames else "campose_valid == 1",
        "joints3d": "jointPositions (SMPL-24) -> H36M17 via joint_maps.smpl24; Head extrapolated",
        "image_size_source": "given" if image_size is not None else "2 * principal point",
        "sequences": per_seq,
        "ids": {"subject": "sequence/actor", "action": "sequence", "camera": "frame index"},
    }
    return Converted(arrays, meta)


def main(argv: Sequence[str] | None = None) -> int:
    p = make_parser("pw3d", __doc__)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--root", help="3DPW sequenceFiles folder (or the 3DPW folder above it)")
    src.add_argument("--files", nargs="+", help="individual sequence .pkl files")
    p.add_argument("--split", default="test", choices=("train", "validation", "test"))
    p.add_argument("--keypoints-2d", choices=("gt", "openpose"), default="gt")
    p.add_argument("--all-frames", action="store_true", help="ignore campose_valid")
    p.add_argument("--image-size", type=float, nargs=2, metavar=("W", "H"))
    return run_cli(
        p,
        lambda a: convert(
            a.root,
            split=a.split,
            files=a.files,
            keypoints_2d=a.keypoints_2d,
            all_frames=a.all_frames,
            image_size=tuple(a.image_size) if a.image_size else None,
        ),
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
