"""The user-facing trainer: ``PPOTrainer(policy, memory, env=..., config=...).train(...)``."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from hcmrl_jax.memory import MemoryCore
from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl.agent import bind_policy
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.rl.environment import make_env
from hcmrl_jax.rl.train import make_train
from hcmrl_jax.rl.types import RunnerState


class PPOTrainer:
    """PPO on a memory-augmented policy: ``PPOTrainer(policy, memory, env=..., config=...)``.

    Example::

        memory = HierarchicalMemory(immediate_size=32, short_term_size=16, long_term_size=8)
        policy = MemoryAugmentedPolicy(state_dim=64, action_dim=2, memory=memory)
        trainer = PPOTrainer(policy, memory, env="MemoryChain-bsuite", config=PPOConfig())
        runner_state, metrics = trainer.train(num_steps=1_048_576)  # 128 updates of 64 x 128

    Args:
        policy: a :class:`MemoryAugmentedPolicy`; its ``action_dim`` must match the env.
        memory: the memory module the policy reads (must be ``policy.memory``; kept in the
            signature of the original design for readability).
        env: an env id for ``envs_jax.make``, a gymnax env, or an ``(env, env_params)`` pair;
            default ``config.env_id``.
        config: the :class:`PPOConfig` (its agent fields, ``memory`` among them, are ignored:
            the policy given here defines the agent).
        seed: default seed of :meth:`train`.

    Raises:
        ValueError: ``memory`` is not the policy's memory, or the action counts differ.
    """

    def __init__(
        self,
        policy: MemoryAugmentedPolicy,
        memory: MemoryCore | None = None,
        env: Any = None,
        config: PPOConfig | None = None,
        seed: int = 0,
    ):
        config = PPOConfig() if config is None else config
        if memory is not None and memory is not policy.memory:
            raise ValueError("PPOTrainer: `memory` must be the module passed to the policy")
        env_obj, env_params = None, None
        if isinstance(env, str):
            config = dataclasses.replace(config, env_id=env)
        elif isinstance(env, tuple):
            env_obj, env_params = env
        elif env is not None:
            env_obj = env
        self.config = config
        self.seed = seed
        self._env, self._env_params = env_obj, env_params
        bundle = make_env(config, env_obj, env_params)
        self.policy = bind_policy(config, policy, bundle.observation_space, bundle.num_actions)
        self.memory = self.policy.memory

    def make_train(self, num_steps: int | None = None) -> Callable[..., tuple[RunnerState, dict]]:
        """The un-jitted ``train(key, hparams=None)`` for ``num_steps`` env steps."""
        config = self.config
        if num_steps is not None:
            config = dataclasses.replace(config, total_timesteps=int(num_steps))
            trained = config.num_updates * config.steps_per_update
            if trained != int(num_steps):
                warnings.warn(
                    f"PPOTrainer.train: num_steps={int(num_steps):,} is not a multiple of "
                    f"num_envs x num_steps = {config.steps_per_update:,}; training "
                    f"{trained:,} env steps ({config.num_updates} updates)",
                    stacklevel=3,
                )
        return make_train(config, policy=self.policy, env=self._env, env_params=self._env_params)

    def train(
        self,
        num_steps: int | None = None,
        key: jax.Array | None = None,
        compiler_options: dict[str, Any] | None = None,
    ) -> tuple[RunnerState, dict]:
        """Trains for ``num_steps`` env steps (default: ``config.total_timesteps``).

        The run is whole updates of ``num_envs x num_steps`` env steps: a ``num_steps`` that is
        not a multiple is rounded down, with a ``UserWarning`` naming both numbers.

        Args:
            num_steps: environment steps to train for.
            key: PRNG key (default: ``jax.random.key(seed)``).
            compiler_options: XLA options for the compile, e.g.
                ``{"xla_backend_optimization_level": 0}`` trades run speed for a faster compile.

        Returns:
            (final RunnerState, metrics dict of numpy float32 arrays [num_updates]).
        """
        key = jax.random.key(self.seed) if key is None else key
        compiled = jax.jit(self.make_train(num_steps)).lower(key).compile(compiler_options)
        runner_state, metrics = compiled(key)
        return runner_state, {k: np.asarray(v) for k, v in metrics.items()}
