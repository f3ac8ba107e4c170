"""Window and ring-buffer helpers: which earlier steps a step sees.

A ring buffer of ``N`` slots holds step ``t`` in slot ``t mod N``; :func:`ring_history` finds
where it still holds the steps before now. :func:`sliding_windows` gives every step of a replayed
sequence the window of steps before it (from the ring and from the sequence itself), so a
sequence of reads runs in parallel over time. Both the memory's immediate tier and the
sliding-window baseline core are built on them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def ring_history(
    write_step: jax.Array, valid: jax.Array, now: jax.Array, length: int
) -> tuple[jax.Array, jax.Array]:
    """Where a ring buffer (step ``t`` in slot ``t mod N``) holds the steps before ``now``.

    Args:
      write_step: [N] int32 step written into each slot.
      valid: [N] bool, slots holding a step of the current episode.
      now: [] int32, the step after the last one wanted.
      length: how many steps back (<= N).

    Returns:
      slots [length] int32 of steps ``now - length .. now - 1`` (oldest first) and held
      [length] bool: the step is >= 0 and its slot still holds it.
    """
    steps = jnp.asarray(now, jnp.int32) - length + jnp.arange(length, dtype=jnp.int32)
    slots = jnp.where(steps >= 0, steps, 0) % write_step.shape[0]
    held = (steps >= 0) & valid[slots] & (write_step[slots] == steps)
    return slots, held


def sliding_windows(held_valid: jax.Array, is_first: jax.Array) -> tuple[jax.Array, ...]:
    """Which earlier steps each step of a sequence sees through a window of the last W steps.

    For replaying T steps in parallel: the entries are ``concat([held, sequence])``, where
    ``held`` [W, ...] are the W steps before the sequence (oldest first, as a ring buffer held
    them) and ``sequence`` [T, ...] the sequence's own steps. Step t sees entries
    ``t .. t + W - 1`` (the W steps before it), each valid only if it was held (for ``held``)
    and belongs to step t's episode (no first-step flag in between).

    Args:
      held_valid: [W] bool, which held entries are real steps of the episode running at the
        sequence's start.
      is_first: [T] bool first-step flags of the sequence.

    Returns:
      index [T, W] int32 into the W + T entries, valid [T, W] bool, and age [T, W] int32 (steps
      from each entry to step t: W - j for the j-th entry of the window).
    """
    window, steps = held_valid.shape[0], is_first.shape[0]
    episode = jnp.cumsum(is_first.astype(jnp.int32))  # [T]: 0 until the first reset
    entry_episode = jnp.concatenate([jnp.zeros((window,), jnp.int32), episode])
    entry_valid = jnp.concatenate([held_valid, jnp.ones((steps,), bool)])
    index = jnp.arange(steps, dtype=jnp.int32)[:, None] + jnp.arange(window, dtype=jnp.int32)
    valid = entry_valid[index] & (entry_episode[index] == episode[:, None])
    age = jnp.broadcast_to(window - jnp.arange(window, dtype=jnp.int32), (steps, window))
    return index, valid, age
