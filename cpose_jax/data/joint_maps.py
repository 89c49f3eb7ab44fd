"""Every joint-layout mapping into the Human3.6M 17-joint skeleton, in one place.

Target order (VideoPose3D): 0 Hip, 1 RHip, 2 RKnee, 3 RFoot, 4 LHip, 5 LKnee, 6 LFoot,
7 Spine, 8 Thorax, 9 Neck/Nose, 10 Head, 11 LShoulder, 12 LElbow, 13 LWrist, 14 RShoulder,
15 RElbow, 16 RWrist. The right side is 1-3 / 14-16 (mmhuman3d's ``H36M_KEYPOINTS`` swaps it).

Each source layout has one table, written by joint *name* so that left/right can be read off the
table (the source formats' joint orders: docs/design.md); the twelve limb joints of the layouts
that name them ``left_knee`` or ``l_knee`` come from one helper, ``_limbs``. A target joint is a
list of alternatives tried in order; an alternative is either one source joint or a weighted sum
of source joints. Paper §4.2: joints a dataset lacks are "interpolated by labeling nearby
joints" (pelvis = mid-hip, ...); source joints with no H36M counterpart are dropped.

Missing joints: a source joint is missing when its confidence/visibility is 0 or its coordinates
are not finite. An alternative is usable only if all of its sources are present; a target joint
with no usable alternative gets confidence 0 and coordinates 0. The confidence of a derived joint
is the mean (default; MotionBERT) or the min of its sources' confidences.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

import numpy as np

from cpose_jax.skeleton import H36M17

__all__ = [
    "BLAZEPOSE33_NAMES",
    "COCO17_NAMES",
    "H36M17_NAMES",
    "H36M32_NAMES",
    "JOINT_MAPS",
    "MPII16_NAMES",
    "MPI_INF_3DHP17_NAMES",
    "MPI_INF_3DHP28_NAMES",
    "OPENPOSE18_NAMES",
    "SMPL24_NAMES",
    "JointMap",
    "get_joint_map",
    "map_to_h36m17",
]

# The target: the core skeleton's names (Martinez' H36M_NAMES; index = VideoPose3D order).
H36M17_NAMES: tuple[str, ...] = H36M17.joint_names

# Human3.6M full 32-joint mocap layout (metadata names; the 17 kept are VideoPose3D's).
H36M32_NAMES: tuple[str, ...] = (
    "Hips", "RightUpLeg", "RightLeg", "RightFoot", "RightToeBase", "Site_rtoe",
    "LeftUpLeg", "LeftLeg", "LeftFoot", "LeftToeBase", "Site_ltoe",
    "Spine", "Spine1", "Neck", "Head", "Site_head",
    "LeftShoulder", "LeftArm", "LeftForeArm", "LeftHand", "LeftHandThumb", "Site_lthumb",
    "L_Wrist_End", "Site_lwrist",
    "RightShoulder", "RightArm", "RightForeArm", "RightHand", "RightHandThumb", "Site_rthumb",
    "R_Wrist_End", "Site_rwrist",
)  # fmt: skip

# MS-COCO keypoints (person category order).
COCO17_NAMES: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

# MPII Human Pose joint ids 0..15.
MPII16_NAMES: tuple[str, ...] = (
    "r_ankle", "r_knee", "r_hip", "l_hip", "l_knee", "l_ankle", "pelvis", "thorax",
    "upper_neck", "head_top", "r_wrist", "r_elbow", "r_shoulder", "l_shoulder", "l_elbow",
    "l_wrist",
)  # fmt: skip

# MPI-INF-3DHP test-set 17 "relevant" joints (mpii_get_joint_set.m order).
MPI_INF_3DHP17_NAMES: tuple[str, ...] = (
    "head_top", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
    "left_ankle", "pelvis", "spine", "head",
)  # fmt: skip

# MPI-INF-3DHP training-set 28 joints.
MPI_INF_3DHP28_NAMES: tuple[str, ...] = (
    "spine3", "spine4", "spine2", "spine", "pelvis", "neck", "head", "head_top",
    "left_clavicle", "left_shoulder", "left_elbow", "left_wrist", "left_hand",
    "right_clavicle", "right_shoulder", "right_elbow", "right_wrist", "right_hand",
    "left_hip", "left_knee", "left_ankle", "left_foot", "left_toe",
    "right_hip", "right_knee", "right_ankle", "right_foot", "right_toe",
)  # fmt: skip

# SMPL 24 joints (3DPW ``jointPositions``).
SMPL24_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar",
    "right_collar", "head", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
    "left_wrist", "right_wrist", "left_hand", "right_hand",
)  # fmt: skip

# OpenPose COCO-18 (3DPW ``poses2d``).
OPENPOSE18_NAMES: tuple[str, ...] = (
    "nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
    "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip",
    "left_knee", "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear",
)  # fmt: skip

# MediaPipe BlazePose 33 landmarks (odd = left, even = right).
BLAZEPOSE33_NAMES: tuple[str, ...] = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye",
    "right_eye_outer", "left_ear", "right_ear", "mouth_left", "mouth_right",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_pinky", "right_pinky", "left_index", "right_index", "left_thumb", "right_thumb",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index",
)  # fmt: skip

# Ski-Pose PTZ labels are already in H36M order (its own names).
SKIPOSE17_NAMES: tuple[str, ...] = (
    "hip", "rhip", "rknee", "rankle", "lhip", "lknee", "lankle", "spine", "neck", "head",
    "headtop", "lshoulder", "lelbow", "lwrist", "rshoulder", "relbow", "rwrist",
)  # fmt: skip

# An alternative: one source name, or {source name: weight}.
_Alt = str | Mapping[str, float]


def _mid(*names: str) -> dict[str, float]:
    return {n: 1.0 / len(names) for n in names}


# The limb joints, by their H36M name without the L/R prefix -> the part name most source
# layouts use (H36M's foot joint is the ankle).
_LIMB_PARTS = {"Hip": "hip", "Knee": "knee", "Foot": "ankle", "Shoulder": "shoulder",
               "Elbow": "elbow", "Wrist": "wrist"}  # fmt: skip


def _limbs(left: str = "left", right: str = "right") -> dict[str, list[_Alt]]:
    """The twelve limb joints of a layout that names them ``<side>_<part>`` (``left_knee``,
    ``l_knee``): each H36M limb joint is its same-named source joint."""
    return {
        f"{side}{joint}": [f"{prefix}_{part}"]
        for side, prefix in (("L", left), ("R", right))
        for joint, part in _LIMB_PARTS.items()
    }


@dataclasses.dataclass(frozen=True)
class JointMap:
    """A source layout and the rule for each target joint.

    ``rules[t]`` is a tuple of alternatives for target joint ``t``, tried in order; each
    alternative is a tuple of ``(source_index, weight)`` terms (weights sum to 1).
    """

    name: str
    source_names: tuple[str, ...]
    rules: tuple[tuple[tuple[tuple[int, float], ...], ...], ...]
    target_names: tuple[str, ...] = H36M17_NAMES

    @property
    def num_source(self) -> int:
        return len(self.source_names)

    @property
    def num_target(self) -> int:
        return len(self.target_names)

    def primary_source(self, target: str) -> tuple[str, ...]:
        """Source joint names of the first alternative for ``target`` (for docs and tests)."""
        alt = self.rules[self.target_names.index(target)][0]
        return tuple(self.source_names[i] for i, _ in alt)


def _build(name: str, source_names: Sequence[str], spec: Mapping[str, Sequence[_Alt]]) -> JointMap:
    if set(spec) != set(H36M17_NAMES):
        raise ValueError(f"{name}: spec must give every H36M17 joint, got {sorted(spec)}")
    rules = []
    for target in H36M17_NAMES:
        alts = []
        for alt in spec[target]:
            terms = {alt: 1.0} if isinstance(alt, str) else dict(alt)
            if abs(sum(terms.values()) - 1.0) > 1e-9:
                raise ValueError(f"{name}/{target}: weights must sum to 1, got {terms}")
            alts.append(tuple((source_names.index(s), float(w)) for s, w in terms.items()))
        rules.append(tuple(alts))
    return JointMap(name=name, source_names=tuple(source_names), rules=tuple(rules))


# --------------------------------------------------------------------------------------------
# The tables. One per source layout.
# --------------------------------------------------------------------------------------------

# Identity (H36M 17 joints as produced by VideoPose3D; also Ski-Pose PTZ labels).
H36M17_TO_H36M17 = _build("h36m17", H36M17_NAMES, {n: [n] for n in H36M17_NAMES})
SKIPOSE17_TO_H36M17 = _build(
    "skipose17", SKIPOSE17_NAMES, {t: [s] for t, s in zip(H36M17_NAMES, SKIPOSE17_NAMES)}
)

# Human3.6M 32 -> 17: VideoPose3D keeps [0,1,2,3,6,7,8,12,13,14,15,17,18,19,25,26,27].
H36M32_TO_H36M17 = _build(
    "h36m32",
    H36M32_NAMES,
    {
        "Hip": ["Hips"],
        "RHip": ["RightUpLeg"],
        "RKnee": ["RightLeg"],
        "RFoot": ["RightFoot"],
        "LHip": ["LeftUpLeg"],
        "LKnee": ["LeftLeg"],
        "LFoot": ["LeftFoot"],
        "Spine": ["Spine1"],
        "Thorax": ["Neck"],
        "Neck/Nose": ["Head"],
        "Head": ["Site_head"],
        "LShoulder": ["LeftArm"],
        "LElbow": ["LeftForeArm"],
        "LWrist": ["LeftHand"],
        "RShoulder": ["RightArm"],
        "RElbow": ["RightForeArm"],
        "RWrist": ["RightHand"],
    },
)

# COCO-17 names -> H36M17 (mmpose body3d demo / MotionBERT coco2h36m); also
# BlazePose-33, which uses the same names. Spine = mid(pelvis,
# thorax) = quarter of each hip and shoulder. Head = mid-eyes (fallback mid-ears).
_COCO_STYLE_RULES: dict[str, list[_Alt]] = {
    **_limbs(),
    "Hip": [_mid("left_hip", "right_hip")],
    "Spine": [_mid("left_hip", "right_hip", "left_shoulder", "right_shoulder")],
    "Thorax": [_mid("left_shoulder", "right_shoulder")],
    "Neck/Nose": ["nose"],
    "Head": [_mid("left_eye", "right_eye"), _mid("left_ear", "right_ear")],
}

COCO17_TO_H36M17 = _build("coco17", COCO17_NAMES, _COCO_STYLE_RULES)

# MPII-16, convention B (anatomical: MPII's thorax is H36M's Thorax at shoulder level; for
# ground-truth MPII labels).
MPII16_TO_H36M17 = _build(
    "mpii16",
    MPII16_NAMES,
    {
        **_limbs("l", "r"),
        "Hip": ["pelvis", _mid("l_hip", "r_hip")],
        "Spine": [_mid("pelvis", "thorax"), {"l_hip": 0.25, "r_hip": 0.25, "thorax": 0.5}],
        "Thorax": ["thorax", _mid("l_shoulder", "r_shoulder")],
        "Neck/Nose": ["upper_neck"],
        "Head": ["head_top"],
    },
)

# MPII-16, convention A (Zhou's mpii_to_h36m + convert_eval_format): only for stacked-hourglass
# MPII-layout *detections* (VideoPose3D ``sh_*`` files) that were matched to H36M this way.
MPII16_SH_TO_H36M17 = _build(
    "mpii16_sh",
    MPII16_NAMES,
    {
        **_limbs("l", "r"),
        "Hip": ["pelvis"],
        "Spine": [_mid("pelvis", "upper_neck")],
        "Thorax": ["upper_neck"],
        "Neck/Nose": [_mid("upper_neck", "head_top")],
        "Head": ["head_top"],
    },
)

# MPI-INF-3DHP test 17 -> H36M: test[[14,8,9,10,11,12,13,15,1,16,0,5,6,7,2,3,4]], by name.
# H36M Head = head_top (PoseAug used 3DHP "head" instead; recorded in the converter's metadata).
MPI_INF_3DHP17_TO_H36M17 = _build(
    "mpi_inf_3dhp17",
    MPI_INF_3DHP17_NAMES,
    {
        **_limbs(),
        "Hip": ["pelvis"],
        "Spine": ["spine"],
        "Thorax": ["neck"],
        "Neck/Nose": ["head"],
        "Head": ["head_top"],
    },
)

# MPI-INF-3DHP training 28 -> H36M, the same joints by name.
MPI_INF_3DHP28_TO_H36M17 = _build(
    "mpi_inf_3dhp28",
    MPI_INF_3DHP28_NAMES,
    {t: MPI_INF_3DHP17_TO_H36M17.primary_source(t) for t in H36M17_NAMES},
)

# SMPL-24 (3DPW jointPositions, mapped without the SMPL model). SMPL has no head top: Neck/Nose =
# SMPL head, Head = head extrapolated one neck->head length further (2*head - neck).
SMPL24_TO_H36M17 = _build(
    "smpl24",
    SMPL24_NAMES,
    {
        **_limbs(),
        "Hip": ["pelvis"],
        "Spine": ["spine2"],
        "Thorax": ["neck"],
        "Neck/Nose": ["head"],
        "Head": [{"head": 2.0, "neck": -1.0}],
    },
)

# OpenPose COCO-18 (3DPW poses2d): like COCO, but with its own neck point for the thorax.
OPENPOSE18_TO_H36M17 = _build(
    "openpose18",
    OPENPOSE18_NAMES,
    {
        **_limbs(),
        "Hip": [_mid("left_hip", "right_hip")],
        "Spine": [
            {"left_hip": 0.25, "right_hip": 0.25, "neck": 0.5},
            _mid("left_hip", "right_hip", "left_shoulder", "right_shoulder"),
        ],
        "Thorax": ["neck", _mid("left_shoulder", "right_shoulder")],
        "Neck/Nose": ["nose"],
        "Head": [_mid("left_eye", "right_eye"), _mid("left_ear", "right_ear")],
    },
)

# MediaPipe BlazePose-33: its COCO-named joints, the same rules as COCO-17.
BLAZEPOSE33_TO_H36M17 = _build("blazepose33", BLAZEPOSE33_NAMES, _COCO_STYLE_RULES)

JOINT_MAPS: dict[str, JointMap] = {
    m.name: m
    for m in (
        H36M17_TO_H36M17,
        H36M32_TO_H36M17,
        COCO17_TO_H36M17,
        MPII16_TO_H36M17,
        MPII16_SH_TO_H36M17,
        MPI_INF_3DHP17_TO_H36M17,
        MPI_INF_3DHP28_TO_H36M17,
        SMPL24_TO_H36M17,
        OPENPOSE18_TO_H36M17,
        BLAZEPOSE33_TO_H36M17,
        SKIPOSE17_TO_H36M17,
    )
}


def get_joint_map(name: str | JointMap) -> JointMap:
    """Look a mapping up by source layout name (``'coco17'``, ``'mpii16'``, ...)."""
    if isinstance(name, JointMap):
        return name
    try:
        return JOINT_MAPS[name]
    except KeyError:
        raise ValueError(f"unknown joint layout {name!r}; known: {sorted(JOINT_MAPS)}") from None


def map_to_h36m17(
    keypoints: np.ndarray,
    confidence: np.ndarray | None = None,
    *,
    source: str | JointMap,
    combine: str = "mean",
) -> tuple[np.ndarray, np.ndarray]:
    """Map keypoints of a source layout to H36M17, interpolating derived joints (paper §4.2).

    Args:
      keypoints: `(..., S, D)` source keypoints (any units, D = 2 or 3; pixels or metres).
      confidence: `(..., S)` confidences or visibilities in [0, 1]; 0 = missing. ``None`` means
        every finite joint is present with confidence 1.
      source: layout name (see ``JOINT_MAPS``) or a ``JointMap``.
      combine: confidence of a derived joint, ``'mean'`` or ``'min'`` of its sources.

    Returns:
      ``(keypoints (..., 17, D), confidence (..., 17))``; missing joints have confidence 0 and
      coordinates 0.
    """
    jmap = get_joint_map(source)
    kp = np.asarray(keypoints)
    if not np.issubdtype(kp.dtype, np.floating):
        kp = kp.astype(np.float64)
    if kp.ndim < 2 or kp.shape[-2] != jmap.num_source:
        raise ValueError(
            f"map_to_h36m17({jmap.name}): keypoints must be (..., {jmap.num_source}, D), "
            f"got {kp.shape}"
        )
    if confidence is None:
        conf = np.ones(kp.shape[:-1], dtype=kp.dtype)
    else:
        conf = np.asarray(confidence, dtype=kp.dtype)
        if conf.shape != kp.shape[:-1]:
            raise ValueError(
                f"map_to_h36m17({jmap.name}): confidence must be {kp.shape[:-1]}, got {conf.shape}"
            )
    if combine not in ("mean", "min"):
        raise ValueError(f"combine must be 'mean' or 'min', got {combine!r}")
    present = (conf > 0) & np.all(np.isfinite(kp), axis=-1)
    conf = np.where(present, conf, 0.0).astype(kp.dtype)
    kp_safe = np.where(present[..., None], kp, 0.0)

    out_kp = np.zeros((*kp.shape[:-2], jmap.num_target, kp.shape[-1]), dtype=kp.dtype)
    out_conf = np.zeros((*kp.shape[:-2], jmap.num_target), dtype=kp.dtype)
    for t, alts in enumerate(jmap.rules):
        done = np.zeros(kp.shape[:-2], dtype=bool)
        for alt in alts:
            idx = [i for i, _ in alt]
            w = np.array([wt for _, wt in alt], dtype=kp.dtype)
            ok = np.all(present[..., idx], axis=-1) & ~done
            value = np.einsum("...sd,s->...d", kp_safe[..., idx, :], w)
            c = conf[..., idx]
            c = c.mean(axis=-1) if combine == "mean" else c.min(axis=-1)
            out_kp[..., t, :] = np.where(ok[..., None], value, out_kp[..., t, :])
            out_conf[..., t] = np.where(ok, c, out_conf[..., t])
            done |= ok
    return out_kp, out_conf
