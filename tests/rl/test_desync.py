"""Desynchronised starts: fixed-length episodes no longer all end in the same update."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from hcmrl_jax.rl import PPOConfig, make_train_chunks

LAG = 10


def _config(**overrides) -> PPOConfig:
    fields = dict(
        env_id="recall",
        env_overrides={"lag": LAG, "num_distractors": 2},
        memory="mlp",
        state_dim=8,
        head_hidden=8,
        num_envs=16,
        num_steps=4,
        segment_length=4,
        immediate_size=4,
        total_timesteps=64,
        num_minibatches=2,
        update_epochs=1,
        reset_pool_size=4,
        reset_refresh=1,
    )
    return PPOConfig(**(fields | overrides))


def _episode_steps(runner) -> np.ndarray:
    """The recall env's step counter of every env, found by its field name."""
    leaves = jax.tree_util.tree_flatten_with_path(runner.env_state)[0]
    times = [leaf for path, leaf in leaves if "time" in jax.tree_util.keystr(path)]
    assert len(times) == 1, [jax.tree_util.keystr(p) for p, _ in leaves]
    return np.asarray(times[0])


def test_desync_spreads_episode_starts_and_zero_keeps_them_together():
    key = jax.random.PRNGKey(3)
    init_plain, _ = make_train_chunks(_config(), 1)
    plain = jax.jit(init_plain)(key)
    assert np.all(_episode_steps(plain) == 0)

    init, update = make_train_chunks(_config(desync_steps=LAG + 1), 1)
    runner = jax.jit(init)(key)
    steps = _episode_steps(runner)
    assert steps.min() >= 0 and steps.max() <= LAG
    assert len(np.unique(steps)) >= 5  # 16 envs spread over 11 possible offsets
    # The agent's parameters come from the same keys as without desync.
    same = jax.tree.map(np.array_equal, runner.params, plain.params)
    assert all(jax.tree.leaves(same))
    runner, metrics = jax.jit(update)(runner)
    assert np.isfinite(np.asarray(metrics["loss_total"])).all()


def test_desync_steps_must_be_a_non_negative_integer():
    with pytest.raises(ValueError, match="desync_steps"):
        _config(desync_steps=-1)
    with pytest.raises(ValueError, match="desync_steps"):
        _config(desync_steps=2.5)
