"""The trainer regenerates part of the reset pool every update (fresh worlds in training)."""

from __future__ import annotations

import jax
import numpy as np

from hcmrl_jax.memory import MemoryConfig
from hcmrl_jax.rl import PPOConfig
from hcmrl_jax.rl.train import make_train_chunks

SMALL_NAVIGATION = {
    "rooms_high": 2,
    "rooms_wide": 2,
    "room_size": 3,
    "view_size": 3,
    "num_colours": 1,
    "num_locked_doors": 1,
    "num_extra_doors": 0,
    "num_landmarks": 2,
    "max_steps_in_episode": 24,
}


def test_trainer_refreshes_the_reset_pool_every_update():
    config = PPOConfig(
        env_id="navigation",
        env_overrides=SMALL_NAVIGATION,
        memory=MemoryConfig.mlp(
            embed_dim=16,
            immediate_size=8,
            short_term_size=4,
            long_term_size=2,
            latent_dim=4,
            segment_length=8,
            num_heads=2,
        ),
        num_envs=4,
        num_steps=16,
        num_minibatches=2,
        update_epochs=1,
        total_timesteps=3 * 4 * 16,
        reset_pool_size=8,
        reset_refresh=3,
        head_hidden=16,
    )
    init_fn, update_fn = make_train_chunks(config, config.num_updates)
    runner = jax.jit(init_fn)(jax.random.PRNGKey(0))
    start = jax.device_get(runner.env_params)
    runner, _ = jax.jit(update_fn)(runner)
    pool = jax.device_get(runner.env_params)
    assert int(pool.cursor) == (3 * 3) % 8
    # The pool the run started from differs from the pool after three updates in the
    # refreshed slots.
    changed = np.any(
        np.asarray(pool.pool_state.grid) != np.asarray(start.pool_state.grid),
        axis=(1, 2),
    )
    assert int(start.cursor) == 0 and changed.sum() >= 4, changed
