"""Crafter's score: the geometric-style mean of per-achievement success rates."""

from __future__ import annotations

from typing import Any

import jax.numpy as jnp
import numpy as np

from envs_jax.crafting import constants as C


def achievement_success_rates(achievements: Any) -> np.ndarray:
    """Per-achievement success rates in percent over finished episodes.

    Args:
        achievements: bool [E, N] achievements unlocked by the end of each of E episodes (e.g.
            ``info["achievements"]`` at the steps where an episode ended).

    Returns:
        float64 [N] percent of episodes that unlocked each achievement.

    Raises:
        ValueError: not a 2-D array, or no episodes.
    """
    achievements = np.asarray(achievements)
    if achievements.ndim != 2 or achievements.shape[0] == 0:
        raise ValueError(f"achievements must be [episodes > 0, N], got shape {achievements.shape}")
    return 100.0 * achievements.astype(np.float64).mean(axis=0)


def crafter_score(success_rates: Any) -> Any:
    """Crafter's score: ``exp(mean(log(1 + s))) - 1`` over success rates ``s`` in percent.

    Works on numpy or JAX arrays (jittable). It rewards unlocking many achievements at all more
    than unlocking a few reliably.

    Args:
        success_rates: float [N] success rate of each achievement in percent, in [0, 100]
            (e.g. :func:`achievement_success_rates`; N = 23 for this benchmark).

    Returns:
        float [] the score in percent, in [0, 100].

    Raises:
        ValueError: not 1-D, empty, or (for concrete values) outside [0, 100].
    """
    rates = jnp.asarray(success_rates, jnp.float32)
    if rates.ndim != 1 or rates.shape[0] == 0:
        raise ValueError(f"success_rates must be a non-empty [N] vector, got shape {rates.shape}")
    if isinstance(success_rates, np.ndarray | list | tuple):
        concrete = np.asarray(success_rates, np.float64)
        if np.any(~np.isfinite(concrete)) or concrete.min() < 0 or concrete.max() > 100:
            raise ValueError(
                f"success_rates must lie in [0, 100] (percent), got [{concrete.min()}, "
                f"{concrete.max()}]"
            )
    return jnp.exp(jnp.mean(jnp.log1p(rates))) - 1.0


#: Crafter's own 22 achievements (all but ``deliver_order``), as indices into ``ACHIEVEMENTS``.
CRAFTER_ACHIEVEMENTS = np.array(
    [i for i, name in enumerate(C.ACHIEVEMENTS) if name != "deliver_order"], np.int32
)


def crafter_scores(success_rates: Any) -> dict[str, Any]:
    """Both scores of a benchmark run, from the 23 success rates (percent).

    ``"score"`` is :func:`crafter_score` over all 23 achievements of this benchmark;
    ``"crafter22_score"`` over Crafter's own 22 (``deliver_order`` left out), the number to set
    beside published Crafter and Craftax-Classic scores.

    Raises:
        ValueError: ``success_rates`` is not [23] (or not in [0, 100]).
    """
    rates = np.asarray(success_rates) if not hasattr(success_rates, "at") else success_rates
    if tuple(rates.shape) != (C.NUM_ACHIEVEMENTS,):
        raise ValueError(
            f"success_rates must be [{C.NUM_ACHIEVEMENTS}] (ACHIEVEMENTS order), got {rates.shape}"
        )
    return {
        "score": crafter_score(success_rates),
        "crafter22_score": crafter_score(rates[CRAFTER_ACHIEVEMENTS]),
    }
