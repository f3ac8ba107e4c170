"""The segment VAE learns to compress structured segments, and a memory using it recalls."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from hcmrl_jax.memory import HierarchicalMemory, gaussian_distance

from .conftest import key, make_runner

LENGTH, DIM = 8, 16
MEMORY = HierarchicalMemory(
    immediate_size=LENGTH,
    short_term_size=4,
    long_term_size=2,
    embed_dim=DIM,
    latent_dim=4,
    segment_length=LENGTH,
    num_heads=2,
    vae_hidden_dim=48,
    time_features=4,
    beta=0.1,
)


def structured_segments(seed: int, count: int, offset_scale: float = 1.0) -> np.ndarray:
    """Segments of a 3-factor process: a sinusoid with random phase and amplitude along one
    fixed direction, a random offset along another, and small noise.

    Returns:
      [count, LENGTH, DIM] float32.
    """
    rng = np.random.default_rng(seed)
    basis = np.random.default_rng(42).standard_normal((2, DIM))  # the same in every call
    phase = rng.uniform(0, 2 * np.pi, (count, 1))
    amplitude = rng.uniform(0.5, 2.0, (count, 1))
    offset = offset_scale * rng.standard_normal((count, 1))
    wave = amplitude * np.sin(0.8 * np.arange(LENGTH)[None] + phase)  # [count, LENGTH]
    segments = wave[..., None] * basis[0] + offset[..., None] * basis[1]
    return (segments + 0.05 * rng.standard_normal(segments.shape)).astype(np.float32)


@pytest.fixture(scope="module")
def training():
    """Untrained and trained parameters and the training losses."""
    params = MEMORY.init_params(key(0))
    train_data = jnp.asarray(structured_segments(1, 2048))
    optimizer = optax.adam(3e-3)

    def train(params, batches, keys):
        def update(carry, inputs):
            params, opt_state = carry
            batch, key_loss = inputs
            (loss, _), grads = jax.value_and_grad(
                lambda p: MEMORY.apply(p, train_data[batch], key_loss, method="vae_loss"),
                has_aux=True,
            )(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(
            update, (params, optimizer.init(params)), (batches, keys)
        )
        return params, losses

    steps = 400
    batches = np.random.default_rng(2).integers(0, train_data.shape[0], (steps, 64))
    keys = jax.random.split(key(3), steps)
    trained, losses = jax.jit(train)(params, batches, keys)
    return params, trained, losses


def test_trained_vae_reconstructs_held_out_segments_much_better_than_untrained(training):
    untrained, trained, losses = training
    held_out = jnp.asarray(structured_segments(4, 256))

    @jax.jit
    def reconstruction_error(params):
        mean, _ = MEMORY.apply(params, held_out, method="summarize")
        decoded = MEMORY.apply(params, mean, method="decode")
        return jnp.mean(jnp.square(decoded - held_out))

    before, after = float(reconstruction_error(untrained)), float(reconstruction_error(trained))
    variance = float(jnp.mean(jnp.var(held_out, axis=0)))
    assert bool(jnp.all(jnp.isfinite(losses)))
    assert float(losses[-20:].mean()) < 0.5 * float(losses[:20].mean())
    assert after < 0.25 * before, (before, after)
    assert after < 0.25 * variance, (after, variance)  # far better than the mean segment


def test_memory_with_trained_vae_recalls_a_distinctive_first_segment(training):
    _, trained, _ = training
    distinctive = structured_segments(5, 1, offset_scale=0.0) + 6.0 * np.random.default_rng(
        42
    ).standard_normal((2, DIM))[1].astype(np.float32)
    stream = structured_segments(6, 125).reshape(-1, DIM)  # 1,000 ordinary steps
    embeddings = np.concatenate([distinctive[0], stream])
    firsts = np.zeros(len(embeddings), bool)
    firsts[0] = True
    run = make_runner(MEMORY)
    final, _ = run(trained, MEMORY.initial_state(), embeddings, embeddings, firsts)
    short_term = final.short_term
    target_mean, target_log_var = MEMORY.apply(trained, distinctive[0], method="summarize")
    distance = gaussian_distance(
        short_term.mean, short_term.log_var, target_mean, target_log_var, MEMORY.config.min_variance
    )
    nearest = int(jnp.argmin(jnp.where(short_term.valid, distance, jnp.inf)))
    assert int(short_term.span_start[nearest]) == 0
    assert int(short_term.span_end[nearest]) == LENGTH
    assert int(final.t) == 1008 and int(short_term.span_end.max()) == 1008
