"""Pose discriminators on part-aware KCS (PoseAug; CameraPose paper §3.3, Eq. 12-15).

Kinematic Chain Space (Wandt & Rosenhahn): for bones ``B (K, d)`` the Gram matrix ``B B^T``
``(K, K)``; part-aware KCS (PoseAug) zeroes the bones outside each of the 5 body parts first
(``cpose_jax.geometry.part_kcs``, parts from ``Skeleton.part_bones``), giving ``(5, K, K)``.
Each part's flattened ``K*K`` matrix goes through its own :class:`KCSPath` and gives one
score, so both KCS discriminators return ``(..., 5)`` unbounded LS-GAN scores (no sigmoid).
A part's matrix is zero outside its bones' block and symmetric, so each path is given only the
upper triangle of that block and its first layer skips the other kernel rows: the same scores
and parameters as on the full matrix from far fewer inputs (on H36M17 the five paths read 86
of the 5 x 256 matrix entries).

KCS is built from bones (child minus parent), so it is translation invariant; a Gram matrix is
also invariant to rotations and reflections of the whole pose, so these discriminators judge
the pose's internal angles (and, in 2D, relative foreshortening), never its orientation.
"""

from __future__ import annotations

import dataclasses

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from cpose_jax import geometry
from cpose_jax.models.generator import resolve_skeleton
from cpose_jax.models.layers import flatten_prefix, kaiming_normal, leaky_relu
from cpose_jax.skeleton import PART_NAMES, Skeleton

Array = jax.Array

INPUT_KINDS = ("kcs", "raw")


def _dense(features: int, name: str | None = None) -> nn.Dense:
    return nn.Dense(features, kernel_init=kaiming_normal, name=name)


@dataclasses.dataclass(frozen=True)
class KCSEntries:
    """Which entries of a flattened symmetric ``(K, K)`` matrix a :class:`KCSPath` is given.

    Entry ``c`` of the input is the matrix's ``[i_c, j_c]`` with ``i_c <= j_c``: ``upper[c] =
    i_c K + j_c`` and ``lower[c] = j_c K + i_c`` index the flattened matrix, and every entry
    not listed is zero. For one body part's KCS these are the upper triangle of its bones' block
    (:func:`part_kcs_entries`).
    """

    size: int  # K * K, the flattened matrix
    upper: tuple[int, ...]
    lower: tuple[int, ...]


def part_kcs_entries(skeleton: Skeleton) -> list[tuple[tuple[int, ...], KCSEntries]]:
    """Per body part (``PART_NAMES`` order): its bone indices and the :class:`KCSEntries` of the
    upper triangle of its block of the part-aware KCS (``geometry.part_kcs``), whose other
    entries are zero."""
    k = skeleton.num_bones
    out = []
    for name in PART_NAMES:
        bones = np.asarray(skeleton.part_bones[name])
        iu, ju = np.triu_indices(len(bones))
        upper = tuple(int(v) for v in bones[iu] * k + bones[ju])
        lower = tuple(int(v) for v in bones[ju] * k + bones[iu])
        out.append((tuple(int(v) for v in bones), KCSEntries(k * k, upper, lower)))
    return out


class _EntriesDense(nn.Module):
    """``nn.Dense(features)`` on a flattened symmetric matrix given by some of its entries
    (:class:`KCSEntries`; the rest are zero). The parameters are nn.Dense's (kernel
    ``(K*K, features)``, bias), and the output is the same: the kernel rows of the zero entries
    are skipped, and the two rows of an off-diagonal entry (it appears twice in the matrix)
    are added before the product."""

    features: int
    entries: KCSEntries

    @nn.compact
    def __call__(self, x: Array) -> Array:
        e = self.entries
        kernel = self.param("kernel", kaiming_normal, (e.size, self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        upper, lower = np.asarray(e.upper), np.asarray(e.lower)
        off = np.flatnonzero(upper != lower)
        w = kernel[upper].at[off].add(kernel[lower[off]])
        return x @ w + bias


class KCSPath(nn.Module):
    """PoseAug's per-part ``KCSpath`` on ``(N, K*K)`` -> ``(N, 1)``; no BatchNorm.

    ``ψ = LReLU(Dense(C)(x))``; ``d = Dense(C)(LReLU(Dense(C)(ψ))) + ψ`` (no activation after the
    add); ``out = Dense(1)(LReLU(Dense(mid)(d)))``. ``C = features`` (256), ``mid`` = 100.

    With ``entries`` (:class:`KCSEntries`) the input is ``(N, len(entries.upper))``: only the
    entries of the flattened symmetric matrix that can be nonzero. The result and the
    parameters are those of the ``(N, K*K)`` call on the full matrix; the first layer does a
    fraction of the work (a body part's KCS block: 10-36 of 256 entries).
    """

    features: int = 256
    mid_features: int = 100

    @nn.compact
    def __call__(self, x: Array, entries: KCSEntries | None = None) -> Array:
        if entries is None:
            first = _dense(self.features, name="Dense_0")
        else:
            first = _EntriesDense(self.features, entries, name="Dense_0")
        psi = leaky_relu(first(x))
        d = leaky_relu(_dense(self.features, name="Dense_1")(psi))
        d = _dense(self.features, name="Dense_2")(d) + psi
        y = leaky_relu(_dense(self.mid_features, name="Dense_3")(d))
        return _dense(1, name="Dense_4")(y)


class _PartKCSHead(nn.Module):
    """Bones ``(N, K, D)`` -> ``(N, P)`` scores: the part-aware KCS (``geometry.part_kcs``),
    one KCSPath per part. Each path is given only the upper triangle of its part's block
    (:func:`part_kcs_entries`): the same scores as the full ``(K, K)`` matrices."""

    skeleton: Skeleton
    features: int
    mid_features: int

    @nn.compact
    def __call__(self, b: Array) -> Array:
        scores = []
        for i, (bones, entries) in enumerate(part_kcs_entries(self.skeleton)):
            block = geometry.kcs(b[:, bones])  # (N, k, k): the part's nonzero block
            iu, ju = np.triu_indices(len(bones))
            path = KCSPath(self.features, self.mid_features, name=f"part_{i}")
            scores.append(path(block[:, iu, ju], entries))
        return jnp.concatenate(scores, axis=-1)


class Discriminator3D(nn.Module):
    """PoseAug's ``Pos3dDiscriminator``: ``pose_3d (..., J, 3)`` -> ``(..., 5)`` part scores.

    Bones are replaced by unit vectors before the part-aware KCS, so the score depends on bone
    directions only: invariant to translation, to any per-bone length change and to global scale
    (bone lengths are judged nowhere; PoseAug's design). Part order is ``Skeleton.part_bones``'s.
    H36M16: 5 x 215,241 = 1,076,205 parameters (PoseAug's ≈ 1.08 M). ``train`` is accepted
    for a uniform interface; there is no BatchNorm or dropout.
    """

    skeleton: str | Skeleton = "h36m17"  # a Skeleton or its name
    features: int = 256
    mid_features: int = 100

    @nn.compact
    def __call__(self, pose_3d: Array, *, train: bool) -> Array:
        del train
        skel = resolve_skeleton(self.skeleton)
        if pose_3d.shape[-2:] != (skel.num_joints, 3):
            raise ValueError(
                f"Discriminator3D({skel.name}) expects (..., {skel.num_joints}, 3), "
                f"got {pose_3d.shape}"
            )
        flat, prefix = flatten_prefix(pose_3d, 2)
        pose = flat.reshape((-1, skel.num_joints, 3))
        u = geometry.unit_bones(geometry.bones(pose, skel))
        scores = _PartKCSHead(skel, self.features, self.mid_features)(u)
        return scores.reshape((*prefix, scores.shape[-1]))


def skipped_kernel_size(module: nn.Module) -> int:
    """Kernel entries of a network's Dense layers that its forward pass never multiplies: in a
    KCS discriminator, the first-layer kernel rows of the part-KCS entries that are always zero
    or repeat another (:class:`KCSEntries`); 0 for any other network. A forward pass does
    ``2 * (kernel size - this)`` FLOPs per sample in its Dense layers."""
    if isinstance(module, Discriminator2D) and module.input_kind == "kcs":
        features = module.width
    elif isinstance(module, Discriminator3D):
        features = module.features
    else:
        return 0
    parts = part_kcs_entries(resolve_skeleton(module.skeleton))
    return sum((e.size - len(e.upper)) * features for _, e in parts)


class Discriminator2D(nn.Module):
    """2D pose discriminator: ``keypoints_2d (..., J, 2)`` (normalized screen coords) -> scores.

    ``input_kind="kcs"`` (default, the CameraPose paper's version): part-aware KCS of the 2D
    bones -> 5 KCSPaths -> ``(..., 5)``, the same layout as :class:`Discriminator3D`. The 2D bones
    keep their lengths (foreshortening is what makes a 2D pose plausible or not) but are divided
    by the pose's RMS bone length when ``normalize_scale`` (default): the person's size in the
    image depends on camera distance and focal length, which differ between datasets (H36M vs
    MPII), and would otherwise be a trivial real/fake cue working against the reprojection
    loss. Bones make it translation invariant; the Gram matrix makes it blind to in-plane
    rotation and mirroring. Default widths 256/100; H36M16: 1,076,205 parameters.

    ``input_kind="raw"``: PoseAug's ``Pos2dDiscriminator`` baseline, an MLP on the raw ``2J``
    coordinates (absolute image position visible), ``(..., 1)``:
    ``d1 = LReLU(L(2J->C))``, ``d2 = LReLU(L(d1))``, ``d3 = LReLU(L(d2) + d1)``, ``d4 = L(d3)``,
    ``out = L(1)(LReLU(L(d4)))`` with ``C = features`` (default 100). H36M16: 43,801
    parameters (PoseAug's ≈ 0.044 M). ``mid_features`` is unused there.
    """

    skeleton: str | Skeleton = "h36m17"  # a Skeleton or its name
    input_kind: str = "kcs"
    features: int | None = None  # None: 256 for "kcs", 100 for "raw"
    mid_features: int = 100
    normalize_scale: bool = True

    @property
    def width(self) -> int:
        """The hidden width: ``features``, or its default for ``input_kind``."""
        return self.features or (256 if self.input_kind == "kcs" else 100)

    @nn.compact
    def __call__(self, keypoints_2d: Array, *, train: bool) -> Array:
        del train
        skel = resolve_skeleton(self.skeleton)
        j = skel.num_joints
        if keypoints_2d.shape[-2:] != (j, 2):
            raise ValueError(
                f"Discriminator2D({skel.name}) expects (..., {j}, 2), got {keypoints_2d.shape}"
            )
        if self.input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {self.input_kind!r}")
        flat, prefix = flatten_prefix(keypoints_2d, 2)
        if self.input_kind == "raw":
            c = self.width
            d1 = leaky_relu(_dense(c)(flat))
            d2 = leaky_relu(_dense(c)(d1))
            d3 = leaky_relu(_dense(c)(d2) + d1)
            d4 = _dense(c)(d3)
            scores = _dense(1)(leaky_relu(_dense(c)(d4)))
        else:
            b = geometry.bones(flat.reshape((-1, j, 2)), skel)
            if self.normalize_scale:
                rms = jnp.sqrt(jnp.mean(jnp.sum(b * b, axis=-1), axis=-1) + 1e-8)
                b = b / rms[:, None, None]
            scores = _PartKCSHead(skel, self.width, self.mid_features)(b)
        return scores.reshape((*prefix, scores.shape[-1]))
