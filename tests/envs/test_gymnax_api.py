"""Drop-in for gymnax code: the benchmarks through the plain gymnax API and a flat observation.

A PureJaxRL-style PPO loop (``LogWrapper``, ``jax.vmap`` over ``reset``/``step``, a network
sized from ``observation_space(params).shape``) runs unchanged on every benchmark through
``envs_jax.make(id, flat=True)``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from gymnax.wrappers.purerl import LogWrapper

import envs_jax
from envs_jax.wrappers import FlattenObservationWrapper
from tests.envs import configs

#: Small worlds so that the loop (world generation compiled inside its step) compiles fast.
SMALL = {env_id: configs.SMALL[env_id] for env_id in envs_jax.BENCHMARK_IDS}
NUM_ENVS, NUM_STEPS, NUM_UPDATES = 4, 16, 2


class ActorCritic(nn.Module):
    num_actions: int

    @nn.compact
    def __call__(self, x):
        hidden = nn.tanh(nn.Dense(32)(x))
        return nn.Dense(self.num_actions)(hidden), nn.Dense(1)(hidden)[..., 0]


def make_ppo(env, params):
    """A minimal PureJaxRL PPO (one epoch, the whole batch as one minibatch)."""
    env = LogWrapper(env)
    num_actions = env.action_space(params).n
    network = ActorCritic(num_actions)
    optimizer = optax.adam(3e-4)

    def train(key):
        key_init, key_reset, key_run = jax.random.split(key, 3)
        obs_shape = env.observation_space(params).shape
        net_params = network.init(key_init, jnp.zeros(obs_shape))
        opt_state = optimizer.init(net_params)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, NUM_ENVS), params
        )

        def env_step(carry, key_t):
            net_params, obs, state = carry
            key_act, key_step = jax.random.split(key_t)
            logits, value = network.apply(net_params, obs)
            action = jax.random.categorical(key_act, logits)
            log_prob = jax.nn.log_softmax(logits)[jnp.arange(NUM_ENVS), action]
            obs_next, state, reward, terminated, truncated, info = jax.vmap(
                env.step, in_axes=(0, 0, 0, None)
            )(jax.random.split(key_step, NUM_ENVS), state, action, params)
            done = terminated | truncated
            assert info["final_observation"].shape == obs.shape  # flattened too
            record = (obs, action, log_prob, value, reward, done, info["returned_episode"])
            return (net_params, obs_next, state), record

        def update(carry, key_u):
            net_params, opt_state, obs, state = carry
            (_, obs, state), batch = jax.lax.scan(
                env_step, (net_params, obs, state), jax.random.split(key_u, NUM_STEPS)
            )
            b_obs, b_action, b_log_prob, b_value, b_reward, b_done, _ = batch
            returns = jax.lax.scan(
                lambda ret, xs: (xs[0] + 0.99 * ret * (1 - xs[1]),) * 2,
                jnp.zeros(NUM_ENVS),
                (b_reward, b_done.astype(jnp.float32)),
                reverse=True,
            )[1]
            advantages = returns - b_value

            def loss_fn(p):
                logits, value = network.apply(p, b_obs)
                log_prob = jnp.take_along_axis(
                    jax.nn.log_softmax(logits), b_action[..., None], axis=-1
                )[..., 0]
                ratio = jnp.exp(log_prob - b_log_prob)
                clipped = jnp.clip(ratio, 0.8, 1.2)
                actor = -jnp.minimum(ratio * advantages, clipped * advantages).mean()
                return actor + 0.5 * jnp.square(returns - value).mean()

            loss, grads = jax.value_and_grad(loss_fn)(net_params)
            updates, opt_state = optimizer.update(grads, opt_state)
            net_params = optax.apply_updates(net_params, updates)
            return (net_params, opt_state, obs, state), (loss, b_obs.shape)

        _, (losses, _) = jax.lax.scan(
            update, (net_params, opt_state, obs, state), jax.random.split(key_run, NUM_UPDATES)
        )
        return losses

    return train


@pytest.mark.parametrize("env_id", list(SMALL))
def test_plain_gymnax_ppo_loop_runs_on_the_flat_benchmark(env_id):
    env, params = envs_jax.make(env_id, flat=True, **SMALL[env_id])
    assert isinstance(env, FlattenObservationWrapper)
    space = env.observation_space(params)
    assert len(space.shape) == 1 and space.shape == env.observation_space().shape
    losses = jax.jit(make_ppo(env, params))(jax.random.PRNGKey(0))
    assert losses.shape == (NUM_UPDATES,) and np.all(np.isfinite(np.asarray(losses)))


@pytest.mark.parametrize("env_id", list(SMALL))
def test_flat_observation_one_hot_ids_and_the_mask_last(env_id):
    env, params = envs_jax.make(env_id, **SMALL[env_id])
    flat = FlattenObservationWrapper(env)
    scaled = FlattenObservationWrapper(env, one_hot=False)
    obs, _ = jax.jit(env.reset)(jax.random.PRNGKey(1), params)
    vector = flat.flatten(obs)
    space = env.observation_space()  # no params needed
    assert bool(space.contains(obs)), "gymnax's Dict.contains fails on dict observations"
    assert not bool(space.contains({**obs, "action_mask": obs["action_mask"][:1]}))
    assert vector.dtype == jnp.float32 and vector.shape == flat.observation_space(params).shape
    np.testing.assert_array_equal(flat.action_mask(vector), obs["action_mask"])
    ids = [k for k, box in space.spaces.items() if k != "action_mask" and box.dtype == jnp.int32]
    # One 1 per id, mask entries 0/1, floats as they are.
    ones_from_ids = sum(int(np.prod(space.spaces[k].shape)) for k in ids)
    mask_ones = int(np.sum(obs["action_mask"]))
    floats = [k for k, box in space.spaces.items() if box.dtype == jnp.float32]
    float_sum = sum(float(np.sum(obs[k])) for k in floats)
    np.testing.assert_allclose(float(vector.sum()), ones_from_ids + mask_ones + float_sum, 1e-4)
    vector2 = scaled.flatten(obs)
    assert vector2.shape[0] < vector.shape[0] and float(vector2.min()) >= 0.0
    assert float(vector2.max()) <= max(1.0, max([float(np.max(obs[k])) for k in floats] or [1]))
