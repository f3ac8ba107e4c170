"""make_core: the memory core of a MemoryConfig, its capabilities, and the salience binding."""

import dataclasses

import pytest

from hcmrl_jax.memory import MEMORY_KINDS, HierarchicalMemory, MemoryConfig
from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore
from hcmrl_jax.models.budget import core_param_count
from hcmrl_jax.models.cores import (
    bind_observation,
    core_capabilities,
    hcmrl_memory_param_count,
    make_core,
)

SMALL = dict(
    embed_dim=16,
    num_heads=2,
    immediate_size=8,
    short_term_size=4,
    long_term_size=2,
    latent_dim=4,
    segment_length=4,
    transformer_window=4,
)
CLASSES = {"mlp": MLPCore, "gru": GRUCore, "transformer": WindowTransformerCore}


@pytest.mark.parametrize("kind", list(MEMORY_KINDS))
def test_make_core_builds_the_core_of_every_kind_and_declares_what_it_builds(kind):
    config = MemoryConfig.of_kind(kind, **SMALL, match_param_budget=False, baseline_width=8)
    core = make_core(config, observation_features=5)
    expected = CLASSES.get(config.core, HierarchicalMemory)
    assert type(core) is expected and core.embed_dim == 16
    if isinstance(core, HierarchicalMemory):
        assert core.config == config and core.salience_features == 5
        # Without the env, the config's capabilities have no salience input width.
        expected_capabilities = dataclasses.replace(core.capabilities, salience_features=0)
        assert core_capabilities(config) == expected_capabilities
        assert core.capabilities.vae == config.uses_vae
        assert core.capabilities.short_term == config.has_short_term
    else:
        assert core_capabilities(config) == core.capabilities
        assert not core.capabilities.vae and not core.capabilities.short_term


def test_baselines_are_sized_to_the_hierarchical_memorys_budget():
    target = hcmrl_memory_param_count(MemoryConfig(**SMALL))
    for kind in ("mlp", "gru", "transformer"):
        core = make_core(MemoryConfig.of_kind(kind, **SMALL))
        assert abs(core_param_count(core, 16) - target) / target <= 0.10, kind
    # The budget is HCMRL's with every tier, whatever the ablation switches say.
    assert hcmrl_memory_param_count(MemoryConfig.meanpool(**SMALL)) == target


def test_salience_follows_the_config():
    embedding = MemoryConfig(**SMALL, salience="embedding")
    assert make_core(embedding, observation_features=5).salience_features == 0
    memory = HierarchicalMemory(**SMALL)
    assert bind_observation(memory, 5).salience_features == 5
    assert bind_observation(memory.clone(salience="embedding"), 5) == memory.clone(
        salience="embedding"
    )
    gru = make_core(MemoryConfig.gru(**SMALL, match_param_budget=False))
    assert bind_observation(gru, 5) is gru
