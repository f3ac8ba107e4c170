"""HierarchicalMemory: configuration, long runs, determinism, resets, recall, gradients."""

from __future__ import annotations

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.memory import (
    HierarchicalMemory,
    MemoryReadInfo,
    MemoryState,
    gaussian_distance,
    long_term_memory,
)

from .conftest import CONFIGS, SMALL, key, random_inputs, setup

LENGTH = SMALL["segment_length"]
DIM = SMALL["embed_dim"]


def _spans(state: MemoryState) -> tuple[np.ndarray, np.ndarray]:
    valid = np.asarray(state.short_term.valid)
    starts = np.asarray(state.short_term.span_start)[valid]
    return starts, np.asarray(state.short_term.span_end)[valid]


def assert_spans_tile_the_episode(state: MemoryState) -> None:
    """Short-term spans are contiguous from step 0 and add up to every closed segment."""
    starts, ends = _spans(state)
    t = int(state.t)
    closed = t - t % LENGTH
    assert starts[0] == 0
    np.testing.assert_array_equal(ends[:-1], starts[1:])
    assert ends[-1] == closed
    assert int(np.sum(ends - starts)) == closed


@pytest.fixture(scope="session")
def small_step(small):
    """The jitted single step of the small configuration; it may be traced only once."""

    @jax.jit
    @chex.assert_max_traces(n=1)
    def step(state, embedding, query, first):
        return small.memory.apply(small.params, state, embedding, query, first, method="step")

    return step


@pytest.fixture(scope="session")
def small_novelty(small):
    return jax.jit(lambda s, e: small.memory.apply(small.params, s, e, method="novelty"))


# --------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (dict(immediate_size=0), "immediate_size"),
        (dict(short_term_size=-1), "short_term_size"),
        (dict(long_term_size=0), "long_term_size"),
        (dict(embed_dim=0), "embed_dim"),
        (dict(latent_dim=0), "latent_dim"),
        (dict(segment_length=0), "segment_length"),
        (dict(segment_length=9), "segment_length"),
        (dict(num_heads=3), "num_heads"),
        (dict(num_heads=0), "num_heads"),
        (dict(summary="pca"), "summary"),
        (dict(use_short_term=False), "use_long_term"),
        (dict(beta=-1.0), "beta"),
        (dict(time_features=1), "time_features"),
        (dict(time_horizon=0.0), "time_horizon"),
        (dict(template_threshold=0.0), "template_threshold"),
        (dict(min_variance=0.0), "min_variance"),
        (dict(log_var_min=5.0), "log_var_min"),
        (dict(immediate_size=8.0), "immediate_size"),
    ],
)
def test_bad_configuration_raises_value_error_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=field):
        HierarchicalMemory(**{**SMALL, **overrides})


def test_bad_input_shapes_raise_value_errors(small):
    memory, params = small.memory, small.params
    state = memory.initial_state()
    good, bad = jnp.zeros((DIM,)), jnp.zeros((3,))
    with pytest.raises(ValueError, match="embedding"):
        memory.apply(params, state, bad, good, False, method="step")
    with pytest.raises(ValueError, match="query"):
        memory.apply(params, state, good, bad, False, method="step")
    with pytest.raises(ValueError, match="query"):
        memory.apply(params, state, bad, method="read")
    with pytest.raises(ValueError, match="segments"):
        memory.apply(params, jnp.zeros((2, 3, DIM)), key(0), method="vae_loss")
    context = jax.tree.map(lambda x: x[None], memory.replay_context(state, True))
    with pytest.raises(ValueError, match="embeddings"):
        memory.apply(
            params, state, bad[None], bad[None], jnp.ones(1, bool), context, method="read_sequence"
        )
    with pytest.raises(ValueError, match="is_first"):
        memory.apply(
            params,
            state,
            good[None],
            good[None],
            jnp.ones(2, bool),
            context,
            method="read_sequence",
        )


def test_initial_state_batch_shape_and_param_tree(small):
    memory = small.memory
    state = memory.initial_state((5,))
    assert state.immediate.embeddings.shape == (5, 8, DIM)
    assert state.short_term.mean.shape == (5, 4, 4)
    assert state.short_term.span_start.dtype == jnp.int32
    assert state.long_term.centroid.shape == (5, 3, DIM)
    assert state.t.shape == (5,) and state.t.dtype == jnp.int32
    params = small.params["params"]
    assert set(params) == {"attention", "vae"}
    assert set(params["attention"]) == {
        "immediate_attention",
        "short_term_attention",
        "long_term_attention",
        "tier_mix",
    }
    # Summaries enter attention through a learned projection to D from Z + two time codes +
    # the key step's embedding (D) and its time code.
    assert params["attention"]["short_term_attention"]["input_kernel"].shape == (
        4 + 2 * 4 + DIM + 4,
        DIM,
    )
    assert {"encoder_input", "decoder_output", "head_mean"} <= set(params["vae"])
    assert memory.state_nbytes() == sum(x.nbytes for x in jax.tree.leaves(state)) // 5


def test_empty_memory_reads_zeros_without_nan(small, small_novelty):
    state = small.memory.initial_state()
    query = jnp.ones((DIM,))
    readout, info = jax.jit(lambda s, q: small.memory.apply(small.params, s, q, method="read"))(
        state, query
    )
    np.testing.assert_array_equal(readout, np.zeros(DIM))
    for weights in jax.tree.leaves(info):
        np.testing.assert_array_equal(weights, np.zeros_like(weights))
    assert float(small_novelty(state, query)) == 0.0


# ------------------------------------------------------------------------------ long runs


def test_ten_thousand_steps_keep_shapes_finite_values_and_one_compiled_program(small, small_step):
    steps = 10_000
    embeddings, queries, firsts = random_inputs(1, steps, DIM)
    initial = small.memory.initial_state()
    final, (readouts, infos) = small.run(small.params, initial, embeddings, queries, firsts)
    assert int(final.t) == steps
    chex.assert_trees_all_equal_shapes_and_dtypes(final, initial)
    for leaf in jax.tree.leaves(final):
        if jnp.issubdtype(leaf.dtype, jnp.floating):
            assert bool(jnp.all(jnp.isfinite(leaf)))
    assert bool(jnp.all(jnp.isfinite(readouts)))
    assert_spans_tile_the_episode(final)
    # Every tier is in use and the tier mix is a distribution over them.
    assert bool(jnp.all(final.short_term.valid)) and bool(jnp.any(final.long_term.valid))
    np.testing.assert_allclose(jnp.sum(infos.tier_mix[-1]), 1.0, rtol=1e-5)
    assert bool(jnp.all(infos.tier_mix[-1] > 0))
    # Attention weights are distributions over each non-empty tier's valid slots.
    np.testing.assert_allclose(jnp.sum(infos.short_term_weights[-1], -1), 1.0, rtol=1e-5)

    # The same compiled program serves t = 10 and t = 10,000 (a retrace would raise).
    early, _ = small.run(small.params, initial, embeddings[:10], queries[:10], firsts[:10])
    args = (embeddings[0], queries[0], jnp.asarray(False))
    small_step(early, *args)
    small_step(final, *args)
    lowered = [
        jax.jit(lambda s, e, q, f: small.memory.apply(small.params, s, e, q, f, method="step"))
        .lower(s, *args)
        .as_text()
        for s in (early, final)
    ]
    assert lowered[0] == lowered[1]


def test_same_inputs_same_outputs_and_plain_jit_vmap_agree(small):
    memory, params = small.memory, small.params
    steps, envs = 12, 3
    inputs = [random_inputs(seed, steps, DIM) for seed in (2, 3, 4)]
    state = memory.initial_state()
    first = small.run(params, state, *inputs[0])
    again = small.run(params, state, *inputs[0])
    chex.assert_trees_all_equal(first, again)

    # The plain (op by op, not jitted) read of the state before the last step agrees with the
    # read the jitted step made.
    before_last, _ = small.run(params, state, *(x[:-1] for x in inputs[0]))
    plain_readout, plain_info = memory.apply(params, before_last, inputs[0][1][-1], method="read")
    np.testing.assert_allclose(plain_readout, first[1][0][-1], atol=1e-5)
    chex.assert_trees_all_close(plain_info, jax.tree.map(lambda x: x[-1], first[1][1]), atol=1e-6)

    # A vmapped batch agrees with running each environment alone.
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs, axis=1), *inputs)  # [T, N, ...]
    batched_step = jax.vmap(
        lambda s, e, q, f: memory.apply(params, s, e, q, f, method="step"), in_axes=0
    )

    def batched_run(state, embeddings, queries, firsts):
        def body(carry, x):
            readout, carry, _ = batched_step(carry, *x)
            return carry, readout

        return jax.lax.scan(body, state, (embeddings, queries, firsts))

    batch_final, batch_readouts = jax.jit(batched_run)(memory.initial_state((envs,)), *stacked)
    for env in range(envs):
        alone_final, (alone_readouts, _) = small.run(params, state, *inputs[env])
        chex.assert_trees_all_close(
            jax.tree.map(lambda x, env=env: x[env], batch_final), alone_final, atol=1e-5
        )
        np.testing.assert_allclose(batch_readouts[:, env], alone_readouts, atol=1e-5)


def test_step_is_reset_then_read_then_write_then_consolidate(small, small_step):
    memory, params, steps = small.memory, small.params, 14
    embeddings, queries, firsts = random_inputs(5, steps, DIM)
    firsts = firsts.at[9].set(True)

    @jax.jit
    def composed(state, embedding, query, first):
        state = memory.apply(params, state, first, method="reset")
        readout, info = memory.apply(params, state, query, method="read")
        state = memory.apply(params, state, embedding, method="write")
        return readout, memory.apply(params, state, method="consolidate"), info

    state_a = state_b = memory.initial_state()
    for t in range(steps):
        readout_a, state_a, info_a = small_step(state_a, embeddings[t], queries[t], firsts[t])
        readout_b, state_b, info_b = composed(state_b, embeddings[t], queries[t], firsts[t])
        np.testing.assert_allclose(readout_a, readout_b, atol=1e-5)
        chex.assert_trees_all_close(info_a, info_b, atol=1e-6)
    chex.assert_trees_all_close(state_a, state_b, atol=1e-5)
    assert isinstance(info_a, MemoryReadInfo)


# --------------------------------------------------------------------------------- resets


@pytest.mark.parametrize("name", ["small", "mean"])
def test_first_step_flag_clears_episodic_tiers(name):
    memory, params, run = setup(name)
    embeddings, queries, firsts = random_inputs(6, 41, DIM)
    firsts = firsts.at[-1].set(True)  # the second episode starts at the last step
    before, _ = run(params, memory.initial_state(), embeddings[:-1], queries[:-1], firsts[:-1])
    assert bool(jnp.all(before.short_term.valid)) and bool(jnp.any(before.long_term.valid))
    after, (_, infos) = run(params, before, embeddings[-1:], queries[-1:], firsts[-1:])
    info = jax.tree.map(lambda x: x[0], infos)
    # The read came after the reset: nothing of the old episode is visible to it.
    np.testing.assert_array_equal(info.immediate_weights, 0.0)
    np.testing.assert_array_equal(info.short_term_weights, 0.0)
    assert int(after.t) == 1
    assert int(after.immediate.valid.sum()) == 1  # only the step just written
    assert not bool(jnp.any(after.short_term.valid))
    np.testing.assert_array_equal(after.segment_sum, embeddings[-1])
    if memory.config.long_term_persists:
        chex.assert_trees_all_equal(after.long_term, before.long_term)
        assert float(info.tier_mix[2]) == pytest.approx(1.0)
    else:
        assert not bool(jnp.any(after.long_term.valid))
        np.testing.assert_array_equal(info.tier_mix, 0.0)


# --------------------------------------------------------------------------------- recall


def test_distinctive_step_at_t0_is_recalled_after_a_thousand_writes():
    # Mean-pool summaries keep what the embeddings hold; for VAE summaries the same check runs
    # with a trained VAE in test_vae.py (an untrained one maps everything to vague latents).
    memory, params, run = setup("mean")
    embeddings, queries, firsts = random_inputs(7, 1001, DIM)
    embeddings = embeddings.at[0].set(8.0)  # distinctive
    final, _ = run(params, memory.initial_state(), embeddings, queries, firsts)
    assert_spans_tile_the_episode(final)
    # The stored summary nearest to the first segment's own summary is the one covering t=0 ...
    target_mean, target_log_var = memory.apply(params, embeddings[:LENGTH], method="summarize")
    short_term = final.short_term
    distance = gaussian_distance(
        short_term.mean, short_term.log_var, target_mean, target_log_var, memory.config.min_variance
    )
    nearest = int(jnp.argmin(jnp.where(short_term.valid, distance, jnp.inf)))
    assert int(short_term.span_start[nearest]) == 0
    # ... and, being novel, it kept its own slot at full resolution while others merged.
    assert int(short_term.span_end[nearest]) == LENGTH
    assert int(jnp.max(short_term.span_end - short_term.span_start)) > 100 * LENGTH


def test_fixed_compression_merges_the_oldest_regardless_of_novelty():
    memory, params, run = setup("fixed")
    embeddings, queries, firsts = random_inputs(7, 201, DIM)
    embeddings = embeddings.at[0].set(8.0)
    final, (_, infos) = run(params, memory.initial_state(), embeddings, queries, firsts)
    assert_spans_tile_the_episode(final)
    starts, ends = _spans(final)
    np.testing.assert_array_equal(ends[1:] - starts[1:], LENGTH)
    assert starts[0] == 0 and ends[0] == 200 - 3 * LENGTH
    # Without a long-term tier nothing is consolidated or read there.
    assert not bool(jnp.any(final.long_term.valid))
    np.testing.assert_array_equal(infos.long_term_weights, 0.0)
    np.testing.assert_array_equal(infos.tier_mix[:, 2], 0.0)


def test_a_salient_step_outlives_every_merge_of_its_span_as_a_key():
    # Fixed compression merges the oldest pair at every push, so by step 400 the first slot
    # averages ~90 segments; its key is still the one unusual step, written at t = 1 (not a
    # segment boundary), and the read sees it (with its age) beside the summary.
    memory, params, run = setup("fixed")
    embeddings, queries, firsts = random_inputs(9, 401, DIM)
    embeddings = embeddings.at[1].set(8.0)
    final, _ = run(params, memory.initial_state(), embeddings, queries, firsts)
    short_term = final.short_term
    assert int(short_term.span_start[0]) == 0 and int(short_term.span_end[0]) > 80 * LENGTH
    assert int(short_term.key_step[0]) == 1
    np.testing.assert_allclose(short_term.key[0], 8.0)
    assert float(short_term.key_salience[0]) > 10 * float(jnp.max(short_term.key_salience[1:]))
    keys, key_ages, _, _ = memory.replay_context(final, False)["short_term_keys"]
    np.testing.assert_allclose(keys[0], 8.0)
    assert float(key_ages[0]) == 400.0
    # The salience statistics describe the input stream: an episode start keeps them.
    reset = memory.reset(final, True)
    np.testing.assert_array_equal(reset.salience_var, final.salience_var)
    np.testing.assert_array_equal(reset.salience_seen, final.salience_seen)
    assert not bool(jnp.any(reset.short_term.valid))
    # The ablation reads summaries only.
    no_keys = HierarchicalMemory(**{**CONFIGS["fixed"], "key_steps": False})
    assert "short_term_keys" not in no_keys.replay_context(no_keys.initial_state(), True)


def test_salience_input_is_checked_against_salience_features():
    memory = HierarchicalMemory(**{**SMALL, "salience_features": 3})
    params = memory.init_params(key(1))
    state = memory.initial_state()
    assert state.salience_mean.shape == (3,)
    embedding = jnp.zeros((DIM,))
    with pytest.raises(ValueError, match="salience_input"):
        memory.apply(params, state, embedding, embedding, True, method="step")
    with pytest.raises(ValueError, match="salience_input"):
        memory.apply(params, state, embedding, embedding, True, jnp.zeros(4), method="step")
    _, state, _ = memory.apply(
        params, state, embedding, embedding, True, jnp.ones(3), method="step"
    )
    # A fresh memory's first step: the plain mean of the initial 0 (counted once) and the input.
    np.testing.assert_allclose(state.salience_mean, 0.5)
    # The key keeps the input as a clipped z-score, read beside the key embedding; the
    # switches drop the kept input and the salience prior.
    short_term = params["params"]["attention"]["short_term_attention"]
    assert short_term["input_kernel"].shape[0] == 4 + 2 * 4 + DIM + 4 + 3
    assert short_term["prior_scale"].shape == (2,)
    plain = HierarchicalMemory(
        **{**SMALL, "salience_features": 3, "key_inputs": False, "salience_prior": False}
    )
    plain_params = jax.eval_shape(plain.init_params, key(1))["params"]["attention"]
    assert plain_params["short_term_attention"]["input_kernel"].shape[0] == 4 + 2 * 4 + DIM + 4
    assert "prior_scale" not in plain_params["short_term_attention"]
    assert plain.initial_state().short_term.key_input.shape == (4, 0)
    with pytest.raises(ValueError, match="salience_features"):
        HierarchicalMemory(**{**SMALL, "salience_features": -1})
    with pytest.raises(ValueError, match="salience_rate"):
        HierarchicalMemory(**{**SMALL, "salience_rate": 0.0})


def test_immediate_only_ablation_never_summarises():
    memory, params, run = setup("immediate")
    embeddings, queries, firsts = random_inputs(8, 20, DIM)
    final, (readouts, infos) = run(params, memory.initial_state(), embeddings, queries, firsts)
    assert bool(jnp.all(jnp.isfinite(readouts)))
    assert not bool(jnp.any(final.short_term.valid)) and not bool(jnp.any(final.long_term.valid))
    np.testing.assert_array_equal(infos.tier_mix[1:, 0], 1.0)
    np.testing.assert_array_equal(infos.tier_mix[:, 1:], 0.0)
    assert set(params["params"]) == {"attention"}
    loss, metrics = memory.apply(params, jnp.ones((2, LENGTH, DIM)), key(0), method="vae_loss")
    assert float(loss) == 0.0 and float(metrics["kl"]) == 0.0


@pytest.mark.parametrize(("name", "carries"), [("immediate", False), ("immediate_working", True)])
def test_a_working_state_carries_a_step_past_the_immediate_window(name, carries):
    """Two episodes that differ only in their first step read the same once that step has
    left the immediate window, unless a working state integrated it; it is cleared at the
    next episode start."""
    memory, params, run = setup(name)
    steps = SMALL["immediate_size"] + 4
    embeddings, queries, firsts = random_inputs(11, steps + 3, DIM)
    firsts = firsts.at[steps].set(True)  # a second episode begins at `steps`
    changed = embeddings.at[0].add(3.0)
    _, (reads, _) = run(params, memory.initial_state(), embeddings, queries, firsts)
    _, (reads_changed, _) = run(params, memory.initial_state(), changed, queries, firsts)
    window_left = np.abs(reads[steps - 1] - reads_changed[steps - 1]).max()
    assert (window_left > 1e-3) if carries else (window_left == 0.0)
    np.testing.assert_array_equal(reads[steps:], reads_changed[steps:])  # the reset clears it
    final, _ = run(params, memory.initial_state(), embeddings, queries, firsts)
    assert final.working.shape == (memory.config.working_size,)


# ------------------------------------------------------------------------------ gradients


def test_gradients_reach_written_embeddings_attention_params_and_vae(small):
    memory, steps = small.memory, 14
    embeddings, queries, firsts = random_inputs(9, steps, DIM)
    target = random_inputs(10, steps, DIM)[0]
    # Two well-separated templates from an earlier episode, so long-term attention has a choice.
    tier = long_term_memory(3, 4, DIM)
    zeros = jnp.zeros((4,))
    long_term = tier.consolidate(tier.init(), zeros + 5.0, zeros, jnp.zeros((DIM,)), 4.0)
    long_term = tier.consolidate(long_term, zeros - 5.0, zeros, jnp.zeros((DIM,)), 4.0)
    initial = memory.initial_state().replace(long_term=long_term)

    def loss(params, embeddings):
        def body(carry, x):
            readout, carry, _ = memory.apply(params, carry, *x, method="step")
            return carry, readout

        _, readouts = jax.lax.scan(body, initial, (embeddings, queries, firsts))
        return jnp.sum(readouts * target)

    param_grads, embedding_grads = jax.jit(jax.grad(loss, argnums=(0, 1)))(small.params, embeddings)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(param_grads))
    # Every embedding but the last is read later from the immediate tier.
    norms = jnp.linalg.norm(embedding_grads, axis=-1)
    assert bool(jnp.all(jnp.isfinite(embedding_grads)))
    assert bool(jnp.all(norms[:-1] > 0)) and float(norms[-1]) == 0.0
    attention = param_grads["params"]["attention"]
    for name in ("immediate_attention", "short_term_attention", "long_term_attention"):
        for leaf in ("query_kernel", "key_kernel", "value_kernel", "out_kernel"):
            assert float(jnp.abs(attention[name][leaf]).sum()) > 0, (name, leaf)
    assert float(jnp.abs(attention["short_term_attention"]["input_kernel"]).sum()) > 0
    assert float(jnp.abs(attention["tier_mix"]["kernel"]).sum()) > 0
    # Stored summaries carry no gradient: the VAE learns from vae_loss only.
    assert all(float(jnp.abs(g).sum()) == 0 for g in jax.tree.leaves(param_grads["params"]["vae"]))

    segments = embeddings[:12].reshape(3, LENGTH, DIM)
    vae_grads = jax.jit(
        jax.grad(lambda p: memory.apply(p, segments, key(1), method="vae_loss")[0])
    )(small.params)
    for name in ("encoder_input", "encoder_hidden", "head_mean", "head_log_var", "decoder_output"):
        kernel = vae_grads["params"]["vae"][name]["kernel"]
        assert bool(jnp.all(jnp.isfinite(kernel))) and float(jnp.abs(kernel).sum()) > 0, name


# ------------------------------------------------------------------- summaries and novelty


def test_incremental_summary_equals_encoding_the_segment_and_novelty(small, small_novelty):
    memory, params = small.memory, small.params
    embeddings, queries, firsts = random_inputs(11, 2 * LENGTH, DIM)
    final, _ = small.run(params, memory.initial_state(), embeddings, queries, firsts)
    segments = embeddings.reshape(2, LENGTH, DIM)
    mean, log_var = jax.jit(lambda s: memory.apply(params, s, method="summarize"))(segments)
    np.testing.assert_allclose(final.short_term.mean[:2], mean, atol=1e-5)
    np.testing.assert_allclose(final.short_term.log_var[:2], log_var, atol=1e-5)
    np.testing.assert_allclose(final.short_term.centroid[:2], segments.mean(1), atol=1e-5)
    np.testing.assert_array_equal(final.short_term.span_start[:2], [0, LENGTH])

    # Novelty: 0 for an embedding the memory holds, growing with distance from it.
    assert float(small_novelty(final, embeddings[-2])) == pytest.approx(0.0, abs=1e-6)
    near = float(small_novelty(final, embeddings[-2] + 0.1))
    far = float(small_novelty(final, embeddings[-2] + 10.0))
    assert 0.0 < near < far


@pytest.mark.parametrize("name", ["small", "mean", "immediate", "working"])
def test_read_sequence_replays_steps_in_parallel_with_their_gradients(name):
    """The parallel replay of a recorded sequence (a training update's read path) gives the
    reads and the embedding gradients of stepping through it, across resets and from a memory
    that already holds an episode."""
    memory, params, run = setup(name)
    warm_up, steps = 27, 24
    embeddings, queries, firsts = random_inputs(5, warm_up + steps, DIM)
    firsts = firsts.at[warm_up + 9].set(True).at[warm_up + 20].set(True)
    start, _ = run(
        params, memory.initial_state(), *(x[:warm_up] for x in (embeddings, queries, firsts))
    )
    assert int(start.t) == warm_up and bool(start.immediate.valid.all())
    sequence = tuple(x[warm_up:] for x in (embeddings, queries, firsts))

    def stepwise(embeddings, queries, firsts):
        def body(state, inputs):
            context = memory.replay_context(state, inputs[2])
            readout, state, _ = memory.apply(params, state, *inputs, method="step")
            return state, (readout, context)

        return jax.lax.scan(body, start, (embeddings, queries, firsts))[1]

    def parallel(embeddings, queries, firsts, context):
        return memory.apply(
            params, start, embeddings, queries, firsts, context, method="read_sequence"
        )

    reads, context = jax.jit(stepwise)(*sequence)
    np.testing.assert_allclose(jax.jit(parallel)(*sequence, context), reads, atol=1e-5)

    weights = jnp.asarray(np.random.default_rng(6).standard_normal(reads.shape), jnp.float32)

    def grad_of(fn):
        return jax.jit(jax.grad(lambda e: jnp.sum(weights * fn(e))))(sequence[0])

    step_grads = grad_of(lambda e: stepwise(e, *sequence[1:])[0])
    parallel_grads = grad_of(lambda e: parallel(e, *sequence[1:], context))
    assert np.abs(step_grads).sum() > 0
    np.testing.assert_allclose(parallel_grads, step_grads, atol=1e-5)


def test_salience_statistics_track_a_fresh_stream_from_its_first_steps():
    # Until 1 / salience_rate steps the running statistics are the plain mean and variance of
    # what the memory has seen (its initial mean 0 and variance 1 counted as one step), so an
    # agent starting cold (a new run, an evaluation) scores salience against its own stream
    # within a few steps; an exponential average at rate 1e-3 alone would still sit near 0 / 1.
    memory, params, run = setup("small")
    embeddings, queries, firsts = random_inputs(3, 200, DIM)
    stream = 3.0 + 2.0 * embeddings
    final, _ = run(params, memory.initial_state(), stream, queries, firsts)
    assert float(final.salience_seen) == 200.0
    np.testing.assert_allclose(
        final.salience_mean, np.asarray(stream).sum(axis=0) / 201.0, rtol=1e-4, atol=1e-4
    )
    assert 3.5 < float(jnp.mean(final.salience_var)) < 4.5  # the stream's variance is 4


def test_salience_statistics_become_an_exponential_average_after_their_warm_up():
    memory = HierarchicalMemory(**{**SMALL, "salience_rate": 0.1})
    params = memory.init_params(key(2))
    step = jax.jit(lambda state, x: memory.apply(params, state, x, x, False, method="step")[1])
    state = memory.initial_state()
    for _ in range(12):
        state = step(state, jnp.ones((DIM,)))
    assert float(state.salience_seen) == pytest.approx(10.0)  # counted up to 1 / rate
    before = state.salience_mean
    after = step(state, jnp.full((DIM,), 11.0)).salience_mean
    np.testing.assert_allclose(after, before + 0.1 * (11.0 - before), rtol=1e-5)
