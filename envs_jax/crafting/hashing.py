"""Counter-based uniforms from a PRNG key, cheap to compile and to run.

The step needs a few dozen random numbers. Drawing them with ``jax.random`` costs a threefry
kernel per call (a large share of the step's compile time and of its run time on the CPU);
hashing a counter with the key's words through a murmur3-style finaliser costs one small fused
elementwise kernel. The stream is a deterministic function of the key, so randomness still comes
from the step key only.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

_GOLDEN = 0x9E3779B9  # odd constant spreading consecutive counters over the 32-bit range
_MIX_1 = 0x85EBCA6B
_MIX_2 = 0xC2B2AE35
_FLOAT_BITS = 24  # float32 mantissa bits used for a uniform


def _finalise(x: jax.Array) -> jax.Array:
    """murmur3's 32-bit finaliser: every input bit flips about half of the output bits."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(_MIX_1)
    x = x ^ (x >> 13)
    x = x * jnp.uint32(_MIX_2)
    return x ^ (x >> 16)


def key_words(key: jax.Array) -> jax.Array:
    """The raw uint32 words of a PRNG key (legacy ``PRNGKey`` array or typed key)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return jnp.asarray(key).reshape(-1).astype(jnp.uint32)


def uniforms(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """float32 ``shape`` uniforms in [0, 1), a deterministic function of ``key``."""
    size = 1
    for dim in shape:
        size *= dim
    words = key_words(key)
    x = jnp.arange(size, dtype=jnp.uint32) * jnp.uint32(_GOLDEN)
    for i in range(words.shape[0]):
        x = _finalise(x ^ words[i]) + jnp.uint32(_GOLDEN)
    x = _finalise(x)
    scale = 1.0 / (1 << _FLOAT_BITS)
    return ((x >> (32 - _FLOAT_BITS)).astype(jnp.float32) * scale).reshape(shape)
