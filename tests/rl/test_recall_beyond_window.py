"""HCMRL recalls a cue from far beyond its immediate window and its rollout, among distractors.

The passive recall probe (``envs_jax.make("recall")``) shows a cue once at step 0, random +-1
distractors at every step, and asks for the cue at step ``LAG``. The small agent's immediate
tier holds 8 steps and its short-term tier 4 summaries of 4-step segments, so by the query the
episode's 12 segments have been merged down to 4 and the cue step survives only as the key step
its summary kept for being salient (with its observation, which the read learns to decode); the
rollout (the truncated-BPTT window) is shorter than the lag, so no gradient connects the query
to the cue. HCMRL learns the task; the immediate-only ablation, HCMRL without key steps and the
GRU, trained for the same env steps with the same budget, stay at chance (return 0).
"""

import jax
import numpy as np
import pytest

from hcmrl_jax.rl import PPOConfig, make_train
from tests.rl.helpers import SMALL_AGENT, of_kind

LAG = 48
UPDATES = 120
CONFIG = PPOConfig(
    **{**SMALL_AGENT, "env_id": "recall"},
    env_overrides={"lag": LAG, "num_distractors": 4},
    num_envs=32,
    num_steps=32,
    total_timesteps=32 * 32 * UPDATES,
)


def final_return(memory: str) -> float:
    config = of_kind(CONFIG, memory)
    key = jax.random.key(0)
    _, metrics = jax.jit(make_train(config))(key)
    returns = np.asarray(metrics["episode_return"])[-20:]
    return float(np.nanmean(returns))


@pytest.mark.parametrize(
    ("memory", "learns"),
    [("hcmrl", True), ("hcmrl_immediate", False), ("hcmrl_no_keys", False), ("gru", False)],
)
def test_cue_far_beyond_the_window_and_the_rollout_needs_the_key_steps(memory, learns):
    assert LAG >= 8 * CONFIG.memory.segment_length and LAG > CONFIG.memory.immediate_size
    assert LAG > CONFIG.num_steps  # no BPTT window reaches from the query back to the cue
    result = final_return(memory)
    if learns:
        assert result > 0.8, result
    else:
        assert abs(result) < 0.3, result
