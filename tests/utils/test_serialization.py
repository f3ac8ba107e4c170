"""Config dataclasses to JSON-ready dicts and back."""

import dataclasses
import json

import pytest

from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.utils.serialization import config_differences, config_from_dict, config_to_dict


@dataclasses.dataclass(frozen=True)
class _Inner:
    size: int = 2


@dataclasses.dataclass(frozen=True)
class _Outer:
    name: str = "a"
    inner: _Inner = dataclasses.field(default_factory=_Inner)
    scale: float = 0.5


def test_a_config_round_trips_through_json():
    config = PPOConfig(env_id="navigation", env_overrides={"view_size": 3}, lr=1e-3)
    values = config_to_dict(config)
    assert json.loads(json.dumps(values)) == values
    assert config_from_dict(PPOConfig, values) == config
    assert config_to_dict(_Outer()) == {"name": "a", "inner": {"size": 2}, "scale": 0.5}


def test_unknown_fields_and_bad_values_are_errors():
    values = {**config_to_dict(PPOConfig()), "old_field": 1}
    with pytest.raises(ValueError, match=r"PPOConfig has no fields \['old_field'\]"):
        config_from_dict(PPOConfig, values)
    with pytest.raises(ValueError, match="num_envs"):
        config_from_dict(PPOConfig, {**config_to_dict(PPOConfig()), "num_envs": 0})


def test_differences_name_the_fields():
    assert config_differences(_Outer(), _Outer()) == []
    assert config_differences(_Outer(), _Outer(name="b", scale=1.0)) == ["name", "scale"]


def test_a_config_with_sequence_env_options_equals_its_saved_form():
    config = PPOConfig(env_id="games", env_overrides={"game_rates": (0.0, 0.0, 0.0, 1.0, 0.0, 0.0)})
    saved = config_from_dict(PPOConfig, json.loads(json.dumps(config_to_dict(config))))
    assert saved == config and config_differences(config, saved) == []
    other = PPOConfig(env_id="games", env_overrides={"game_rates": (1.0, 0.0, 0.0, 1.0, 0.0, 0.0)})
    assert config_differences(config, other) == ["env_overrides"]
    with pytest.raises(ValueError, match="game_rates"):
        PPOConfig(env_id="games", env_overrides={"game_rates": [0.0, float("nan")]})
