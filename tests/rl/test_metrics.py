"""In-graph metric reduction against hand-computed numbers."""

import jax.numpy as jnp
import numpy as np

from hcmrl_jax.rl.metrics import (
    LAG_BIN_KEYS,
    count_nonfinite,
    explained_variance,
    masked_mean,
    reduce_metrics,
)
from hcmrl_jax.rl.types import Transition

T, N = 2, 2


def _traj() -> Transition:
    """Two steps of two envs; one episode ends (env 1 at step 0): return 2, length 3, success,
    with 2 decisions in the first lag bin (1 right) and 1 in the third (wrong)."""
    finished = jnp.array([[False, True], [False, False]])
    lag_counts = jnp.zeros((T, N, 4), jnp.int32).at[0, 1].set(jnp.array([2, 0, 1, 0]))
    lag_hits = jnp.zeros((T, N, 4), jnp.int32).at[0, 1].set(jnp.array([1, 0, 0, 0]))
    # Unfinished entries hold numbers that must not count.
    lag_counts = lag_counts.at[1, 0].set(9)
    zeros = jnp.zeros((T, N), jnp.float32)
    return Transition(
        obs=zeros,
        is_first=jnp.zeros((T, N), bool),
        action=jnp.zeros((T, N), jnp.int32),
        log_prob=zeros,
        value=zeros,
        reward=jnp.array([[0.0, 1.0], [0.5, 0.5]]),
        terminated=finished,
        truncated=jnp.zeros((T, N), bool),
        novelty=jnp.full((T, N), 0.25),
        credit=(),
        replay=(),
        stats={
            "returned_episode": finished,
            "returned_episode_returns": jnp.array([[7.0, 2.0], [7.0, 7.0]]),
            "returned_episode_lengths": jnp.array([[9, 3], [9, 9]]),
            "returned_episode_success": jnp.array([[0.0, 1.0], [0.0, 0.0]]),
            "returned_lag_counts": lag_counts,
            "returned_lag_successes": lag_hits,
        },
    )


def test_reduce_metrics_counts_finished_episodes_only():
    losses = {  # [epochs, minibatches]
        "loss_total": jnp.array([[1.0, 2.0], [3.0, 4.0]]),
        "ratio_error": jnp.array([[0.0, 0.5], [0.3, 0.2]]),
    }
    moved = jnp.array([[0.0, -0.2], [0.2, 0.0]])
    metrics = reduce_metrics(_traj(), losses, moved, rewards=jnp.ones((T, N)))
    assert float(metrics["episode_return"]) == 2.0 and float(metrics["episode_length"]) == 3.0
    assert float(metrics["success"]) == 1.0 and float(metrics["episodes"]) == 1.0
    assert float(metrics["reward"]) == 0.5 and float(metrics["novelty"]) == 0.25
    np.testing.assert_allclose(float(metrics["credit_moved"]), 0.1)
    assert float(metrics["shaped_reward"]) == 1.0
    decisions = [float(metrics[f"decisions_lag_{k}"]) for k in LAG_BIN_KEYS]
    assert decisions == [2.0, 0.0, 1.0, 0.0]
    recall = [float(metrics[f"recall_lag_{k}"]) for k in LAG_BIN_KEYS]
    assert recall[0] == 0.5 and recall[2] == 0.0
    assert np.isnan(recall[1]) and np.isnan(recall[3])  # no decision: nothing measured
    assert float(metrics["loss_total"]) == 2.5
    # The first minibatch of the first epoch, not the mean.
    assert float(metrics["ratio_error_first_minibatch"]) == 0.0 and "ratio_error" not in metrics


def test_helpers():
    assert np.isnan(float(masked_mean(jnp.ones(3), jnp.zeros(3, bool))))
    assert float(masked_mean(jnp.array([1.0, 5.0, 3.0]), jnp.array([True, False, True]))) == 2.0
    tree = {"a": jnp.array([1.0, jnp.nan, jnp.inf]), "b": jnp.array([1, 2]), "c": jnp.zeros(2)}
    assert float(count_nonfinite(tree)) == 2.0
    targets = jnp.array([1.0, 2.0, 3.0])
    assert float(explained_variance(targets, targets)) == 1.0
    assert float(explained_variance(jnp.zeros(3), targets)) == 0.0
    assert np.isnan(float(explained_variance(targets, jnp.ones(3))))
