"""What a hierarchical memory holds over an episode: tier occupancy and compression events.

:func:`tier_occupancy` reads a :class:`~hcmrl_jax.memory.hierarchical.MemoryState` (one env, or
leading batch / time dims) into a few int32 / float32 counters; recorded after every step, they
give :func:`memory_events` the steps at which a segment was summarised, two summaries were
merged (the short-term tier was full) and the long-term tier absorbed summaries.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hcmrl_jax.memory.hierarchical import MemoryState

#: Counters of :func:`tier_occupancy`, in order.
OCCUPANCY_KEYS: tuple[str, ...] = (
    "immediate",
    "short_term",
    "long_term",
    "summarised_until",
    "absorbed",
)


def tier_occupancy(state: MemoryState) -> dict[str, jax.Array]:
    """Occupancy counters of a memory state (leading dims ``[...]`` kept).

    Returns:
        ``immediate`` / ``short_term`` / ``long_term`` [...] int32: valid slots of each tier;
        ``summarised_until`` [...] int32: one past the last episode step any short-term summary
        covers (it grows when a segment is summarised); ``absorbed`` [...] float32: steps the
        long-term templates have absorbed in all (it grows when summaries consolidate).
    """
    short = state.short_term
    return {
        "immediate": jnp.sum(state.immediate.valid, axis=-1, dtype=jnp.int32),
        "short_term": jnp.sum(short.valid, axis=-1, dtype=jnp.int32),
        "long_term": jnp.sum(state.long_term.valid, axis=-1, dtype=jnp.int32),
        "summarised_until": jnp.max(jnp.where(short.valid, short.span_end, 0), axis=-1),
        "absorbed": jnp.sum(jnp.where(state.long_term.valid, state.long_term.count, 0.0), axis=-1),
    }


def memory_events(occupancy: dict[str, np.ndarray], short_term_size: int) -> dict[str, np.ndarray]:
    """Steps of an episode at which the memory compressed or consolidated.

    Args:
        occupancy: :func:`tier_occupancy` recorded after each step of one episode, leaves [T].
        short_term_size: S, the short-term tier's slots.

    Returns:
        int arrays of step indices: ``summarised`` (a closed segment became a summary),
        ``merged`` (it arrived while the short-term tier was full, so two summaries merged) and
        ``consolidated`` (the long-term templates absorbed steps).
    """
    if short_term_size < 1:
        raise ValueError(f"short_term_size must be >= 1, got {short_term_size}")
    until = np.asarray(occupancy["summarised_until"], np.int64)
    count = np.asarray(occupancy["short_term"], np.int64)
    absorbed = np.asarray(occupancy["absorbed"], np.float64)
    if not until.ndim == count.ndim == absorbed.ndim == 1:
        raise ValueError("memory_events takes one episode: every counter must be [T]")
    previous_until = np.concatenate([[0], until[:-1]])
    previous_count = np.concatenate([[0], count[:-1]])
    previous_absorbed = np.concatenate([[0.0], absorbed[:-1]])
    summarised = until > previous_until
    merged = summarised & (previous_count >= short_term_size)
    consolidated = absorbed > previous_absorbed + 1e-6
    return {
        "summarised": np.flatnonzero(summarised),
        "merged": np.flatnonzero(merged),
        "consolidated": np.flatnonzero(consolidated),
    }
