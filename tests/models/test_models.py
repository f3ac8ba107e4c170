"""Encoder, policy interface, action masking and the baseline memory cores."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

from hcmrl_jax.memory import HierarchicalMemory
from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore
from hcmrl_jax.models.budget import core_param_count, count_params, size_core
from hcmrl_jax.models.encoder import ObservationEncoder, observation_spec
from hcmrl_jax.models.policy import MASKED_LOGIT, MemoryAugmentedPolicy

D = 16
ACTIONS = 3


def dict_space():
    return spaces.Dict(
        {
            "grid": spaces.Box(0, 4, (3, 3), jnp.int32),
            "vec": spaces.Box(-1.0, 1.0, (2,), jnp.float32),
            "action_mask": spaces.Box(0, 1, (ACTIONS,), jnp.bool_),
        }
    )


def dict_obs(grid_value=1, mask=(True, False, True)):
    return {
        "grid": jnp.full((3, 3), grid_value, jnp.int32),
        "vec": jnp.array([0.5, -0.5], jnp.float32),
        "action_mask": jnp.array(mask),
    }


CORES = {
    "mlp": MLPCore(embed_dim=D, hidden=8),
    "gru": GRUCore(embed_dim=D, hidden=8),
    "transformer": WindowTransformerCore(embed_dim=D, window=4, num_heads=2, ff_dim=8),
    "hcmrl": HierarchicalMemory(
        immediate_size=4,
        short_term_size=2,
        long_term_size=2,
        embed_dim=D,
        latent_dim=4,
        segment_length=2,
        num_heads=2,
        vae_hidden_dim=8,
        time_features=4,
    ),
}


def test_observation_spec_reads_vocab_and_mask():
    spec = observation_spec(dict_space())
    assert spec.is_dict and spec.num_mask_actions == ACTIONS
    by_key = {leaf.key: leaf for leaf in spec.leaves}
    assert set(by_key) == {"grid", "vec"}  # the mask is not encoded
    assert by_key["grid"].vocab == 5 and by_key["grid"].shape == (3, 3)
    assert by_key["vec"].vocab == 0
    plain = observation_spec(spaces.Box(0.0, 1.0, (4,), jnp.float32))
    assert not plain.is_dict and plain.leaves[0].key is None
    with pytest.raises(ValueError, match="nested"):
        observation_spec(spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})}))


def test_encoder_embeds_ids_and_checks_shapes():
    encoder = ObservationEncoder(observation_spec(dict_space()), features=D)
    params = jax.jit(encoder.init)(jax.random.key(0), dict_obs())
    apply = jax.jit(encoder.apply)
    a = apply(params, dict_obs(grid_value=1))
    b = apply(params, dict_obs(grid_value=3))
    assert a.shape == (D,) and a.dtype == jnp.float32
    assert not np.allclose(a, b)  # different ids, different embedding
    # Changing only the action mask does not change the embedding.
    np.testing.assert_allclose(a, apply(params, dict_obs(mask=(False, True, True))))
    bad = dict_obs()
    bad["grid"] = jnp.zeros((2, 3, 3), jnp.int32)
    with pytest.raises(ValueError, match="shape"):
        encoder.apply(params, bad)


def test_integer_observation_without_spec_is_a_clear_error():
    policy = MemoryAugmentedPolicy(state_dim=D, action_dim=ACTIONS, memory=CORES["mlp"])
    with pytest.raises(ValueError, match="obs_spec"):
        policy.init(jax.random.key(0), policy.initial_carry(), dict_obs(), jnp.bool_(True))


def test_state_dim_must_match_memory_width():
    with pytest.raises(ValueError, match="embed_dim"):
        MemoryAugmentedPolicy(state_dim=2 * D, action_dim=ACTIONS, memory=CORES["gru"])
    with pytest.raises(ValueError, match="novelty"):
        MemoryAugmentedPolicy(state_dim=D, action_dim=2, memory=CORES["gru"], compute_novelty=True)


def make_policy(kind):
    return MemoryAugmentedPolicy(
        state_dim=D,
        action_dim=ACTIONS,
        memory=CORES[kind],
        obs_spec=observation_spec(dict_space()),
        compute_novelty=kind in ("hcmrl", "transformer"),
    )


def batched(tree, batch):
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (batch, *x.shape)), tree)


@pytest.mark.parametrize("kind", sorted(CORES))
def test_every_memory_kind_shares_the_policy_interface(kind):
    # Shapes only (jax.eval_shape): the same call works for every memory kind.
    policy = make_policy(kind)
    key = jax.random.key(0)
    params = jax.eval_shape(
        functools.partial(policy.init, method="init_all"),
        key,
        policy.initial_carry(),
        dict_obs(),
        jnp.bool_(True),
        key,
    )
    batch = 5
    carry = policy.initial_carry((batch,))
    step = jax.vmap(policy.apply, in_axes=(None, 0, 0, 0))
    new_carry, logits, value, aux = jax.eval_shape(
        step, params, carry, batched(dict_obs(), batch), jnp.ones((batch,), bool)
    )
    assert jax.tree.structure(new_carry) == jax.tree.structure(carry)
    for old, new in zip(jax.tree.leaves(carry), jax.tree.leaves(new_carry), strict=True):
        assert (old.shape, old.dtype) == (new.shape, new.dtype)  # fixed-size state
    assert logits.shape == (batch, ACTIONS) and logits.dtype == jnp.float32
    assert value.shape == (batch,) and aux["embedding"].shape == (batch, D)
    assert aux["novelty"].shape == (batch,)


def test_action_mask_sets_masked_logits_and_is_never_sampled():
    policy = make_policy("mlp")
    key = jax.random.key(0)
    carry = policy.initial_carry()
    params = jax.jit(functools.partial(policy.init, method="init_all"))(
        key, carry, dict_obs(), jnp.bool_(True), key
    )

    @jax.jit
    def act(params, key):
        _, logits, value, _ = policy.apply(params, carry, dict_obs(), jnp.bool_(True))
        return logits, value, jax.random.categorical(key, logits, shape=(2000,))

    logits, value, samples = act(params, jax.random.key(1))
    assert float(logits[1]) == MASKED_LOGIT  # action 1 is masked
    assert np.all(np.isfinite(np.asarray(logits))) and np.isfinite(float(value))
    assert not np.any(np.asarray(samples) == 1)
    assert set(np.unique(np.asarray(samples))) == {0, 2}


_STEP_FNS: dict = {}


def core_fns(kind):
    """Jitted init and step of a core, compiled once per module."""
    if kind not in _STEP_FNS:
        core = CORES[kind]
        _STEP_FNS[kind] = (
            jax.jit(functools.partial(core.init, method="step")),
            jax.jit(functools.partial(core.apply, method="step")),
        )
    return _STEP_FNS[kind]


@pytest.mark.parametrize("kind", ["gru", "transformer"])
def test_recurrent_cores_carry_information_and_reset(kind):
    core = CORES[kind]
    state0 = core.initial_state()
    emb = jax.random.normal(jax.random.key(0), (3, D))
    init, apply = core_fns(kind)
    params = init(jax.random.key(1), state0, emb[0], emb[0], jnp.bool_(True))

    def step(state, e, first):
        return apply(params, state, e, e, jnp.bool_(first))

    _, s1, _ = step(state0, emb[0], True)
    r_after, _, _ = step(s1, emb[1], False)
    r_fresh, _, _ = step(state0, emb[1], True)
    r_reset, _, _ = step(s1, emb[1], True)
    assert not np.allclose(r_after, r_fresh)  # the past changes the read-out...
    np.testing.assert_allclose(r_reset, r_fresh, rtol=1e-6, atol=1e-6)  # ...until a reset


def test_window_cache_is_a_fixed_size_ring():
    core = CORES["transformer"]
    state = core.initial_state()
    emb = jax.random.normal(jax.random.key(0), (7, D))
    init, apply = core_fns("transformer")
    params = init(jax.random.key(1), state, emb[0], emb[0], jnp.bool_(True))
    assert float(core.novelty(state, emb[0])) == 0.0  # empty cache
    for t in range(7):
        _, state, info = apply(params, state, emb[t], emb[t], jnp.bool_(t == 0))
    assert state.cache.shape == (1, 4, D)  # [layers, window, D] whatever the episode length
    assert bool(jnp.all(state.valid)) and int(state.t) == 7
    np.testing.assert_array_equal(np.sort(np.asarray(state.time)), [3, 4, 5, 6])
    assert info["attention"].shape == (1, 2, 5)
    np.testing.assert_allclose(jnp.sum(info["attention"], -1), 1.0, rtol=1e-5)
    assert float(core.novelty(state, emb[6])) == pytest.approx(0.0, abs=1e-5)


REPLAY_CORES = {
    "mlp": CORES["mlp"],
    "transformer_2_layers": WindowTransformerCore(
        embed_dim=D, window=4, num_layers=2, num_heads=2, ff_dim=8
    ),
}


@pytest.mark.parametrize("kind", sorted(REPLAY_CORES))
def test_parallel_replay_of_baselines_equals_stepping(kind):
    """read_sequence gives the read-outs and embedding gradients of stepping, from a cache that
    already holds steps and across resets (the GRU has none: it replays step by step)."""
    core = REPLAY_CORES[kind]
    warm_up, steps = 6, 12
    emb = jax.random.normal(jax.random.key(0), (warm_up + steps, D))
    firsts = jnp.zeros((warm_up + steps,), bool).at[0].set(True).at[warm_up + 3].set(True)
    firsts = firsts.at[warm_up + 9].set(True)
    params = core.init(jax.random.key(1), core.initial_state(), emb[0], emb[0], True, method="step")

    def stepwise(state, embeddings, flags):
        def body(state, inputs):
            readout, state, _ = core.apply(params, state, *inputs, method="step")
            return state, readout

        return jax.lax.scan(body, state, (embeddings, embeddings, flags))

    start, _ = stepwise(core.initial_state(), emb[:warm_up], firsts[:warm_up])
    sequence, flags = emb[warm_up:], firsts[warm_up:]
    context = jax.vmap(core.replay_context)(jax.tree.map(lambda x: x[None], start), flags[:1])

    def parallel(embeddings):
        return core.apply(params, start, embeddings, embeddings, flags, {}, method="read_sequence")

    def stepped(embeddings):
        return stepwise(start, embeddings, flags)[1]

    assert context == {}
    np.testing.assert_allclose(parallel(sequence), stepped(sequence), atol=1e-5)
    weights = jax.random.normal(jax.random.key(2), (steps, D))
    grads = [
        jax.grad(lambda e, fn=fn: jnp.sum(weights * fn(e)))(sequence) for fn in (parallel, stepped)
    ]
    assert np.abs(grads[1]).sum() > 0
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-5)


def test_size_core_hits_the_target_and_counts_exclude_decoders():
    core, count = size_core(lambda w: GRUCore(embed_dim=D, hidden=w), 5_000, D)
    assert abs(count - 5_000) / 5_000 < 0.05
    assert count == core_param_count(core, D)
    params = {"decoder": {"w": jnp.zeros((3, 3))}, "vae": {"decoder_out": jnp.zeros(4)}, "x": 1.0}
    params["x"] = jnp.zeros(2)
    assert count_params(params) == 15 and count_params(params, acting_only=True) == 2
