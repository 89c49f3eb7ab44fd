"""Camera parameter branch (CameraPose paper §3.2, Eq. 5-8)."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from cpose_jax.models.layers import DenseBlock, ResidualBlock, flatten_prefix, positive_around

Array = jax.Array


class CameraBranch(nn.Module):
    """Predicts the intrinsics and the root translation from 2D keypoints.

    Input ``keypoints_2d (..., J, 2)``, normalized screen coordinates (absolute, not
    root-centred; joint 0 is the root). Output dict:

    - ``"intrinsics"`` ``(..., 4)``: ``fx, fy, cx, cy`` normalized like the 2D
      (``f_n = f / w * 2``, principal point through ``normalize_screen``);
    - ``"translation"`` ``(..., 3)``: root position in the camera frame, metres,
      so that ``X_cam = X_rel + t`` (paper Eq. 6-7).

    Network: ``Dense(512)-BN-ReLU-Dropout -> num_blocks x ResidualBlock(512) -> Dense(7)``
    giving raw ``a = (a_fx, a_fy, a_cx, a_cy, d_x, d_y, a_z)``. Parameterisation:

    - ``fx = focal_prior * g(a_fx)``, ``fy = focal_prior * g(a_fy)``,
      ``tz = depth_prior * g(a_z)`` with ``g(a) = exp(L tanh(a / L))``, ``L = log_range``
      (:func:`~cpose_jax.models.layers.positive_around`): always positive and finite, inside
      ``prior * [e^-L, e^L]`` for any input, multiplicative (log-space) steps near the prior.
    - ``(cx, cy) = principal_point_prior + (a_cx, a_cy)``: unconstrained.
    - With ``root_ray=True`` (default) the translation is placed on the viewing ray of the 2D
      root: ``tx = ((u_root - cx) / fx + d_x) * tz`` (same for y), so the predicted root
      reprojects onto the observed 2D root up to the learned offset ``fx * d_x``; the network
      then only has to learn depth and scale. With ``root_ray=False``, ``tx = d_x * tz``.

    The output layer is zero-initialised, so at initialisation the intrinsics equal the priors
    exactly, ``tz = depth_prior`` and (``root_ray``) the root reprojects exactly onto
    ``keypoints_2d[..., 0, :]``: training starts from a sane camera (paper: H36M ``f_n ≈ 2.29``,
    root depth ≈ 5 m) instead of a random one.
    """

    num_joints: int
    features: int = 512
    num_blocks: int = 2
    dropout: float = 0.25
    focal_prior: float = 2.29
    depth_prior: float = 5.0
    principal_point_prior: tuple[float, float] = (0.0, 0.0)
    log_range: float = 3.0
    root_ray: bool = True

    @nn.compact
    def __call__(self, keypoints_2d: Array, *, train: bool) -> dict[str, Array]:
        j = self.num_joints
        if keypoints_2d.shape[-2:] != (j, 2):
            raise ValueError(
                f"CameraBranch(num_joints={j}) expects (..., {j}, 2), got {keypoints_2d.shape}"
            )
        h, prefix = flatten_prefix(keypoints_2d, 2)
        h = DenseBlock(self.features, dropout=self.dropout)(h, train=train)
        for _ in range(self.num_blocks):
            h = ResidualBlock(self.features, dropout=self.dropout)(h, train=train)
        a = nn.Dense(7, kernel_init=nn.initializers.zeros, name="out")(h)
        a = a.reshape((*prefix, 7))

        focal = positive_around(a[..., 0:2], self.focal_prior, log_range=self.log_range)
        centre = jnp.asarray(self.principal_point_prior, a.dtype) + a[..., 2:4]
        tz = positive_around(a[..., 6:7], self.depth_prior, log_range=self.log_range)
        direction = a[..., 4:6]
        if self.root_ray:
            direction = direction + (keypoints_2d[..., 0, :] - centre) / focal
        translation = jnp.concatenate([direction * tz, tz], axis=-1)
        intrinsics = jnp.concatenate([focal, centre], axis=-1)
        return {"intrinsics": intrinsics, "translation": translation}
