"""Named configurations: ``python -m experiments.train --preset demo`` starts from one of these.

Flags given after ``--preset`` override its fields. The benchmark presets are the defaults of
:class:`hcmrl_jax.rl.PPOConfig` on each benchmark: the "default configuration" that the
resource budget (< 12 GB training, < 2 GB inference) refers to. ``<env>-small`` are the same
agent on the small scale of each benchmark (:mod:`experiments.configs.scales`).
"""

from __future__ import annotations

from envs_jax.registry import BENCHMARK_IDS as BENCHMARKS
from experiments.configs.scales import small_config
from hcmrl_jax.memory import MemoryConfig
from hcmrl_jax.rl.config import PPOConfig

#: A small building: 2 x 2 rooms of 3 x 3 cells, no locks, 3 landmarks, 200-step episodes.
SMALL_NAVIGATION: dict[str, int] = {
    "rooms_high": 2,
    "rooms_wide": 2,
    "room_size": 3,
    "view_size": 5,
    "num_colours": 1,
    "num_locked_doors": 0,
    "num_extra_doors": 0,
    "num_landmarks": 3,
    "max_steps_in_episode": 200,
    # Scaled to the small building and its 200-step episodes: targets among landmarks unseen for
    # 50 steps (the default 400 exceeds the episode), success counted as one target per 40 steps.
    "stale_min_steps": 50,
    "steps_per_target": 40,
}

#: The demo: a small HCMRL agent on the small building, a few minutes on 2 CPU cores.
DEMO = PPOConfig(
    env_id="navigation",
    env_overrides=dict(SMALL_NAVIGATION),
    reset_pool_size=64,
    memory=MemoryConfig.hcmrl(
        embed_dim=32,
        immediate_size=16,
        short_term_size=8,
        long_term_size=4,
        latent_dim=8,
        segment_length=8,
        num_heads=2,
    ),
    head_hidden=32,
    num_envs=32,
    num_steps=32,
    total_timesteps=32 * 32 * 400,
    update_epochs=2,
    num_minibatches=2,
    lr=1e-3,
)

#: The smallest useful run (seconds of compute; for smoke tests of the scripts).
TINY = DEMO.with_settings(
    env_overrides={**SMALL_NAVIGATION, "max_steps_in_episode": 24},
    reset_pool_size=4,
    embed_dim=16,
    immediate_size=8,
    short_term_size=4,
    long_term_size=2,
    latent_dim=4,
    head_hidden=16,
    num_envs=4,
    num_steps=16,
    total_timesteps=4 * 16 * 4,
    update_epochs=1,
    lr=2.5e-4,
)

PRESETS: dict[str, PPOConfig] = {
    "default": PPOConfig(),
    **{name: PPOConfig(env_id=name) for name in BENCHMARKS},
    **{f"{name}-small": small_config(name) for name in BENCHMARKS},
    "demo": DEMO,
    "tiny": TINY,
}


def get_preset(name: str) -> PPOConfig:
    """The preset called ``name``.

    Raises:
        KeyError: unknown name (the message lists the presets).
    """
    if name not in PRESETS:
        raise KeyError(f"unknown preset {name!r}; presets: {sorted(PRESETS)}")
    return PRESETS[name]
