"""HCMRL trains to recall a cue from beyond its immediate window, through the short-term tier.

gymnax's ``MemoryChain-bsuite`` shows a cue at step 0 and asks for it at step 24. The agent's
immediate tier holds only the last 8 steps, so by the query the cue survives only in the
VAE-compressed short-term summaries (4 slots of 4-step segments, merged as the episode grows).
HCMRL learns the task; the immediate-only ablation, with the same budget, stays at chance.
"""

import dataclasses

import jax
import numpy as np
import pytest

from hcmrl_jax.rl import PPOConfig, make_train
from tests.rl.helpers import SMALL_AGENT, compile_fast

MEMORY_LENGTH = 24
UPDATES = 200
CONFIG = PPOConfig(
    **SMALL_AGENT,
    env_overrides={"memory_length": MEMORY_LENGTH},
    num_envs=32,
    num_steps=64,
    total_timesteps=32 * 64 * UPDATES,
)


def final_return(memory: str) -> float:
    config = dataclasses.replace(CONFIG, memory=memory)
    key = jax.random.key(0)
    _, metrics = compile_fast(make_train(config), key)(key)
    return float(np.mean(np.asarray(metrics["episode_return"])[-10:]))


@pytest.mark.parametrize(("memory", "learns"), [("hcmrl", True), ("hcmrl_immediate", False)])
def test_cue_beyond_the_immediate_window_needs_the_short_term_tier(memory, learns):
    assert CONFIG.immediate_size < MEMORY_LENGTH  # the cue has left the immediate tier
    result = final_return(memory)
    if learns:
        assert result > 0.8, result
    else:
        assert abs(result) < 0.3, result
