"""The user-facing trainer's handling of a step count that is not whole updates."""

import warnings

import pytest

from hcmrl_jax.models.baselines import GRUCore
from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl import PPOTrainer
from tests.rl.helpers import small_config


def test_trainer_warns_when_num_steps_is_not_a_multiple_of_an_update():
    config = small_config("gru", embed_dim=16, num_heads=2)  # 16 steps per update
    policy = MemoryAugmentedPolicy(state_dim=16, action_dim=2, memory=GRUCore(16, 8))
    trainer = PPOTrainer(policy, policy.memory, env="MemoryChain-bsuite", config=config)
    with pytest.warns(UserWarning, match=r"num_steps=100 .* 16; training 96 env steps \(6 up"):
        trainer.make_train(num_steps=100)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        trainer.make_train(num_steps=96)  # a multiple: silent
