"""MemoryConfig: validation once, the kinds table, named constructors, and the memory taking it."""

import dataclasses
import inspect
import math
from typing import get_args

import pytest

from hcmrl_jax.memory import (
    KIND_FIELDS,
    MEMORY_KINDS,
    HierarchicalMemory,
    MemoryConfig,
    MemoryKind,
    kind_settings,
    long_term_memory,
    short_term_memory,
)
from hcmrl_jax.memory.config import SETTING_NAMES

from .conftest import SMALL


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        (dict(core="lstm"), "core"),
        (dict(embed_dim=0), "embed_dim"),
        (dict(embed_dim=True), "embed_dim"),
        (dict(immediate_size=8.0), "immediate_size"),
        (dict(segment_length=33), "segment_length"),
        (dict(embed_dim=30), "num_heads"),
        (dict(summary="pca"), "summary"),
        (dict(salience="reward"), "salience"),
        (dict(use_short_term=False), "use_long_term"),
        (dict(time_features=1), "time_features"),
        (dict(time_horizon=0.0), "time_horizon"),
        (dict(beta=-0.5), "beta"),
        (dict(redundancy_floor=-1.0), "redundancy_floor"),
        (dict(template_threshold=0.0), "template_threshold"),
        (dict(template_count_limit=-1.0), "template_count_limit"),
        (dict(min_variance=0.0), "min_variance"),
        (dict(salience_rate=0.0), "salience_rate"),
        (dict(salience_rate=1.5), "salience_rate"),
        (dict(log_var_min=4.0), "log_var_min"),
        (dict(transformer_window=0), "transformer_window"),
        (dict(transformer_layers=0), "transformer_layers"),
        (dict(baseline_width=-2), "baseline_width"),
        (dict(vae_hidden_dim=0), "vae_hidden_dim"),
        (dict(working_size=-1), "working_size"),
        (dict(working_size=2.0), "working_size"),
    ],
)
def test_bad_settings_raise_value_error_naming_the_field(overrides, field):
    with pytest.raises(ValueError, match=rf"MemoryConfig\.\S*{field}|{field}"):
        MemoryConfig(**overrides)


def test_every_float_setting_rejects_inf_and_nan():
    floats = [f.name for f in dataclasses.fields(MemoryConfig) if f.type == "float"]
    assert {"beta", "time_horizon", "template_threshold", "salience_rate"} <= set(floats)
    for name in floats:
        for bad in (math.inf, -math.inf, math.nan):
            with pytest.raises(ValueError, match=rf"MemoryConfig\.{name} must be a finite"):
                MemoryConfig(**{name: bad})


def test_config_is_frozen_and_hashable():
    config = MemoryConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.embed_dim = 8  # type: ignore[misc]
    assert hash(config) == hash(MemoryConfig()) and config == MemoryConfig()


def test_the_kinds_table_names_every_kind_once():
    assert tuple(MEMORY_KINDS) == get_args(MemoryKind)
    for kind in MEMORY_KINDS:
        config = MemoryConfig.of_kind(kind)
        assert config.kind == kind
        assert set(kind_settings(kind)) == set(KIND_FIELDS)
    with pytest.raises(KeyError, match="unknown memory kind 'lstm'"):
        MemoryConfig.of_kind("lstm")
    # A combination no kind names.
    assert MemoryConfig(use_long_term=False, adaptive_compression=False).kind == "hcmrl_custom"


def test_named_constructors_are_the_kinds():
    constructors = {
        "hcmrl": MemoryConfig.hcmrl,
        "hcmrl_immediate": MemoryConfig.immediate_only,
        "hcmrl_meanpool": MemoryConfig.meanpool,
        "hcmrl_no_longterm": MemoryConfig.no_longterm,
        "hcmrl_fixed": MemoryConfig.fixed_compression,
        "hcmrl_no_keys": MemoryConfig.no_keys,
        "mlp": MemoryConfig.mlp,
        "gru": MemoryConfig.gru,
        "transformer": MemoryConfig.transformer,
    }
    assert set(constructors) == set(MEMORY_KINDS)
    for kind, make in constructors.items():
        assert make(embed_dim=32) == MemoryConfig.of_kind(kind, embed_dim=32)
        assert make().kind == kind
    assert MemoryConfig.meanpool() == MemoryConfig(summary="mean")
    assert MemoryConfig.immediate_only() == MemoryConfig(use_short_term=False, use_long_term=False)
    # Settings given with a kind win over the kind's own (a combination of ablations).
    assert not MemoryConfig.meanpool(use_long_term=False).use_long_term


def test_with_kind_switches_the_kind_and_keeps_every_other_setting():
    small = MemoryConfig.meanpool(embed_dim=16, num_heads=2, immediate_size=8, segment_length=4)
    gru = small.with_kind("gru")
    assert gru.kind == "gru" and gru.core == "gru"
    back = gru.with_kind("hcmrl")
    assert back.kind == "hcmrl" and back.summary == "vae"  # the kind resets the switches...
    for name in set(SETTING_NAMES) - set(KIND_FIELDS):  # ...and keeps everything else
        assert getattr(back, name) == getattr(small, name), name


def test_what_the_settings_mean():
    vae = {kind: MemoryConfig.of_kind(kind).uses_vae for kind in MEMORY_KINDS}
    assert {k for k, v in vae.items() if v} == {
        "hcmrl",
        "hcmrl_no_longterm",
        "hcmrl_fixed",
        "hcmrl_no_keys",
    }
    short = {k for k in MEMORY_KINDS if MemoryConfig.of_kind(k).has_short_term}
    assert short == {k for k in MEMORY_KINDS if k.startswith("hcmrl") and k != "hcmrl_immediate"}


def test_from_dict_round_trips_and_names_unknown_settings():
    config = MemoryConfig.transformer(embed_dim=32, transformer_window=8)
    assert MemoryConfig.from_dict(dataclasses.asdict(config)) == config
    with pytest.raises(ValueError, match="state_dim"):
        MemoryConfig.from_dict({"state_dim": 32})


def test_hierarchical_memory_takes_the_config_or_its_settings_by_name():
    config = MemoryConfig(**SMALL)
    by_config = HierarchicalMemory(config=config)
    by_name = HierarchicalMemory(**SMALL)
    assert by_config == by_name and by_name.config == config
    assert HierarchicalMemory(config, salience_features=3).salience_features == 3
    # Settings by name replace the given config's (and clone accepts them too).
    assert HierarchicalMemory(config=config, summary="mean").config == MemoryConfig.meanpool(
        **SMALL
    )
    assert by_name.clone(segment_length=2).config.segment_length == 2
    assert by_name.clone(salience_features=5).config == config
    seed = HierarchicalMemory(immediate_size=32, short_term_size=16, long_term_size=8)
    assert seed.config == MemoryConfig()
    with pytest.raises(ValueError, match="core 'hcmrl'"):
        HierarchicalMemory(config=MemoryConfig.gru())
    with pytest.raises(ValueError, match="segment_length"):
        HierarchicalMemory(config=config, segment_length=9)


def test_standalone_tiers_default_to_the_memory_settings():
    defaults = MemoryConfig()
    for factory in (short_term_memory, long_term_memory):
        for name, parameter in inspect.signature(factory).parameters.items():
            if name in SETTING_NAMES and parameter.default is not inspect.Parameter.empty:
                assert parameter.default == getattr(defaults, name), (factory.__name__, name)
