"""Checks every env must pass: ``tests/envs/test_conformance.py`` runs them on every
registered env; the per-env modules use them for env-specific runs (a full default episode).

Each check takes a built ``(env, params)`` (use a small config) and asserts. Rollouts are jitted
once per call and kept short.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces
from gymnax.wrappers import LegacyStepAPIWrapper, LogWrapper

import envs_jax
from envs_jax.core import LAG_BIN_EDGES
from envs_jax.wrappers import EpisodeStatsWrapper, PooledResetWrapper

#: The memory statistics every env reports in ``info`` (``envs_jax.core.memory_info``).
MEMORY_KEYS = ("lag", "recall", "success")


def step_record(reward: Any, terminated: Any, truncated: Any, info: dict) -> dict[str, Any]:
    """What a rollout records of one step: reward, the end flags and the memory statistics."""
    return {
        "reward": reward,
        "terminated": terminated,
        "truncated": truncated,
        **{name: info[name] for name in MEMORY_KEYS},
    }


def leaves_in_space(space: Any, obs: Any, batch_dims: int = 0) -> None:
    """Asserts that every leaf of ``obs`` has its space's shape and dtype and lies in bounds."""
    if isinstance(space, spaces.Dict):
        assert isinstance(obs, dict), f"expected a dict observation, got {type(obs)}"
        assert set(obs) == set(space.spaces), f"keys {sorted(obs)} != {sorted(space.spaces)}"
        for name, sub in space.spaces.items():
            try:
                leaves_in_space(sub, obs[name], batch_dims)
            except AssertionError as error:
                raise AssertionError(f"observation {name!r}: {error}") from error
        return
    x = np.asarray(obs)
    assert tuple(x.shape[batch_dims:]) == tuple(space.shape), (x.shape, space.shape)
    assert x.dtype == np.dtype(space.dtype), (x.dtype, space.dtype)
    if isinstance(space, spaces.Discrete):
        assert np.all((x >= 0) & (x < space.n))
    else:
        low, high = np.asarray(space.low), np.asarray(space.high)
        assert np.all(x >= low) and np.all(x <= high), (x.min(), x.max(), low, high)


def random_rollout(env: Any, params: Any, key: jax.Array, num_envs: int, num_steps: int):
    """Jitted, vmapped random-action rollout; returns (obs, rewards, terminated, truncated, info)
    stacked over time ``[T, N, ...]`` and the reset observation ``[N, ...]``."""
    num_actions = env.action_space(params).n

    @jax.jit
    def run(key):
        key_reset, key_run = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, num_envs), params
        )

        def body(carry, key_t):
            obs, state = carry
            key_act, key_step = jax.random.split(key_t)
            actions = jax.random.randint(key_act, (num_envs,), 0, num_actions)
            out = jax.vmap(env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_step, num_envs), state, actions, params
            )
            obs, state, reward, terminated, truncated, info = out
            return (obs, state), (obs, reward, terminated, truncated, info)

        _, traj = jax.lax.scan(body, (obs, state), jax.random.split(key_run, num_steps))
        return obs, traj

    return run(key)


def check_spaces_and_wrappers(env: Any, params: Any, num_envs: int = 4, num_steps: int = 32):
    """gymnax conformity: a jitted vmapped rollout through gymnax's LogWrapper and
    LegacyStepAPIWrapper; spaces contain every observation; six-value step; info contract."""
    key = jax.random.PRNGKey(0)
    space = env.observation_space(params)
    obs0, (obs, reward, terminated, truncated, info) = random_rollout(
        env, params, key, num_envs, num_steps
    )
    leaves_in_space(space, obs0, batch_dims=1)
    leaves_in_space(space, obs, batch_dims=2)
    leaves_in_space(space, info["final_observation"], batch_dims=2)
    assert reward.shape == (num_steps, num_envs) and np.all(np.isfinite(reward))
    assert terminated.dtype == np.bool_ and truncated.dtype == np.bool_
    for name in MEMORY_KEYS:
        assert name in info, f"info lacks {name!r}"
        assert info[name].shape == (num_steps, num_envs)
    assert info["lag"].dtype == np.int32 and info["recall"].dtype == np.bool_
    assert np.all(np.asarray(info["lag"]) >= -1)
    assert not np.any(np.asarray(info["recall"]) & (np.asarray(info["lag"]) < 0))
    success = np.asarray(info["success"])
    assert np.all((success >= 0) & (success <= 1))

    logged = LogWrapper(env)
    _, (_, _, _, _, log_info) = random_rollout(logged, params, key, num_envs, num_steps)
    assert log_info["returned_episode_returns"].shape == (num_steps, num_envs)
    legacy = LegacyStepAPIWrapper(env)
    obs_l, state_l = legacy.reset(key, params)
    out = legacy.step(key, state_l, 0, params)
    assert len(out) == 5, "LegacyStepAPIWrapper must give the five-value step"
    leaves_in_space(space, out[0])


def check_out_of_range_actions(env: Any, params: Any, steps: int = 8) -> None:
    """Actions outside [0, A) behave exactly like the clipped action (the documented rule)."""
    num_actions = env.action_space(params).n
    key = jax.random.PRNGKey(1)
    obs, state = env.reset(key, params)
    step = jax.jit(env.step)
    for i in range(steps):
        key_i = jax.random.fold_in(key, i)
        for bad, clipped in ((num_actions + 3, num_actions - 1), (-2, 0)):
            a = step(key_i, state, jnp.int32(bad), params)
            b = step(key_i, state, jnp.int32(clipped), params)
            chex_equal(a, b)
        obs, state, *_ = step(key_i, state, jnp.int32(i % num_actions), params)


def chex_equal(a: Any, b: Any) -> None:
    """Asserts two pytrees are identical leaf by leaf."""
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    assert len(la) == len(lb)
    for x, y in zip(la, lb, strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))


def check_determinism(env: Any, params: Any, num_steps: int = 16) -> None:
    """The same key gives the same rollout; another key gives another world."""
    run_a = random_rollout(env, params, jax.random.PRNGKey(7), 2, num_steps)
    run_b = random_rollout(env, params, jax.random.PRNGKey(7), 2, num_steps)
    chex_equal(run_a, run_b)
    _, state_a = env.reset(jax.random.PRNGKey(7), params)
    _, state_c = env.reset(jax.random.PRNGKey(8), params)
    differs = any(
        not np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(jax.tree.leaves(state_a), jax.tree.leaves(state_c), strict=True)
    )
    assert differs, "two keys generated identical worlds"


def check_auto_reset(env: Any, params: Any, episode_length: int) -> None:
    """With ``max_steps_in_episode = episode_length``, step ``episode_length`` truncates, puts the
    last observation in ``final_observation`` and starts a new episode at time 0."""
    params = params.replace(max_steps_in_episode=episode_length)
    key = jax.random.PRNGKey(3)
    obs, state = env.reset(key, params)
    step = jax.jit(env.step)
    step_env = jax.jit(env.step_env)
    for t in range(1, episode_length + 1):
        key_t = jax.random.fold_in(key, t)
        action = jnp.int32(0)
        key_step, _ = jax.random.split(key_t)
        obs_st, state_st, *_ = step_env(key_step, state, action, params)
        obs, state, reward, terminated, truncated, info = step(key_t, state, action, params)
        chex_equal(info["final_observation"], obs_st)
        if bool(terminated):
            assert int(state.time) == 0
            return
        if t < episode_length:
            assert not bool(truncated)
            assert int(state.time) == t
    assert bool(truncated), "the episode did not truncate at max_steps_in_episode"
    assert int(state.time) == 0, "auto-reset did not start a new episode"


def check_full_episode(env: Any, params: Any, policy=None) -> dict[str, np.ndarray]:
    """Runs one env for exactly ``max_steps_in_episode`` steps (one lax.scan) and checks that it
    truncates at the last step only (unless it terminates), time counts up by one, lags are
    consistent with time. Returns the per-step info arrays for further checks."""
    length = int(params.max_steps_in_episode)
    num_actions = env.action_space(params).n

    @jax.jit
    def run(key):
        obs, state = env.reset(key, params)

        def body(carry, key_t):
            obs, state = carry
            key_act, key_step = jax.random.split(key_t)
            if policy is None:
                action = jax.random.randint(key_act, (), 0, num_actions)
            else:
                action = policy(key_act, obs)
            obs, new_state, reward, terminated, truncated, info = env.step(
                key_step, state, action, params
            )
            record = {"time_before": state.time, **step_record(reward, terminated, truncated, info)}
            return (obs, new_state), record

        _, records = jax.lax.scan(body, (obs, state), jax.random.split(key, length))
        return records

    records = jax.device_get(run(jax.random.PRNGKey(11)))
    terminated = np.asarray(records["terminated"])
    truncated = np.asarray(records["truncated"])
    if not terminated.any():
        assert truncated[-1] and not truncated[:-1].any(), "truncation not at the last step"
        np.testing.assert_array_equal(records["time_before"], np.arange(length))
        lag = np.asarray(records["lag"])
        used = lag >= 0
        assert np.all(lag[used] <= np.arange(length)[used] + 1), "a lag exceeds the episode time"
    assert np.all(np.isfinite(records["reward"]))
    return records


def check_privileged_twin(env_id: str, **overrides: Any) -> None:
    """The privileged twin's observation is the plain one plus extra keys, equal elsewhere."""
    env, params = envs_jax.make(env_id, **overrides)
    twin, twin_params = envs_jax.make(env_id, privileged=True, **overrides)
    key = jax.random.PRNGKey(5)
    obs, _ = env.reset(key, params)
    obs_t, _ = twin.reset(key, twin_params)
    extra = set(obs_t) - set(obs)
    assert set(obs) <= set(obs_t) and extra, "the twin must add keys, keep the others"
    for name in obs:
        np.testing.assert_array_equal(np.asarray(obs[name]), np.asarray(obs_t[name]))
    leaves_in_space(twin.observation_space(twin_params), obs_t)


def check_pooled_stats(env: Any, params: Any, episode_length: int, num_envs: int = 4) -> Any:
    """A rollout through PooledResetWrapper + EpisodeStatsWrapper over several episodes:
    finished episodes have the right length, success lies in [0, 1], and the lag-bin counts of
    each environment's first episode are exactly the per-step lags and recalls of that episode
    (bins that start beyond the episode's length stay empty). Returns the rollout's info."""
    params = params.replace(max_steps_in_episode=episode_length)
    pooled = PooledResetWrapper(env, pool_size=4)
    wrapped = EpisodeStatsWrapper(pooled)
    pool_params = pooled.with_pool(jax.random.PRNGKey(9), params)
    _, (_, _, terminated, truncated, info) = random_rollout(
        wrapped, pool_params, jax.random.PRNGKey(4), num_envs, 2 * episode_length + 1
    )
    done = np.asarray(info["returned_episode"])
    assert done.any(), "no episode finished"
    lengths = np.asarray(info["returned_episode_lengths"])[done]
    assert np.all(lengths <= episode_length) and np.all(lengths >= 1)
    success = np.asarray(info["returned_episode_success"])[done]
    assert np.all((success >= 0.0) & (success <= 1.0))
    counts = np.asarray(info["returned_lag_counts"])[done]
    successes = np.asarray(info["returned_lag_successes"])[done]
    assert np.all(successes <= counts)
    assert counts[:, np.asarray(LAG_BIN_EDGES) > episode_length].sum() == 0
    # The first finished episode of each environment: its counts are its steps' lag bins.
    lag, recall = np.asarray(info["lag"]), np.asarray(info["recall"])
    bins = np.searchsorted(np.asarray(LAG_BIN_EDGES), lag, side="right") - 1  # -1: no decision
    for env_index in range(done.shape[1]):
        first_end = int(np.argmax(done[:, env_index]))
        if not done[first_end, env_index]:
            continue
        episode_bins = bins[: first_end + 1, env_index]
        episode_recall = recall[: first_end + 1, env_index]
        expected = [np.sum(episode_bins == b) for b in range(len(LAG_BIN_EDGES))]
        expected_ok = [
            np.sum(episode_recall & (episode_bins == b)) for b in range(len(LAG_BIN_EDGES))
        ]
        np.testing.assert_array_equal(info["returned_lag_counts"][first_end, env_index], expected)
        np.testing.assert_array_equal(
            info["returned_lag_successes"][first_end, env_index], expected_ok
        )
    return info
