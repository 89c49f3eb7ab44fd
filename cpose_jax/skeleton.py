"""Skeletons as data: joint names, kinematic tree, left/right flip and PoseAug body parts.

A :class:`Skeleton` is a frozen, hashable dataclass, so it can be passed as a static argument to
``jax.jit`` and closed over freely. Every index that a function needs (parents, flip permutation,
bone groups, joint subsets) is derived here from joint *names*, never hard-coded elsewhere.

Conventions (docs/design.md):

* Joint ``j`` has parent ``parents[j]``; the root (joint 0) has parent ``-1`` and every parent
  index is smaller than its child's, so one pass in index order visits parents first.
* Bone ``k`` joins ``parents[k + 1] -> k + 1`` and points from parent to child
  (``X[k + 1] - X[parents[k + 1]]``). PoseAug's code stores the opposite sign; bone *groups*
  and KCS (``B Bᵀ``) do not depend on the sign.
* Human3.6M 17 joints in VideoPose3D order, right side at 1-3 and 14-16 (mmhuman3d and SPIN put
  the left side there; ``tests/test_skeleton.py`` pins ours by name).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

__all__ = [
    "H36M16",
    "H36M17",
    "HARDNESS_JOINT_GROUPS",
    "HARDNESS_JOINT_WEIGHTS",
    "JOINTS_3DHP14",
    "PART_NAMES",
    "Skeleton",
    "get_skeleton",
]

# The five body parts of PoseAug's part-aware KCS discriminator (`Pos3dDiscriminator`), in the
# order of its ``kcs_path_1..5``. Each part is a union of kinematic *chains*, written as
# (ancestor, descendant) joint names; the part holds every bone on the path between them. Chains
# make the parts exist for any skeleton that keeps the named joints: on H36M16 the torso's
# Thorax->Head chain is the single bone Thorax-Head, on H36M17 it is the two-bone neck chain
# Thorax-Neck/Nose-Head (both bones belong to the torso part, as the one bone does on H36M16).
# PoseAug's code calls parts 3 and 4 "left leg" / "right leg" although part 3 holds the H36M
# *right* leg (joints 1-3); we name them by the joints they hold.
_PART_CHAINS: dict[str, tuple[tuple[str, str], ...]] = {
    # PoseAug bones [7, 9, 10, 11]: Spine-Thorax and the left arm from the thorax.
    "left_arm": (("Spine", "LWrist"),),
    # PoseAug bones [7, 12, 13, 14].
    "right_arm": (("Spine", "RWrist"),),
    # PoseAug bones [0, 1, 2, 3, 6]: right leg, the left hip bone and Hip-Spine.
    "right_leg": (("Hip", "RFoot"), ("Hip", "LHip"), ("Hip", "Spine")),
    # PoseAug bones [0, 3, 4, 5, 6].
    "left_leg": (("Hip", "LFoot"), ("Hip", "RHip"), ("Hip", "Spine")),
    # PoseAug bones [0, 3, 6, 7, 8, 9, 12]: both hip bones, the spine, the neck chain to the head
    # and both shoulder bones.
    "torso": (
        ("Hip", "RHip"),
        ("Hip", "LHip"),
        ("Hip", "Thorax"),
        ("Thorax", "Head"),
        ("Thorax", "LShoulder"),
        ("Thorax", "RShoulder"),
    ),
}
PART_NAMES: tuple[str, ...] = tuple(_PART_CHAINS)

# The 14 joints of the MPI-INF-3DHP PCK/AUC evaluation as used by the lifting literature
# (the official 17 test joints minus pelvis, spine and head), by H36M name. The 3DHP test joint
# head_top maps to H36M "Head", neck to "Thorax" and head to "Neck/Nose".
JOINTS_3DHP14: tuple[str, ...] = (
    "Head",
    "Thorax",
    "RShoulder",
    "RElbow",
    "RWrist",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RHip",
    "RKnee",
    "RFoot",
    "LHip",
    "LKnee",
    "LFoot",
)

# PoseAug feedback ("hardness") loss (`model_gan_train.py`): per-joint error weights and the
# three joint groups whose mean errors give the hardness ratio. By name; joints not listed (e.g.
# Neck/Nose on H36M17) weigh 1 and belong to no group.
HARDNESS_JOINT_WEIGHTS: dict[str, float] = {
    "RHip": 5.0,
    "RKnee": 2.0,
    "LHip": 5.0,
    "LKnee": 2.0,
    "LShoulder": 5.0,
    "LElbow": 2.0,
    "RShoulder": 5.0,
    "RElbow": 2.0,
}
HARDNESS_JOINT_GROUPS: tuple[tuple[str, ...], ...] = (
    ("RHip", "LHip", "LShoulder", "RShoulder"),  # hips and shoulders
    ("RKnee", "LKnee", "Head", "LElbow", "RElbow"),  # knees, head, elbows
    ("RFoot", "LFoot", "LWrist", "RWrist"),  # feet and wrists
)


def _mirror_name(name: str) -> str:
    """'LKnee' <-> 'RKnee'; names without an L/R side prefix map to themselves."""
    if len(name) > 1 and name[0] in "LR" and name[1].isupper():
        return {"L": "R", "R": "L"}[name[0]] + name[1:]
    return name


@dataclasses.dataclass(frozen=True)
class Skeleton:
    """A kinematic tree of named joints. Hashable and immutable: static under ``jax.jit``.

    Attributes:
      name: short identifier, e.g. ``'h36m17'``.
      joint_names: ``J`` joint names; side prefix ``L``/``R`` marks left/right joints.
      parents: ``J`` parent indices, ``-1`` for the root (joint 0), each parent before its child.
      flip_perm: ``J`` indices; ``x[..., flip_perm, :]`` swaps left and right joints.
    """

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    flip_perm: tuple[int, ...]

    def __post_init__(self):
        j = len(self.joint_names)
        if len(self.parents) != j or len(self.flip_perm) != j:
            raise ValueError(
                f"Skeleton {self.name!r}: {j} joint names, {len(self.parents)} parents, "
                f"{len(self.flip_perm)} flip indices; all must match"
            )
        if len(set(self.joint_names)) != j:
            raise ValueError(f"Skeleton {self.name!r}: duplicate joint names {self.joint_names}")
        if j < 2 or self.parents[0] != -1 or any(not 0 <= p < c for c, p in self._child_parent()):
            raise ValueError(
                f"Skeleton {self.name!r}: parents {self.parents} must start with -1 and list "
                "each parent before its child"
            )
        if sorted(self.flip_perm) != list(range(j)) or any(
            self.flip_perm[self.flip_perm[i]] != i for i in range(j)
        ):
            raise ValueError(
                f"Skeleton {self.name!r}: flip_perm {self.flip_perm} is not an involution"
            )

    def _child_parent(self):
        return ((c, self.parents[c]) for c in range(1, len(self.parents)))

    @classmethod
    def from_names(cls, name: str, joint_names: Iterable[str], parents: Iterable[int]) -> Skeleton:
        """Builds a skeleton whose flip permutation pairs ``L*`` with ``R*`` joint names."""
        joint_names, parents = tuple(joint_names), tuple(int(p) for p in parents)
        index = {n: i for i, n in enumerate(joint_names)}
        flip = tuple(index.get(_mirror_name(n), i) for i, n in enumerate(joint_names))
        return cls(name=name, joint_names=joint_names, parents=parents, flip_perm=flip)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def num_bones(self) -> int:
        return len(self.joint_names) - 1

    @property
    def bone_pairs(self) -> tuple[tuple[int, int], ...]:
        """``(parent, child)`` joint indices of bone ``k`` (child ``k + 1``), ``J - 1`` pairs."""
        return tuple((p, c) for c, p in self._child_parent())

    @property
    def bone_names(self) -> tuple[str, ...]:
        """``'Parent-Child'`` names of the ``J - 1`` bones, e.g. ``'RHip-RKnee'``."""
        return tuple(f"{self.joint_names[p]}-{self.joint_names[c]}" for p, c in self.bone_pairs)

    def joint_index(self, name: str) -> int:
        """Index of the joint called ``name``; ``ValueError`` if the skeleton has none."""
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise ValueError(
                f"Skeleton {self.name!r} has no joint {name!r}; joints are {self.joint_names}"
            ) from None

    def bone_index(self, child_name: str) -> int:
        """Index of the bone ending at joint ``child_name`` (``joint_index - 1``)."""
        j = self.joint_index(child_name)
        if j == 0:
            raise ValueError(f"The root {child_name!r} ends no bone")
        return j - 1

    def subset(self, names: Iterable[str]) -> tuple[int, ...]:
        """Joint indices of ``names`` in the order given (e.g. ``subset(JOINTS_3DHP14)``)."""
        return tuple(self.joint_index(n) for n in names)

    def chain_bones(self, ancestor: str, descendant: str) -> tuple[int, ...]:
        """Bone indices on the kinematic path ``ancestor -> descendant``, root side first."""
        top, j = self.joint_index(ancestor), self.joint_index(descendant)
        path = []
        while j != top:
            if j <= 0:
                raise ValueError(
                    f"{ancestor!r} is not an ancestor of {descendant!r} in {self.name}"
                )
            path.append(j - 1)
            j = self.parents[j]
        return tuple(reversed(path))

    @property
    def part_bones(self) -> dict[str, tuple[int, ...]]:
        """PoseAug's five body parts (``PART_NAMES`` order) -> sorted bone indices.

        Defined by joint names (see ``_PART_CHAINS``), so the same parts exist on H36M16 (where
        they equal PoseAug's hard-coded lists) and H36M17 (where the torso also holds the
        Thorax-Neck/Nose bone, i.e. the whole neck chain to the head).
        """
        return {
            part: tuple(sorted({k for a, d in chains for k in self.chain_bones(a, d)}))
            for part, chains in _PART_CHAINS.items()
        }

    @property
    def left_joints(self) -> tuple[int, ...]:
        return tuple(
            i for i, n in enumerate(self.joint_names) if _mirror_name(n) != n and n[0] == "L"
        )

    @property
    def right_joints(self) -> tuple[int, ...]:
        return tuple(
            i for i, n in enumerate(self.joint_names) if _mirror_name(n) != n and n[0] == "R"
        )


_H36M17_NAMES = (
    "Hip",
    "RHip",
    "RKnee",
    "RFoot",
    "LHip",
    "LKnee",
    "LFoot",
    "Spine",
    "Thorax",
    "Neck/Nose",
    "Head",
    "LShoulder",
    "LElbow",
    "LWrist",
    "RShoulder",
    "RElbow",
    "RWrist",
)

#: Human3.6M, 17 joints in VideoPose3D order; root 0 = Hip (pelvis).
H36M17 = Skeleton.from_names(
    "h36m17", _H36M17_NAMES, (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15)
)
#: Human3.6M, 16 joints (PoseAug / SemGCN): H36M17 without Neck/Nose, Head's parent is Thorax.
H36M16 = Skeleton.from_names(
    "h36m16",
    tuple(n for n in _H36M17_NAMES if n != "Neck/Nose"),
    (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 8, 10, 11, 8, 13, 14),
)

_SKELETONS = {s.name: s for s in (H36M17, H36M16)}


def get_skeleton(name: str) -> Skeleton:
    """The built-in skeleton called ``name`` (``'h36m17'`` or ``'h36m16'``)."""
    try:
        return _SKELETONS[name]
    except KeyError:
        raise ValueError(f"Unknown skeleton {name!r}; known: {sorted(_SKELETONS)}") from None
