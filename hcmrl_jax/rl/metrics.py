"""Metrics reduced inside the compiled run: a few float32 scalars per update.

:func:`reduce_metrics` turns an update's trajectory and minibatch losses into the scalars of
:data:`METRIC_KEYS` (NaN where nothing was measured); :func:`loss_metrics` names what one
minibatch step reports.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import optax

import envs_jax
from hcmrl_jax.rl.losses import LossAux
from hcmrl_jax.rl.types import Transition
from hcmrl_jax.utils.metrics import lag_bin_labels

#: Lag-bin suffixes of the per-update recall metrics (bins of envs_jax's EpisodeStatsWrapper).
LAG_BIN_KEYS: tuple[str, ...] = lag_bin_labels(envs_jax.LAG_BIN_EDGES)


def masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` where ``mask``; NaN when the mask is empty (nothing to average)."""
    count = jnp.sum(mask)
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def loss_metrics(aux: LossAux, grads: Any) -> dict[str, jax.Array]:
    """What one minibatch step reports: its loss terms and the gradient norm ([] float32 each)."""
    terms = aux.terms
    return {
        "loss_total": terms.total,
        "loss_policy": terms.policy,
        "loss_value": terms.value,
        "entropy": terms.entropy,
        "approx_kl": terms.approx_kl,
        "clip_fraction": terms.clip_fraction,
        "ratio_error": terms.ratio_error,
        "loss_vae": aux.vae_loss,
        "loss_aux": aux.aux_loss,
        "grad_norm": optax.tree.norm(grads),
    }


def count_nonfinite(tree: Any) -> jax.Array:
    """How many entries of a pytree's floating-point leaves are inf or NaN (float32 scalar)."""
    counts = [
        jnp.sum(~jnp.isfinite(leaf)).astype(jnp.float32)
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(leaf.dtype, jnp.inexact)
    ]
    return sum(counts, jnp.float32(0))


def explained_variance(values: jax.Array, targets: jax.Array) -> jax.Array:
    """1 - Var(targets - values) / Var(targets): how much of the return the critic explains."""
    var = jnp.var(targets)
    return jnp.where(var > 0, 1.0 - jnp.var(targets - values) / jnp.maximum(var, 1e-12), jnp.nan)


def reduce_metrics(
    traj: Transition, losses: dict, moved: jax.Array, rewards: jax.Array
) -> dict[str, jax.Array]:
    """The update's trajectory and losses as scalars.

    Args:
        traj: the rollout, leaves [T, N, ...].
        losses: :func:`loss_metrics` of every minibatch step, [E, M] each (epochs, minibatches).
        moved: [T, N] float32 reward the memory credit option moved (zeros without it).
        rewards: [T, N] float32 reward after the novelty bonus and the credit option.
    """
    stats = traj.stats
    finished = stats["returned_episode"]
    metrics = {
        "episode_return": masked_mean(stats["returned_episode_returns"], finished),
        "episode_length": masked_mean(
            stats["returned_episode_lengths"].astype(jnp.float32), finished
        ),
        "success": masked_mean(stats["returned_episode_success"], finished),
        "episodes": jnp.sum(finished).astype(jnp.float32),
        "reward": jnp.mean(traj.reward),
        "novelty": jnp.mean(traj.novelty),
        "credit_moved": jnp.mean(jnp.abs(moved)),
        "shaped_reward": jnp.mean(rewards),
    }
    counts = jnp.sum(jnp.where(finished[..., None], stats["returned_lag_counts"], 0), axis=(0, 1))
    hits = jnp.sum(jnp.where(finished[..., None], stats["returned_lag_successes"], 0), axis=(0, 1))
    for i, name in enumerate(LAG_BIN_KEYS):
        metrics[f"recall_lag_{name}"] = jnp.where(
            counts[i] > 0, hits[i] / jnp.maximum(counts[i], 1), jnp.nan
        )
        metrics[f"decisions_lag_{name}"] = counts[i].astype(jnp.float32)
    for name, value in losses.items():
        if name == "ratio_error":
            # First minibatch of the first epoch: parameters are still the rollout's, so the
            # ratio must be exactly 1 (any error means the re-run does not reproduce the rollout).
            metrics["ratio_error_first_minibatch"] = value[0, 0]
        else:
            metrics[name] = jnp.mean(value)
    return metrics


#: Keys of the per-update metrics dict (float32; NaN where nothing was measured, e.g. no
#: episode finished during the update or no memory decision fell in a lag bin).
METRIC_KEYS: tuple[str, ...] = (
    "episode_return",
    "episode_length",
    "success",
    "episodes",
    "reward",
    "novelty",
    "credit_moved",
    "shaped_reward",
    *(f"recall_lag_{n}" for n in LAG_BIN_KEYS),
    *(f"decisions_lag_{n}" for n in LAG_BIN_KEYS),
    "loss_total",
    "loss_policy",
    "loss_value",
    "entropy",
    "approx_kl",
    "clip_fraction",
    "loss_vae",
    "loss_aux",
    "grad_norm",
    "ratio_error_first_minibatch",
    "learning_rate",
    "ent_coef",
    "update",
    "env_steps",
    "steps_per_update",
    "explained_variance",
    "nonfinite_loss",
    "nonfinite_params",
)
