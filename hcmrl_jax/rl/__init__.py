"""PPO for memory-augmented policies: config, the one-jit training run, losses, credit, exploration.

``make_train(config)(key)`` runs a whole training run as one jittable function;
``make_train_chunks(config, n)`` splits it into resumable chunks; ``PPOTrainer`` is the
user-facing wrapper.
"""

from hcmrl_jax.rl.config import MEMORY_KINDS, PPOConfig
from hcmrl_jax.rl.ppo import (
    METRIC_KEYS,
    HyperParams,
    PPOTrainer,
    RunnerState,
    Transition,
    default_hparams,
    make_core,
    make_env,
    make_policy,
    make_train,
    make_train_chunks,
    param_count,
    stack_hparams,
)

__all__ = [
    "MEMORY_KINDS",
    "METRIC_KEYS",
    "HyperParams",
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
