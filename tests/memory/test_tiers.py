"""Each tier on its own: immediate buffer, short-term merging, long-term clustering."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.memory import (
    bhattacharyya_distance,
    gaussian_distance,
    immediate_memory,
    long_term_memory,
    merge_gaussians,
    short_term_memory,
)


def test_immediate_keeps_the_last_writes_with_their_ages():
    tier = immediate_memory(size=4, embed_dim=2)
    state = tier.init()
    write = jax.jit(tier.write)
    for step in range(6):
        state = write(state, jnp.full((2,), float(step)), step)
    # Steps 4 and 5 overwrote the slots of steps 0 and 1.
    np.testing.assert_array_equal(state.embeddings[:, 0], [4.0, 5.0, 2.0, 3.0])
    np.testing.assert_array_equal(state.write_step, [4, 5, 2, 3])
    _, ages, valid = jax.jit(tier.view)(state, 6)
    np.testing.assert_array_equal(ages, [2.0, 1.0, 4.0, 3.0])
    assert bool(jnp.all(valid))
    segment, segment_valid = jax.jit(tier.latest, static_argnums=2)(state, 6, 3)
    np.testing.assert_array_equal(segment[:, 0], [3.0, 4.0, 5.0])
    assert bool(jnp.all(segment_valid))


def test_immediate_partial_buffer_marks_only_written_slots():
    tier = immediate_memory(size=4, embed_dim=2)
    state = jax.jit(tier.write)(tier.init(), jnp.ones((2,)), 0)
    np.testing.assert_array_equal(state.valid, [True, False, False, False])
    _, ages, _ = jax.jit(tier.view)(state, 1)
    np.testing.assert_array_equal(ages, [1.0, 0.0, 0.0, 0.0])
    segment, segment_valid = jax.jit(tier.latest, static_argnums=2)(state, 1, 3)
    np.testing.assert_array_equal(segment_valid, [False, False, True])
    np.testing.assert_array_equal(segment[:2], 0.0)
    with pytest.raises(ValueError, match="embedding"):
        tier.write(state, jnp.ones((3,)), 1)


def _push_all(tier, means, log_vars, length=4):
    state = tier.init()
    push = jax.jit(tier.push)
    centroid = jnp.zeros((2,))
    for index, (mean, log_var) in enumerate(zip(means, log_vars, strict=True)):
        start = index * length
        state = push(state, mean, log_var, centroid, start, start + length, length)
    return state


def test_short_term_adaptive_merges_the_most_redundant_neighbours():
    tier = short_term_memory(size=4, summary_dim=2, embed_dim=2, adaptive_compression=True)
    # Summaries 2 and 3 (of five) are identical; everything else is far apart.
    means = jnp.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [0.0, 10.0], [-10.0, -10.0]])
    state = _push_all(tier, means, jnp.zeros((5, 2)))
    np.testing.assert_array_equal(state.span_start, [0, 4, 8, 16])
    np.testing.assert_array_equal(state.span_end, [4, 8, 16, 20])
    np.testing.assert_allclose(state.mean[2], [0.0, 10.0])
    np.testing.assert_array_equal(state.pending, [4, 4, 8, 4])


def test_short_term_fixed_merges_the_oldest_pair():
    tier = short_term_memory(size=4, summary_dim=2, embed_dim=2, adaptive_compression=False)
    means = jnp.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [0.0, 10.0], [-10.0, -10.0]])
    state = _push_all(tier, means, jnp.zeros((5, 2)))
    np.testing.assert_array_equal(state.span_start, [0, 8, 12, 16])
    np.testing.assert_allclose(state.mean[0], [5.0, 0.0])  # equal spans: the plain average


def test_short_term_adaptive_resolution_falls_with_age_and_spans_tile_the_episode():
    size, length, pushes = 6, 4, 60
    tier = short_term_memory(size=size, summary_dim=3, embed_dim=2, adaptive_compression=True)
    means = 0.1 * jnp.asarray(np.random.default_rng(0).standard_normal((pushes, 3)), jnp.float32)
    state = _push_all(tier, means, jnp.zeros((pushes, 3)), length)
    starts, ends = np.asarray(state.span_start), np.asarray(state.span_end)
    assert starts[0] == 0 and ends[-1] == pushes * length
    np.testing.assert_array_equal(ends[:-1], starts[1:])
    spans = ends - starts
    assert spans[-1] == length and spans[0] > 4 * spans[-1]
    assert state.pending.sum() == pushes * length
    # The cached neighbour distances match distances computed afresh.
    fresh = bhattacharyya_distance(
        state.mean[:-1], state.log_var[:-1], state.mean[1:], state.log_var[1:], 1e-4
    )
    np.testing.assert_allclose(state.redundancy[:-1], fresh, rtol=1e-5, atol=1e-6)
    assert float(state.redundancy[-1]) == 0.0


def test_merge_gaussians_is_the_moment_matched_mixture():
    merge = jax.jit(merge_gaussians, static_argnums=6)
    mean, log_var = merge(
        jnp.zeros(1), jnp.zeros(1), 1.0, jnp.full(1, 2.0), jnp.zeros(1), 3.0, 1e-4
    )
    np.testing.assert_allclose(mean, [1.5], rtol=1e-6)
    # Mixture variance: within (1) + between (0.25 * 0.75 * 2^2 = 0.75).
    np.testing.assert_allclose(jnp.exp(log_var), [1.75], rtol=1e-5)
    distance = jax.jit(gaussian_distance, static_argnums=4)(
        jnp.zeros(2), jnp.zeros(2), jnp.full(2, 2.0), jnp.zeros(2), 1e-4
    )
    np.testing.assert_allclose(distance, 2.0, rtol=1e-6)


@pytest.mark.parametrize("num_sources", [3, 8])
def test_long_term_templates_settle_near_the_source_centres(num_sources):
    size, dim = 8, 4
    tier = long_term_memory(size=size, summary_dim=dim, embed_dim=dim, template_threshold=4.0)
    rng = np.random.default_rng(num_sources)
    centres = 6.0 * rng.standard_normal((num_sources, dim))
    # The sources must be well separated for the test to mean anything.
    pairwise = np.linalg.norm(centres[:, None] - centres[None], axis=-1)
    assert pairwise[~np.eye(num_sources, dtype=bool)].min() > 2.0
    draws = 40 * num_sources
    source = rng.integers(0, num_sources, draws)
    means = jnp.asarray(centres[source] + 0.1 * rng.standard_normal((draws, dim)), jnp.float32)
    log_vars = jnp.full((draws, dim), 2 * np.log(0.2), jnp.float32)
    state = jax.jit(tier.consolidate_many)(
        tier.init(), means, log_vars, means, jnp.full((draws,), 4.0)
    )
    templates = np.asarray(state.mean)[np.asarray(state.valid)]
    assert len(templates) == num_sources
    to_centre = np.linalg.norm(templates[:, None] - centres[None], axis=-1)
    assert to_centre.min(axis=1).max() < 0.1  # every template sits on a centre
    assert to_centre.min(axis=0).max() < 0.1  # every centre has a template
    np.testing.assert_allclose(state.count.sum(), 4.0 * draws)


def test_long_term_novel_summary_takes_over_the_least_used_template():
    tier = long_term_memory(size=2, summary_dim=2, embed_dim=2, template_threshold=4.0)
    state = tier.init()
    zeros = jnp.zeros((2,))
    consolidate = jax.jit(tier.consolidate)
    state = consolidate(state, jnp.array([0.0, 0.0]), zeros, zeros, 10.0)
    state = consolidate(state, jnp.array([9.0, 9.0]), zeros, zeros, 2.0)
    state = consolidate(state, jnp.array([-9.0, 9.0]), zeros, zeros, 3.0)
    np.testing.assert_allclose(state.mean, [[0.0, 0.0], [-9.0, 9.0]])
    np.testing.assert_allclose(state.count, [10.0, 3.0])
    unchanged = consolidate(state, jnp.array([5.0, 5.0]), zeros, zeros, 0.0)
    np.testing.assert_array_equal(unchanged.mean, state.mean)


@pytest.mark.parametrize(
    ("factory", "kwargs", "field"),
    [
        (immediate_memory, dict(size=0, embed_dim=2), "size"),
        (short_term_memory, dict(size=2, summary_dim=0, embed_dim=2), "summary_dim"),
        (
            long_term_memory,
            dict(size=2, summary_dim=2, embed_dim=2, template_threshold=0.0),
            "template_threshold",
        ),
    ],
)
def test_tier_factories_reject_bad_sizes(factory, kwargs, field):
    with pytest.raises(ValueError, match=field):
        factory(**kwargs)


def test_short_term_merges_keep_the_more_salient_key_step():
    tier = short_term_memory(size=3, summary_dim=2, embed_dim=2, adaptive_compression=False)
    push = jax.jit(tier.push)
    state = tier.init()
    # Salience 9 on the second summary's key; the oldest pair merges at every push once full.
    saliences = [1.0, 9.0, 2.0, 3.0, 4.0, 5.0]
    for index, salience in enumerate(saliences):
        start = 4 * index
        state = push(
            state,
            jnp.zeros((2,)),
            jnp.zeros((2,)),
            jnp.zeros((2,)),
            start,
            start + 4,
            4,
            True,
            key=jnp.full((2,), float(index)),
            key_salience=salience,
            key_step=start + 1,
        )
    # Four merges into the oldest slot: it covers steps [0, 16) and still holds summary 1's key.
    np.testing.assert_array_equal(state.span_start, [0, 16, 20])
    np.testing.assert_array_equal(state.key_step, [5, 17, 21])
    np.testing.assert_allclose(state.key[0], [1.0, 1.0])
    np.testing.assert_allclose(state.key_salience, [9.0, 4.0, 5.0])
    keys, key_ages, key_saliences, _ = jax.jit(tier.key_view)(state, 24)
    np.testing.assert_allclose(key_saliences, [9.0, 4.0, 5.0])
    np.testing.assert_allclose(keys, state.key)
    np.testing.assert_array_equal(key_ages, [19.0, 7.0, 3.0])
