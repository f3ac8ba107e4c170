"""PPO for memory-augmented policies, split like brax's PPO.

``make_train(config)(key)`` runs a whole training run as one jittable function;
``make_train_chunks(config, n)`` splits it into resumable chunks; ``PPOTrainer`` is the
user-facing wrapper. Modules: ``config`` (PPOConfig), ``types`` (state types), ``environment``
(the wrapped env), ``agent`` (memory core and policy from the config), ``sharding``, ``setup``
(the run's static parts), ``acting`` (reset, step, rollout; also used by evaluation),
``replay``, ``losses``, ``metrics``, ``train`` (make_train), ``trainer`` (PPOTrainer),
``credit`` and ``exploration``.
"""

from hcmrl_jax.memory.config import MEMORY_KINDS, MemoryConfig
from hcmrl_jax.rl.agent import make_core, make_policy, param_count
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.rl.environment import make_env
from hcmrl_jax.rl.metrics import METRIC_KEYS
from hcmrl_jax.rl.train import make_train, make_train_chunks
from hcmrl_jax.rl.trainer import PPOTrainer
from hcmrl_jax.rl.types import (
    HyperParams,
    RunnerState,
    Transition,
    default_hparams,
    stack_hparams,
)

__all__ = [
    "MEMORY_KINDS",
    "METRIC_KEYS",
    "HyperParams",
    "MemoryConfig",
    "PPOConfig",
    "PPOTrainer",
    "RunnerState",
    "Transition",
    "default_hparams",
    "make_core",
    "make_env",
    "make_policy",
    "make_train",
    "make_train_chunks",
    "param_count",
    "stack_hparams",
]
