"""The env as the trainer sees it: wrapped for episode statistics, with a pooled reset.

Benchmark envs (``envs_jax.MemoryEnv``) reset from a pool of worlds generated from the run's
key, part of which is regenerated every update (fresh worlds); every env reports episode
statistics through ``envs_jax.EpisodeStatsWrapper``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import jax

import envs_jax
from hcmrl_jax.rl.config import PPOConfig


@dataclasses.dataclass(frozen=True)
class EnvBundle:
    """A wrapped env ready for the trainer.

    Attributes:
        env: the env wrapped with EpisodeStatsWrapper (and PooledResetWrapper for benchmarks).
        make_params: key -> env params for the wrapped env (builds the reset pool).
        observation_space: the gymnax observation space of the raw env.
        num_actions: number of discrete actions.
        refresh_params: (key, env params) -> env params with part of the reset pool
            regenerated (fresh worlds every update); None for envs without a pool.
    """

    env: Any
    make_params: Callable[[jax.Array], Any]
    observation_space: Any
    num_actions: int
    refresh_params: Callable[[jax.Array, Any], Any] | None = None


def make_env(config: PPOConfig, env: Any | None = None, env_params: Any | None = None) -> EnvBundle:
    """Builds (or wraps a given) env: ``envs_jax.make(config.env_id, ...)`` by default.

    Benchmark envs (``envs_jax.MemoryEnv``) get a pooled reset of ``config.reset_pool_size``
    worlds generated from the run's key; every env gets ``EpisodeStatsWrapper``.

    Raises:
        ValueError: a non-discrete action space.
    """
    if env is None:
        env, default = envs_jax.make(
            config.env_id, privileged=config.privileged, **dict(config.env_overrides)
        )
        env_params = default if env_params is None else env_params
    elif env_params is None:
        env_params = env.default_params
    action_space = env.action_space(env_params)
    if not hasattr(action_space, "n"):
        raise ValueError(
            f"env {config.env_id!r}: the trainer needs a discrete action space, "
            f"got {action_space!r}"
        )
    observation_space = env.observation_space(env_params)
    base_params = env_params
    if isinstance(env, envs_jax.MemoryEnv) and config.reset_pool_size > 0:
        pooled = envs_jax.PooledResetWrapper(env, config.reset_pool_size)
        wrapped = envs_jax.EpisodeStatsWrapper(pooled)

        def make_params(key: jax.Array) -> Any:
            return pooled.with_pool(key, base_params)

        def refresh_params(key: jax.Array, params: Any) -> Any:
            return pooled.refresh(key, params, config.reset_refresh)

    else:
        wrapped = envs_jax.EpisodeStatsWrapper(env)

        def make_params(key: jax.Array) -> Any:
            del key
            return base_params

    if not isinstance(env, envs_jax.MemoryEnv) or config.reset_pool_size <= 0:
        refresh_params = None
    return EnvBundle(wrapped, make_params, observation_space, int(action_space.n), refresh_params)
