"""Immediate tier: a fixed-size buffer of the most recent step embeddings.

The tier is a few pure functions around a small state type (optax style)::

    tier = immediate_memory(size=32, embed_dim=64)
    state = tier.init()
    state = tier.write(state, embedding, step)     # step: episode step index, [] int32
    slots, ages, valid = tier.view(state, now)    # what attention reads
    segment, segment_valid = tier.latest(state, 32)  # last 32 embeddings, oldest first

The buffer is kept in time order, newest in the last slot: a write shifts every slot down by one
(the oldest falls out) and stores the new embedding last. This costs the same as a ring write
done with a mask (both touch the whole buffer once), and it makes the age of every slot a
constant: between writes, slot ``j`` holds the embedding written ``size - j`` steps ago
(``tier.ages``), so its time code never has to be computed from traced values.
Every function is pure, jits and vmaps; nothing depends on how long the episode has run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct


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
    latest: Callable[[ImmediateState, int], tuple[jax.Array, jax.Array]]
    ages: jax.Array


def immediate_memory(size: int, embed_dim: int) -> ImmediateMemory:
    """Builds the immediate tier.

    Args:
      size: number of slots M (>= 1).
      embed_dim: width D of the stored embeddings (>= 1).

    Returns:
      An :class:`ImmediateMemory` of pure functions:

      * ``init() -> ImmediateState``: all slots empty.
      * ``write(state, embedding [D] float32, step [] int32) -> state``: stores the embedding
        of episode step ``step`` in the last slot; the oldest one falls out.
      * ``view(state, now [] int32) -> (embeddings [M, D], ages [M] float32, valid [M] bool)``:
        ``ages = now - write_step``, the number of steps since each slot was written (0 where
        invalid).
      * ``latest(state, length) -> (segment [length, D], valid [length] bool)``: the last
        ``length`` embeddings written, oldest first (``length <= M``).
      * ``ages``: [M] float32 constant ``M - j``, the age of slot ``j`` read at the step after
        the last write (what ``view`` returns for valid slots when ``now`` is that step).

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
        return ImmediateState(
            embeddings=jnp.concatenate(
                [state.embeddings[1:], embedding.astype(jnp.float32)[None]], axis=0
            ),
            write_step=jnp.concatenate([state.write_step[1:], step[None]]),
            valid=jnp.concatenate([state.valid[1:], jnp.ones((1,), bool)]),
        )

    def view(state: ImmediateState, now: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        ages = (jnp.asarray(now, jnp.int32) - state.write_step).astype(jnp.float32)
        return state.embeddings, jnp.where(state.valid, ages, 0.0), state.valid

    def latest(state: ImmediateState, length: int) -> tuple[jax.Array, jax.Array]:
        if not 1 <= length <= size:
            raise ValueError(f"length must be in [1, {size}], got {length}")
        return state.embeddings[size - length :], state.valid[size - length :]

    ages = jnp.arange(size, 0, -1, dtype=jnp.float32)
    return ImmediateMemory(init=init, write=write, view=view, latest=latest, ages=ages)
