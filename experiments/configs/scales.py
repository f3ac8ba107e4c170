"""Benchmark scales: ``full`` (each env's defaults) and ``small`` (same mechanics and memory
demands, shorter episodes and lags).

The small configuration of a benchmark is the preset ``<env>-small``
(``python -m experiments.train --preset navigation-small``,
``python -m experiments.compare --env navigation --scale small``): the benchmark with shorter
episodes and lags (:data:`SMALL_ENV_OPTIONS`), the demo-sized HCMRL agent (:data:`SMALL_AGENT`)
and run settings for a few minutes on 2 CPU cores. Every memory kind of a comparison gets the
same settings (the baselines sized to the same parameter budget).
``python -m experiments.benchmark players --scale small``
shows that the remembering scripted player clearly beats the reactive one at this scale too.
"""

from __future__ import annotations

from typing import Any

from envs_jax.registry import BENCHMARK_IDS as BENCHMARKS
from hcmrl_jax.rl.config import PPOConfig

#: Scale names.
SCALES: tuple[str, ...] = ("full", "small")

SMALL_ENV_OPTIONS: dict[str, dict[str, Any]] = {
    "crafting": {
        "map_size": 32,
        "num_iron": 3,
        "num_diamonds": 2,
        "max_steps_in_episode": 1_500,
        "order_start": 20,
        "order_interval": 400,
        "order_delay": 200,
    },
    "navigation": {
        # Rooms of 2 x 2 cells seen through a 3 x 3 window: a landmark is in view only from
        # its own room or a doorway next to it.
        "rooms_high": 2,
        "rooms_wide": 2,
        "room_size": 2,
        "view_size": 3,
        "num_colours": 1,
        "num_locked_doors": 1,
        "num_extra_doors": 1,
        "num_landmarks": 4,
        "max_steps_in_episode": 500,
        "stale_min_steps": 100,
        "steps_per_target": 6,
    },
    "games": {
        # One lane of the recall game: a card shows a value, 16..160 steps later the question
        # asks for it, stray cards (distractors) in between; 4 choices (chance 0.25).
        "episode_length": 512,
        "max_steps_in_episode": 512,
        "num_lanes": 1,
        "num_choices": 4,
        "max_count": 3,
        "battleship_shots": 2,
        "max_events": 160,
        "lag_min": 16,
        "lag_max": 160,
        "item_gap_max": 24,
        "lane_start_max": 64,
        "game_rates": (0.0, 0.0, 0.0, 1.0, 0.0, 0.0),
    },
    "story": {
        "num_characters": 5,
        "num_places": 4,
        "num_objects": 4,
        "num_secrets": 3,
        "num_goals": 5,
        "num_threads": 2,
        "num_plot_kills": 1,
        "chapter_len": 60,
        "thread_full_lag": 120,
        "max_steps_in_episode": 400,
    },
}


#: The agent of the small scale: the demo's HCMRL (16 / 8 / 4 slots, segments of 8, D = 32),
#: so a 500-step episode fills the short-term tier and merges and consolidates, as the default
#: agent does over the full benchmarks' thousands of steps, with a recurrent working state of 64
#: units beside the tiers (navigation's decisions lag 15-20 steps: a state that integrates
#: every step pays there). Baselines are sized to its budget.
SMALL_AGENT: dict[str, Any] = {
    "embed_dim": 32,
    "immediate_size": 16,
    "short_term_size": 8,
    "long_term_size": 4,
    "latent_dim": 8,
    "segment_length": 8,
    "num_heads": 2,
    "working_size": 64,
    "head_hidden": 32,
}

#: Run settings shared by the small runs.
_SMALL_RUN_COMMON: dict[str, Any] = {
    "num_envs": 32,
    "num_steps": 64,
    "total_timesteps": 409_600,
    "update_epochs": 2,
    "num_minibatches": 2,
    "lr": 1e-3,
    "reset_pool_size": 64,
}

#: Run settings of one benchmark's small scale on top of the shared ones: fixed-length episodes
#: start desynchronised over a whole episode (``desync_steps``); games asks about 6 questions an
#: episode and its runs are the fastest, so it gets twice the steps (HCMRL leaves chance after
#: about 250 k of them).
_SMALL_RUN_OWN: dict[str, dict[str, Any]] = {
    "crafting": {"desync_steps": 0},
    "navigation": {"desync_steps": 500},
    "games": {"desync_steps": 512, "total_timesteps": 819_200},
    "story": {"desync_steps": 400},
}

#: Settings (by name, :meth:`PPOConfig.with_settings`) of the small scale per benchmark.
SMALL_RUN: dict[str, dict[str, Any]] = {
    env_id: {
        "env_overrides": SMALL_ENV_OPTIONS[env_id],
        **SMALL_AGENT,
        **_SMALL_RUN_COMMON,
        **_SMALL_RUN_OWN[env_id],
    }
    for env_id in BENCHMARKS
}


def env_options(env_id: str, scale: str) -> dict[str, Any]:
    """The env options of ``env_id`` at ``scale`` (``full``: none, the env's defaults)."""
    if scale not in SCALES:
        raise KeyError(f"unknown scale {scale!r}; scales: {SCALES}")
    if env_id not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {env_id!r}; benchmarks: {BENCHMARKS}")
    return dict(SMALL_ENV_OPTIONS[env_id]) if scale == "small" else {}


def small_config(env_id: str) -> PPOConfig:
    """The config of the small run on ``env_id`` (the preset ``<env>-small``).

    Raises:
        KeyError: ``env_id`` is not one of the four benchmarks.
    """
    if env_id not in SMALL_RUN:
        raise KeyError(f"unknown benchmark {env_id!r}; benchmarks: {BENCHMARKS}")
    run = SMALL_RUN[env_id]
    return PPOConfig(env_id=env_id).with_settings(
        **{**run, "env_overrides": dict(run["env_overrides"])}
    )


def scale_preset_name(env_id: str, scale: str) -> str:
    """The preset of a benchmark at a scale: ``<env>-small``, or ``<env>`` for ``full``.

    Raises:
        ValueError: unknown scale.
    """
    if scale not in SCALES:
        raise ValueError(f"unknown scale {scale!r}; choose one of {list(SCALES)}")
    return env_id if scale == "full" else f"{env_id}-small"
