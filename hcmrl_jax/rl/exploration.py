"""Exploration: the entropy-coefficient schedule and the episodic novelty bonus."""

from __future__ import annotations

import jax
import jax.numpy as jnp


def entropy_coefficient(
    schedule: str, start: jax.Array | float, end: jax.Array | float, progress: jax.Array
) -> jax.Array:
    """Entropy coefficient at a point of the run.

    Args:
        schedule: ``"constant"`` (always ``start``), ``"linear"`` (start -> end) or ``"cosine"``
            (start -> end along a half cosine); static.
        start, end: coefficients at progress 0 and 1.
        progress: [] float32 fraction of the run done, in [0, 1].

    Returns:
        [] float32.

    Raises:
        ValueError: unknown schedule.
    """
    progress = jnp.clip(jnp.asarray(progress, jnp.float32), 0.0, 1.0)
    start = jnp.asarray(start, jnp.float32)
    end = jnp.asarray(end, jnp.float32)
    if schedule == "constant":
        return start
    if schedule == "linear":
        return start + (end - start) * progress
    if schedule == "cosine":
        return end + (start - end) * 0.5 * (1.0 + jnp.cos(jnp.pi * progress))
    raise ValueError(f"entropy schedule: unknown {schedule!r}; use constant, linear or cosine")


def novelty_bonus(rewards: jax.Array, novelty: jax.Array, coef: jax.Array | float) -> jax.Array:
    """Adds the episodic novelty bonus: ``rewards + coef * novelty``.

    ``novelty`` is the memory's distance between a step's embedding and what the memory held
    before that step was written (``HierarchicalMemory.novelty``: nearest immediate slot /
    summary / template), 0 on an episode's first step. Because the episodic tiers are cleared
    at episode start, revisiting within an episode earns little and new things earn more.
    The bonus is treated as part of the reward for advantages and value targets; episode
    statistics keep reporting the env's own reward.

    Args:
        rewards: [T, N] float32 env rewards.
        novelty: [T, N] float32 >= 0.
        coef: bonus scale.

    Returns:
        [T, N] float32.
    """
    return rewards + coef * jax.lax.stop_gradient(novelty)
