"""cpose_jax: CameraPose (weakly-supervised monocular 3D human pose) in JAX/Flax."""

__version__ = "0.1.0"
