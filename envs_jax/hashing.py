"""Counter-based random numbers from a PRNG key: cheap to compile, deterministic in the key.

World generation draws hundreds to thousands of numbers per reset, and the crafting step a few
dozen per step. A ``jax.random`` draw costs a threefry kernel each (a large share of compile
time, since the reset is compiled into every auto-resetting ``step``); hashing a counter keyed
by the key's words costs a handful of elementwise integer operations. Randomness still comes
from the key only, so a pooled reset that hands two environments one world does not hand them
one future.

Every stream is built from the same parts: the key's words (:func:`key_words`), a 32-bit
finaliser (:func:`mix32`, or murmur3's :func:`murmur_mix32`) applied to a counter spread by
:data:`GOLDEN_GAMMA`, and :func:`unit_floats` for uniforms in [0, 1). Each benchmark's
generated worlds are defined by its stream, so the three streams below are kept exactly as they
were first drawn (changing one would change every world of that benchmark):

* :func:`crafting_uniforms`: each counter chained through :func:`murmur_mix32` with every key
  word (the crafting world and its step).
* :func:`navigation_uniforms`: the key words folded into a seed, then each counter (from 1)
  hashed twice with :func:`mix32` (the navigation building and its targets).
* :func:`games_bits`: the key words folded into a seed another way, then each counter (from 0)
  hashed twice with :func:`mix32`; raw words (the games schedule and its interlude cards).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

#: Odd constant that spreads consecutive counters over the 32-bit range (2**32 / golden ratio).
GOLDEN_GAMMA = 0x9E3779B9
#: (multiplier, shift) pairs of :func:`mix32`, a 32-bit avalanche mix with low bias, and of
#: murmur3's 32-bit finaliser (:func:`murmur_mix32`); each starts with a shift by 16.
_MIX_STEPS = ((0x7FEB352D, 15), (0x846CA68B, 16))
_MURMUR_STEPS = ((0x85EBCA6B, 13), (0xC2B2AE35, 16))
#: Bits of a word kept in a uniform float: a float32 mantissa holds 24 exactly.
_FLOAT_BITS = 24


def key_words(key: jax.Array) -> jax.Array:
    """The raw words of a PRNG key, uint32 [W] (a legacy ``PRNGKey`` array or a typed key)."""
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    return jnp.asarray(key).reshape(-1).astype(jnp.uint32)


def _xorshift_multiply(x: jax.Array, steps: tuple[tuple[int, int], ...]) -> jax.Array:
    """``x ^= x >> 16``, then per (multiplier, shift): ``x *= multiplier; x ^= x >> shift``."""
    x = x ^ (x >> 16)
    for multiplier, shift in steps:
        x = x * jnp.uint32(multiplier)
        x = x ^ (x >> shift)
    return x


def mix32(x: jax.Array) -> jax.Array:
    """A bijective 32-bit avalanche mix (xor-shift-multiply), uint32 -> uint32, any shape."""
    return _xorshift_multiply(x, _MIX_STEPS)


def murmur_mix32(x: jax.Array) -> jax.Array:
    """murmur3's 32-bit finaliser: every input bit flips about half of the output bits."""
    return _xorshift_multiply(x, _MURMUR_STEPS)


def unit_floats(bits: jax.Array) -> jax.Array:
    """Uniform float32 in [0, 1) from uint32 words (same shape): the top 24 bits, so every
    value is exact in float32 and all lie below 1."""
    scale = jnp.float32(1.0 / (1 << _FLOAT_BITS))
    return (bits >> (32 - _FLOAT_BITS)).astype(jnp.float32) * scale


def crafting_uniforms(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
    """float32 ``shape`` uniforms in [0, 1): each counter chained through
    :func:`murmur_mix32` with every key word."""
    words = key_words(key)
    x = jnp.arange(math.prod(shape), dtype=jnp.uint32) * jnp.uint32(GOLDEN_GAMMA)
    for i in range(words.shape[0]):  # static: two words for threefry keys
        x = murmur_mix32(x ^ words[i]) + jnp.uint32(GOLDEN_GAMMA)
    return unit_floats(murmur_mix32(x)).reshape(shape)


def navigation_uniforms(key: jax.Array, num: int) -> jax.Array:
    """float32 [num] uniforms in [0, 1): the key words folded into a seed, then counters
    ``1 .. num`` hashed (splitmix-style counter mode)."""
    words = key_words(key)
    seed = jnp.uint32(0)
    for i in range(words.shape[0]):  # static: two words for threefry keys
        seed = mix32(seed ^ (words[i] + jnp.uint32(GOLDEN_GAMMA)))
    counters = jnp.arange(1, num + 1, dtype=jnp.uint32) * jnp.uint32(GOLDEN_GAMMA)
    return unit_floats(mix32(mix32(counters + seed) ^ seed))


def games_bits(key: jax.Array, size: int) -> jax.Array:
    """uint32 [size] random words: the key words folded into a seed, then counters
    ``0 .. size - 1`` hashed."""
    words = key_words(key)
    seed = mix32(words[0] ^ jnp.uint32(GOLDEN_GAMMA))
    for i in range(1, words.shape[0]):  # static: two words for threefry keys
        seed = mix32(seed ^ words[i])
    counter = jnp.arange(size, dtype=jnp.uint32)
    return mix32(mix32(counter * jnp.uint32(GOLDEN_GAMMA) ^ seed) + seed)
