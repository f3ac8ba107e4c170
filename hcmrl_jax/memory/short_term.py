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

Each summary also keeps one *key step*: the embedding (and, optionally, a compact input such as
the normalised observation) of the most salient step of its span (salience is scored by the
caller, e.g. how unusual the step's observation was). A merge keeps
the more salient of the two keys, so a single decisive step outlives any number of merges of
its span with uneventful neighbours, while the summary itself averages it away.

Optax style::

    tier = short_term_memory(size=16, summary_dim=16, embed_dim=64)
    state = tier.init()
    state = tier.push(state, mean, log_var, centroid, span_start, span_end, pending)
    means, ages, lengths, valid = tier.view(state, now)
    keys, key_ages, key_saliences, key_inputs = tier.key_view(state, now)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from hcmrl_jax.memory.compression import bhattacharyya_distance, merge_gaussians
from hcmrl_jax.memory.config import MemoryConfig

#: Default settings of a standalone tier: those of the hierarchical memory.
_DEFAULTS = MemoryConfig()


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
      redundancy: [S] float32 distance between summary i and summary i + 1 (0 for the newest
        and for empty slots), kept up to date on every push so that choosing a pair to merge
        costs no distance computations (adaptive compression only; 0 otherwise).
      key: [S, D] float32 embedding of the most salient step of the summary's span.
      key_salience: [S] float32 salience of that step when it was written.
      key_step: [S] int32 episode step of that step.
      key_input: [S, I] float32 that step's compact input (I = 0 when none is kept).
      valid: [S] bool, True for used slots (always a prefix).
    """

    mean: jax.Array  # [S, Z] float32
    log_var: jax.Array  # [S, Z] float32
    centroid: jax.Array  # [S, D] float32
    span_start: jax.Array  # [S] int32
    span_end: jax.Array  # [S] int32
    pending: jax.Array  # [S] int32
    redundancy: jax.Array  # [S] float32
    key: jax.Array  # [S, D] float32
    key_salience: jax.Array  # [S] float32
    key_step: jax.Array  # [S] int32
    key_input: jax.Array  # [S, I] float32
    valid: jax.Array  # [S] bool


class ShortTermMemory(NamedTuple):
    """Pure functions of the short-term tier (see :func:`short_term_memory`)."""

    init: Callable[[], ShortTermState]
    push: Callable[..., ShortTermState]
    merge_costs: Callable[[ShortTermState, jax.Array], jax.Array]
    view: Callable[[ShortTermState, jax.Array], tuple[jax.Array, jax.Array, jax.Array, jax.Array]]
    key_view: Callable[
        [ShortTermState, jax.Array], tuple[jax.Array, jax.Array, jax.Array, jax.Array]
    ]


def _pick(rows: jax.Array, index: jax.Array) -> jax.Array:
    """Row ``index`` of an [N, ...] array, or zeros (False) when ``index`` is out of range."""
    inside = (index >= 0) & (index < rows.shape[0])
    row = rows[jnp.clip(index, 0, rows.shape[0] - 1)]
    return jnp.where(inside, row, jnp.zeros_like(row))


def _tree_where(
    flag: jax.Array, on_true: ShortTermState, on_false: ShortTermState
) -> ShortTermState:
    """Leafwise ``where`` on a scalar flag."""
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), on_true, on_false)


def _pick_gaussian(slots: ShortTermState, index: jax.Array) -> ShortTermState:
    """Only the fields a distance needs (mean, log_var, valid) of row ``index``."""
    return slots.replace(
        mean=_pick(slots.mean, index),
        log_var=_pick(slots.log_var, index),
        valid=_pick(slots.valid, index),
    )


def short_term_memory(
    size: int,
    summary_dim: int,
    embed_dim: int,
    adaptive_compression: bool = _DEFAULTS.adaptive_compression,
    redundancy_floor: float = _DEFAULTS.redundancy_floor,
    min_variance: float = _DEFAULTS.min_variance,
    key_input_dim: int = 0,
) -> ShortTermMemory:
    """Builds the short-term tier.

    Args:
      size: number of summary slots S (>= 1).
      summary_dim: latent width Z of a summary.
      embed_dim: width D of the step embeddings (for the centroids).
      adaptive_compression: True merges the most redundant neighbours; False always the oldest
        pair.
      redundancy_floor: added to every pair's distance, so that among equally redundant pairs
        (for example all near-identical) the span-to-age ratio decides.
      min_variance: floor on summary variances in distances and merges.
      key_input_dim: width I of the compact input kept with each key step (0: none).

    Returns:
      A :class:`ShortTermMemory` of pure functions:

      * ``init() -> ShortTermState``: all slots empty.
      * ``push(state, mean [Z], log_var [Z], centroid [D], span_start [] int32,
        span_end [] int32, pending [] int32, enabled [] bool = True, key [D] = centroid,
        key_salience [] float32 = 0, key_step [] int32 = span_start) -> state``: appends a
        summary of the steps ``[span_start, span_end)`` (which must follow the newest stored
        span) with its key step (and ``key_input [I]``, zeros when not given); if the tier
        was full, merges one adjacent pair among the old summaries and the new one (the
        merged summary keeps the more salient key, the older on a tie). With ``enabled``
        False the state comes back unchanged (a select, for pushes that happen only on some
        steps of a jitted loop).
      * ``merge_costs(state, now [] int32) -> [S - 1] float32``: cost of merging each adjacent
        pair of the state (``inf`` where a slot is empty); the argmin is the pair merged next.
      * ``view(state, now) -> (mean [S, Z], age [S] float32, length [S] float32, valid [S])``:
        ``age = now - span_end`` and ``length = span_end - span_start`` give each summary's time.
      * ``key_view(state, now) -> (key [S, D], key_age [S] float32, key_salience [S]
        float32, key_input [S, I])``: each summary's key step, its age ``now - key_step``, its
        salience and its compact input (0 for empty slots).

    Raises:
      ValueError: if a size is not positive or a float setting is negative.
    """
    for field, value in (("size", size), ("summary_dim", summary_dim), ("embed_dim", embed_dim)):
        if value <= 0:
            raise ValueError(f"short-term {field} must be positive, got {value}")
    if key_input_dim < 0:
        raise ValueError(f"key_input_dim must be >= 0, got {key_input_dim}")
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
            redundancy=jnp.zeros((size,), jnp.float32),
            key=jnp.zeros((size, embed_dim), jnp.float32),
            key_salience=jnp.zeros((size,), jnp.float32),
            key_step=jnp.zeros((size,), jnp.int32),
            key_input=jnp.zeros((size, key_input_dim), jnp.float32),
            valid=jnp.zeros((size,), bool),
        )

    def distance(a: ShortTermState, b: ShortTermState) -> jax.Array:
        return bhattacharyya_distance(a.mean, a.log_var, b.mean, b.log_var, min_variance)

    def pair_costs(
        left: ShortTermState, right: ShortTermState, redundancy: jax.Array, now: jax.Array
    ) -> jax.Array:
        """Merge costs [P] of the pairs (left[p], right[p]); inf where either is empty."""
        both_valid = left.valid & right.valid
        if adaptive_compression:
            covered = (right.span_end - left.span_start).astype(jnp.float32)
            age = jnp.maximum(now - left.span_start, 1).astype(jnp.float32)
            cost = (redundancy + redundancy_floor) * covered / age
        else:
            cost = jnp.arange(left.valid.shape[0], dtype=jnp.float32)
        return jnp.where(both_valid, cost, jnp.inf)

    def merge_costs(state: ShortTermState, now: jax.Array) -> jax.Array:
        older = jax.tree.map(lambda rows: rows[:-1], state)
        newer = jax.tree.map(lambda rows: rows[1:], state)
        return pair_costs(older, newer, state.redundancy[:-1], jnp.asarray(now, jnp.int32))

    def push(
        state: ShortTermState,
        mean: jax.Array,
        log_var: jax.Array,
        centroid: jax.Array,
        span_start: jax.Array,
        span_end: jax.Array,
        pending: jax.Array,
        enabled: jax.Array | bool = True,
        key: jax.Array | None = None,
        key_salience: jax.Array | float = 0.0,
        key_step: jax.Array | None = None,
        key_input: jax.Array | None = None,
    ) -> ShortTermState:
        count = jnp.sum(state.valid.astype(jnp.int32))
        key = centroid if key is None else key
        key_step = span_start if key_step is None else key_step
        key_input = jnp.zeros((key_input_dim,)) if key_input is None else key_input
        new = ShortTermState(
            mean=mean.astype(jnp.float32),
            log_var=log_var.astype(jnp.float32),
            centroid=centroid.astype(jnp.float32),
            span_start=jnp.asarray(span_start, jnp.int32),
            span_end=jnp.asarray(span_end, jnp.int32),
            pending=jnp.asarray(pending, jnp.int32),
            redundancy=jnp.zeros((), jnp.float32),
            key=key.astype(jnp.float32),
            key_salience=jnp.asarray(key_salience, jnp.float32),
            key_step=jnp.asarray(key_step, jnp.int32),
            key_input=jnp.asarray(key_input, jnp.float32),
            valid=jnp.asarray(True),
        )
        slot = jnp.arange(size)
        full = count >= size
        # With all S slots used, the S old summaries and the new one form S + 1 items; pair p
        # merges item p (old slot p) with item p + 1 (old slot p + 1, or the new summary).
        # Rows are read by index (a gather): vmapped over many environments that is far cheaper
        # than a one-hot pass over every row.
        if adaptive_compression:
            # The only distance to the new summary needed: from the newest stored one.
            to_new = distance(_pick_gaussian(state, count - 1), new)
            redundancy = jnp.where(slot == count - 1, to_new, state.redundancy)
        else:
            redundancy = state.redundancy
        shifted = jax.tree.map(
            lambda rows, item: jnp.concatenate([rows[1:], item[None]]), state, new
        )
        pair = jnp.argmin(pair_costs(state, shifted, redundancy, new.span_end))
        left = jax.tree.map(lambda rows: _pick(rows, pair), state)
        right = _tree_where(
            pair == size - 1, new, jax.tree.map(lambda rows: _pick(rows, pair + 1), state)
        )
        lengths = (
            (left.span_end - left.span_start).astype(jnp.float32),
            (right.span_end - right.span_start).astype(jnp.float32),
        )
        merged_mean, merged_log_var = merge_gaussians(
            left.mean, left.log_var, lengths[0], right.mean, right.log_var, lengths[1], min_variance
        )
        share = lengths[0] / jnp.maximum(lengths[0] + lengths[1], 1.0)
        keep_left = left.key_salience >= right.key_salience
        merged = ShortTermState(
            mean=merged_mean,
            log_var=merged_log_var,
            centroid=share * left.centroid + (1.0 - share) * right.centroid,
            span_start=left.span_start,
            span_end=right.span_end,
            pending=left.pending + right.pending,
            redundancy=jnp.zeros((), jnp.float32),
            key=jnp.where(keep_left, left.key, right.key),
            key_salience=jnp.maximum(left.key_salience, right.key_salience),
            key_step=jnp.where(keep_left, left.key_step, right.key_step),
            key_input=jnp.where(keep_left, left.key_input, right.key_input),
            valid=jnp.asarray(True),
        )

        # Every result row is a copy of one row of [old slots..., new, merged]: work out which
        # (a few integers per environment) and gather once, so the row values are computed
        # once rather than inside every element of a chain of selects.
        new_row, merged_row = size, size + 1
        source_full = jnp.where(slot < pair, slot, jnp.where(slot == pair, merged_row, slot + 1))
        source_open = jnp.where(slot == count, new_row, slot)
        source = jnp.where(enabled, jnp.where(full, source_full, source_open), slot)
        result = jax.tree.map(
            lambda rows, item, fused: jnp.concatenate([rows, item[None], fused[None]])[source],
            state,
            new,
            merged,
        )
        if adaptive_compression:
            # Distances between neighbours: carried along with their left summary, except the
            # ones that involve the merged summary (to its predecessor and to its successor).
            before = _pick_gaussian(state, pair - 1)
            after = _tree_where(pair == size - 2, new, _pick_gaussian(state, pair + 2))
            to_after = jnp.where(after.valid, distance(merged, after), 0.0)
            carried = jnp.concatenate([redundancy, jnp.zeros((2,))])[source]
            merged_redundancy = jnp.where(
                slot == pair - 1,
                distance(before, merged),
                jnp.where(slot == pair, to_after, carried),
            )
            result = result.replace(
                redundancy=jnp.where(enabled & full, merged_redundancy, carried)
            )
        return result

    def view(
        state: ShortTermState, now: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        now = jnp.asarray(now, jnp.int32)
        age = jnp.where(state.valid, now - state.span_end, 0).astype(jnp.float32)
        length = jnp.where(state.valid, state.span_end - state.span_start, 0).astype(jnp.float32)
        return state.mean, age, length, state.valid

    def key_view(
        state: ShortTermState, now: jax.Array
    ) -> tuple[jax.Array, jax.Array, jax.Array, jax.Array]:
        now = jnp.asarray(now, jnp.int32)
        key_age = jnp.where(state.valid, now - state.key_step, 0).astype(jnp.float32)
        key_salience = jnp.where(state.valid, state.key_salience, 0.0)
        return state.key, key_age, key_salience, state.key_input

    return ShortTermMemory(
        init=init, push=push, merge_costs=merge_costs, view=view, key_view=key_view
    )
