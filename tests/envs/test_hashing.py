"""The counter-hash streams behind world generation: uniform, uncorrelated, typed keys alike."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from envs_jax.hashing import (
    crafting_uniforms,
    games_bits,
    navigation_uniforms,
    unit_floats,
)

#: Each stream as ``draw(key, n) -> float32 [n]`` uniforms in [0, 1).
STREAMS = {
    "crafting": lambda key, n: crafting_uniforms(key, (n,)),
    "navigation": navigation_uniforms,
    "games": lambda key, n: unit_floats(games_bits(key, n)),
}


@pytest.mark.parametrize("name", list(STREAMS))
def test_counter_hash_uniforms_look_uniform(name):
    draw = STREAMS[name]
    a = np.asarray(draw(jax.random.PRNGKey(0), 20_000))
    b = np.asarray(draw(jax.random.PRNGKey(1), 20_000))
    c = np.asarray(draw(jax.random.key(0), 20_000))  # typed keys work too
    assert a.dtype == np.float32 and a.min() >= 0.0 and a.max() < 1.0
    counts = np.histogram(a, bins=10, range=(0.0, 1.0))[0]
    assert np.all(np.abs(counts - 2_000) < 200), counts  # ~4.5 standard deviations
    assert abs(np.corrcoef(a[:-1], a[1:])[0, 1]) < 0.03 and abs(np.corrcoef(a, b)[0, 1]) < 0.03
    np.testing.assert_array_equal(a, c)


def test_crafting_uniforms_take_any_shape():
    key = jax.random.PRNGKey(3)
    grid = np.asarray(crafting_uniforms(key, (4, 5)))
    assert grid.shape == (4, 5)
    np.testing.assert_array_equal(grid.reshape(-1), np.asarray(crafting_uniforms(key, (20,))))
    assert np.asarray(crafting_uniforms(key, ())).shape == ()
