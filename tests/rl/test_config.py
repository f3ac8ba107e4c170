"""Configuration validation and clear errors for bad setups."""

import dataclasses
import math

import pytest

from hcmrl_jax.memory import MemoryConfig
from hcmrl_jax.memory.config import SETTING_NAMES
from hcmrl_jax.models.baselines import GRUCore
from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl import PPOConfig, PPOTrainer, make_train, make_train_chunks
from hcmrl_jax.rl.config import setting_defaults
from tests.rl.helpers import SMALL, SMALL_MEMORY, small_config


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (dict(num_envs=6, num_minibatches=4), ValueError, "num_minibatches .* must divide"),
        (dict(kind="lstm"), KeyError, "unknown memory kind"),
        (dict(memory="gru"), ValueError, "must be a MemoryConfig"),
        (dict(env_id="NoSuchEnv-v0"), KeyError, "unknown env"),
        (dict(num_steps=0), ValueError, "num_steps must be a positive"),
        (dict(embed_dim=-8), ValueError, "embed_dim must be a positive"),
        (dict(total_timesteps=8), ValueError, "less than one update"),
        (dict(gamma=1.5), ValueError, "gamma must lie in"),
        (dict(lr=0.0), ValueError, "lr must be > 0"),
        (dict(embed_dim=30, num_heads=4), ValueError, "divide by num_heads"),
        (dict(segment_length=16), ValueError, "segment_length"),
        (dict(num_steps=4, segment_length=8, immediate_size=8), ValueError, "segment_length"),
        (dict(credit="memory", kind="gru"), ValueError, "short-term tier"),
        (dict(credit="memory", kind="hcmrl_immediate"), ValueError, "short-term tier"),
        (dict(credit="rudder"), ValueError, "unknown mode"),
        (dict(novelty_bonus=True, kind="mlp"), ValueError, "scores novelty"),
        (dict(ent_schedule="step"), ValueError, "unknown schedule"),
        (dict(action_factors=(2, 0)), ValueError, "action_factors must be positive integers"),
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
    with pytest.raises(error, match=match):
        small_config(**overrides)


def test_good_config_properties():
    config = PPOConfig(**SMALL)
    assert config.num_updates == 4 and config.minibatch_envs == 2
    assert config.steps_per_update == 16


def test_action_count_mismatch_is_a_clear_error():
    config = small_config("gru", embed_dim=16, num_heads=2)
    policy = MemoryAugmentedPolicy(state_dim=16, action_dim=10, memory=GRUCore(16, 8))
    with pytest.raises(ValueError, match=r"action_dim \(10\).*2 actions"):
        make_train(config, policy=policy)
    with pytest.raises(ValueError, match=r"action_dim \(10\)"):
        PPOTrainer(policy, policy.memory, env="MemoryChain-bsuite", config=config)
    with pytest.raises(ValueError, match="memory"):
        PPOTrainer(policy, GRUCore(16, 8), config=config)
    with pytest.raises(ValueError, match="updates_per_chunk"):
        make_train_chunks(config, 0)
    factored = small_config("gru", embed_dim=16, num_heads=2, action_factors=(3,))
    with pytest.raises(ValueError, match=r"action_factors \(3,\) multiply to 3, but the env has 2"):
        make_train(factored)


def test_every_float_field_rejects_inf_and_nan():
    floats = [f.name for f in dataclasses.fields(PPOConfig) if f.type == "float"]
    assert {"lr", "gamma", "clip_eps", "adam_eps", "vf_coef", "credit_fraction"} <= set(floats)
    for name in floats:
        for bad in (math.inf, -math.inf, math.nan):
            with pytest.raises(ValueError, match=rf"PPOConfig\.{name} must be a finite number"):
                PPOConfig(**{**SMALL, name: bad})


def test_every_setting_has_one_name_and_one_home():
    run = {f.name for f in dataclasses.fields(PPOConfig)} - {"memory"}
    assert not run & set(SETTING_NAMES)  # the memory's settings live in MemoryConfig only
    assert set(setting_defaults()) == run | set(SETTING_NAMES)
    config = small_config("transformer", embed_dim=16, num_heads=2, lr=1e-3)
    settings = config.settings()
    assert (
        settings["embed_dim"] == 16 and settings["lr"] == 1e-3 and settings["core"] == "transformer"
    )
    # Settings by name go where they live; the old name of embed_dim is accepted.
    changed = config.with_settings(state_dim=32, transformer_window=8, num_envs=8)
    assert changed.memory == dataclasses.replace(config.memory, embed_dim=32, transformer_window=8)
    assert changed.num_envs == 8 and changed.memory.kind == "transformer"
    with pytest.raises(ValueError, match="no settings"):
        config.with_settings(hidden_size=3)


def test_saved_configs_load_nested_and_in_the_old_flat_layout():
    config = small_config("hcmrl_meanpool", embed_dim=16, num_heads=2, lr=1e-3)
    assert PPOConfig.from_dict(dataclasses.asdict(config)) == config
    # A config saved before the memory's settings moved into MemoryConfig: flat, the kind by
    # name in "memory", state_dim for embed_dim.
    flat = {
        **{k: v for k, v in dataclasses.asdict(config).items() if k != "memory"},
        "memory": "hcmrl_meanpool",
        "state_dim": 16,
        **{k: v for k, v in SMALL_MEMORY.items()},
        "num_heads": 2,
        "salience": "observation",
        "match_param_budget": True,
    }
    assert PPOConfig.from_dict(flat) == config
    assert PPOConfig.from_dict({"memory": "gru"}).memory == MemoryConfig.gru()
    with pytest.raises(ValueError, match="no fields"):
        PPOConfig.from_dict({**dataclasses.asdict(config), "old_flag": 1})
    with pytest.raises(ValueError, match="no settings"):
        PPOConfig.from_dict({"memory": {"embed_dim": 16, "hidden": 3}})
