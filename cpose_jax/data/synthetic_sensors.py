"""Synthetic cameras (two fixed lab rigs, random in-the-wild cameras) and a simulated 2D detector.

World frame: z up, ground at z = 0, metres. Camera frame (as everywhere in the library):
x right, y down, z forward (optical axis), metres; ``X_cam = R (X_world - C)``. Projection is
:func:`cpose_jax.geometry.project` (evaluated in float64), so the stored 2D is exactly the
library's projection of the stored 3D.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax import geometry
from cpose_jax.data._host import host_x64
from cpose_jax.skeleton import H36M17

__all__ = [
    "RIGS",
    "WILD_IMAGE_SIZES",
    "look_at",
    "project_px",
    "rig_cameras",
    "simulate_detector",
]


def look_at(centre, target, roll_deg=None) -> np.ndarray:
    """World -> camera rotations ``(N, 3, 3)`` for cameras at ``centre`` looking at ``target``.

    Args:
      centre, target: ``(N, 3)`` world points (z up), metres.
      roll_deg: ``(N,)`` rotation about the optical axis, degrees (None: 0).
    """
    centre, target = np.asarray(centre, float), np.asarray(target, float)
    f = target - centre
    f /= np.linalg.norm(f, axis=-1, keepdims=True)
    r = np.cross(f, np.array([0.0, 0.0, 1.0]))
    r /= np.linalg.norm(r, axis=-1, keepdims=True)
    d = np.cross(f, r)  # image "down"
    rot = np.stack([r, d, f], axis=-2)
    if roll_deg is not None:
        a = np.deg2rad(np.asarray(roll_deg, float))
        c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
        rz = np.moveaxis(np.array([[c, -s, z], [s, c, z], [z, z, o]]), (0, 1), (-2, -1))
        rot = rz @ rot
    return rot


_CHUNK = 4096
_project_chunk = jax.jit(functools.partial(geometry.project, min_depth=None))


def project_px(x_cam, intrinsics) -> np.ndarray:
    """``geometry.project`` in float64: ``(N, J, 3)`` camera-frame metres, ``(N, 4)`` px -> px.

    Runs jitted on fixed-size chunks (one compilation for every N and split).
    """
    x_cam, intrinsics = np.asarray(x_cam, np.float64), np.asarray(intrinsics, np.float64)
    n, j = x_cam.shape[:2]
    m = -(-n // _CHUNK) * _CHUNK
    xp = np.ones((m, j, 3))
    kp = np.ones((m, 4))
    xp[:n], kp[:n] = x_cam, intrinsics
    out = np.empty((m, j, 2))
    with host_x64():
        for s in range(0, m, _CHUNK):
            out[s : s + _CHUNK] = np.asarray(
                _project_chunk(jnp.asarray(xp[s : s + _CHUNK]), jnp.asarray(kp[s : s + _CHUNK]))
            )
    return out[:n]


# ------------------------------------------------------------------ fixed lab rigs


def _rig(
    azimuth_deg,
    dist,
    height,
    target_z,
    roll_deg,
    *,
    intrinsics,
    image_size,
    capture_radius,
    target_xy=None,
) -> dict:
    """A ring of cameras around the origin at ``azimuth_deg``, ``dist`` m away and ``height`` m
    up, looking at ``(target_xy, target_z)`` with ``roll_deg`` about their optical axes."""
    az = np.deg2rad(np.asarray(azimuth_deg, float))
    centre = np.stack([np.cos(az) * dist, np.sin(az) * dist, np.asarray(height, float)], -1)
    target = np.zeros_like(centre)
    target[:, 2] = target_z
    if target_xy is not None:
        target[:, :2] = target_xy
    return dict(
        centre=centre,
        rotation=look_at(centre, target, roll_deg),
        intrinsics=np.array(intrinsics),
        image_size=np.array(image_size),
        capture_radius=capture_radius,
    )


#: Fixed 4-camera rigs: ``centre (4, 3)`` world m, ``rotation (4, 3, 3)`` world -> camera,
#: ``intrinsics (4, 4)`` px, ``image_size (4, 2)`` px, ``capture_radius`` m (subjects stay
#: within it around the origin). ``rig1`` mimics Human3.6M (4 corner cameras 4-6 m away,
#: f ~ 1145 px, 1000x1000, the intrinsics of its four cameras); ``rig2`` mimics the
#: MPI-INF-3DHP test rig (2048x2048 studio cameras at f ~ 1500 px from low and high
#: viewpoints, and one 1920x1080 GoPro-like camera).
RIGS = {
    "rig1": _rig(
        [46.0, 133.0, 227.0, 313.0],
        [4.5, 5.1, 5.4, 4.8],
        [1.55, 1.70, 1.60, 1.75],
        0.95,
        [0.5, -0.8, 0.3, -0.4],
        target_xy=[[0.1, -0.05], [-0.05, 0.1], [0.0, 0.0], [0.05, -0.1]],
        intrinsics=[
            [1145.05, 1143.78, 512.54, 515.45],
            [1149.68, 1147.59, 508.85, 508.06],
            [1149.14, 1148.80, 519.82, 501.40],
            [1145.51, 1144.77, 514.97, 501.88],
        ],
        image_size=[[1000.0, 1000.0]] * 4,
        capture_radius=1.2,
    ),
    "rig2": _rig(
        [20.0, 110.0, 200.0, 290.0],
        [3.7, 4.1, 3.5, 4.4],
        [0.6, 1.3, 2.5, 1.1],
        0.9,
        [0.0, 1.5, -1.0, 0.5],
        intrinsics=[
            [1500.17, 1500.83, 1017.39, 1043.03],
            [1500.17, 1500.83, 1017.39, 1043.03],
            [1500.17, 1500.83, 1017.39, 1043.03],
            [1683.98, 1672.59, 939.86, 560.14],
        ],
        image_size=[[2048.0, 2048.0]] * 3 + [[1920.0, 1080.0]],
        capture_radius=1.0,
    ),
}


def rig_cameras(rig: str, camera_index) -> tuple[np.ndarray, ...]:
    """Per-sample ``(centre (N,3), rotation (N,3,3), intrinsics (N,4), image_size (N,2))``."""
    r = RIGS[rig]
    i = np.asarray(camera_index)
    return r["centre"][i], r["rotation"][i], r["intrinsics"][i], r["image_size"][i]


#: Common image sizes (w, h) of in-the-wild photos and videos, with their sampling weights.
WILD_IMAGE_SIZES = np.array(
    [
        [1920, 1080],
        [1280, 720],
        [1080, 1920],
        [720, 1280],
        [640, 480],
        [1024, 768],
        [800, 600],
        [1000, 1000],
        [3024, 4032],
        [4032, 3024],
    ],
    dtype=float,
)
WILD_IMAGE_WEIGHTS = np.array([0.2, 0.15, 0.1, 0.05, 0.1, 0.08, 0.07, 0.1, 0.075, 0.075])


# ------------------------------------------------------------------ simulated 2D detector

_NAMES = H36M17.joint_names
#: Per-joint localisation difficulty (noise std as a fraction of body size in pixels).
#: Hips and wrists are hard (soft tissue, motion blur), face and shoulders easy.
_DIFFICULTY = {
    "Hip": 0.011, "RHip": 0.014, "RKnee": 0.010, "RFoot": 0.011, "LHip": 0.014,
    "LKnee": 0.010, "LFoot": 0.011, "Spine": 0.012, "Thorax": 0.008, "Neck/Nose": 0.006,
    "Head": 0.009, "LShoulder": 0.008, "LElbow": 0.010, "LWrist": 0.013, "RShoulder": 0.008,
    "RElbow": 0.010, "RWrist": 0.013,
}  # fmt: skip
JOINT_DIFFICULTY = np.array([_DIFFICULTY[n] for n in _NAMES])
# Occlusion base probability per joint (extremities more often hidden).
_OCCLUSION = np.array([0.02 if n[1:] in ("Wrist", "Foot") else 0.01 for n in _NAMES])
# Left/right pairs that a detector swaps together (limbs).
_SWAP_GROUPS = (
    ("LHip", "RHip"),
    ("LKnee", "RKnee", "LFoot", "RFoot"),
    ("LShoulder", "RShoulder"),
    ("LElbow", "RElbow", "LWrist", "RWrist"),
)
_NEIGHBOURS = [
    [c for c, p in enumerate(H36M17.parents) if p == j]
    + ([H36M17.parents[j]] if H36M17.parents[j] >= 0 else [])
    for j in range(H36M17.num_joints)
]


def simulate_detector(
    gt_2d,
    image_size,
    depth,
    rng: np.random.Generator,
    *,
    level: float = 1.0,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """A heatmap detector (HRNet-like) run on images whose true 2D pose is ``gt_2d``.

    Per joint: Gaussian noise with std = body size (px) * joint difficulty * a per-image
    quality factor (x3 when occluded); systematic offsets (hips drawn toward the thorax, head
    top toward the neck, as detectors trained on 2D datasets place them); gross errors:
    left/right swaps of a limb, jumps to a neighbouring joint, and lost joints. Confidence is
    the simulated heatmap peak: low where the joint is ambiguous (difficulty, occlusion,
    truncation) and where the detection is far off, but 30% of gross errors come with a
    confident (wrong) peak, and all scores carry noise.

    Args:
      gt_2d: ``(N, J, 2)`` true 2D pixels (H36M17).
      image_size: ``(N, 2)`` w, h pixels.
      depth: ``(N, J)`` camera-frame depths (m), for occlusion ordering.
      rng: numpy generator.
      level: difficulty multiplier (1 lab, ~1.6 wild) of noise and gross-error rates.

    Returns:
      ``(detections (N,J,2) px, confidence (N,J) in [0,1], info)`` where ``info`` holds
      boolean ``(N, J)`` masks ``gross``, ``occluded``, ``truncated``.
    """
    gt = np.asarray(gt_2d, float)
    n, j, _ = gt.shape
    lo, hi = gt.min(axis=1), gt.max(axis=1)
    size = np.max(hi - lo, axis=-1)  # body size px (N,)
    quality = np.exp(rng.normal(0.0, 0.25, n)) * level
    behind = depth > depth[:, :1] + 0.08
    occluded = rng.uniform(size=(n, j)) < _OCCLUSION * level * np.where(behind, 3.0, 1.0)
    sigma = size[:, None] * JOINT_DIFFICULTY * quality[:, None] * np.where(occluded, 3.0, 1.0)
    det = gt + rng.normal(size=(n, j, 2)) * sigma[..., None]

    # Systematic offsets along the body's 2D up axis (pelvis -> thorax).
    up = gt[:, H36M17.joint_index("Thorax")] - gt[:, 0]
    up /= np.maximum(np.linalg.norm(up, axis=-1, keepdims=True), 1e-6)
    for name, frac in (("LHip", 0.03), ("RHip", 0.03), ("Hip", 0.02), ("Head", -0.02)):
        det[:, H36M17.joint_index(name)] += frac * size[:, None] * up

    gross = np.zeros((n, j), bool)
    # Left/right swaps of a whole limb group.
    for group in _SWAP_GROUPS:
        idx = [H36M17.joint_index(g) for g in group]
        flip = [H36M17.flip_perm[i] for i in idx]
        swap = rng.uniform(size=n) < 0.012 * level
        det[np.ix_(swap, idx)] = det[np.ix_(swap, flip)]
        gross[np.ix_(swap, idx)] = True
    # Jumps to a neighbouring joint (e.g. wrist found on the elbow).
    jump = (rng.uniform(size=(n, j)) < 0.01 * level) & ~gross
    pick = rng.integers(0, 64, (n, j))
    nb = np.array([[_NEIGHBOURS[k][p % len(_NEIGHBOURS[k])] for k in range(j)] for p in range(64)])
    target = nb[pick, np.arange(j)]  # (N, J) neighbour index
    moved = np.take_along_axis(gt, target[..., None], axis=1)
    noise = rng.normal(size=(n, j, 2)) * (0.01 * size)[:, None, None]
    det = np.where(jump[..., None], moved + noise, det)
    gross |= jump
    # Lost joints: a peak anywhere in the person's box.
    lost = (rng.uniform(size=(n, j)) < 0.004 * level) & ~gross
    box = lo[:, None] + rng.uniform(size=(n, j, 2)) * (hi - lo)[:, None]
    det = np.where(lost[..., None], box, det)
    gross |= lost

    # Truncation: detections stay inside the image.
    wh = np.asarray(image_size, float)[:, None, :]
    truncated = np.any((gt < 0) | (gt > wh - 1), axis=-1)
    det = np.clip(det, 0.0, wh - 1)

    err = np.linalg.norm(det - gt, axis=-1) / size[:, None]  # relative error
    amb = sigma / size[:, None]
    c_unc = np.exp(-amb / 0.05)
    c_err = np.exp(-0.5 * (err / 0.06) ** 2)
    confident_wrong = gross & (rng.uniform(size=(n, j)) < 0.3)
    c_err = np.where(confident_wrong, rng.uniform(0.75, 1.0, (n, j)), c_err)
    conf = c_unc * c_err * np.exp(rng.normal(0.0, 0.12, (n, j)))
    conf = np.where(truncated, conf * 0.2, conf)
    conf = np.clip(conf, 0.01, 1.0)
    return det, conf, dict(gross=gross, occluded=occluded, truncated=truncated)
