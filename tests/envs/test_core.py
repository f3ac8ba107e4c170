"""The env core: registry, episode statistics with lag bins, pooled reset, rendering."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment, spaces

import envs_jax
from envs_jax.core import MemoryEnv, clip_action, lag_bin, memory_info
from envs_jax.wrappers import EpisodeStatsWrapper, PooledResetWrapper
from tests.envs import conformance


@dataclasses.dataclass(frozen=True)
class RecallConfig:
    num_symbols: int = 4  # symbols the cue is drawn from


@struct.dataclass
class RecallParams(environment.EnvParams):
    max_steps_in_episode: int = 12
    question_time: int = 10  # step at which the cue is asked


@struct.dataclass
class RecallState(environment.EnvState):
    cue: jax.Array  # [] int32, the symbol shown at t = 0


class Recall(MemoryEnv):
    """A minimal memory env: a cue is shown at t = 0 and asked at ``question_time``."""

    config_cls = RecallConfig
    params_cls = RecallParams
    env_id = "recall"

    @property
    def default_params(self) -> RecallParams:
        return RecallParams()

    def _obs(self, state: RecallState, params: RecallParams) -> dict[str, jax.Array]:
        visible = jnp.where(state.time == 0, state.cue + 1, 0).astype(jnp.int32)
        obs = {"cue": visible, "asking": (state.time == params.question_time).astype(jnp.int32)}
        if self.privileged:
            obs["answer"] = state.cue
        return obs

    def reset_env(self, key, params):
        state = RecallState(time=0, cue=jax.random.randint(key, (), 0, self.config.num_symbols))
        return self._obs(state, params), state

    def step_env(self, key, state, action, params):
        action = clip_action(action, self.num_actions)
        asking = state.time == params.question_time
        correct = action == state.cue
        reward = jnp.where(asking, jnp.where(correct, 1.0, -1.0), 0.0)
        state = state.replace(time=state.time + 1)
        info = memory_info(jnp.where(asking, params.question_time, -1), correct, asking & correct)
        return self._obs(state, params), state, reward, jnp.asarray(False), info

    def is_terminated(self, state, params):
        return jnp.asarray(False)

    @property
    def num_actions(self) -> int:
        return self.config.num_symbols

    def action_space(self, params=None):
        return spaces.Discrete(self.config.num_symbols)

    def observation_space(self, params):
        obs = {
            "cue": spaces.Box(0, self.config.num_symbols, (), jnp.int32),
            "asking": spaces.Box(0, 1, (), jnp.int32),
        }
        if self.privileged:
            obs["answer"] = spaces.Box(0, self.config.num_symbols - 1, (), jnp.int32)
        return spaces.Dict(obs)


def test_make_benchmarks_and_gymnax_ids():
    assert envs_jax.registered_envs[:4] == ["crafting", "navigation", "games", "story"]
    assert "MemoryChain-bsuite" in envs_jax.registered_envs
    env, params = envs_jax.make("MemoryChain-bsuite", memory_length=7)
    assert params.memory_length == 7
    with pytest.raises(KeyError, match="known ids: \\['crafting'"):
        envs_jax.make("crafting-v9")
    with pytest.raises(ValueError, match="no privileged twin"):
        envs_jax.make("CartPole-v1", privileged=True)
    with pytest.raises(ValueError, match="rejected options"):
        envs_jax.make("CartPole-v1", not_an_option=3)


def test_lag_bins_and_info_helper():
    lags = jnp.array([-1, 0, 99, 100, 999, 1000, 4999, 5000, 20000])
    np.testing.assert_array_equal(jax.vmap(lag_bin)(lags), [-1, 0, 0, 1, 1, 2, 2, 3, 3])
    info = memory_info(-1, True, 0.5)
    assert not bool(info["recall"]), "no decision cannot be a correct recall"
    assert info["lag"].dtype == jnp.int32 and info["success"].dtype == jnp.float32


def test_toy_env_passes_the_shared_conformance_checks():
    env, params = Recall(), RecallParams()
    conformance.check_spaces_and_wrappers(env, params, num_envs=3, num_steps=30)
    conformance.check_out_of_range_actions(env, params, steps=3)
    conformance.check_auto_reset(env, params, episode_length=5)
    records = conformance.check_full_episode(env, params)
    assert np.sum(records["lag"] >= 0) == 1 and records["lag"][10] == 10


def test_episode_stats_bins_lags_and_success():
    env = Recall()
    params = RecallParams(max_steps_in_episode=12, question_time=10)
    wrapped = EpisodeStatsWrapper(env)
    obs, state = wrapped.reset(jax.random.PRNGKey(0), params)
    answer = int(state.env_state.cue)
    step = jax.jit(wrapped.step)
    for t in range(12):
        action = answer if t == 10 else 0
        obs, state, reward, terminated, truncated, info = step(
            jax.random.PRNGKey(t), state, action, params
        )
    assert bool(info["returned_episode"]) and bool(info["returned_episode_valid"])
    # The statistics the wrapper adds, as EPISODE_STATS_KEYS (which the trainer reduces) names.
    added = {key for key in info if key.startswith("returned_")}
    assert added == {*envs_jax.EPISODE_STATS_KEYS, "returned_episode_valid"}
    assert int(info["returned_episode_lengths"]) == 12
    assert float(info["returned_episode_returns"]) == 1.0
    assert float(info["returned_episode_success"]) == 0.0  # success is that of the last step
    np.testing.assert_array_equal(info["returned_lag_counts"], [1, 0, 0, 0])
    np.testing.assert_array_equal(info["returned_lag_successes"], [1, 0, 0, 0])
    np.testing.assert_array_equal(state.lag_counts, [0, 0, 0, 0])  # reset for the new episode


def test_episode_stats_on_gymnax_env_without_lag_info():
    env, params = envs_jax.make("MemoryChain-bsuite", memory_length=2)
    wrapped = EpisodeStatsWrapper(env)
    _, (_, _, _, _, info) = conformance.random_rollout(
        wrapped, params, jax.random.PRNGKey(0), 3, 10
    )
    assert np.asarray(info["returned_episode"]).any()
    assert np.asarray(info["returned_lag_counts"]).sum() == 0


def test_pooled_reset_when_only_some_envs_finish():
    env = Recall()
    params = RecallParams(max_steps_in_episode=12)
    pooled = PooledResetWrapper(env, pool_size=3)
    pool_params = pooled.with_pool(jax.random.PRNGKey(2), params)
    cues = set(np.asarray(pool_params.pool_state.cue).tolist())
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    _, state = jax.vmap(pooled.reset, in_axes=(0, None))(keys, pool_params)
    # Stagger the envs: env i starts at time 11 - i, so only env 0 finishes on the next step.
    state = state.replace(time=jnp.array([11, 5, 3, 0]))
    obs, state, _, _, truncated, info = jax.vmap(pooled.step, in_axes=(0, 0, None, None))(
        keys, state, 0, pool_params
    )
    np.testing.assert_array_equal(truncated, [True, False, False, False])
    np.testing.assert_array_equal(state.time, [0, 6, 4, 1])
    assert int(state.cue[0]) in cues
    assert int(info["final_observation"]["asking"][0]) == 0
    with pytest.raises(TypeError, match="with_pool"):
        pooled.step(keys[0], jax.tree.map(lambda x: x[0], state), 0, params)
    with pytest.raises(ValueError, match="pool_size"):
        PooledResetWrapper(env, pool_size=0)


def test_privileged_twin_and_rendering_helpers(tmp_path):
    plain, twin = Recall(), Recall(privileged=True)
    obs, _ = plain.reset(jax.random.PRNGKey(1), RecallParams())
    obs_t, _ = twin.reset(jax.random.PRNGKey(1), RecallParams())
    assert set(obs_t) - set(obs) == {"answer"}
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)
    image = envs_jax.tile_grid(np.array([[0, 1], [2, 1]]), palette, tile=3)
    assert image.shape == (6, 6, 3) and image.dtype == np.uint8
    assert tuple(image[0, 3]) == (255, 0, 0)
    with pytest.raises(ValueError, match="ids must lie in"):
        envs_jax.tile_grid(np.array([[3]]), palette)
    path = envs_jax.write_gif([image, image[::-1]], str(tmp_path / "a.gif"), fps=5)
    assert (tmp_path / "a.gif").stat().st_size > 0 and path.endswith("a.gif")


@pytest.mark.parametrize("refresh", [0, 4])
def test_pool_refresh_gives_fresh_worlds_over_updates(refresh):
    """Counts the distinct worlds met at resets over several updates (rollout, then refresh, as
    the trainer does): a fixed pool of 8 repeats its 8 worlds; refreshing 4 worlds per update
    meets new ones every update."""
    env, params = envs_jax.make(
        "navigation", rooms_high=3, rooms_wide=3, num_landmarks=3, max_steps_in_episode=3
    )
    pooled = PooledResetWrapper(env, pool_size=8)
    num_envs, num_steps, num_updates = 6, 6, 8
    grid_shape = env.layout.base_grid.shape
    grid_weights = jax.random.randint(jax.random.PRNGKey(9), grid_shape, 1, 1 << 20)

    def update(carry, key):
        pool, state = carry
        key_run, key_refresh = jax.random.split(key)

        def step(state, key_t):
            keys = jax.random.split(key_t, num_envs)
            actions = jnp.zeros((num_envs,), jnp.int32)
            obs, state, _, term, trunc, _ = jax.vmap(pooled.step, in_axes=(0, 0, 0, None))(
                keys, state, actions, pool
            )
            # A world is named by a hash of its whole grid (landmarks stand at room centres,
            # so their positions alone repeat across worlds).
            world = jnp.sum(state.grid.astype(jnp.int32) * grid_weights, axis=(1, 2))
            return state, (world, term | trunc)

        state, (worlds, done) = jax.lax.scan(step, state, jax.random.split(key_run, num_steps))
        return (pooled.refresh(key_refresh, pool, refresh), state), (worlds, done)

    def run(key):
        key_pool, key_reset, key_updates = jax.random.split(key, 3)
        pool = pooled.with_pool(key_pool, params)
        _, state = jax.vmap(pooled.reset, in_axes=(0, None))(
            jax.random.split(key_reset, num_envs), pool
        )
        _, (worlds, done) = jax.lax.scan(
            update, (pool, state), jax.random.split(key_updates, num_updates)
        )
        return worlds, done

    worlds, done = jax.device_get(jax.jit(run)(jax.random.PRNGKey(0)))
    met = set(worlds[done].tolist())  # the worlds episodes restarted in
    assert done.sum() == num_updates * num_envs * 2
    if refresh == 0:
        assert len(met) <= 8
    else:
        # 8 + 4 per update worlds existed; resets drew from most of them.
        assert len(met) > 8 + 2 * num_updates, len(met)
