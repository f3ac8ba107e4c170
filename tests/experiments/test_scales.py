"""The benchmark scales: every small configuration builds, is shorter than the full one, and
its run settings make a valid training config (no training here)."""

import numpy as np
import pytest

import envs_jax
from experiments.benchmarks import players as players_benchmark
from experiments.configs.presets import BENCHMARKS, get_preset
from experiments.configs.scales import (
    SCALES,
    SMALL_AGENT,
    SMALL_ENV_OPTIONS,
    SMALL_RUN,
    env_options,
    scale_preset_name,
    small_config,
)
from hcmrl_jax.rl.config import PPOConfig

#: PPOConfig fields a scale may set: run settings and the agent's size; the rest (PPO
#: coefficients, the memory's mechanisms) stay the defaults.
RUN_FIELDS = {
    "env_overrides",
    "total_timesteps",
    "num_envs",
    "num_steps",
    "update_epochs",
    "num_minibatches",
    "lr",
    "reset_pool_size",
    "desync_steps",
    *SMALL_AGENT,
}


def test_every_benchmark_has_a_small_scale_and_run():
    assert set(SMALL_ENV_OPTIONS) == set(BENCHMARKS) == set(SMALL_RUN)
    assert SCALES == ("full", "small")


@pytest.mark.parametrize("env_id", BENCHMARKS)
def test_small_scale_builds_a_valid_env_with_shorter_episodes(env_id):
    env, params = envs_jax.make(env_id, **env_options(env_id, "small"))
    full_env, full_params = envs_jax.make(env_id, **env_options(env_id, "full"))
    assert env_options(env_id, "full") == {}
    assert int(params.max_steps_in_episode) < int(full_params.max_steps_in_episode)
    # The options reached the env (none was silently dropped).
    for name, value in SMALL_ENV_OPTIONS[env_id].items():
        holder = env.config if hasattr(env.config, name) else params
        assert np.array_equal(np.asarray(getattr(holder, name)), np.asarray(value)), name
    if env_id == "games":
        assert env.config.episode_length < full_env.config.episode_length


@pytest.mark.parametrize("env_id", BENCHMARKS)
def test_small_run_is_a_valid_training_config_of_run_level_fields(env_id):
    config = small_config(env_id)
    assert config.env_id == env_id
    assert set(SMALL_RUN[env_id]) <= RUN_FIELDS
    assert config.env_overrides == SMALL_ENV_OPTIONS[env_id]
    assert config.num_updates >= 100  # enough updates for a learning curve
    assert config.memory.kind == "hcmrl"
    # Every other setting (PPO coefficients, the memory's mechanisms) is the default.
    defaults = PPOConfig(env_id=env_id).settings()
    for name, value in config.settings().items():
        if name not in RUN_FIELDS | {"env_id"}:
            assert value == defaults[name], name
    # Fixed-length episodes start desynchronised over a whole episode.
    _, params = envs_jax.make(env_id, **config.env_overrides)
    assert config.desync_steps in (0, int(params.max_steps_in_episode))


def test_small_config_is_a_copy():
    small_config("navigation").env_overrides["max_steps_in_episode"] = 1
    assert SMALL_ENV_OPTIONS["navigation"]["max_steps_in_episode"] != 1
    assert small_config("navigation").env_overrides == SMALL_ENV_OPTIONS["navigation"]


def test_unknown_scale_or_env_is_refused():
    with pytest.raises(KeyError, match="scale"):
        env_options("navigation", "medium")
    with pytest.raises(KeyError, match="benchmark"):
        env_options("MemoryChain-bsuite", "small")
    with pytest.raises(KeyError, match="benchmark"):
        small_config("MemoryChain-bsuite")


def test_players_benchmark_takes_a_scale_and_env_options():
    with pytest.raises(SystemExit):
        players_benchmark.main(["--scale", "medium"])
    with pytest.raises(SystemExit, match="NAME VALUE"):
        players_benchmark.main(["--env-options", "max_steps_in_episode"])


@pytest.mark.parametrize("env_id", BENCHMARKS)
def test_small_presets_are_registered(env_id):
    assert scale_preset_name(env_id, "small") == f"{env_id}-small"
    assert scale_preset_name(env_id, "full") == env_id
    assert get_preset(f"{env_id}-small") == small_config(env_id)
    assert get_preset(env_id) == PPOConfig(env_id=env_id)
    with pytest.raises(ValueError, match="scale"):
        scale_preset_name(env_id, "medium")
