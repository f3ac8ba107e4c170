"""Long-term tier: templates consolidated from short-term summaries by online clustering.

Each template is a diagonal Gaussian over the latent (like a summary), the mean step embedding
it stands for (its centroid) and a count of the steps it has absorbed. Consolidating a summary:

* if some template is within ``template_threshold`` (precision-weighted distance, see
  :func:`~hcmrl_jax.memory.compression.gaussian_distance`), the nearest one moves toward the
  summary by a moment-matched merge weighted by their counts (``summary steps`` against
  ``min(count, template_count_limit)``; the limit keeps templates able to follow a slow drift);
* otherwise the summary takes over the least-used template (an empty one first).

Optax style::

    tier = long_term_memory(size=8, summary_dim=16, embed_dim=64, template_threshold=4.0)
    state = tier.init()
    state = tier.consolidate(state, mean, log_var, centroid, weight)
    state = tier.consolidate_many(state, means, log_vars, centroids, weights)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from hcmrl_jax.memory.compression import gaussian_distance, merge_gaussians
from hcmrl_jax.memory.config import MemoryConfig

#: Default settings of a standalone tier: those of the hierarchical memory.
_DEFAULTS = MemoryConfig()


@struct.dataclass
class LongTermState:
    """Consolidated templates.

    Attributes:
      mean: [K, Z] float32 latent mean of each template.
      log_var: [K, Z] float32 latent log-variance (own spread plus spread of absorbed summaries).
      centroid: [K, D] float32 mean step embedding of the absorbed summaries.
      count: [K] float32 steps absorbed (0 for empty templates).
      valid: [K] bool, True for templates in use.
    """

    mean: jax.Array  # [K, Z] float32
    log_var: jax.Array  # [K, Z] float32
    centroid: jax.Array  # [K, D] float32
    count: jax.Array  # [K] float32
    valid: jax.Array  # [K] bool


class LongTermMemory(NamedTuple):
    """Pure functions of the long-term tier (see :func:`long_term_memory`)."""

    init: Callable[[], LongTermState]
    distances: Callable[[LongTermState, jax.Array, jax.Array], jax.Array]
    consolidate: Callable[..., LongTermState]
    consolidate_many: Callable[..., LongTermState]
    view: Callable[[LongTermState], tuple[jax.Array, jax.Array, jax.Array]]


def long_term_memory(
    size: int,
    summary_dim: int,
    embed_dim: int,
    template_threshold: float = _DEFAULTS.template_threshold,
    template_count_limit: float = _DEFAULTS.template_count_limit,
    min_variance: float = _DEFAULTS.min_variance,
) -> LongTermMemory:
    """Builds the long-term tier.

    Args:
      size: number of templates K (>= 1).
      summary_dim: latent width Z.
      embed_dim: width D of the step embeddings (for the centroids).
      template_threshold: a summary farther than this from every template starts a new one.
      template_count_limit: cap on a template's count when weighing it against a new summary.
      min_variance: floor on variances in distances and merges.

    Returns:
      A :class:`LongTermMemory` of pure functions:

      * ``init() -> LongTermState``: no template.
      * ``distances(state, mean [Z], log_var [Z]) -> [K] float32``: distance of a summary to each
        template, ``inf`` for empty ones.
      * ``consolidate(state, mean [Z], log_var [Z], centroid [D], weight [] float32) -> state``:
        absorbs one summary covering ``weight`` steps (no change when ``weight <= 0``).
      * ``consolidate_many(state, means [S, Z], log_vars [S, Z], centroids [S, D],
        weights [S]) -> state``: absorbs summaries in order (those with weight 0 are skipped).
      * ``view(state) -> (mean [K, Z], count [K] float32, valid [K] bool)``.

    Raises:
      ValueError: if a size or threshold is not positive.
    """
    for field, value in (
        ("size", size),
        ("summary_dim", summary_dim),
        ("embed_dim", embed_dim),
        ("template_threshold", template_threshold),
        ("template_count_limit", template_count_limit),
        ("min_variance", min_variance),
    ):
        if value <= 0:
            raise ValueError(f"long-term {field} must be positive, got {value}")

    def init() -> LongTermState:
        return LongTermState(
            mean=jnp.zeros((size, summary_dim), jnp.float32),
            log_var=jnp.zeros((size, summary_dim), jnp.float32),
            centroid=jnp.zeros((size, embed_dim), jnp.float32),
            count=jnp.zeros((size,), jnp.float32),
            valid=jnp.zeros((size,), bool),
        )

    def distances(state: LongTermState, mean: jax.Array, log_var: jax.Array) -> jax.Array:
        distance = gaussian_distance(state.mean, state.log_var, mean, log_var, min_variance)
        return jnp.where(state.valid, distance, jnp.inf)

    def consolidate(
        state: LongTermState,
        mean: jax.Array,
        log_var: jax.Array,
        centroid: jax.Array,
        weight: jax.Array,
    ) -> LongTermState:
        weight = jnp.asarray(weight, jnp.float32)
        distance = distances(state, mean, log_var)
        nearest = jnp.argmin(distance)
        novel = jnp.min(distance) > template_threshold  # also True when no template is valid
        # Empty templates rank below every used one, so they are taken over first.
        least_used = jnp.argmin(jnp.where(state.valid, state.count, -1.0))
        slot = jnp.where(novel, least_used, nearest)

        # Rows are read by index (a gather); vmapped over many environments that is far
        # cheaper than a one-hot pass over every row.
        chosen_count = state.count[slot]
        chosen_mean = state.mean[slot]
        chosen_log_var = state.log_var[slot]
        chosen_centroid = state.centroid[slot]

        prior = jnp.minimum(chosen_count, template_count_limit)
        moved_mean, moved_log_var = merge_gaussians(
            chosen_mean, chosen_log_var, prior, mean, log_var, weight, min_variance
        )
        total = prior + weight
        share = weight / jnp.where(total > 0, total, 1.0)
        moved_centroid = chosen_centroid + share * (centroid - chosen_centroid)
        row = LongTermState(
            mean=jnp.where(novel, mean, moved_mean),
            log_var=jnp.where(novel, log_var, moved_log_var),
            centroid=jnp.where(novel, centroid, moved_centroid),
            count=jnp.where(novel, weight, chosen_count + weight),
            valid=jnp.asarray(True),
        )
        # Each result row copies a row of [old templates..., updated template]; the updated
        # one is computed once, not inside every element of a select over all rows.
        index = jnp.arange(size)
        source = jnp.where((index == slot) & (weight > 0), size, index)
        return jax.tree.map(
            lambda rows, item: jnp.concatenate([rows, item[None].astype(rows.dtype)])[source],
            state,
            row,
        )

    def consolidate_many(
        state: LongTermState,
        means: jax.Array,
        log_vars: jax.Array,
        centroids: jax.Array,
        weights: jax.Array,
    ) -> LongTermState:
        def absorb(carry: LongTermState, item: tuple[jax.Array, ...]) -> tuple[LongTermState, None]:
            return consolidate(carry, *item), None

        state, _ = jax.lax.scan(absorb, state, (means, log_vars, centroids, weights))
        return state

    def view(state: LongTermState) -> tuple[jax.Array, jax.Array, jax.Array]:
        return state.mean, state.count, state.valid

    return LongTermMemory(
        init=init,
        distances=distances,
        consolidate=consolidate,
        consolidate_many=consolidate_many,
        view=view,
    )
