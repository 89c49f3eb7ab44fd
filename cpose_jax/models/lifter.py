"""2D-to-3D lifting networks: Martinez et al. and single-frame VideoPose3D.

Both map ``keypoints_2d (..., J, 2)`` (normalized screen coordinates, not root-centred, as in
PoseAug/VideoPose3D) to a root-relative 3D pose ``(..., J, 3)`` in metres, camera frame. They
predict the ``J - 1`` non-root joints and insert an exact zero for the root (joint 0), as the
reference code does: the root is 0 by construction, and the output layer has ``(J-1)*3`` units
(which the reference parameter counts include).

``input_norm="root_scale"`` (our ablation, not the paper's) feeds the network
:func:`cpose_jax.geometry.scale_normalize_2d` of its input instead, root-centred and divided
by the 2D size: the lifter cannot read the person's apparent size (which in one image mixes
body size with depth), so only the camera branch can explain where and how large the person
looks.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

from cpose_jax.geometry import scale_normalize_2d
from cpose_jax.models.layers import DenseBlock, ResidualBlock, flatten_prefix, kaiming_normal

Array = jax.Array


def _check_input(name: str, keypoints_2d: Array, num_joints: int) -> None:
    if keypoints_2d.shape[-2:] != (num_joints, 2):
        raise ValueError(
            f"{name}(num_joints={num_joints}) expects (..., {num_joints}, 2), "
            f"got {keypoints_2d.shape}"
        )


INPUT_NORMS = ("none", "root_scale")


def _lifter_input(name: str, keypoints_2d: Array, num_joints: int, input_norm: str) -> Array:
    _check_input(name, keypoints_2d, num_joints)
    if input_norm == "none":
        return keypoints_2d
    if input_norm == "root_scale":
        return scale_normalize_2d(keypoints_2d)
    raise ValueError(f"{name}: input_norm must be one of {INPUT_NORMS}, got {input_norm!r}")


def _pad_root(h: Array, prefix: tuple[int, ...], num_joints: int) -> Array:
    """``(N, (J-1)*3)`` -> ``prefix + (J, 3)`` with joint 0 exactly zero."""
    out = h.reshape((*prefix, num_joints - 1, 3))
    root = jnp.zeros((*prefix, 1, 3), out.dtype)
    return jnp.concatenate([root, out], axis=-2)


class _ResidualLifter(nn.Module):
    """The network both lifters are (their docstrings give the layers). A subclass sets whether
    the hidden Dense layers have a bias and the name of the output layer (as in its reference
    code's parameter names)."""

    num_joints: int
    features: int = 1024
    num_blocks: int = 2
    dropout: float = 0.25
    input_norm: str = "none"

    use_bias: ClassVar[bool] = True
    output_name: ClassVar[str] = "out"

    @nn.compact
    def __call__(self, keypoints_2d: Array, *, train: bool) -> Array:
        x = _lifter_input(type(self).__name__, keypoints_2d, self.num_joints, self.input_norm)
        h, prefix = flatten_prefix(x, 2)
        block = dict(dropout=self.dropout, use_bias=self.use_bias)
        h = DenseBlock(self.features, **block)(h, train=train)
        for _ in range(self.num_blocks):
            h = ResidualBlock(self.features, **block)(h, train=train)
        out = nn.Dense((self.num_joints - 1) * 3, kernel_init=kaiming_normal, name=self.output_name)
        return _pad_root(out(h), prefix, self.num_joints)


class MartinezLifter(_ResidualLifter):
    """ "A simple yet effective baseline" (Martinez et al. 2017), as in PoseAug's ``mlp``.

    ``Dense(1024)-BN-ReLU-Dropout -> num_blocks x [2 x (Dense-BN-ReLU-Dropout) + skip] ->
    Dense((J-1)*3)``, root padded with zero. 16 joints, 2 blocks: 4,288,557 parameters
    (PoseAug: "about 4.29 M"). Dropout default 0.25 is PoseAug's (the
    original Martinez setting is 0.5; set it from the config).
    """


class VideoPose3DLifter(_ResidualLifter):
    """VideoPose3D (Pavllo et al. 2019) with a receptive field of one frame.

    ``TemporalModelOptimized1f(filter_widths=[1]*5)`` on a single frame: every convolution has
    kernel 1, i.e. is a Dense layer without bias (BatchNorm follows it). Expand
    ``Dense(1024, no bias)-BN-ReLU-Dropout``, ``num_blocks`` residual blocks of
    ``2 x (Dense(no bias)-BN-ReLU-Dropout)``, shrink ``Dense((J-1)*3)`` with bias, root padded
    with zero. 16 joints, 4 blocks: 8,485,933 parameters (PoseAug: "about 8.49 M").
    """

    num_blocks: int = 4

    use_bias: ClassVar[bool] = False
    output_name: ClassVar[str] = "shrink"
