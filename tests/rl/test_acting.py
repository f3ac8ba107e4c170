"""Acting: the rollout records the shared step (also used by evaluation), and desynchronised
starts (fixed-length episodes no longer all end in the same update)."""

from __future__ import annotations

import jax
import numpy as np
import pytest

from hcmrl_jax.memory import MemoryConfig
from hcmrl_jax.rl import PPOConfig, acting, make_train_chunks
from hcmrl_jax.rl.setup import make_setup
from hcmrl_jax.rl.train import init
from hcmrl_jax.rl.types import ActingState

LAG = 10


def _config(**overrides) -> PPOConfig:
    fields = dict(
        env_id="recall",
        env_overrides={"lag": LAG, "num_distractors": 2},
        memory=MemoryConfig.mlp(embed_dim=8, segment_length=4, immediate_size=4),
        head_hidden=8,
        num_envs=16,
        num_steps=4,
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


def test_rollout_records_the_shared_step_and_greedy_takes_the_argmax():
    setup = make_setup(_config())
    key_init, key_rollout, key_greedy = jax.random.split(jax.random.PRNGKey(5), 3)
    runner = jax.jit(lambda k: init(setup, k))(key_init)
    params, env_params = runner.params, runner.env_params
    start = ActingState(runner.env_state, runner.obs, runner.carry, runner.is_first)
    end, traj = jax.jit(lambda s, k: acting.rollout(setup, params, env_params, s, k))(
        start, key_rollout
    )
    step = jax.jit(
        lambda s, k, greedy: acting.step(
            setup.policy, setup.env.env, params, env_params, s, k, greedy
        ),
        static_argnums=2,
    )
    state = start
    for t, key_t in enumerate(jax.random.split(key_rollout, setup.config.num_steps)):
        out = step(state, key_t, False)
        # The transition holds the observation acted on and the action taken from it.
        recorded = jax.tree.map(lambda x, t=t: x[t], traj.obs)
        for got, want in zip(jax.tree.leaves(recorded), jax.tree.leaves(state.obs), strict=True):
            np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(traj.is_first[t], state.is_first)
        np.testing.assert_array_equal(traj.action[t], out.action)
        np.testing.assert_allclose(traj.value[t], out.value, rtol=1e-6)
        state = out.state
    for got, want in zip(jax.tree.leaves(state), jax.tree.leaves(end), strict=True):
        np.testing.assert_array_equal(got, want)
    greedy = step(start, key_greedy, True)
    np.testing.assert_array_equal(greedy.action, np.argmax(greedy.logits, axis=-1))
