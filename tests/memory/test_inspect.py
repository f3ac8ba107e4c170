"""Tier occupancy and compression events read off a memory over one episode."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from hcmrl_jax.memory.inspect import OCCUPANCY_KEYS, memory_events, tier_occupancy

from .conftest import SMALL, random_inputs

STEPS = 40  # 10 segments of 4 steps into 4 short-term slots: summaries, merges, templates


@pytest.fixture(scope="module")
def episode(small):
    memory, params = small.memory, small.params
    embeddings, queries, firsts = random_inputs(3, STEPS, SMALL["embed_dim"])

    @jax.jit
    def run(state):
        def body(state, inputs):
            embedding, query, first = inputs
            _, state, _ = memory.apply(params, state, embedding, query, first, method="step")
            return state, tier_occupancy(state)

        return jax.lax.scan(body, state, (embeddings, queries, firsts))

    final, occupancy = run(memory.initial_state())
    return final, jax.tree.map(np.asarray, occupancy)


def test_occupancy_counts_the_slots_in_use(episode):
    final, occupancy = episode
    assert set(occupancy) == set(OCCUPANCY_KEYS)
    assert all(values.shape == (STEPS,) for values in occupancy.values())
    length, slots = SMALL["segment_length"], SMALL["short_term_size"]
    steps = np.arange(1, STEPS + 1)
    np.testing.assert_array_equal(
        occupancy["immediate"], np.minimum(steps, SMALL["immediate_size"])
    )
    # One summary per closed segment until the tier is full; then merges keep it full.
    np.testing.assert_array_equal(occupancy["short_term"], np.minimum(steps // length, slots))
    np.testing.assert_array_equal(occupancy["summarised_until"], steps // length * length)
    assert occupancy["long_term"][-1] == int(np.sum(final.long_term.valid))
    single = tier_occupancy(final)
    assert {k: int(v) for k, v in single.items() if k != "absorbed"} == {
        k: int(v[-1]) for k, v in occupancy.items() if k != "absorbed"
    }


def test_events_are_the_segment_closes_merges_and_consolidations(episode):
    _, occupancy = episode
    length, slots = SMALL["segment_length"], SMALL["short_term_size"]
    events = memory_events(occupancy, slots)
    closes = np.arange(length - 1, STEPS, length)  # the step that closes each segment
    np.testing.assert_array_equal(events["summarised"], closes)
    np.testing.assert_array_equal(events["merged"], closes[slots:])  # the tier was full
    assert events["consolidated"].size > 0
    assert set(events["consolidated"]) <= set(closes)  # consolidation happens at a close
    assert np.all(np.diff(occupancy["absorbed"][events["consolidated"]]) > 0)


def test_events_refuse_batches_and_bad_sizes(episode):
    _, occupancy = episode
    with pytest.raises(ValueError, match="short_term_size"):
        memory_events(occupancy, 0)
    batched = {k: np.stack([v, v]) for k, v in occupancy.items()}
    with pytest.raises(ValueError, match="one episode"):
        memory_events(batched, SMALL["short_term_size"])
