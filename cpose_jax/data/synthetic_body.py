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
    "BONE_LENGTH_BOUNDS",
    "BONE_LENGTH_RANGES",
    "MEAN_BONE_LENGTHS",
    "MEAN_STATURE",
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

#: Stature (m) of the mean body.
MEAN_STATURE = 1.72

#: The mean body's bone lengths, indexed by the bone's CHILD joint (root entry 0): roughly the
#: Human3.6M subjects' averages (stature about 1.72 m), except the hip, whose joint placement
#: differs between conventions (Human3.6M about 0.13 m from the pelvis centre, the functional
#: hip-joint centres of CMU-style captures 0.075-0.085 m): the mean body sits between them.
_MEAN = {
    "RHip": 0.1125,  # pelvis centre -> hip joint
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

# The body model of :func:`sample_bodies`: bone = stature * (mean bone / MEAN_STATURE) * the
# factors of the bone's groups * a small per-bone factor. Segment lengths scale with stature
# (Drillis & Contini 1966, as tabulated in Winter, Biomechanics and Motor Control of Human
# Movement, Fig. 4.1: thigh 0.245, shank 0.246, upper arm 0.186, forearm 0.146 of height; the
# mean body's 0.259, 0.253, 0.163, 0.145 differ by where its joints are placed). The factors are
# drawn independently, wider than one population's spread, so the world holds every build of
# body, and every joint-placement convention, a lifter may meet.
#
# Stature: ANSUR II (Gordon et al. 2014, 2012 Anthropometric Survey of U.S. Army Personnel),
# women 1.628 m (SD 0.064), men 1.756 m (SD 0.069), half each; truncated to 1.45-1.98 m, a
# margin beyond the 1st percentile woman (1.48 m) and the 99th percentile man (1.92 m).
_STATURE_GROUPS = ((1.628, 0.064), (1.756, 0.069))
_STATURE_RANGE = (1.45, 1.98)
_LEGS = ("RKnee", "RFoot", "LKnee", "LFoot")
_TRUNK = ("Spine", "Thorax")
_ARMS = ("LElbow", "LWrist", "RElbow", "RWrist")
_HIPS = ("RHip", "LHip")
_SHOULDERS = ("LShoulder", "RShoulder")
# Leg-to-trunk: one standard-normal z (truncated at +-2.5) lengthens the legs by 3 % per SD and
# shortens the trunk by 5 % per SD, keeping stature. Mean sitting-height ratios (sitting height /
# stature) of adult populations run from about 0.48 to 0.55 (Bogin & Varela-Silva 2010, Leg
# length, body proportion, and health): legs of 0.45-0.52 of stature, +-7 %, and a trunk
# (pelvis -> neck base, 0.28 of stature) that gives up what the legs gain, +-12 %.
_LEG_TRUNK_Z, _LEG_PER_Z, _TRUNK_PER_Z = 2.5, 0.03, -0.05
# Where the mid-spine joint divides the trunk (share below it): a marker convention (Human3.6M
# 0.485, the CMU capture's lower/upper back 0.61): normal 0.485 (SD 0.05), truncated.
_SPINE_SHARE, _SPINE_SHARE_SD, _SPINE_SHARE_RANGE = 0.485, 0.05, (0.40, 0.62)
# Relative factors (truncated normals, mean 1): (bones, SD, (min, max)).
_FACTORS = {
    "arms": (_ARMS, 0.05, (0.85, 1.15)),
    # slim to broad: hips and shoulders together
    "breadth": (_HIPS + _SHOULDERS, 0.05, (0.90, 1.10)),
    "shoulders": (_SHOULDERS, 0.07, (0.82, 1.18)),
    "neck_head": (("Neck/Nose", "Head"), 0.06, (0.85, 1.15)),
}
# Hip width, on top of breadth: uniform over 0.67-1.33 of the mean (0.075-0.150 m at mean
# stature), the narrow hip-joint-centre conventions and Human3.6M's wide ones equally often.
_HIP_RANGE = (0.67, 1.33)
# Every bone's own factor (left = right): SD 2.5 %, truncated at +-5 %.
_BONE_SD, _BONE_RANGE = 0.025, (0.95, 1.05)


def _bone_mask(names) -> np.ndarray:
    return np.isin(np.arange(SKELETON.num_joints), [_J(n) for n in names])


def _factor_bounds() -> np.ndarray:
    """(2, 17) product of the factors' minima and maxima per bone (stature excluded)."""
    lo = np.full(SKELETON.num_joints, _BONE_RANGE[0])
    hi = np.full(SKELETON.num_joints, _BONE_RANGE[1])
    z = np.array([-_LEG_TRUNK_Z, _LEG_TRUNK_Z])
    for names, per_z in ((_LEGS, _LEG_PER_Z), (_TRUNK, _TRUNK_PER_Z)):
        f = 1.0 + per_z * z
        lo[_bone_mask(names)] *= f.min()
        hi[_bone_mask(names)] *= f.max()
    p0, (p_lo, p_hi) = _SPINE_SHARE, _SPINE_SHARE_RANGE
    lo[_J("Spine")], hi[_J("Spine")] = lo[_J("Spine")] * p_lo / p0, hi[_J("Spine")] * p_hi / p0
    lo[_J("Thorax")] *= (1 - p_hi) / (1 - p0)
    hi[_J("Thorax")] *= (1 - p_lo) / (1 - p0)
    for names, _sd, (f_lo, f_hi) in _FACTORS.values():
        lo[_bone_mask(names)] *= f_lo
        hi[_bone_mask(names)] *= f_hi
    lo[_bone_mask(_HIPS)] *= _HIP_RANGE[0]
    hi[_bone_mask(_HIPS)] *= _HIP_RANGE[1]
    return np.stack([lo, hi])


#: Per-bone bounds (2, 17) in metres, [min; max] (root entry 0): every bone drawn by
#: :func:`sample_bodies` lies inside (the promise tested).
BONE_LENGTH_BOUNDS = (
    _factor_bounds() * MEAN_BONE_LENGTHS / MEAN_STATURE * np.array(_STATURE_RANGE)[:, None]
)
#: The loosest relative range over all bones: every bone lies inside
#: ``MEAN_BONE_LENGTHS * BONE_LENGTH_RANGES`` (per-bone: :data:`BONE_LENGTH_BOUNDS`).
BONE_LENGTH_RANGES = (
    float((BONE_LENGTH_BOUNDS[0, 1:] / MEAN_BONE_LENGTHS[1:]).min()),
    float((BONE_LENGTH_BOUNDS[1, 1:] / MEAN_BONE_LENGTHS[1:]).max()),
)


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


def _stratified_uniform(rng: np.random.Generator, n: int, k: int) -> np.ndarray:
    """``(n, k)`` uniforms on (0, 1), each column with one value in each of ``n`` equal strata
    (a Latin hypercube): a few draws spread over the whole range, many draws as plain ones."""
    strata = rng.permuted(np.repeat(np.arange(n)[:, None], k, axis=1), axis=0)
    return (strata + rng.uniform(size=(n, k))) / n


def _quantile(u, grid, density) -> np.ndarray:
    """Inverse CDF at ``u`` of a density tabulated on ``grid`` (values stay inside the grid)."""
    cdf = np.concatenate([[0.0], np.cumsum(0.5 * (density[1:] + density[:-1]) * np.diff(grid))])
    return np.interp(u, cdf / cdf[-1], grid)


def _truncated_normal(u, mean, sd, lo, hi) -> np.ndarray:
    z = np.linspace((lo - mean) / sd, (hi - mean) / sd, 2001)
    return mean + sd * _quantile(u, z, np.exp(-0.5 * z * z))


def _stature_quantile(u) -> np.ndarray:
    h = np.linspace(*_STATURE_RANGE, 2001)
    pdf = sum(np.exp(-0.5 * ((h - m) / sd) ** 2) / sd for m, sd in _STATURE_GROUPS)
    return _quantile(u, h, pdf)


def sample_bodies(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` random adult bodies -> bone lengths ``(n, 17)`` metres, left = right.

    Stature (ANSUR II women and men, 1.45-1.98 m) times the mean body's proportions, times
    independent factors for leg-to-trunk ratio, where the mid-spine joint divides the trunk, arm
    length, slim-to-broad (hips and shoulders together), hip width, shoulder width, neck and
    head, and a small factor per bone (the numbers and sources are beside the constants above).
    Every bone lies inside :data:`BONE_LENGTH_BOUNDS`. The ``n`` bodies of one call are
    stratified (:func:`_stratified_uniform`), so a handful of subjects spans short and tall,
    narrow and wide.
    """
    u = _stratified_uniform(rng, n, 3 + len(_FACTORS) + 1 + SKELETON.num_joints)
    stature = _stature_quantile(u[:, 0])
    f = np.ones((n, SKELETON.num_joints))
    z = _truncated_normal(u[:, 1], 0.0, 1.0, -_LEG_TRUNK_Z, _LEG_TRUNK_Z)[:, None]
    f[:, _bone_mask(_LEGS)] *= 1.0 + _LEG_PER_Z * z
    f[:, _bone_mask(_TRUNK)] *= 1.0 + _TRUNK_PER_Z * z
    share = _truncated_normal(u[:, 2], _SPINE_SHARE, _SPINE_SHARE_SD, *_SPINE_SHARE_RANGE)
    f[:, _J("Spine")] *= share / _SPINE_SHARE
    f[:, _J("Thorax")] *= (1.0 - share) / (1.0 - _SPINE_SHARE)
    for i, (names, sd, (lo, hi)) in enumerate(_FACTORS.values()):
        f[:, _bone_mask(names)] *= _truncated_normal(u[:, 3 + i, None], 1.0, sd, lo, hi)
    i = 3 + len(_FACTORS)
    f[:, _bone_mask(_HIPS)] *= _HIP_RANGE[0] + (_HIP_RANGE[1] - _HIP_RANGE[0]) * u[:, i, None]
    own = _truncated_normal(u[:, i + 1 :], 1.0, _BONE_SD, *_BONE_RANGE)
    f *= own[:, np.minimum(np.arange(SKELETON.num_joints), SKELETON.flip_perm)]  # left = right
    return MEAN_BONE_LENGTHS / MEAN_STATURE * stature[:, None] * f
