"""Configuration validation and clear errors for bad setups."""

import dataclasses
import math

import pytest

from hcmrl_jax.models.baselines import GRUCore
from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl import PPOConfig, PPOTrainer, make_train, make_train_chunks
from tests.rl.helpers import SMALL


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (dict(num_envs=6, num_minibatches=4), ValueError, "num_minibatches .* must divide"),
        (dict(memory="lstm"), KeyError, "unknown memory kind"),
        (dict(env_id="NoSuchEnv-v0"), KeyError, "unknown env"),
        (dict(num_steps=0), ValueError, "num_steps must be a positive"),
        (dict(state_dim=-8), ValueError, "state_dim must be a positive"),
        (dict(total_timesteps=8), ValueError, "less than one update"),
        (dict(gamma=1.5), ValueError, "gamma must lie in"),
        (dict(lr=0.0), ValueError, "lr must be > 0"),
        (dict(state_dim=30, num_heads=4), ValueError, "divide by num_heads"),
        (dict(segment_length=16), ValueError, "segment_length"),
        (dict(num_steps=4, segment_length=8, immediate_size=8), ValueError, "segment_length"),
        (dict(credit="memory", memory="gru"), ValueError, "short-term tier"),
        (dict(credit="rudder"), ValueError, "unknown mode"),
        (dict(novelty_bonus=True, memory="mlp"), ValueError, "scores novelty"),
        (dict(ent_schedule="step"), ValueError, "unknown schedule"),
        # inf and nan pass every `> 0` / `>= 0` / range check on their own.
        (dict(lr=float("inf")), ValueError, "PPOConfig.lr must be a finite number"),
        (dict(lr=float("nan")), ValueError, "PPOConfig.lr must be a finite number"),
        (dict(max_grad_norm=float("inf")), ValueError, "max_grad_norm must be a finite"),
        (dict(ent_coef=float("inf")), ValueError, "ent_coef must be a finite"),
        (dict(novelty_coef=float("nan")), ValueError, "novelty_coef must be a finite"),
        (dict(env_overrides={"x": float("inf")}), ValueError, r"env_overrides\['x'\] must be"),
    ],
)
def test_bad_configs_raise_clear_errors(overrides, error, match):
    kwargs = {**SMALL, **overrides}
    with pytest.raises(error, match=match):
        PPOConfig(**kwargs)


def test_good_config_properties():
    config = PPOConfig(**SMALL)
    assert config.num_updates == 4 and config.minibatch_envs == 2
    assert config.steps_per_update == 16


def test_action_count_mismatch_is_a_clear_error():
    config = PPOConfig(**SMALL, memory="gru", state_dim=16, num_heads=2)
    policy = MemoryAugmentedPolicy(state_dim=16, action_dim=10, memory=GRUCore(16, 8))
    with pytest.raises(ValueError, match=r"action_dim \(10\).*2 actions"):
        make_train(config, policy=policy)
    with pytest.raises(ValueError, match=r"action_dim \(10\)"):
        PPOTrainer(policy, policy.memory, env="MemoryChain-bsuite", config=config)
    with pytest.raises(ValueError, match="memory"):
        PPOTrainer(policy, GRUCore(16, 8), config=config)
    with pytest.raises(ValueError, match="updates_per_chunk"):
        make_train_chunks(config, 0)


def test_every_float_field_rejects_inf_and_nan():
    floats = [f.name for f in dataclasses.fields(PPOConfig) if f.type == "float"]
    assert {"lr", "gamma", "clip_eps", "adam_eps", "vf_coef", "credit_fraction"} <= set(floats)
    for name in floats:
        for bad in (math.inf, -math.inf, math.nan):
            with pytest.raises(ValueError, match=rf"PPOConfig\.{name} must be a finite number"):
                PPOConfig(**{**SMALL, name: bad})
