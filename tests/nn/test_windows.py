"""Window and ring-buffer helpers, by hand."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from hcmrl_jax.nn.windows import ring_history, sliding_windows


def test_sliding_windows_by_hand():
    # W = 3 held entries (the oldest not a real step), T = 4 steps with a reset at step 2.
    held_valid = jnp.array([False, True, True])
    is_first = jnp.array([False, False, True, False])
    index, valid, age = sliding_windows(held_valid, is_first)
    np.testing.assert_array_equal(index, [[0, 1, 2], [1, 2, 3], [2, 3, 4], [3, 4, 5]])
    np.testing.assert_array_equal(
        valid,
        [
            [False, True, True],  # the two real held steps
            [True, True, True],  # ... and step 0
            [False, False, False],  # a new episode starts: nothing before it
            [False, False, True],  # only step 2 of the new episode
        ],
    )
    np.testing.assert_array_equal(age, [[3, 2, 1]] * 4)


def test_ring_history_by_hand():
    # N = 4 slots holding steps 4, 5, 2, 3 (step t in slot t mod 4); slot 2 was never written
    # in this episode.
    write_step = jnp.array([4, 5, 2, 3], jnp.int32)
    valid = jnp.array([True, True, False, True])
    slots, held = jax.jit(ring_history, static_argnums=3)(write_step, valid, jnp.int32(6), 4)
    # Steps 2 .. 5, oldest first: step 2 is not held (slot invalid), the rest are.
    np.testing.assert_array_equal(slots, [2, 3, 0, 1])
    np.testing.assert_array_equal(held, [False, True, True, True])
    # Early in an episode, steps before 0 are not held (and point at slot 0).
    slots, held = ring_history(write_step, valid, jnp.int32(1), 3)
    np.testing.assert_array_equal(slots, [0, 0, 0])
    np.testing.assert_array_equal(held, [False, False, False])  # slot 0 holds step 4, not 0
