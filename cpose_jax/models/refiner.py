"""2D keypoint refinement network (CameraPose paper §3.1, Eq. 3-4)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from cpose_jax.losses import normalize_confidence
from cpose_jax.models.layers import DenseBlock, ResidualBlock, flatten_prefix

Array = jax.Array


class Refiner(nn.Module):
    """Residual MLP that refines noisy 2D keypoints using their confidences.

    Input: ``keypoints_2d (..., J, 2)`` in normalized screen coordinates and raw detector
    ``confidence (..., J)`` in [0, 1] (1 for labels, 0 missing); the module normalizes them by
    Eq. 3, ``c'_ij = c_ij / sum_j c_ij`` (``cpose_jax.losses.normalize_confidence``), so every
    caller feeds the same thing. Output: refined ``(..., J, 2)``, same units.

    Architecture (paper: "a standard residual block of fully connected layers, hidden dimension
    512"): ``[J*2 coords, J confidences] -> Dense(512)-BN-ReLU-Dropout -> num_blocks x
    ResidualBlock(512) -> Dense(J*2)``, and ``refined = masked_input + residual``.

    Missing joints (confidence exactly 0) cannot poison the network: their coordinates are
    replaced by 0 (with ``jnp.where``, so even NaN/inf coordinates are harmless) before anything
    reads them, and that masked input is also the base of the residual. The output is therefore a
    function of the confident joints and the confidences only; a missing joint's output is the
    network's own estimate (starting at the image centre). The confidences are fed multiplied by
    ``J`` so that a fully confident pose has mean input 1 rather than ``1/J``.

    The last Dense layer is zero-initialised, so at initialisation ``refined == masked_input``
    exactly: stage 1 starts from the detector's keypoints (an identity map, the right prior for a
    denoiser) instead of adding random offsets. Its gradient is not zero (its input activations
    are not), so training leaves the identity immediately.
    """

    num_joints: int
    features: int = 512
    num_blocks: int = 1
    dropout: float = 0.25

    @nn.compact
    def __call__(self, keypoints_2d: Array, confidence: Array, *, train: bool) -> Array:
        j = self.num_joints
        if keypoints_2d.shape[-2:] != (j, 2) or confidence.shape != keypoints_2d.shape[:-1]:
            raise ValueError(
                f"Refiner(num_joints={j}) expects keypoints (..., {j}, 2) and confidence "
                f"(..., {j}); got {keypoints_2d.shape} and {confidence.shape}"
            )
        confidence = normalize_confidence(confidence)  # Eq. 3
        present = (confidence > 0)[..., None]
        base = jnp.where(present, keypoints_2d, 0.0)
        conf = jnp.where(present[..., 0], confidence, 0.0) * j
        x, prefix = flatten_prefix(base, 2)
        c, _ = flatten_prefix(conf, 1)
        h = jnp.concatenate([x, c], axis=-1)
        h = DenseBlock(self.features, dropout=self.dropout)(h, train=train)
        for _ in range(self.num_blocks):
            h = ResidualBlock(self.features, dropout=self.dropout)(h, train=train)
        residual = nn.Dense(j * 2, kernel_init=nn.initializers.zeros, name="out")(h)
        return base + residual.reshape((*prefix, j, 2))
