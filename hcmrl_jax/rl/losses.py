"""PPO losses: masked log-probabilities and entropy, clipped surrogate, clipped value loss."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct


def log_prob(logits: jax.Array, actions: jax.Array) -> jax.Array:
    """Log-probability of ``actions`` under categorical ``logits``.

    Masked actions carry a large negative (finite) logit from the policy, so they get
    probability 0 here exactly as in sampling.

    Args:
        logits: [..., A] float32.
        actions: [...] int32.

    Returns:
        [...] float32.
    """
    logp = jax.nn.log_softmax(logits, axis=-1)
    return jnp.take_along_axis(logp, actions[..., None].astype(jnp.int32), axis=-1)[..., 0]


def entropy(logits: jax.Array) -> jax.Array:
    """Entropy of categorical ``logits`` [..., A] -> [...] float32; masked actions add 0."""
    logp = jax.nn.log_softmax(logits, axis=-1)
    return -jnp.sum(jnp.exp(logp) * logp, axis=-1)


@struct.dataclass
class PPOLossTerms:
    """The scalar terms of one PPO minibatch loss (all [] float32)."""

    total: jax.Array  # [] policy + vf_coef * value - ent_coef * entropy
    policy: jax.Array  # [] clipped surrogate loss
    value: jax.Array  # [] value loss (0.5 * squared error, clipped if enabled)
    entropy: jax.Array  # [] mean entropy
    approx_kl: jax.Array  # [] mean (ratio - 1) - log ratio
    clip_fraction: jax.Array  # [] fraction of samples with |ratio - 1| > clip_eps
    ratio_error: jax.Array  # [] max |ratio - 1| (0 where the policy has not changed)


def ppo_loss(
    new_log_prob: jax.Array,
    old_log_prob: jax.Array,
    advantages: jax.Array,
    new_value: jax.Array,
    old_value: jax.Array,
    returns: jax.Array,
    entropies: jax.Array,
    clip_eps: jax.Array | float,
    vf_coef: jax.Array | float,
    ent_coef: jax.Array | float,
    clip_value: bool = True,
) -> PPOLossTerms:
    """Clipped PPO objective over a batch of samples (any common shape).

    policy = mean(max(-A r, -A clip(r, 1 - eps, 1 + eps))), r = exp(new_logp - old_logp);
    value = 0.5 * mean(max((v - R)^2, (v_old + clip(v - v_old, -eps, eps) - R)^2)) when
    ``clip_value`` (else 0.5 * mean((v - R)^2)); total = policy + vf_coef * value - ent_coef *
    mean(entropy).

    Args:
        new_log_prob, old_log_prob: [...] float32 log-probabilities of the taken actions.
        advantages: [...] float32 (already normalised if wanted).
        new_value, old_value: [...] float32 values now and at rollout time.
        returns: [...] float32 value targets.
        entropies: [...] float32 policy entropy per sample.
        clip_eps, vf_coef, ent_coef: scalars.
        clip_value: whether to clip the value update too (static).

    Returns:
        PPOLossTerms.
    """
    log_ratio = new_log_prob - old_log_prob
    ratio = jnp.exp(log_ratio)
    surrogate = ratio * advantages
    surrogate_clipped = jnp.clip(ratio, 1.0 - clip_eps, 1.0 + clip_eps) * advantages
    policy = -jnp.mean(jnp.minimum(surrogate, surrogate_clipped))
    value_error = jnp.square(new_value - returns)
    if clip_value:
        clipped = old_value + jnp.clip(new_value - old_value, -clip_eps, clip_eps)
        value_error = jnp.maximum(value_error, jnp.square(clipped - returns))
    value = 0.5 * jnp.mean(value_error)
    mean_entropy = jnp.mean(entropies)
    total = policy + vf_coef * value - ent_coef * mean_entropy
    return PPOLossTerms(
        total=total,
        policy=policy,
        value=value,
        entropy=mean_entropy,
        approx_kl=jnp.mean((ratio - 1.0) - log_ratio),
        clip_fraction=jnp.mean((jnp.abs(ratio - 1.0) > clip_eps).astype(jnp.float32)),
        ratio_error=jnp.max(jnp.abs(ratio - 1.0)),
    )


def normalize(x: jax.Array, eps: float = 1e-8) -> jax.Array:
    """Standardises ``x`` to zero mean and unit standard deviation over all its elements."""
    return (x - jnp.mean(x)) / (jnp.std(x) + eps)
