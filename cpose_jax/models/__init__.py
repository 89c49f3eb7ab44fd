"""CameraPose networks (flax.linen): architecture only, geometry from :mod:`cpose_jax.geometry`.

Every module is called as ``module.apply(variables, *arrays, train=..., rngs=..., mutable=...)``;
see :mod:`cpose_jax.models.layers` for the shared BatchNorm/dropout/batch-prefix conventions.
"""

from cpose_jax.models.camera import CameraBranch
from cpose_jax.models.discriminator import Discriminator2D, Discriminator3D, KCSPath
from cpose_jax.models.generator import GeneratorOutput, PoseGenerator, bl_ratio_groups
from cpose_jax.models.lifter import MartinezLifter, VideoPose3DLifter
from cpose_jax.models.refiner import Refiner

__all__ = [
    "CameraBranch",
    "Discriminator2D",
    "Discriminator3D",
    "GeneratorOutput",
    "KCSPath",
    "MartinezLifter",
    "PoseGenerator",
    "Refiner",
    "VideoPose3DLifter",
    "bl_ratio_groups",
]
