"""Short-term tier: compressed summaries of the episode's past segments.

Summaries are diagonal Gaussians over a latent (see :mod:`hcmrl_jax.memory.compression`), each
with the half-open span ``[span_start, span_end)`` of episode steps it covers. Valid slots are
packed at the front in time order (slot 0 is the oldest). When a new summary arrives and all
``S`` slots are used, two *neighbouring* summaries are merged into one whose span is the union of
theirs, so the tier always covers the whole episode, at a resolution that falls where the
episode was uneventful and with age:

* adaptive compression merges the adjacent pair with the lowest cost
  ``(distance + redundancy_floor) * covered_steps / age``, where ``distance`` is the
  Bhattacharyya distance of the two summaries (differences of means weighted by precision,
  plus differences of spread), ``covered_steps`` the steps the pair covers
  and ``age`` the steps from the pair's start to now. Redundant pairs merge first; a novel summary
  (far from its neighbours) keeps its own slot much longer; and since ``covered_steps / age``
  shrinks as the pair gets older, old spans merge before recent ones of equal redundancy.
* fixed compression (the ablation) always merges the oldest pair.

Optax style::

    tier = short_term_memory(size=16, summary_dim=16, embed_dim=64)
    state = tier.init()
    state = tier.push(state, mean, log_var, centroid, span_start, span_end, pending)
    means, ages, lengths, valid = tier.view(state, now)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from hcmrl_jax.memory.compression import bhattacharyya_distance, merge_gaussians


@struct.dataclass
class ShortTermState:
    """Summaries of past segments, packed at the front in time order.

    Attributes:
      mean: [S, Z] float32 latent mean of each summary.
      log_var: [S, Z] float32 latent log-variance of each summary.
      centroid: [S, D] float32 mean step embedding over the summary's span.
      span_start: [S] int32 first episode step covered.
      span_end: [S] int32 one past the last episode step covered.
      pending: [S] int32 steps of the summary not yet consolidated into the long-term tier.
      valid: [S] bool, True for used slots (always a prefix).
    """

    mean: jax.Array  # [S, Z] float32
    log_var: jax.Array  # [S, Z] float32
    centroid: jax.Array  # [S, D] float32
    span_start: jax.Array  # [S] int32
    span_end: jax.Array  # [S] int32
    pending: jax.Array  # [S] int32
    valid: jax.Array  # [S] bool


class ShortTermMemory(NamedTuple):
    """Pure functions of the short-term tier (see :func:`short_term_memory`)."""

    init: Callable[[], ShortTermState]
    push: Callable[..., ShortTermState]
    merge_costs: Callable[[ShortTermState, jax.Array], jax.Array]
    view: Callable[[ShortTermState, jax.Array], tuple[jax.Array, jax.Array, jax.Array, jax.Array]]


def _rows(flags: jax.Array, ndim: int) -> jax.Array:
    """[N] row flags reshaped to broadcast against an [N, ...] array of ``ndim`` dims."""
    return flags.reshape(flags.shape + (1,) * (ndim - 1))


def _tree_pick(tree: ShortTermState, one_hot: jax.Array) -> ShortTermState:
    """The row of every [N, ...] leaf selected by the [N] bool ``one_hot`` (exactly one True)."""

    def pick(rows: jax.Array) -> jax.Array:
        if rows.dtype == jnp.bool_:
            return jnp.any(rows & _rows(one_hot, rows.ndim), axis=0)
        return jnp.sum(jnp.where(_rows(one_hot, rows.ndim), rows, 0), axis=0).astype(rows.dtype)

    return jax.tree.map(pick, tree)


def short_term_memory(
    size: int,
    summary_dim: int,
    embed_dim: int,
    adaptive: bool = True,
    redundancy_floor: float = 0.01,
    min_variance: float = 1e-4,
) -> ShortTermMemory:
    """Builds the short-term tier.

    Args:
      size: number of summary slots S (>= 1).
      summary_dim: latent width Z of a summary.
      embed_dim: width D of the step embeddings (for the centroids).
      adaptive: True merges the most redundant neighbours; False always the oldest pair.
      redundancy_floor: added to every pair's distance, so that among equally redundant pairs
        (for example all near-identical) the span-to-age ratio decides.
      min_variance: floor on summary variances in distances and merges.

    Returns:
      A :class:`ShortTermMemory` of pure functions:

      * ``init() -> ShortTermState``: all slots empty.
      * ``push(state, mean [Z], log_var [Z], centroid [D], span_start [] int32,
        span_end [] int32, pending [] int32) -> state``: appends a summary of the steps
        ``[span_start, span_end)`` (which must follow the newest stored span); if the tier was
        full, first merges one adjacent pair among the old summaries and the new one.
      * ``merge_costs(state, now [] int32) -> [S - 1] float32``: cost of merging each adjacent
        pair of the state (``inf`` where a slot is empty); the argmin is the pair merged next.
      * ``view(state, now) -> (mean [S, Z], age [S] float32, length [S] float32, valid [S])``:
        ``age = now - span_end`` and ``length = span_end - span_start`` give each summary's time.

    Raises:
      ValueError: if a size is not positive or a float setting is negative.
    """
    for field, value in (("size", size), ("summary_dim", summary_dim), ("embed_dim", embed_dim)):
        if value <= 0:
            raise ValueError(f"short-term {field} must be positive, got {value}")
    if redundancy_floor < 0:
        raise ValueError(f"redundancy_floor must be >= 0, got {redundancy_floor}")
    if min_variance <= 0:
        raise ValueError(f"min_variance must be positive, got {min_variance}")

    def init() -> ShortTermState:
        return ShortTermState(
            mean=jnp.zeros((size, summary_dim), jnp.float32),
            log_var=jnp.zeros((size, summary_dim), jnp.float32),
            centroid=jnp.zeros((size, embed_dim), jnp.float32),
            span_start=jnp.zeros((size,), jnp.int32),
            span_end=jnp.zeros((size,), jnp.int32),
            pending=jnp.zeros((size,), jnp.int32),
            valid=jnp.zeros((size,), bool),
        )

    def pair_costs(slots: ShortTermState, now: jax.Array) -> jax.Array:
        """[N] slots -> [N - 1] merge costs of adjacent pairs, inf where a slot is empty."""
        both_valid = slots.valid[:-1] & slots.valid[1:]
        if adaptive:
            distance = bhattacharyya_distance(
                slots.mean[:-1], slots.log_var[:-1], slots.mean[1:], slots.log_var[1:], min_variance
            )
            covered = (slots.span_end[1:] - slots.span_start[:-1]).astype(jnp.float32)
            age = jnp.maximum(now - slots.span_start[:-1], 1).astype(jnp.float32)
            cost = (distance + redundancy_floor) * covered / age
        else:
            cost = jnp.arange(slots.valid.shape[0] - 1, dtype=jnp.float32)
        return jnp.where(both_valid, cost, jnp.inf)

    def merge_costs(state: ShortTermState, now: jax.Array) -> jax.Array:
        return pair_costs(state, jnp.asarray(now, jnp.int32))

    def push(
        state: ShortTermState,
        mean: jax.Array,
        log_var: jax.Array,
        centroid: jax.Array,
        span_start: jax.Array,
        span_end: jax.Array,
        pending: jax.Array,
    ) -> ShortTermState:
        count = jnp.sum(state.valid.astype(jnp.int32))
        new = ShortTermState(
            mean=mean.astype(jnp.float32),
            log_var=log_var.astype(jnp.float32),
            centroid=centroid.astype(jnp.float32),
            span_start=jnp.asarray(span_start, jnp.int32),
            span_end=jnp.asarray(span_end, jnp.int32),
            pending=jnp.asarray(pending, jnp.int32),
            valid=jnp.asarray(True),
        )
        # Work in a buffer of S + 1 slots holding the old summaries and the new one, then merge
        # one adjacent pair if all S + 1 are used, so the new summary can itself be merged.
        # Indexing by traced slot numbers is done with masks and one-hot sums rather than
        # gathers and scatters, which are slow when vmapped over many environments.
        buffer_slot = jnp.arange(size + 1)
        buffer = jax.tree.map(
            lambda old, item: jnp.where(
                _rows(buffer_slot == count, old.ndim),
                item,
                jnp.concatenate([old, jnp.zeros_like(old[:1])]),
            ),
            state,
            new,
        )
        pair = jnp.argmin(pair_costs(buffer, new.span_end))
        left = _tree_pick(buffer, buffer_slot == pair)
        right = _tree_pick(buffer, buffer_slot == pair + 1)
        lengths = (
            (left.span_end - left.span_start).astype(jnp.float32),
            (right.span_end - right.span_start).astype(jnp.float32),
        )
        merged_mean, merged_log_var = merge_gaussians(
            left.mean, left.log_var, lengths[0], right.mean, right.log_var, lengths[1], min_variance
        )
        share = lengths[0] / jnp.maximum(lengths[0] + lengths[1], 1.0)
        merged = ShortTermState(
            mean=merged_mean,
            log_var=merged_log_var,
            centroid=share * left.centroid + (1.0 - share) * right.centroid,
            span_start=left.span_start,
            span_end=right.span_end,
            pending=left.pending + right.pending,
            valid=jnp.asarray(True),
        )
        # Slot j of the result is buffer slot j before the merged pair, the merged summary at the
        # pair, and buffer slot j + 1 after it.
        slot = jnp.arange(size)
        compacted = jax.tree.map(
            lambda rows, item: jnp.where(
                _rows(slot == pair, rows.ndim),
                item,
                jnp.where(_rows(slot < pair, rows.ndim), rows[:-1], rows[1:]),
            ),
            buffer,
            merged,
        )
        untouched = jax.tree.map(lambda rows: rows[:-1], buffer)
        full = count >= size
        return jax.tree.map(lambda a, b: jnp.where(full, a, b), compacted, untouched)

    def view(
        state: ShortTermState, now: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        now = jnp.asarray(now, jnp.int32)
        age = jnp.where(state.valid, now - state.span_end, 0).astype(jnp.float32)
        length = jnp.where(state.valid, state.span_end - state.span_start, 0).astype(jnp.float32)
        return state.mean, age, length, state.valid

    return ShortTermMemory(init=init, push=push, merge_costs=merge_costs, view=view)
