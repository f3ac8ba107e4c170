"""Immediate tier: a fixed-size buffer of the most recent step embeddings.

The tier is a few pure functions around a small state type (optax style)::

    tier = immediate_memory(size=32, embed_dim=64)
    state = tier.init()
    state = tier.write(state, embedding, step)     # step: episode step index, [] int32
    slots, ages, valid = tier.view(state, now)    # what attention reads
    segment, segment_valid = tier.latest(state, now, 32)  # last 32 embeddings, oldest first

The buffer is a ring: the embedding of episode step ``t`` goes into slot ``t mod size``,
overwriting the oldest, so a write touches one slot (an in-place update inside a jitted loop)
and the buffer needs no cursor of its own. Every function is pure, jits and vmaps; nothing
depends on how long the episode has run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from hcmrl_jax.nn.windows import ring_history


@struct.dataclass
class ImmediateState:
    """Ring buffer of recent step embeddings.

    Attributes:
      embeddings: [M, D] float32 stored step embeddings.
      write_step: [M] int32 episode step at which each slot was written.
      valid: [M] bool, True for slots written in the current episode.
    """

    embeddings: jax.Array  # [M, D] float32
    write_step: jax.Array  # [M] int32
    valid: jax.Array  # [M] bool


class ImmediateMemory(NamedTuple):
    """Pure functions of the immediate tier (see :func:`immediate_memory`)."""

    init: Callable[[], ImmediateState]
    write: Callable[[ImmediateState, jax.Array, jax.Array], ImmediateState]
    view: Callable[[ImmediateState, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]
    latest: Callable[[ImmediateState, jax.Array, int], tuple[jax.Array, jax.Array]]


def immediate_memory(size: int, embed_dim: int) -> ImmediateMemory:
    """Builds the immediate tier.

    Args:
      size: number of slots M (>= 1).
      embed_dim: width D of the stored embeddings (>= 1).

    Returns:
      An :class:`ImmediateMemory` of pure functions:

      * ``init() -> ImmediateState``: all slots empty.
      * ``write(state, embedding [D] float32, step [] int32) -> state``: stores the embedding
        of episode step ``step`` (>= 0) in slot ``step mod M``.
      * ``view(state, now [] int32) -> (embeddings [M, D], ages [M] float32, valid [M] bool)``:
        ``ages = now - write_step``, the number of steps since each slot was written (0 where
        invalid).
      * ``latest(state, now [] int32, length) -> (segment [length, D], valid [length] bool)``:
        the embeddings of steps ``now - length .. now - 1``, oldest first (``length <= M``);
        invalid (and zero) where a step is before the episode or no longer held.

    Raises:
      ValueError: if a size is not positive.
    """
    if size <= 0:
        raise ValueError(f"immediate size must be positive, got {size}")
    if embed_dim <= 0:
        raise ValueError(f"embed_dim must be positive, got {embed_dim}")

    def init() -> ImmediateState:
        return ImmediateState(
            embeddings=jnp.zeros((size, embed_dim), jnp.float32),
            write_step=jnp.zeros((size,), jnp.int32),
            valid=jnp.zeros((size,), bool),
        )

    def write(state: ImmediateState, embedding: jax.Array, step: jax.Array) -> ImmediateState:
        if embedding.shape != (embed_dim,):
            raise ValueError(f"embedding must have shape ({embed_dim},), got {embedding.shape}")
        step = jnp.asarray(step, jnp.int32)
        slot = jax.lax.rem(step, size)  # steps are >= 0, so rem is the (cheaper) modulo
        return ImmediateState(
            embeddings=state.embeddings.at[slot].set(embedding.astype(jnp.float32)),
            write_step=state.write_step.at[slot].set(step),
            valid=state.valid.at[slot].set(True),
        )

    def view(state: ImmediateState, now: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        ages = (jnp.asarray(now, jnp.int32) - state.write_step).astype(jnp.float32)
        return state.embeddings, jnp.where(state.valid, ages, 0.0), state.valid

    def latest(state: ImmediateState, now: jax.Array, length: int) -> tuple[jax.Array, jax.Array]:
        if not 1 <= length <= size:
            raise ValueError(f"length must be in [1, {size}], got {length}")
        slots, valid = ring_history(state.write_step, state.valid, now, length)
        return jnp.where(valid[:, None], state.embeddings[slots], 0.0), valid

    return ImmediateMemory(init=init, write=write, view=view, latest=latest)
