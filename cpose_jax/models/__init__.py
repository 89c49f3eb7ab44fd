"""CameraPose networks (flax.linen): architecture only, geometry from :mod:`cpose_jax.geometry`.

=====================  ==================================================  =====================
module                 call                                                output
=====================  ==================================================  =====================
``Refiner``            ``(keypoints_2d (...,J,2), confidence (...,J))``    refined ``(..., J, 2)``
``MartinezLifter``     ``(keypoints_2d (...,J,2))``                        ``(..., J, 3)`` m, root 0
``VideoPose3DLifter``  ``(keypoints_2d (...,J,2))``                        ``(..., J, 3)`` m, root 0
``CameraBranch``       ``(keypoints_2d (...,J,2))``                        ``{"intrinsics" (...,4),
                                                                           "translation" (...,3)}``
``PoseGenerator``      ``(pose_3d (...,J,3))``, rng ``"noise"``            ``GeneratorOutput``
``Discriminator3D``    ``(pose_3d (...,J,3))``                             ``(..., 5)`` part scores
``Discriminator2D``    ``(keypoints_2d (...,J,2))``                        ``(..., 5)`` (``"raw"``:
                                                                           ``(..., 1)``)
=====================  ==================================================  =====================

Every module is called as ``module.apply(variables, *arrays, train=..., rngs=..., mutable=...)``
(``rngs={"dropout": k}`` and ``mutable=["batch_stats"]`` when ``train=True`` for the modules
with dropout/BatchNorm; the generator always needs ``rngs={"noise": k}``). See
:mod:`cpose_jax.models.layers` for the shared BatchNorm/dropout/batch-prefix conventions.
"""

from cpose_jax.models.camera import CameraBranch
from cpose_jax.models.discriminator import Discriminator2D, Discriminator3D, KCSPath
from cpose_jax.models.generator import GeneratorOutput, PoseGenerator, bl_ratio_groups
from cpose_jax.models.lifter import MartinezLifter, VideoPose3DLifter
from cpose_jax.models.refiner import Refiner

# Network names, in forward order: the pose networks (inference: refined 2D -> 3D -> camera)
# and the adversarial ones (training only).
POSE_NETS = ("refiner", "lifter", "camera")
GAN_NETS = ("generator", "disc_3d", "disc_2d")

__all__ = [
    "GAN_NETS",
    "POSE_NETS",
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
