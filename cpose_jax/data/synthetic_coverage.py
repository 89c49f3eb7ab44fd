"""How the synthetic world's poses cover a reference set, and per-split statistics.

:func:`pose_coverage` measures, per reference pose (e.g. real motion capture retargeted by
``data_prep.acclaim``), the distance to the nearest pose of a split after aligning the pelvis
frames, with the bodies as they are or with every pose retargeted to the mean body first (then
the distance compares poses, not builds); :func:`world_stats` summarises each split
(rare-movement share, body size in pixels, detector error against its confidence, camera-frame
torso tilt, depth, focal length).
"""

from __future__ import annotations

import numpy as np

from cpose_jax.data import synthetic_body as body
from cpose_jax.data import synthetic_motion as motion
from cpose_jax.data.schema import Dataset

__all__ = [
    "COVERAGE_JOINTS",
    "coverage_table",
    "mean_body",
    "pelvis_aligned",
    "pose_coverage",
    "world_stats",
]

#: Joints compared by :func:`pose_coverage`: all but Neck/Nose and Head (15).
COVERAGE_JOINTS = tuple(j for j in range(17) if j not in (9, 10))


def pelvis_aligned(pose) -> np.ndarray:
    """Poses ``(N, 17, 3)`` m in their own pelvis frame: root at 0, x = right hip -> left hip,
    z = the root -> thorax direction made orthogonal to x, y = z x x."""
    x = np.asarray(pose, float) - np.asarray(pose, float)[:, :1]
    ax = x[:, 4] - x[:, 1]
    ax /= np.maximum(np.linalg.norm(ax, axis=-1, keepdims=True), 1e-9)
    up = x[:, 8] - np.sum(x[:, 8] * ax, -1, keepdims=True) * ax
    up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-9)
    fw = np.cross(up, ax)
    r = np.stack([ax, fw, up], axis=1)  # rows: new axes
    return np.einsum("nij,nkj->nki", r, x)


def mean_body(pose) -> np.ndarray:
    """Poses ``(..., 17, 3)`` retargeted to the mean body: each bone keeps its direction and
    takes its length from :data:`.synthetic_body.MEAN_BONE_LENGTHS` (root at 0)."""
    return body.pose_from_directions(body.directions_from_positions(pose), body.MEAN_BONE_LENGTHS)


def pose_coverage(
    reference, train, *, normalise_bones: bool = False, chunk: int = 64
) -> np.ndarray:
    """Per reference pose, the distance (mm) to its nearest training pose.

    Distance = mean over :data:`COVERAGE_JOINTS` of the per-joint Euclidean distance between
    pelvis-aligned poses (:func:`pelvis_aligned`), i.e. MPJPE after aligning the pelvis frames.

    Args:
      reference: ``(R, 17, 3)`` m (any frame).
      train: ``(T, 17, 3)`` m (any frame; duplicates are harmless).
      normalise_bones: retarget both sets to the mean body first (:func:`mean_body`), so the
        distance compares the poses (bone directions), not the bodies' builds.
      chunk: reference poses compared at once (memory: ``chunk * T * 15`` floats).

    Returns:
      ``(R,)`` mm.
    """
    if normalise_bones:
        reference, train = mean_body(reference), mean_body(train)
    j = list(COVERAGE_JOINTS)
    ref = pelvis_aligned(reference)[:, j].astype(np.float32)
    tr = pelvis_aligned(train)[:, j].astype(np.float32)
    tr = np.unique(np.round(tr, 5), axis=0)  # a rig's 4 views of one pose are one pose
    out = np.empty(len(ref))
    for s in range(0, len(ref), chunk):
        d = np.linalg.norm(ref[s : s + chunk, None] - tr[None], axis=-1).mean(-1)
        out[s : s + chunk] = d.min(1) * 1000.0
    return out


def coverage_table(reference, datasets: dict[str, Dataset]) -> dict[str, dict]:
    """Median and 90th percentile of :func:`pose_coverage` of ``reference`` (a Dataset with
    ``pose_3d``) against every split with 3D, overall and per reference action.

    Returns ``{split: {key: [median, p90, n]}}`` with keys ``all`` and each action, measured on
    the bodies as they are, and the same keys + ``_bones_normalised`` (e.g.
    ``all_bones_normalised``) measured with ``normalise_bones=True``.
    """
    ref = reference["pose_3d"]
    acts = reference["action"] if "action" in reference else None
    out = {}
    for split, ds in datasets.items():
        if "pose_3d" not in ds or len(ds) == 0:
            continue
        row = {}
        for suffix, norm in (("", False), ("_bones_normalised", True)):
            d = pose_coverage(ref, ds["pose_3d"], normalise_bones=norm)
            groups = {"all": np.ones(len(d), bool)}
            if acts is not None:
                groups.update({str(a): acts == a for a in np.unique(acts)})
            for key, m in groups.items():
                row[key + suffix] = [
                    float(np.median(d[m])),
                    float(np.percentile(d[m], 90)),
                    int(m.sum()),
                ]
        out[split] = row
    return out


def _torso_tilt_deg(pose_3d, up_cam=None):
    """Angle (deg) between the pelvis->thorax axis and 'up' (world up, else camera -y)."""
    t = pose_3d[:, 8] - pose_3d[:, 0]
    up = np.array([0.0, -1.0, 0.0]) if up_cam is None else up_cam
    cos = np.sum(t * up, -1) / np.linalg.norm(t, axis=-1)
    return np.rad2deg(np.arccos(np.clip(cos, -1.0, 1.0)))


def world_stats(datasets: dict[str, Dataset]) -> dict[str, dict]:
    """Per split: sizes, rare-action share, camera-frame torso tilt, detector error vs score."""
    out = {}
    for split, ds in datasets.items():
        s = dict(n=len(ds))
        if len(ds) == 0:
            out[split] = s
            continue
        act = ds["action"]
        s["rare_share"] = float(np.isin(act, motion.RARE).mean())
        gt, det, conf = ds["keypoints_2d_gt"], ds["keypoints_2d"], ds["confidence"]
        size = np.max(gt.max(1) - gt.min(1), -1)
        err = np.linalg.norm(det - gt, axis=-1)
        s["body_px_median"] = float(np.median(size))
        s["det_err_px_mean"] = float(err.mean())
        s["det_err_rel_median"] = float(np.median(err / size[:, None]))
        s["conf_mean"] = float(conf.mean())
        lo = conf < 0.5
        s["err_px_conf_lt_0.5"] = float(err[lo].mean()) if lo.any() else float("nan")
        s["err_px_conf_ge_0.5"] = float(err[~lo].mean()) if (~lo).any() else float("nan")
        s["share_conf_lt_0.5"] = float(lo.mean())
        if "pose_3d" in ds:
            tilt = _torso_tilt_deg(ds["pose_3d"])
            s["tilt_cam_deg_p50_p99_max"] = [float(np.percentile(tilt, q)) for q in (50, 99, 100)]
            s["share_tilt_cam_gt_60"] = float((tilt > 60).mean())
            s["root_depth_m_min_max"] = [
                float(ds["pose_3d"][:, 0, 2].min()),
                float(ds["pose_3d"][:, 0, 2].max()),
            ]
            s["focal_px_min_max"] = [
                float(ds["intrinsics"][:, 0].min()),
                float(ds["intrinsics"][:, 0].max()),
            ]
        out[split] = s
    return out
