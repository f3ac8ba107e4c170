"""Segment compression: the segment VAE, the mean-pool ablation and Gaussian summary algebra.

A *summary* of a segment of step embeddings is a diagonal Gaussian ``(mean [Z], log_var [Z])``.

* :class:`SegmentVAE` compresses a segment ``[L, D]`` into a latent Gaussian and decodes a
  latent back into a segment. Its encoder is *pooled*: every step goes through a small MLP that
  also sees the step's position in the segment, the step features are averaged, and a head maps
  the average to the latent mean and log-variance. Because the average is a running sum, a memory
  can add one step's features as the step is written and finish the summary when the segment
  closes, instead of re-encoding the whole segment (see ``HierarchicalMemory.write``).
* :func:`mean_pool_summary` is the no-VAE ablation: the summary of a segment is the mean of its
  embeddings with their per-dimension variance (so ``Z = D``).
* :func:`bhattacharyya_distance`, :func:`gaussian_distance` and :func:`merge_gaussians` measure
  and merge summaries: the short-term tier finds its most redundant neighbours by Bhattacharyya
  distance (mean and spread) and merges them; the long-term tier matches a summary to the
  template whose spread explains it best (precision-weighted distance) and moves it.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


def gaussian_distance(
    mean_a: jax.Array,
    log_var_a: jax.Array,
    mean_b: jax.Array,
    log_var_b: jax.Array,
    min_variance: float,
) -> jax.Array:
    """Precision-weighted squared distance between diagonal Gaussians.

    ``mean_z (mean_a - mean_b)^2 / (var_a + var_b)``: the squared difference of the means in units
    of their joint spread, so two vague summaries are close even when their means differ, and two
    sharp ones are far apart for a small difference. About 1 for two draws from one Gaussian.

    Args:
      mean_a, log_var_a: [..., Z] float32.
      mean_b, log_var_b: [..., Z] float32 (broadcast against ``a``).
      min_variance: floor on each variance, so the distance stays finite.

    Returns:
      [...] float32, >= 0.
    """
    variance = jnp.maximum(jnp.exp(log_var_a), min_variance) + jnp.maximum(
        jnp.exp(log_var_b), min_variance
    )
    return jnp.mean(jnp.square(mean_a - mean_b) / variance, axis=-1)


def bhattacharyya_distance(
    mean_a: jax.Array,
    log_var_a: jax.Array,
    mean_b: jax.Array,
    log_var_b: jax.Array,
    min_variance: float,
) -> jax.Array:
    """Bhattacharyya distance between diagonal Gaussians, averaged over dimensions.

    ``mean_z [(mean_a - mean_b)^2 / (4 (var_a + var_b)) + 0.5 log((var_a + var_b) /
    (2 sqrt(var_a var_b)))]``: 0 only for identical Gaussians. Unlike
    :func:`gaussian_distance` it also separates Gaussians that differ in spread, so a summary
    made vague by one unusual step is not taken for a copy of its sharp neighbours.

    Args:
      mean_a, log_var_a: [..., Z] float32.
      mean_b, log_var_b: [..., Z] float32 (broadcast against ``a``).
      min_variance: floor on each variance.

    Returns:
      [...] float32, >= 0.
    """
    log_floor = jnp.log(min_variance)
    log_var_a = jnp.maximum(log_var_a, log_floor)
    log_var_b = jnp.maximum(log_var_b, log_floor)
    variance = jnp.exp(log_var_a) + jnp.exp(log_var_b)
    spread = 0.5 * (jnp.log(0.5 * variance) - 0.5 * (log_var_a + log_var_b))
    return jnp.mean(0.25 * jnp.square(mean_a - mean_b) / variance + spread, axis=-1)


def merge_gaussians(
    mean_a: jax.Array,
    log_var_a: jax.Array,
    weight_a: jax.Array,
    mean_b: jax.Array,
    log_var_b: jax.Array,
    weight_b: jax.Array,
    min_variance: float,
) -> tuple[jax.Array, jax.Array]:
    """Moment-matched merge of two diagonal Gaussians weighted by what they cover.

    The result is the Gaussian with the mean and variance of the mixture
    ``(w_a N_a + w_b N_b) / (w_a + w_b)``: its variance holds both the summaries' own spread and
    the spread between their means, so a merge of different things is visibly vaguer.

    Args:
      mean_a, log_var_a: [..., Z] float32.
      weight_a: [...] float32 >= 0 (for example the number of steps summarised).
      mean_b, log_var_b: [..., Z] float32.
      weight_b: [...] float32 >= 0; the two weights must not both be 0.
      min_variance: floor on the merged variance.

    Returns:
      mean [..., Z] float32 and log_var [..., Z] float32 of the merged Gaussian.
    """
    total = weight_a + weight_b
    share_a = (weight_a / jnp.where(total > 0, total, 1.0))[..., None]
    share_b = 1.0 - share_a
    mean = share_a * mean_a + share_b * mean_b
    second_moment = share_a * (jnp.exp(log_var_a) + jnp.square(mean_a)) + share_b * (
        jnp.exp(log_var_b) + jnp.square(mean_b)
    )
    variance = jnp.maximum(second_moment - jnp.square(mean), min_variance)
    return mean, jnp.log(variance)


def mean_pool_summary(
    embedding_sum: jax.Array, square_sum: jax.Array, count: jax.Array, min_variance: float
) -> tuple[jax.Array, jax.Array]:
    """Summary of a segment by mean pooling (the no-VAE ablation).

    Args:
      embedding_sum: [..., D] float32, sum of the segment's embeddings.
      square_sum: [..., D] float32, sum of their squares.
      count: [...] number of steps summed (> 0).
      min_variance: floor on the per-dimension variance.

    Returns:
      mean [..., D] float32 and log_var [..., D] float32 (log of the per-dimension variance of the
      segment's embeddings).
    """
    count = jnp.maximum(jnp.asarray(count, jnp.float32), 1.0)[..., None]
    mean = embedding_sum / count
    variance = jnp.maximum(square_sum / count - jnp.square(mean), min_variance)
    return mean, jnp.log(variance)


def kl_to_standard_normal(mean: jax.Array, log_var: jax.Array) -> jax.Array:
    """KL(N(mean, exp(log_var)) || N(0, I)) summed over the last axis: [..., Z] -> [...]."""
    return 0.5 * jnp.sum(jnp.exp(log_var) + jnp.square(mean) - 1.0 - log_var, axis=-1)


class SegmentVAE(nn.Module):
    """Variational autoencoder of fixed-length segments of step embeddings.

    Encoder: ``h_l = MLP([e_l] + pos_l)`` per step, ``mean, log_var = head(mean_l h_l)``.
    Decoder: ``x_l = MLP(z + pos'_l)`` per step position, ``[Z] -> [L, D]``.

    Attributes:
      segment_length: steps per segment L.
      embed_dim: width D of a step embedding.
      latent_dim: width Z of the latent.
      hidden_dim: width H of the encoder's step features and of the decoder.
      beta: weight of the KL term in :meth:`loss`.
      log_var_min: lower clip of the encoder's log-variance.
      log_var_max: upper clip of the encoder's log-variance.
    """

    segment_length: int
    embed_dim: int
    latent_dim: int
    hidden_dim: int
    beta: float
    log_var_min: float
    log_var_max: float

    def setup(self) -> None:
        self.encoder_input = nn.Dense(self.hidden_dim)
        self.encoder_position = nn.Embed(
            self.segment_length,
            self.hidden_dim,
            embedding_init=nn.initializers.normal(1.0),
        )
        self.encoder_hidden = nn.Dense(self.hidden_dim)
        self.head_hidden = nn.Dense(self.hidden_dim)
        self.head_mean = nn.Dense(self.latent_dim)
        self.head_log_var = nn.Dense(self.latent_dim)
        self.decoder_input = nn.Dense(self.hidden_dim)
        self.decoder_position = nn.Embed(
            self.segment_length,
            self.hidden_dim,
            embedding_init=nn.initializers.normal(1.0),
        )
        self.decoder_hidden = nn.Dense(self.hidden_dim)
        self.decoder_output = nn.Dense(self.embed_dim)

    def step_features(self, embedding: jax.Array, position: jax.Array) -> jax.Array:
        """Encoder features of single steps; their mean over a segment feeds :meth:`head`.

        Args:
          embedding: [..., D] float32.
          position: [...] int32 position of the step in its segment, in [0, L).

        Returns:
          [..., H] float32.
        """
        hidden = nn.gelu(self.encoder_input(embedding) + self.encoder_position(position))
        return nn.gelu(self.encoder_hidden(hidden))

    def head(self, pooled: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Latent Gaussian from pooled step features.

        Args:
          pooled: [..., H] float32, the mean of :meth:`step_features` over a segment.

        Returns:
          mean [..., Z] float32 and log_var [..., Z] float32 (clipped).
        """
        hidden = nn.gelu(self.head_hidden(pooled))
        log_var = jnp.clip(self.head_log_var(hidden), self.log_var_min, self.log_var_max)
        return self.head_mean(hidden), log_var

    def encode(self, segment: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Encodes segments.

        Args:
          segment: [..., L, D] float32.

        Returns:
          mean [..., Z] float32 and log_var [..., Z] float32.
        """
        positions = jnp.arange(self.segment_length, dtype=jnp.int32)
        return self.head(jnp.mean(self.step_features(segment, positions), axis=-2))

    def decode(self, latent: jax.Array) -> jax.Array:
        """Decodes latents into segments.

        Args:
          latent: [..., Z] float32.

        Returns:
          [..., L, D] float32 reconstruction.
        """
        positions = jnp.arange(self.segment_length, dtype=jnp.int32)
        hidden = self.decoder_input(latent)[..., None, :] + self.decoder_position(positions)
        hidden = nn.gelu(self.decoder_hidden(nn.gelu(hidden)))
        return self.decoder_output(hidden)

    def loss(self, segments: jax.Array, key: jax.Array) -> tuple[jax.Array, dict[str, jax.Array]]:
        """Negative evidence lower bound per element, with KL weight ``beta``.

        ``loss = mean squared reconstruction error + beta * KL / (L * D)``, where the KL of each
        segment's posterior to N(0, I) is divided by the number of reconstructed numbers so that
        ``beta`` does not depend on the segment's size.

        Args:
          segments: [B, L, D] float32.
          key: PRNG key for the reparameterised latent samples.

        Returns:
          loss [] float32 and metrics {"reconstruction", "kl", "loss"} of [] float32.
        """
        mean, log_var = self.encode(segments)
        noise = jax.random.normal(key, mean.shape, mean.dtype)
        latent = mean + jnp.exp(0.5 * log_var) * noise
        reconstruction = self.decode(latent)
        mse = jnp.mean(jnp.square(reconstruction - segments))
        kl = jnp.mean(kl_to_standard_normal(mean, log_var)) / (self.segment_length * self.embed_dim)
        loss = mse + self.beta * kl
        return loss, {"reconstruction": mse, "kl": kl, "loss": loss}
