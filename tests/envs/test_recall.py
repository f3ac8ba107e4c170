"""The passive recall probe: the episode's rules, chance and perfect levels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.recall import EnvParams, PassiveRecall, RecallConfig
from envs_jax.wrappers import EpisodeStatsWrapper, PooledResetWrapper
from tests.envs import configs, conformance

LAG = configs.RECALL_LAG
NUM_CUES = configs.RECALL_CUES
ENV_ID = "recall"  # the env of the shared fixtures (tests/envs/conftest.py)
NUM_EPISODES = 4096  # episodes played by each scripted player
FIXED_GUESS = 1  # what the reactive player answers when it cannot see the cue


def _reactive(obs: dict, memory: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Acts on the current observation only: the cue when it is in view, else a fixed guess."""
    cue = obs["cue"]
    action = jnp.where(jnp.sum(cue) > 0, jnp.argmax(cue), FIXED_GUESS).astype(jnp.int32)
    return action, memory


def _remembering(obs: dict, memory: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Keeps the cue seen at t = 0 and answers it."""
    cue = obs["cue"]
    memory = jnp.where(jnp.sum(cue) > 0, jnp.argmax(cue), memory).astype(jnp.int32)
    return memory, memory


def _play(env, params, player, num_episodes: int, num_steps: int, key: jax.Array) -> dict:
    """``num_episodes`` vmapped players for ``num_steps`` steps of ``env.step`` (auto-reset);
    returns the per-step rewards, flags and info, each [T, E]."""

    def episode(key):
        key_reset, key_run = jax.random.split(key)
        obs, state = env.reset(key_reset, params)

        def body(carry, key_t):
            obs, state, memory = carry
            action, memory = player(obs, memory)
            obs, state, reward, terminated, truncated, info = env.step(key_t, state, action, params)
            record = conformance.step_record(reward, terminated, truncated, info)
            return (obs, state, memory), record

        memory = jnp.zeros((), jnp.int32)
        _, records = jax.lax.scan(body, (obs, state, memory), jax.random.split(key_run, num_steps))
        return records

    keys = jax.random.split(key, num_episodes)
    records = jax.jit(jax.vmap(episode, out_axes=1))(keys)
    return jax.device_get(records)


# ------------------------------------------------------------------------------------------
# Full episodes and the privileged twin (the shared checks run in test_conformance.py)


def test_full_episodes_terminate_at_the_query(small):
    env, params = small
    params = params.replace(max_steps_in_episode=2 * (LAG + 1) + 3)
    records = conformance.check_full_episode(env, params)
    ends = np.flatnonzero(records["terminated"])
    np.testing.assert_array_equal(ends, [LAG, 2 * LAG + 1])
    assert not records["truncated"].any()
    np.testing.assert_array_equal(np.flatnonzero(records["lag"] >= 0), ends)
    np.testing.assert_array_equal(records["lag"][ends], LAG)


def test_privileged_twin_shows_the_cue_at_every_step(twin):
    env, params = twin
    obs, state = env.reset(jax.random.PRNGKey(2), params)
    expected = np.eye(NUM_CUES, dtype=np.float32)[int(state.cue)]
    step = jax.jit(env.step_env)
    for t in range(LAG + 1):
        np.testing.assert_array_equal(obs["cue_hint"], expected)
        assert np.asarray(obs["cue"]).sum() == (1.0 if t == 0 else 0.0)
        obs, state, *_ = step(jax.random.PRNGKey(t), state, 0, params)
    np.testing.assert_array_equal(obs["cue_hint"], expected)


def test_remembering_player_scores_one_through_the_trainers_wrappers(small):
    """PooledResetWrapper + EpisodeStatsWrapper, as the trainer wraps a MemoryEnv."""
    env, params = small
    pooled = PooledResetWrapper(env, pool_size=8)
    wrapped = EpisodeStatsWrapper(pooled)
    pool_params = pooled.with_pool(jax.random.PRNGKey(0), params)
    records = _play(wrapped, pool_params, _remembering, 8, 3 * (LAG + 1), jax.random.PRNGKey(1))
    done = records["terminated"]
    assert done.sum() == 3 * 8
    np.testing.assert_array_equal(records["reward"][done], 1.0)
    np.testing.assert_array_equal(records["success"][done], 1.0)


# ------------------------------------------------------------------------------------------
# The episode's rules


@pytest.mark.parametrize("right", [True, False])
def test_episode_length_reward_termination_and_info(small, right):
    env, params = small
    obs, state = env.reset(jax.random.PRNGKey(4), params)
    cue = int(state.cue)
    answer = cue if right else (cue + 1) % NUM_CUES
    step = jax.jit(env.step_env)
    for t in range(LAG + 1):
        assert float(obs["query"][0]) == (1.0 if t == LAG else 0.0)
        assert set(np.unique(np.asarray(obs["distractors"]))) <= {-1.0, 1.0}
        # Any action before the query does nothing; the cue's own value included.
        action = answer if t == LAG else (t % NUM_CUES)
        obs, state, reward, terminated, info = step(jax.random.PRNGKey(t), state, action, params)
        if t < LAG:
            assert float(reward) == 0.0 and not bool(terminated)
            assert int(info["lag"]) == -1 and not bool(info["recall"])
            assert float(info["success"]) == 0.0
    assert bool(terminated) and int(state.time) == LAG + 1
    assert int(info["lag"]) == LAG and bool(info["recall"]) == right
    assert float(info["success"]) == (1.0 if right else 0.0)
    np.testing.assert_allclose(float(reward), 1.0 if right else -1.0 / (NUM_CUES - 1))


def test_lag_is_a_traced_value():
    """Sweeping ``lag`` (and the time limit) reuses one compiled program."""
    env, params = envs_jax.make("recall", num_cues=3)

    @jax.jit
    def first_query_step(params):
        obs, state = env.reset(jax.random.PRNGKey(0), params)

        def body(state, key):
            _, state, _, terminated, _ = env.step_env(key, state, 0, params)
            return state, terminated

        _, terminated = jax.lax.scan(body, state, jax.random.split(jax.random.PRNGKey(1), 16))
        return jnp.argmax(terminated)

    assert int(first_query_step(params.replace(lag=3))) == 3
    assert int(first_query_step(params.replace(lag=11, max_steps_in_episode=50))) == 11
    assert first_query_step._cache_size() == 1


# ------------------------------------------------------------------------------------------
# Chance and perfect levels


def test_reactive_player_is_at_chance_and_remembering_player_is_perfect(small):
    env, params = small
    key = jax.random.PRNGKey(42)
    levels = {}
    for name, player in (("reactive", _reactive), ("remembering", _remembering)):
        records = _play(env, params, player, NUM_EPISODES, LAG + 1, key)
        assert records["terminated"][LAG].all() and not records["terminated"][:LAG].any()
        levels[name] = (records["reward"].sum(axis=0).mean(), records["success"][LAG].mean())
    reactive_return, reactive_success = levels["reactive"]
    # 4,096 episodes: the standard errors are 0.009 (return) and 0.007 (success).
    assert abs(reactive_return) < 0.04, levels
    assert abs(reactive_success - 1.0 / NUM_CUES) < 0.03, levels
    assert levels["remembering"] == (1.0, 1.0)


def test_uniform_guessing_is_worth_exactly_zero():
    for num_cues in (2, 3, 8):
        env, params = envs_jax.make("recall", num_cues=num_cues, lag=0)
        rewards = []
        for answer in range(num_cues):
            _, state = env.reset(jax.random.PRNGKey(0), params)
            rewards.append(float(env.step_env(jax.random.PRNGKey(1), state, answer, params)[2]))
        np.testing.assert_allclose(np.mean(rewards), 0.0, atol=1e-6)
        np.testing.assert_allclose(max(rewards), 1.0)


# ------------------------------------------------------------------------------------------
# Configuration, registry, renderers


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"num_cues": 1}, "num_cues"),
        ({"num_cues": 2.5}, "num_cues"),
        ({"num_distractors": -1}, "num_distractors"),
        ({"lag": -1}, "lag"),
    ],
)
def test_bad_configuration_raises_naming_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        envs_jax.make("recall", **kwargs)


def test_registry_id_with_overrides_and_no_distractors():
    assert envs_jax.registered_envs[:5] == ["crafting", "navigation", "games", "story", "recall"]
    env, params = envs_jax.make("recall", lag=1000, num_cues=4)
    assert isinstance(env, PassiveRecall) and env.config == RecallConfig(num_cues=4)
    assert params == EnvParams(lag=1000) and env.action_space(params).n == 4
    assert env.name == "recall"
    with pytest.raises(ValueError, match="no option"):
        envs_jax.make("recall", num_queries=2)
    env, params = envs_jax.make("recall", num_distractors=0, lag=2)
    obs, state = env.reset(jax.random.PRNGKey(0), params)
    conformance.leaves_in_space(env.observation_space(params), obs)
    assert obs["distractors"].shape == (0,)


def test_renderers(twin):
    env, params = twin
    plain = PassiveRecall(env.config)
    obs, state = env.reset(jax.random.PRNGKey(3), params)
    cue = int(state.cue)
    text = plain.render_text(state, params)
    assert text.startswith(f"t=0/{LAG} cue={cue} distractors=") and text.endswith("query=no")
    signs = text.split("distractors=")[1].split()[0]
    assert len(signs) == 6 and set(signs) <= {"+", "-"}
    step = jax.jit(env.step_env)
    for t in range(LAG):
        obs, state, *_ = step(jax.random.PRNGKey(t), state, 0, params)
    assert plain.render_text(state, params).endswith("query=yes")
    assert f"cue=? ({cue})" in env.render_text(state, params)
    assert f"t={LAG}/{LAG} cue=? distractors" in plain.render_text(state, params)
    _, final, *_ = step(jax.random.PRNGKey(LAG), state, cue, params)
    assert plain.render_text(final, params).endswith(f"answer={cue} (right)")
    for s in (state, final):
        image = env.render_rgb(s, params)
        assert image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3
        assert image.shape[0] == 4 * 8 and image.shape[1] >= 16 * 8
    assert not np.array_equal(env.render_rgb(state, params), env.render_rgb(final, params))
