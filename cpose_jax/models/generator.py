"""PoseAug pose generator (Gong et al. 2021, released code; CameraPose paper §3.3).

Three conditional MLPs modify a 3D pose in sequence (PoseAug's BA, BL and RT; docs/design.md):

1. **BA** (bone angle): per-bone direction offsets ``Δ``; ``û_k = normalize(u_k + Δ_k)``;
   the two torso bones (Hip->Spine, Spine->Thorax, found by joint name) keep their direction
   (PoseAug: otherwise BA can fake a global rotation); every bone keeps its length.
   ``ba_diff_k = 1 - <û_k, u_k>`` feeds the BA range loss.
2. **BL** (bone length): 9 ratios ``r = tanh(·) * bl_limit`` (±20 %), shared by left/right
   bones; Spine->Thorax's ratio is forced to 0 as in PoseAug. Bone directions of the BA pose are
   kept, lengths become ``l * (1 + r)``. Ratio groups, by child joint name: 0 hips (RHip, LHip),
   1 thighs (RKnee, LKnee), 2 shins (RFoot, LFoot), 3 Spine, 4 Thorax (always 0), 5 head,
   6 shoulders, 7 upper arms (elbows), 8 forearms (wrists). Group 5 is every bone on the chain
   Thorax -> Head: one bone (Thorax->Head) for H36M16, two (Thorax->Neck/Nose, Neck/Nose->Head)
   for H36M17. Both H36M17 bones get the same ratio, so the whole Thorax->Head chain scales by
   ``1 + r5``, exactly like the single H36M16 head bone.
3. **RT** (rotation, translation): the BL pose is rotated about its root by ``rotation``:

   - ``"any"`` (PoseAug): axis-angle ``ω = tanh(·) * rotation_limit`` (each component in
     ``(-π, π)``), any axis, so an upright source can come out lying or upside down.
   - ``"upright"``: a turn by ``yaw = tanh(·) * rotation_limit`` about the camera's vertical
     axis ``y``, then a tilt by the axis-angle ``(tanh(·), 0, tanh(·)) * tilt_limit`` about an
     axis in the camera's x-z plane (at most ``√2 * tilt_limit``, 28° at the default 20°): the
     same person seen from any azimuth and a slightly different camera elevation and roll. The
     turn keeps every joint's height along ``y`` relative to the root, so the torso's angle
     from image-up changes by at most the tilt: an upright source stays upright, an inverted
     one (a handstand) stays inverted. Both matrices come from
     :func:`geometry.axis_angle_to_matrix`, smooth and finite at angle 0.

   The root is then placed at ``t`` (camera frame, metres), from the translation MLP's raw
   output ``a``, by ``translation``:

   - ``"bounded"`` (a departure from PoseAug): ``tz = depth_prior * exp(L tanh(a_z /
     L))`` (``L = depth_log_range``; 5 m * e^±1.5 = 1.1..22 m, always positive), and ``(tx,
     ty) = view_limit * tanh(a_xy) * tz``, i.e. the root lies inside a viewing cone of
     half-angle ``atan(view_limit)`` (0.5 ≈ 27°, a bit wider than Human3.6M's half field of
     view) at any depth. Meant for a 2D discriminator that sees root-relative KCS, not
     absolute image positions (CameraPose's), which cannot keep fakes in view. Nothing ties
     the depth to the source: trained, the fakes drift to the far end of the range.
   - ``"poseaug"`` (PoseAug's ``RTGenerator``): ``t = (a_x, a_y, a_z²)``, unbounded; the depth
     can reach 0 (PoseAug projects generated poses with ``X/Z`` clipped to ``[-1, 1]``:
     ``geometry.project(..., clip_xy=1.0)``) and only its raw-coordinate 2D discriminator and
     the feedback loss keep the root in view. ``depth_prior``, ``depth_log_range`` and
     ``view_limit`` are unused.
   - ``"source"``: relative to the SOURCE pose's own root ``r`` (the input must be absolute,
     ``r_z > 0``): ``tz = r_z * exp(L tanh(a_z / L))`` (``L = source_log_range``; 0.4: the
     fake is 0.67..1.5 times as far as its source, so its 2D size stays within 1.5x of a
     real one), and the root's ray ``(tx, ty) / tz = (r_x, r_y) / r_z + source_shift *
     tanh(a_xy)`` (0.1: about 6° from the source's ray, inside a field of view that held the
     source). A camera that saw the source sees the fake, at a size it could have recorded.

   ``rotation="upright"`` with ``translation="source"`` keeps fakes where a camera like the
   source's could see them, at a plausible size and the right way up, so nearly all are
   usable as augmented pairs; the generator's freedom goes into the pose, the body and the
   azimuth.

Every MLP has PoseAug's shape: ``in -> Dense(256)-BN-LReLU -> num_blocks x
[2 x (Dense(256)-BN-LReLU)] (no skip) -> Dense(out)``, LeakyReLU slope 0.01, Kaiming init, and
conditions on the ORIGINAL root-relative pose plus 48-dim N(0, 1) noise drawn from the
``"noise"`` rng stream (a fresh draw per MLP). BA's input is pose + noise (``3J + 48``), BL's is
pose + bone lengths + noise (``3J + (J-1) + 48``), RT has two MLPs (rotation, translation), each
``3J + 48``. For H36M16 the counts are BA 302,125, BL 296,713, RT 582,662 parameters (1,181,500
in all; PoseAug's 0.302 / 0.297 / 0.583 / 1.18 M).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax import geometry
from cpose_jax.models.layers import (
    DenseBlock,
    flatten_prefix,
    kaiming_normal,
    leaky_relu,
    positive_around,
)
from cpose_jax.skeleton import Skeleton, get_skeleton

Array = jax.Array

_BL_GROUPS: tuple[tuple[str, ...], ...] = (
    ("RHip", "LHip"),
    ("RKnee", "LKnee"),
    ("RFoot", "LFoot"),
    ("Spine",),
    ("Thorax",),
    (),  # head: every bone of Skeleton.chain_bones('Thorax', 'Head')
    ("LShoulder", "RShoulder"),
    ("LElbow", "RElbow"),
    ("LWrist", "RWrist"),
)
_FIXED_RATIO_GROUP = 4  # Spine->Thorax, masked to 0 in PoseAug's BL
_HEAD_GROUP = 5
NUM_BL_RATIOS = len(_BL_GROUPS)
TRANSLATIONS = ("bounded", "poseaug", "source")
ROTATIONS = ("any", "upright")


def resolve_skeleton(skeleton: str | Skeleton) -> Skeleton:
    """A ``Skeleton`` or its registered name (``'h36m17'``, ``'h36m16'``) -> ``Skeleton``."""
    return get_skeleton(skeleton) if isinstance(skeleton, str) else skeleton


def torso_bones(skel: Skeleton) -> tuple[int, int]:
    """Bone indices of Hip->Spine and Spine->Thorax, the bones BA keeps fixed."""
    return skel.bone_index("Spine"), skel.bone_index("Thorax")


def bl_ratio_groups(skel: Skeleton) -> tuple[int, ...]:
    """For each bone, the index (0..8) of its BL ratio; see the module docstring.

    Raises ``ValueError`` if the skeleton has a bone outside the 9 PoseAug groups.
    """
    group = [-1] * skel.num_bones
    for g, names in enumerate(_BL_GROUPS):
        for name in names:
            group[skel.bone_index(name)] = g
    for bone in skel.chain_bones("Thorax", "Head"):
        group[bone] = _HEAD_GROUP
    if -1 in group:
        missing = [skel.joint_names[k + 1] for k, g in enumerate(group) if g < 0]
        raise ValueError(f"{skel.name}: no bone-length group for bones ending at {missing}")
    return tuple(group)


def upright_rotation(angles: Array) -> Array:
    """``(..., 3)`` (tilt about x, yaw about y, tilt about z), radians -> ``(..., 3, 3)``: the
    turn by ``yaw`` about the camera's y axis, then the tilt by the axis-angle ``(tilt_x, 0,
    tilt_z)`` (``"upright"`` in the module docstring). Rotates column vectors."""
    zero = jnp.zeros_like(angles[..., :1])
    turn = geometry.axis_angle_to_matrix(jnp.concatenate([zero, angles[..., 1:2], zero], -1))
    tilt = geometry.axis_angle_to_matrix(
        jnp.concatenate([angles[..., :1], zero, angles[..., 2:]], -1)
    )
    return tilt @ turn


class GeneratorOutput(NamedTuple):
    """Everything the generator's losses need. Poses are camera frame, metres.

    ba, bl, rt: ``(..., J, 3)`` poses after each stage (ba and bl keep the input's root, rt has
    its root at ``translation``). ba_diff: ``(..., J-1)`` ``1 - cos`` per bone (0 for the torso
    bones). bl_ratios: ``(..., 9)`` the 9 ratios in ``[-bl_limit, bl_limit]``. bone_ratios:
    ``(..., J-1)`` those ratios spread over the bones. rotation: ``(..., 3)`` axis-angle (rad).
    rotation_matrix: ``(..., 3, 3)``. translation: ``(..., 3)`` root position, metres.
    """

    ba: Array
    bl: Array
    rt: Array
    ba_diff: Array
    bl_ratios: Array
    bone_ratios: Array
    rotation: Array
    rotation_matrix: Array
    translation: Array


class _GeneratorMLP(nn.Module):
    """PoseAug generator MLP with noise: ``[x, z] -> ... -> Dense(out_features)``."""

    out_features: int
    features: int = 256
    num_blocks: int = 2
    noise_dim: int = 48
    head_init_scale: float = 1.0  # the head's Kaiming kernel is multiplied by this at init

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        noise = jax.random.normal(self.make_rng("noise"), (*x.shape[:-1], self.noise_dim), x.dtype)
        h = jnp.concatenate([x, noise], axis=-1)
        h = DenseBlock(self.features, activation=leaky_relu)(h, train=train)
        for _ in range(self.num_blocks):
            for _ in range(2):
                h = DenseBlock(self.features, activation=leaky_relu)(h, train=train)
        scale = self.head_init_scale

        def head_init(key, shape, dtype=jnp.float32):
            return kaiming_normal(key, shape, dtype) * scale

        return nn.Dense(self.out_features, kernel_init=head_init, name="head")(h)


class PoseGenerator(nn.Module):
    """PoseAug generator ``pose (..., J, 3) -> GeneratorOutput`` (see the module docstring).

    ``pose_3d`` is a camera-frame pose in metres, absolute or root-relative (absolute, in
    front of the camera, for ``translation="source"``). Needs the ``"noise"``
    rng stream in every call (``rngs={"noise": key}``), and ``mutable=["batch_stats"]`` when
    ``train=True``.
    """

    skeleton: str | Skeleton = "h36m17"  # a Skeleton or its name
    features: int = 256
    num_blocks: int = 2
    noise_dim: int = 48
    bl_limit: float = 0.2
    rotation_limit: float = math.pi
    depth_prior: float = 5.0
    depth_log_range: float = 1.5
    view_limit: float = 0.5
    translation: str = "bounded"  # one of TRANSLATIONS (see the module docstring)
    rotation: str = "any"  # one of ROTATIONS
    tilt_limit: float = math.radians(20.0)  # "upright": per tilt component, radians
    source_log_range: float = 0.4  # "source": log of the largest depth factor
    source_shift: float = 0.1  # "source": largest change of the root's ray (X/Z, Y/Z)
    # BA's last layer is multiplied by this at init: 0 = the first fakes keep the source's bone
    # directions (and widen as the generator learns); 1 = PoseAug's Kaiming init, whose
    # offsets turn the bones by tens of degrees from the first step.
    ba_init_scale: float = 1.0

    @nn.compact
    def __call__(self, pose_3d: Array, *, train: bool) -> GeneratorOutput:
        if self.translation not in TRANSLATIONS:
            raise ValueError(f"translation must be one of {TRANSLATIONS}, got {self.translation!r}")
        if self.rotation not in ROTATIONS:
            raise ValueError(f"rotation must be one of {ROTATIONS}, got {self.rotation!r}")
        skel = resolve_skeleton(self.skeleton)
        j, k = skel.num_joints, skel.num_bones
        if pose_3d.shape[-2:] != (j, 3):
            raise ValueError(
                f"PoseGenerator({skel.name}) expects (..., {j}, 3), got {pose_3d.shape}"
            )
        flat, prefix = flatten_prefix(pose_3d, 2)
        pose = flat.reshape((-1, j, 3))
        root = pose[:, :1, :]
        rel = pose - root
        rel_flat = rel.reshape((-1, j * 3))
        mlp = dict(features=self.features, num_blocks=self.num_blocks, noise_dim=self.noise_dim)

        # BA: bone directions change, lengths and torso bones stay.
        b = geometry.bones(rel, skel)
        lengths = geometry.bone_lengths(b)
        u = geometry.unit_bones(b)
        ba = _GeneratorMLP(k * 3, name="ba", head_init_scale=self.ba_init_scale, **mlp)
        delta = ba(rel_flat, train=train).reshape((-1, k, 3))
        u_new = geometry.unit_bones(u + delta)
        fixed = np.zeros((k,), bool)
        fixed[list(torso_bones(skel))] = True
        u_new = jnp.where(fixed[:, None], u, u_new)
        ba_diff = 1.0 - jnp.sum(u_new * u, axis=-1)
        ba_diff = jnp.where(fixed, 0.0, ba_diff)
        pose_ba = geometry.joints_from_bones(u_new * lengths[..., None], skel, root=root[:, 0])

        # BL: 9 symmetric length ratios on the BA pose's bones.
        bl_in = jnp.concatenate([rel_flat, lengths], axis=-1)
        raw = _GeneratorMLP(NUM_BL_RATIOS, name="bl", **mlp)(bl_in, train=train)
        raw = raw.at[:, _FIXED_RATIO_GROUP].set(0.0)
        ratios = jnp.tanh(raw) * self.bl_limit
        bone_ratios = ratios[:, np.asarray(bl_ratio_groups(skel))]
        b_ba = geometry.bones(pose_ba, skel)
        pose_bl = geometry.joints_from_bones(
            b_ba * (1.0 + bone_ratios)[..., None], skel, root=root[:, 0]
        )

        # RT: rotate about the root, put the root at t.
        rotation = jnp.tanh(_GeneratorMLP(3, name="rt_rotation", **mlp)(rel_flat, train=train))
        if self.rotation == "upright":
            rotation = rotation * jnp.asarray(
                [self.tilt_limit, self.rotation_limit, self.tilt_limit]
            )
            rot_m = upright_rotation(rotation)
        else:
            rotation = rotation * self.rotation_limit
            rot_m = geometry.axis_angle_to_matrix(rotation)
        a = _GeneratorMLP(3, name="rt_translation", **mlp)(rel_flat, train=train)
        if self.translation == "poseaug":
            translation = jnp.concatenate([a[:, :2], jnp.square(a[:, 2:3])], axis=-1)
        elif self.translation == "source":
            src = root[:, 0]
            tz = src[:, 2:] * jnp.exp(
                self.source_log_range * jnp.tanh(a[:, 2:3] / self.source_log_range)
            )
            ray = src[:, :2] / src[:, 2:] + self.source_shift * jnp.tanh(a[:, :2])
            translation = jnp.concatenate([ray * tz, tz], axis=-1)
        else:
            tz = positive_around(a[:, 2:3], self.depth_prior, log_range=self.depth_log_range)
            translation = jnp.concatenate([self.view_limit * jnp.tanh(a[:, :2]) * tz, tz], axis=-1)
        centred = pose_bl - pose_bl[:, :1, :]
        pose_rt = jnp.einsum("nab,njb->nja", rot_m, centred) + translation[:, None, :]

        def un(x: Array) -> Array:
            return x.reshape(prefix + x.shape[1:])

        return GeneratorOutput(
            ba=un(pose_ba),
            bl=un(pose_bl),
            rt=un(pose_rt),
            ba_diff=un(ba_diff),
            bl_ratios=un(ratios),
            bone_ratios=un(bone_ratios),
            rotation=un(rotation),
            rotation_matrix=un(rot_m),
            translation=un(translation),
        )
