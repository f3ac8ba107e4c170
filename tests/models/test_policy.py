"""The policy interface shared by every memory kind, and action masking."""

import functools

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.models.cores import bind_observation
from hcmrl_jax.models.encoder import observation_size, observation_spec
from hcmrl_jax.models.policy import (
    MASKED_LOGIT,
    ActorHead,
    MemoryAugmentedPolicy,
    factored_logits,
)
from tests.models.helpers import ACTIONS, CORES, D, dict_obs, dict_space


def test_integer_observation_without_spec_is_a_clear_error():
    policy = MemoryAugmentedPolicy(state_dim=D, action_dim=ACTIONS, memory=CORES["mlp"])
    with pytest.raises(ValueError, match="obs_spec"):
        policy.init(jax.random.key(0), policy.initial_carry(), dict_obs(), jnp.bool_(True))


def test_state_dim_must_match_memory_width():
    with pytest.raises(ValueError, match="embed_dim"):
        MemoryAugmentedPolicy(state_dim=2 * D, action_dim=ACTIONS, memory=CORES["gru"])
    with pytest.raises(ValueError, match="novelty"):
        MemoryAugmentedPolicy(state_dim=D, action_dim=2, memory=CORES["gru"], compute_novelty=True)
    with pytest.raises(ValueError, match="memory core"):
        MemoryAugmentedPolicy(state_dim=D, action_dim=2, memory=nn.Dense(D))


def test_the_policy_reads_what_its_memory_offers_from_the_capabilities():
    for kind, core in CORES.items():
        assert make_policy(kind).capabilities == core.capabilities
    spec = observation_spec(dict_space())
    width = observation_size(spec)  # the flattened observation
    salient = bind_observation(CORES["hcmrl"], width)
    policy = MemoryAugmentedPolicy(state_dim=D, action_dim=ACTIONS, memory=salient, obs_spec=spec)
    assert policy.capabilities.salience_features == width
    carry = policy.initial_carry()
    params = jax.eval_shape(
        functools.partial(policy.init, method="init_all"),
        jax.random.key(0),
        carry,
        dict_obs(),
        jnp.bool_(True),
        jax.random.key(1),
    )
    assert "vae" in params["params"]["memory"]  # the VAE is created with the rest
    new_carry = jax.eval_shape(policy.apply, params, carry, dict_obs(), jnp.bool_(True))[0]
    assert new_carry.salience_mean.shape == (width,)


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


def test_factored_logits_add_one_logit_per_component_in_row_major_order():
    factors = (2, 3, 4)
    parts = [np.arange(f, dtype=np.float32) * (10.0**i) for i, f in enumerate(factors)]
    logits = np.asarray(factored_logits(jnp.asarray(np.concatenate(parts)), factors))
    assert logits.shape == (24,)
    for a, b, c in np.ndindex(*factors):
        flat = (a * 3 + b) * 4 + c
        assert logits[flat] == parts[0][a] + parts[1][b] + parts[2][c]


def test_a_factored_actor_head_is_a_product_of_component_distributions():
    factors = (2, 3)
    head = ActorHead(hidden=8, action_dim=6, action_factors=factors)
    features = jnp.asarray(np.random.default_rng(0).standard_normal(5), jnp.float32)
    params = head.init(jax.random.key(0), features)
    assert params["params"]["out"]["kernel"].shape == (8, 5)  # 2 + 3 logits, not 6
    probs = np.asarray(jax.nn.softmax(head.apply(params, features))).reshape(factors)
    np.testing.assert_allclose(probs, np.outer(probs.sum(1), probs.sum(0)), atol=1e-6)


def test_action_factors_must_multiply_to_the_action_count():
    with pytest.raises(ValueError, match="multiply to 6, but the env has 7 actions"):
        MemoryAugmentedPolicy(state_dim=D, action_dim=7, memory=CORES["mlp"], action_factors=(2, 3))
    with pytest.raises(ValueError, match="positive integers"):
        MemoryAugmentedPolicy(state_dim=D, action_dim=6, memory=CORES["mlp"], action_factors=(6, 0))
