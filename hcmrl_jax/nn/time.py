"""Time encodings: how a read knows *when* a slot or a cached step was written.

Two codes with different uses:

* :func:`log_time_encoding` — a soft one-hot code on a logarithmic scale, concatenated to the
  memory's slot features (ages, spans, counts that run from 1 to thousands of steps).
* :func:`sinusoidal_time_encoding` — the transformer's sinusoidal code of an age, added to the
  keys of the sliding-window baseline (ages up to its window).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp


def log_time_encoding(values: jax.Array, num_features: int, horizon: float) -> jax.Array:
    """Soft one-hot code of times (ages, lengths, counts) on a logarithmic scale.

    ``x = log(1 + value) / log(1 + horizon)`` (clipped to [0, 1]) is spread over
    ``num_features`` evenly spaced triangular bumps, so neighbouring codes overlap and the code
    varies smoothly: steps 1, 2, 4 are told apart as well as 1,000, 2,000, 4,000. Values at or
    beyond ``horizon`` share the last code. It costs one logarithm per value, which matters
    when every slot of every environment is encoded at every step.

    Args:
      values: [...] numeric array (cast to float32; negative values count as 0).
      num_features: width F >= 2 of the code.
      horizon: the largest value told apart.

    Returns:
      [..., F] float32, non-negative, summing to 1 along the last axis.
    """
    if num_features < 2:
        raise ValueError(f"num_features must be >= 2, got {num_features}")
    if horizon <= 0:
        raise ValueError(f"horizon must be positive, got {horizon}")
    values = jnp.maximum(jnp.asarray(values, jnp.float32), 0.0)
    position = jnp.clip(jnp.log1p(values) / math.log1p(horizon), 0.0, 1.0) * (num_features - 1)
    centres = jnp.arange(num_features, dtype=jnp.float32)
    return jnp.maximum(1.0 - jnp.abs(position[..., None] - centres), 0.0)


def sinusoidal_time_encoding(age: jax.Array, dim: int, max_period: float) -> jax.Array:
    """Sinusoidal encoding of a (non-negative) age.

    Args:
        age: [...] int32 or float32.
        dim: even output width.
        max_period: the longest period of the encoding, in steps.

    Returns:
        [..., dim] float32.
    """
    half = dim // 2
    freqs = jnp.exp(-jnp.log(max_period) * jnp.arange(half, dtype=jnp.float32) / half)
    angles = age.astype(jnp.float32)[..., None] * freqs
    return jnp.concatenate([jnp.sin(angles), jnp.cos(angles)], axis=-1)
