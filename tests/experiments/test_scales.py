"""The benchmark scales: every small configuration builds, is shorter than the full one, and
its run settings make a valid training config (no training here)."""

import dataclasses

import pytest

import envs_jax
from experiments.benchmarks import players as players_benchmark
from experiments.configs.presets import BENCHMARKS
from experiments.configs.scales import (
    SCALES,
    SMALL_ENV_OPTIONS,
    SMALL_RUN,
    env_options,
    small_config,
)
from hcmrl_jax.rl.config import PPOConfig

#: Run-level PPOConfig fields a scale may set; the agent and memory fields stay the defaults.
RUN_FIELDS = {
    "env_overrides",
    "total_timesteps",
    "num_envs",
    "num_steps",
    "lr",
    "reset_pool_size",
    "desync_steps",
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
        assert getattr(holder, name) == value, name
    if env_id == "games":
        assert env.config.episode_length < full_env.config.episode_length


@pytest.mark.parametrize("env_id", BENCHMARKS)
def test_small_run_is_a_valid_training_config_of_run_level_fields(env_id):
    fields = small_config(env_id)
    config = PPOConfig(**fields)
    assert config.env_id == env_id
    assert set(SMALL_RUN[env_id]) <= RUN_FIELDS
    assert config.env_overrides == SMALL_ENV_OPTIONS[env_id]
    assert config.num_updates >= 100  # enough updates for a learning curve
    defaults = PPOConfig(env_id=env_id)
    for field in dataclasses.fields(PPOConfig):
        if field.name not in RUN_FIELDS | {"env_id"}:
            assert getattr(config, field.name) == getattr(defaults, field.name), field.name
    # Fixed-length episodes start desynchronised over a whole episode.
    _, params = envs_jax.make(env_id, **config.env_overrides)
    assert config.desync_steps in (0, int(params.max_steps_in_episode))


def test_small_config_returns_copies():
    small_config("navigation")["env_overrides"]["max_steps_in_episode"] = 1
    assert SMALL_ENV_OPTIONS["navigation"]["max_steps_in_episode"] != 1
    assert small_config("navigation")["env_overrides"] == SMALL_ENV_OPTIONS["navigation"]


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
