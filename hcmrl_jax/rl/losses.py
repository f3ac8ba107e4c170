"""PPO losses: masked log-probabilities and entropy, clipped surrogate, clipped value loss,
and :func:`minibatch_loss`, the whole objective of one minibatch (PPO + value + entropy + the
memory's VAE loss + the encoder's self-supervised reconstruction loss).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from hcmrl_jax.rl.replay import replay
from hcmrl_jax.rl.setup import TrainSetup
from hcmrl_jax.rl.types import HyperParams, Minibatch


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


class LossAux(NamedTuple):
    """The parts of a minibatch loss reported besides the total (all [] float32)."""

    terms: PPOLossTerms  # the PPO terms
    vae_loss: jax.Array  # [] the memory's VAE loss on rollout segments (0 without a VAE)
    aux_loss: jax.Array  # [] the encoder's observation-reconstruction loss


def minibatch_loss(
    setup: TrainSetup,
    params: Any,
    hparams: HyperParams,
    ent_coef: jax.Array,
    batch: Minibatch,
    key_vae: jax.Array,
) -> tuple[jax.Array, LossAux]:
    """The loss of one minibatch: its rollout replayed from the stored memory state.

    Args:
        setup: the run's static setup.
        params: the policy's parameters (differentiated).
        hparams: the run's hyperparameters.
        ent_coef: [] float32 this update's entropy coefficient.
        batch: the minibatch's environments.
        key_vae: key of the VAE's sampling.

    Returns:
        ([] float32 total loss, :class:`LossAux`).
    """
    config, policy = setup.config, setup.policy
    traj, advantages = batch.traj, batch.advantages
    logits, values, embeddings = replay(setup, params, batch.initial_carry, traj)
    new_log_prob = log_prob(logits, traj.action)
    if config.normalize_advantages:
        advantages = normalize(advantages)
    terms = ppo_loss(
        new_log_prob,
        traj.log_prob,
        advantages,
        values,
        traj.value,
        batch.targets,
        entropy(logits),
        hparams.clip_eps,
        hparams.vf_coef,
        ent_coef,
        clip_value=config.clip_value,
    )
    recon = jax.vmap(
        jax.vmap(lambda e, o: policy.apply(params, e, o, method="reconstruction_loss"))
    )(embeddings, traj.obs)
    aux_loss = jnp.mean(recon)
    if setup.use_vae:
        # The VAE compresses what the embeddings hold; it does not shape them.
        seq = jnp.swapaxes(jax.lax.stop_gradient(embeddings), 0, 1)  # [B, T, D]
        length = setup.segment_length
        usable = (config.num_steps // length) * length
        segments = seq[:, :usable].reshape(-1, length, seq.shape[-1])
        vae_loss, _ = policy.apply(params, segments, key_vae, method="vae_loss")
    else:
        vae_loss = jnp.zeros((), jnp.float32)
    total = terms.total + hparams.vae_coef * vae_loss + hparams.aux_coef * aux_loss
    return total, LossAux(terms, vae_loss, aux_loss)
