"""Shared helpers of the trainer tests."""

import dataclasses

from hcmrl_jax.memory import MemoryConfig
from hcmrl_jax.memory.config import SETTING_NAMES
from hcmrl_jax.rl import PPOConfig

#: A small agent for learning tests on gymnax's MemoryChain-bsuite: PPOConfig fields besides the
#: env and the rollout size.
SMALL_AGENT = dict(
    env_id="MemoryChain-bsuite",
    memory=MemoryConfig(
        embed_dim=32,
        num_heads=2,
        immediate_size=8,
        short_term_size=4,
        long_term_size=4,
        latent_dim=8,
        segment_length=4,
    ),
    head_hidden=32,
    update_epochs=2,
    num_minibatches=2,
    lr=2e-3,
    anneal_lr=False,
)

#: The memory settings of :data:`SMALL`.
SMALL_MEMORY = dict(segment_length=4, immediate_size=8)
#: A valid small configuration: PPOConfig fields for 4 updates of 4 envs x 4 steps.
SMALL = dict(
    num_envs=4,
    num_steps=4,
    total_timesteps=64,
    num_minibatches=2,
    memory=MemoryConfig(**SMALL_MEMORY),
)


def small_config(kind: str = "hcmrl", **settings) -> PPOConfig:
    """SMALL with memory ``kind`` and settings by name (the memory's go to its config)."""
    memory = {k: v for k, v in settings.items() if k in SETTING_NAMES}
    run = {k: v for k, v in settings.items() if k not in SETTING_NAMES}
    config = MemoryConfig.of_kind(kind, **{**SMALL_MEMORY, **memory})
    return PPOConfig(**{**SMALL, "memory": config, **run})


def of_kind(config: PPOConfig, kind: str, **changes) -> PPOConfig:
    """``config`` with memory ``kind`` (sizes kept) and other fields changed."""
    return dataclasses.replace(config, memory=config.memory.with_kind(kind), **changes)
