"""The trainer regenerates part of the reset pool every update (fresh worlds in training)."""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from hcmrl_jax.memory import MemoryConfig
from hcmrl_jax.rl import PPOConfig, make_train

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
    train = jax.jit(make_train(config))
    runner, _ = train(jax.random.PRNGKey(0))
    pool = jax.device_get(runner.env_params)
    assert int(pool.cursor) == (3 * 3) % 8
    # The pool the run started from, rebuilt from the same key, differs in the refreshed slots.
    start = jax.device_get(
        jax.jit(make_train(dataclasses.replace(config, reset_refresh=0)))(jax.random.PRNGKey(0))[
            0
        ].env_params
    )
    changed = np.any(
        np.asarray(pool.pool_state.grid) != np.asarray(start.pool_state.grid),
        axis=(1, 2),
    )
    assert int(start.cursor) == 0 and changed.sum() >= 4, changed
