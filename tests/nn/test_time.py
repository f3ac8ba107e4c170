"""Time encodings: the memory's logarithmic code and the window transformer's sinusoids."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.nn.time import log_time_encoding, sinusoidal_time_encoding


def test_log_time_encoding_is_a_smooth_partition_of_unity_on_a_log_scale():
    values = jnp.array([0.0, 1.0, 2.0, 100.0, 5000.0, 10_000.0, 1e6])
    codes = jax.jit(log_time_encoding, static_argnums=(1, 2))(values, 6, 10_000.0)
    assert codes.shape == (7, 6)
    np.testing.assert_allclose(codes.sum(-1), 1.0, rtol=1e-6)
    assert np.all(codes >= 0)
    np.testing.assert_array_equal(codes[0], [1, 0, 0, 0, 0, 0])  # time 0: first bump
    np.testing.assert_array_equal(codes[-1], codes[-2])  # beyond the horizon: the last code
    distances = np.linalg.norm(codes[1:6, None] - codes[None, 1:6], axis=-1)
    assert np.all(distances[~np.eye(5, dtype=bool)] > 1e-2)  # times up to the horizon differ
    with pytest.raises(ValueError, match="num_features"):
        log_time_encoding(jnp.zeros(3), 1, 100.0)


def test_sinusoidal_time_encoding_by_hand():
    ages = jnp.array([0, 1, 7], jnp.int32)
    codes = jax.jit(sinusoidal_time_encoding, static_argnums=(1, 2))(ages, 4, 100.0)
    assert codes.shape == (3, 4) and codes.dtype == jnp.float32
    freqs = np.exp(-np.log(100.0) * np.arange(2) / 2)  # periods 2 pi and 20 pi steps
    angles = np.array([0.0, 1.0, 7.0])[:, None] * freqs
    want = np.concatenate([np.sin(angles), np.cos(angles)], axis=-1)
    np.testing.assert_allclose(codes, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(codes[0], [0, 0, 1, 1])  # age 0: sines 0, cosines 1
