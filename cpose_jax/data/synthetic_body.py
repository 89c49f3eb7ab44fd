"""Synthetic human bodies: anthropometric bone lengths, joint angles within anatomical limits,
and forward kinematics (numpy, vectorised over samples); the movements that set the angles are
in :mod:`.synthetic_motion`.

Body frame (before the body is placed in the world): x to the body's RIGHT, y FORWARD (facing
direction), z UP (right-handed, as a real person: forward x left = up); the root (pelvis,
H36M17 joint 0) at the origin. The world frame is z-up with the ground at z = 0. Output
skeleton: H36M17 (VideoPose3D order, right side at joints 1-3 and 14-16). The tables below
(rest directions, rotations) are written in the mirrored frame (x to the LEFT) and
:func:`forward_kinematics` reflects x once, after the joint chain and before the root rotation.
Without that reflection every synthetic person would be the mirror image of a real one (their
"left" limbs on their right), which no rotation, hence no Procrustes alignment, can undo.

Joints and their degrees of freedom (angles in degrees, see :data:`ANGLE_NAMES`,
:data:`ANGLE_LIMITS`):

* hips and shoulders: 3-DOF (flexion forward +, abduction outward +, internal rotation +);
* knees and elbows: 1-DOF flexion (knee bends the shin backward, elbow the forearm forward);
* lumbar spine (pelvis -> Spine), thoracic spine (Spine -> Thorax) and neck (Thorax -> head):
  flexion (forward +), side bend (to the left +), twist (to the left +).

Left-side angles are applied as is; right-side rotations are the mirror images
(``M R M``, ``M = diag(-1, 1, 1)``), so one angle convention serves both sides and
:func:`mirror_angles` gives the mirrored pose.
"""

from __future__ import annotations

import numpy as np

from cpose_jax.skeleton import H36M17

__all__ = [
    "ANGLE_LIMITS",
    "ANGLE_NAMES",
    "BONE_LENGTH_RANGES",
    "MEAN_BONE_LENGTHS",
    "axis_rotation",
    "directions_from_positions",
    "forward_kinematics",
    "mirror_angles",
    "pose_from_directions",
    "rest_vector",
    "sample_bodies",
    "tilt_matrix",
]

SKELETON = H36M17
_J = SKELETON.joint_index

# ------------------------------------------------------------------ anthropometry (metres)

#: Mean adult bone lengths, indexed by the bone's CHILD joint (root entry 0), roughly the
#: Human3.6M subjects' averages (body height about 1.72 m).
_MEAN = {
    "RHip": 0.130,  # pelvis centre -> hip joint
    "RKnee": 0.445,  # thigh
    "RFoot": 0.435,  # shin (knee -> ankle)
    "Spine": 0.235,  # pelvis -> mid spine
    "Thorax": 0.250,  # mid spine -> base of neck
    "Neck/Nose": 0.115,
    "Head": 0.115,  # nose -> head top
    "LShoulder": 0.150,  # base of neck -> shoulder joint
    "LElbow": 0.280,  # upper arm
    "LWrist": 0.250,  # forearm
}
for _k in ("RHip", "RKnee", "RFoot"):
    _MEAN[_k.replace("R", "L", 1)] = _MEAN[_k]
for _k in ("LShoulder", "LElbow", "LWrist"):
    _MEAN[_k.replace("L", "R", 1)] = _MEAN[_k]
MEAN_BONE_LENGTHS = np.array([0.0] + [_MEAN[n] for n in SKELETON.joint_names[1:]])

#: Per-subject body scale (height / mean height) and per-bone proportion factor (same for
#: left and right) are drawn from these clipped normals; together they bound every bone to
#: ``MEAN_BONE_LENGTHS * BONE_LENGTH_RANGES`` (the promise tested).
_SCALE_SD, _SCALE_CLIP = 0.055, (0.88, 1.13)
_PROP_SD, _PROP_CLIP = 0.035, (0.91, 1.09)
BONE_LENGTH_RANGES = (_SCALE_CLIP[0] * _PROP_CLIP[0], _SCALE_CLIP[1] * _PROP_CLIP[1])


def _unit(v):
    v = np.asarray(v, float)
    return v / np.linalg.norm(v)


# Rest direction of each bone (child joint) in its frame's axes, left side canonical.
# frame names: pelvis, lumbar, thoracic, neck, l_hip, l_knee, l_sho, l_elb (and r_*).
_REST = {
    "RHip": ("pelvis", _unit([-1, 0, 0])),
    "RKnee": ("r_hip", _unit([0, 0, -1])),
    "RFoot": ("r_knee", _unit([0, 0, -1])),
    "LHip": ("pelvis", _unit([1, 0, 0])),
    "LKnee": ("l_hip", _unit([0, 0, -1])),
    "LFoot": ("l_knee", _unit([0, 0, -1])),
    "Spine": ("lumbar", _unit([0, -0.05, 1])),
    "Thorax": ("thoracic", _unit([0, 0.05, 1])),
    "Neck/Nose": ("neck", _unit([0, 0.45, 1])),
    "Head": ("neck", _unit([0, -0.35, 1])),
    "LShoulder": ("thoracic", _unit([1, -0.05, -0.18])),
    "LElbow": ("l_sho", _unit([0, 0, -1])),
    "LWrist": ("l_elb", _unit([0, 0, -1])),
    "RShoulder": ("thoracic", _unit([-1, -0.05, -0.18])),
    "RElbow": ("r_sho", _unit([0, 0, -1])),
    "RWrist": ("r_elb", _unit([0, 0, -1])),
}

# ------------------------------------------------------------------ joint angles (degrees)

ANGLE_NAMES = (
    "l_hip_flex", "l_hip_abd", "l_hip_rot",
    "r_hip_flex", "r_hip_abd", "r_hip_rot",
    "l_knee_flex", "r_knee_flex",
    "l_sho_flex", "l_sho_abd", "l_sho_rot",
    "r_sho_flex", "r_sho_abd", "r_sho_rot",
    "l_elbow_flex", "r_elbow_flex",
    "lumbar_flex", "lumbar_side", "lumbar_twist",
    "thor_flex", "thor_side", "thor_twist",
    "neck_flex", "neck_side", "neck_twist",
)  # fmt: skip
_A = {n: i for i, n in enumerate(ANGLE_NAMES)}

#: Anatomical range of motion (degrees, [min, max]) per angle; every sampled pose obeys it.
_LIMITS = {
    "hip_flex": (-30.0, 130.0),
    "hip_abd": (-25.0, 50.0),
    "hip_rot": (-40.0, 45.0),
    "knee_flex": (0.0, 150.0),
    "sho_flex": (-60.0, 180.0),
    "sho_abd": (-10.0, 180.0),
    "sho_rot": (-80.0, 90.0),
    "elbow_flex": (0.0, 150.0),
    "lumbar_flex": (-30.0, 60.0),
    "lumbar_side": (-30.0, 30.0),
    "lumbar_twist": (-30.0, 30.0),
    "thor_flex": (-15.0, 40.0),
    "thor_side": (-20.0, 20.0),
    "thor_twist": (-30.0, 30.0),
    "neck_flex": (-50.0, 60.0),
    "neck_side": (-40.0, 40.0),
    "neck_twist": (-70.0, 70.0),
}
ANGLE_LIMITS = np.array([_LIMITS[n[2:] if n[:2] in ("l_", "r_") else n] for n in ANGLE_NAMES])

# Mirror: swap l_/r_ columns, negate side bends and twists.
_MIRROR_PERM = np.array(
    [
        _A[("r_" + n[2:]) if n.startswith("l_") else ("l_" + n[2:]) if n.startswith("r_") else n]
        for n in ANGLE_NAMES
    ]
)
_MIRROR_SIGN = np.array([-1.0 if n.endswith(("_side", "_twist")) else 1.0 for n in ANGLE_NAMES])


# ------------------------------------------------------------------ rotations (numpy)


def axis_rotation(axis: int, deg) -> np.ndarray:
    """Rotations by ``deg`` (N,) degrees about coordinate axis ``axis`` (0 x, 1 y, 2 z) ->
    ``(N, 3, 3)`` (right-handed, active)."""
    a = np.deg2rad(np.asarray(deg, float))
    c, s = np.cos(a), np.sin(a)
    o, z = np.ones_like(a), np.zeros_like(a)
    if axis == 0:
        m = [[o, z, z], [z, c, -s], [z, s, c]]
    elif axis == 1:
        m = [[c, z, s], [z, o, z], [-s, z, c]]
    else:
        m = [[c, -s, z], [s, c, z], [z, z, o]]
    return np.moveaxis(np.array(m), (0, 1), (-2, -1))


_M = np.diag([-1.0, 1.0, 1.0])


def _limb(flex, abd, rot, right: bool) -> np.ndarray:
    r = axis_rotation(0, flex) @ axis_rotation(1, -abd) @ axis_rotation(2, rot)
    return _M @ r @ _M if right else r


def _spine(flex, side, twist) -> np.ndarray:
    return axis_rotation(0, -flex) @ axis_rotation(1, side) @ axis_rotation(2, twist)


def tilt_matrix(axis_deg, angle_deg) -> np.ndarray:
    """Rotation by ``angle_deg`` about the horizontal axis at azimuth ``axis_deg`` (N,) -> (N,3,3).

    Azimuth 0 is the body's left-right (x) axis: a positive angle there tips the head
    BACKWARD; azimuth 90 (the y axis) tips it to the body's right.
    """
    return (
        axis_rotation(2, axis_deg)
        @ axis_rotation(0, angle_deg)
        @ axis_rotation(2, -np.asarray(axis_deg, float))
    )


def forward_kinematics(angles, lengths, root_rotation=None) -> np.ndarray:
    """Joint positions from joint angles and bone lengths (H36M17).

    Args:
      angles: ``(N, 25)`` degrees in :data:`ANGLE_NAMES` order.
      lengths: ``(N, 17)`` metres, indexed by child joint (entry 0 ignored).
      root_rotation: ``(N, 3, 3)`` pelvis orientation (body -> world); identity if None.

    Returns:
      ``(N, 17, 3)`` metres, root at the origin, axes of the world (or body) frame; a real
      person's chirality (the left joints on the body's left).
    """
    angles, lengths = np.asarray(angles, float), np.asarray(lengths, float)
    n = angles.shape[0]
    if angles.shape != (n, len(ANGLE_NAMES)) or lengths.shape != (n, SKELETON.num_joints):
        raise ValueError(f"angles {angles.shape} must be (N, 25), lengths {lengths.shape} (N, 17)")
    a = {k: angles[:, i] for k, i in _A.items()}
    pelvis = np.broadcast_to(np.eye(3), (n, 3, 3))
    f = {"pelvis": pelvis}
    f["lumbar"] = pelvis @ _spine(a["lumbar_flex"], a["lumbar_side"], a["lumbar_twist"])
    f["thoracic"] = f["lumbar"] @ _spine(a["thor_flex"], a["thor_side"], a["thor_twist"])
    f["neck"] = f["thoracic"] @ _spine(a["neck_flex"], a["neck_side"], a["neck_twist"])
    for s, right in (("l", False), ("r", True)):
        f[f"{s}_hip"] = pelvis @ _limb(
            a[f"{s}_hip_flex"], a[f"{s}_hip_abd"], a[f"{s}_hip_rot"], right
        )
        f[f"{s}_knee"] = f[f"{s}_hip"] @ axis_rotation(0, -a[f"{s}_knee_flex"])
        f[f"{s}_sho"] = f["thoracic"] @ _limb(
            a[f"{s}_sho_flex"], a[f"{s}_sho_abd"], a[f"{s}_sho_rot"], right
        )
        f[f"{s}_elb"] = f[f"{s}_sho"] @ axis_rotation(0, a[f"{s}_elbow_flex"])
    x = np.zeros((n, SKELETON.num_joints, 3))
    for j in range(1, SKELETON.num_joints):  # 16 joints, each vectorised over N
        name = SKELETON.joint_names[j]
        frame, d = _REST[name]
        x[:, j] = x[:, SKELETON.parents[j]] + (f[frame] @ d) * lengths[:, j : j + 1]
    x[..., 0] *= -1.0  # mirrored table frame (x left) -> body frame (x right): see module doc
    if root_rotation is not None:
        x = np.einsum("nij,nkj->nki", root_rotation, x)
    return x


def rest_vector(name: str, *, left, up, forward) -> np.ndarray:
    """The mean body's rest bone vector (m) ending at joint ``name`` (e.g. 'Head',
    'LShoulder'), in a frame given by the body's ``left``, ``up`` and ``forward`` unit vectors
    (3,) (used to place joints a motion capture marks differently or not at all)."""
    left, up, forward = (np.asarray(v, float) for v in (left, up, forward))
    d = _REST[name][1]  # table frame: x left, y forward, z up
    return (d[0] * left + d[1] * forward + d[2] * up) * MEAN_BONE_LENGTHS[_J(name)]


def directions_from_positions(x) -> np.ndarray:
    """Unit bone directions ``(..., 17, 3)`` (entry 0 zero) of H36M17 joint positions
    ``(..., 17, 3)``; a zero-length bone gets direction 0."""
    x = np.asarray(x, float)
    d = x - x[..., [max(p, 0) for p in SKELETON.parents], :]
    d[..., 0, :] = 0.0
    n = np.linalg.norm(d, axis=-1, keepdims=True)
    return np.where(n > 1e-9, d / np.maximum(n, 1e-9), 0.0)


def pose_from_directions(directions, lengths) -> np.ndarray:
    """Retargeting: joints ``(..., 17, 3)`` (root at 0) from bone directions ``(..., 17, 3)``
    (e.g. of a motion capture) and bone lengths ``(..., 17)`` m (e.g. :func:`sample_bodies`)."""
    d, ln = np.asarray(directions, float), np.asarray(lengths, float)
    x = np.zeros(np.broadcast_shapes(d.shape, (*ln.shape, 3)))
    for j in range(1, SKELETON.num_joints):
        x[..., j, :] = x[..., SKELETON.parents[j], :] + d[..., j, :] * ln[..., j, None]
    return x


def mirror_angles(angles) -> np.ndarray:
    """The left/right mirror image of poses ``(N, 25)`` (swap sides, negate side bend/twist)."""
    return np.asarray(angles)[..., _MIRROR_PERM] * _MIRROR_SIGN


def sample_bodies(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random adult bodies -> bone lengths ``(n, 17)`` metres, left = right.

    Length = mean * body scale * per-bone proportion (both clipped normals), inside
    ``MEAN_BONE_LENGTHS * BONE_LENGTH_RANGES``.
    """
    scale = np.clip(rng.normal(1.0, _SCALE_SD, (n, 1)), *_SCALE_CLIP)
    prop = np.clip(rng.normal(1.0, _PROP_SD, (n, SKELETON.num_joints)), *_PROP_CLIP)
    prop = 0.5 * (prop + prop[:, SKELETON.flip_perm])  # symmetric proportions
    return MEAN_BONE_LENGTHS * scale * prop
