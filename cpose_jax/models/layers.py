"""Building blocks shared by the CameraPose networks (flax.linen).

Conventions used by every module in :mod:`cpose_jax.models`:

- Inputs keep the library's shapes (``(..., J, 2)``, ``(..., J, 3)``, ``(..., J)``); any leading
  batch prefix (including none) is flattened into one batch axis, the network runs on
  ``(N, features)`` and the prefix is restored on the way out. BatchNorm statistics are taken over
  all prefix entries together.
- ``train=True``: BatchNorm normalises with the batch statistics and updates ``batch_stats``
  (apply with ``mutable=["batch_stats"]``); dropout (:class:`Dropout`) draws from the
  ``"dropout"`` rng stream.
  ``train=False``: running averages, no dropout, fully deterministic.
- BatchNorm matches PyTorch's defaults (``momentum=0.1`` there is ``momentum=0.9`` here,
  ``epsilon=1e-5``), so parameter counts and behaviour line up with the reference code.
- Dense kernels use He/Kaiming-normal init (``fan_in``, gain 2), as the reference code does;
  biases start at zero (PyTorch uses a small uniform; irrelevant after BatchNorm).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

Array = jax.Array

BN_MOMENTUM = 0.9  # = PyTorch momentum 0.1
BN_EPSILON = 1e-5
LEAKY_SLOPE = 0.01  # PyTorch nn.LeakyReLU default, used by PoseAug's G and D

kaiming_normal = nn.initializers.variance_scaling(2.0, "fan_in", "normal")


def leaky_relu(x: Array) -> Array:
    """LeakyReLU with PoseAug's slope 0.01."""
    return nn.leaky_relu(x, negative_slope=LEAKY_SLOPE)


def flatten_prefix(x: Array, num_trailing: int) -> tuple[Array, tuple[int, ...]]:
    """Flatten all but the last ``num_trailing`` axes into one batch axis.

    Returns ``(x_flat, prefix)`` with ``x_flat`` of shape ``(N, prod(trailing))`` and ``prefix`` the
    leading shape (possibly ``()``); ``x_flat.reshape(prefix + trailing_shape)`` undoes it.
    """
    if x.ndim < num_trailing:
        raise ValueError(f"expected at least {num_trailing} axes, got shape {x.shape}")
    prefix = x.shape[: x.ndim - num_trailing]
    trailing = math.prod(x.shape[x.ndim - num_trailing :])
    return x.reshape((math.prod(prefix), trailing)), prefix


def dropout_keep_mask(rng: Array, rate: float, shape: tuple[int, ...]) -> Array:
    """Boolean keep mask of ``shape``: every entry independently ``True`` with probability
    ``1 - rate``, from as few random bits as that takes.

    ``b`` is the smallest of 1, 2, 4, 8, 16 with ``rate * 2**b`` an integer (rate 0.25: 2,
    0.5: 1, 0.1875: 4); every 32-bit draw then gives ``32 / b`` entries, each kept where its
    ``b``-bit chunk is ``>= rate * 2**b``: the probability is exact and the PRNG does ``b / 32``
    of the work of one draw per entry (Flax's ``nn.Dropout``, ``uniform < 1 - rate``). Other
    rates use one 32-bit draw per entry, threshold ``round(rate * 2**32)`` (within 2**-32 of
    ``rate``). The values are not Flax's: the same key gives another mask of the same
    distribution.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")
    bits = next((b for b in (1, 2, 4, 8, 16) if rate * 2**b == int(rate * 2**b)), 32)
    threshold = min(round(rate * 2**bits), 2**bits - 1)
    per_word = 32 // bits
    n = math.prod(shape)
    if shape and shape[-1] % per_word == 0:  # the chunks of a word are neighbours in a row
        words = jax.random.bits(rng, (*shape[:-1], shape[-1] // per_word), jnp.uint32)
    else:
        words = jax.random.bits(rng, (-(-n // per_word),), jnp.uint32)
    if per_word > 1:
        shifts = jnp.arange(per_word, dtype=jnp.uint32) * bits
        words = (words[..., None] >> shifts) & jnp.uint32(2**bits - 1)
    chunks = words.reshape(-1)[:n] if words.size != n else words
    return chunks.reshape(shape) >= jnp.uint32(threshold)


class Dropout(nn.Module):
    """Inverted dropout: ``x / (1 - rate)`` where kept, 0 where dropped, in training
    (``deterministic=False``; needs the ``"dropout"`` rng stream); the identity otherwise.
    The mask is :func:`dropout_keep_mask` (fewer random bits than ``flax.linen.Dropout``, the
    same distribution)."""

    rate: float
    deterministic: bool = False

    @nn.compact
    def __call__(self, x: Array) -> Array:
        if self.deterministic or self.rate == 0.0:
            return x
        keep = dropout_keep_mask(self.make_rng("dropout"), self.rate, x.shape)
        return jnp.where(keep, x / (1.0 - self.rate), jnp.zeros_like(x))


def positive_around(raw: Array, prior: float, *, log_range: float) -> Array:
    """Map an unconstrained value to a positive one near ``prior``.

    ``prior * exp(L * tanh(raw / L))`` with ``L = log_range``: equals ``prior`` at ``raw = 0``,
    behaves like ``prior * exp(raw)`` (multiplicative, scale-free steps) for ``|raw| << L``, and
    stays strictly inside ``[prior * e^-L, prior * e^L]`` for every input, including ``±inf``.
    Unlike ``exp`` it cannot overflow; unlike ``softplus`` it cannot underflow to 0.
    """
    if prior <= 0 or log_range <= 0:
        raise ValueError(f"need prior > 0 and log_range > 0, got {prior}, {log_range}")
    return prior * jnp.exp(log_range * jnp.tanh(raw / log_range))


class DenseBlock(nn.Module):
    """Dense -> [BatchNorm] -> activation -> [Dropout] on ``(N, C)``."""

    features: int
    dropout: float = 0.0
    use_bias: bool = True
    batch_norm: bool = True
    activation: Callable[[Array], Array] = nn.relu

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        x = nn.Dense(self.features, use_bias=self.use_bias, kernel_init=kaiming_normal)(x)
        if self.batch_norm:
            x = nn.BatchNorm(
                use_running_average=not train, momentum=BN_MOMENTUM, epsilon=BN_EPSILON
            )(x)
        x = self.activation(x)
        if self.dropout > 0:
            x = Dropout(self.dropout, deterministic=not train)(x)
        return x


class ResidualBlock(nn.Module):
    """Martinez et al. residual block: ``x + 2 x (Dense -> BN -> ReLU -> Dropout)(x)``.

    With ``use_bias=False`` this is also VideoPose3D's single-frame block (1x1 convolutions over a
    single frame are Dense layers; their convolutions have no bias because BatchNorm follows).
    """

    features: int
    dropout: float = 0.0
    use_bias: bool = True

    @nn.compact
    def __call__(self, x: Array, *, train: bool) -> Array:
        if x.shape[-1] != self.features:
            raise ValueError(f"residual block of width {self.features} got input {x.shape}")
        y = x
        for _ in range(2):
            y = DenseBlock(self.features, dropout=self.dropout, use_bias=self.use_bias)(
                y, train=train
            )
        return x + y
