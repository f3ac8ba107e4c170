"""Benchmark scales: ``full`` (each env's defaults) and ``small`` (short episodes, short lags).

DRAFT
"""

from __future__ import annotations

from typing import Any

from experiments.configs.presets import BENCHMARKS

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
        "rooms_high": 2,
        "rooms_wide": 2,
        "room_size": 3,
        "view_size": 5,
        "num_colours": 1,
        "num_locked_doors": 1,
        "num_extra_doors": 1,
        "num_landmarks": 4,
        "max_steps_in_episode": 500,
        "stale_min_steps": 100,
        "steps_per_target": 6,
    },
    "games": {
        "episode_length": 512,
        "num_lanes": 4,
        "max_events": 320,
        "lag_min": 25,
        "lag_max": 400,
        "item_gap_max": 16,
        "lane_start_max": 64,
        "max_steps_in_episode": 512,
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


#: Run settings shared by the small runs (PPOConfig fields; the agent keeps its defaults).
_SMALL_RUN_COMMON: dict[str, Any] = {
    "num_envs": 32,
    "num_steps": 64,
    "total_timesteps": 409_600,
    "lr": 1e-3,
    "reset_pool_size": 64,
}

#: Run-level PPOConfig fields of the small scale per benchmark, ``env_overrides`` included.
SMALL_RUN: dict[str, dict[str, Any]] = {
    env_id: {
        "env_overrides": SMALL_ENV_OPTIONS[env_id],
        **_SMALL_RUN_COMMON,
        "desync_steps": desync,
    }
    for env_id, desync in (("crafting", 0), ("navigation", 500), ("games", 512), ("story", 400))
}


def env_options(env_id: str, scale: str) -> dict[str, Any]:
    """The env options of ``env_id`` at ``scale`` (``full``: none, the env's defaults)."""
    if scale not in SCALES:
        raise KeyError(f"unknown scale {scale!r}; scales: {SCALES}")
    if env_id not in BENCHMARKS:
        raise KeyError(f"unknown benchmark {env_id!r}; benchmarks: {BENCHMARKS}")
    return dict(SMALL_ENV_OPTIONS[env_id]) if scale == "small" else {}


def small_config(env_id: str) -> dict[str, Any]:
    """PPOConfig fields of the small run on ``env_id``: ``PPOConfig(**small_config(env_id))``.

    Raises:
        KeyError: ``env_id`` is not one of the four benchmarks.
    """
    if env_id not in SMALL_RUN:
        raise KeyError(f"unknown benchmark {env_id!r}; benchmarks: {BENCHMARKS}")
    run = SMALL_RUN[env_id]
    return {"env_id": env_id, **run, "env_overrides": dict(run["env_overrides"])}
