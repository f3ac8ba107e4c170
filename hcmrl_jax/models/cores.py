"""The memory core a :class:`~hcmrl_jax.memory.config.MemoryConfig` describes.

:func:`make_core` builds it: ``HierarchicalMemory`` for ``core="hcmrl"`` (its ablations are
configurations of it), else a baseline of :mod:`hcmrl_jax.models.baselines`, by default sized to
the parameter budget of HCMRL's memory at the same sizes. :func:`core_capabilities` says what
the core of a config offers (a VAE, novelty, a short-term tier, ...) without building it, so a
training config can be checked before anything is traced.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from hcmrl_jax.memory.config import MemoryConfig
from hcmrl_jax.memory.core import CoreCapabilities, MemoryCore
from hcmrl_jax.memory.hierarchical import HierarchicalMemory
from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore
from hcmrl_jax.models.budget import core_param_count, size_core


def _baseline_factory(config: MemoryConfig) -> Callable[[int], MemoryCore]:
    """width -> the baseline core of ``config.core`` at that width."""
    dim = config.embed_dim
    factories: dict[str, Callable[[int], MemoryCore]] = {
        "mlp": lambda width: MLPCore(embed_dim=dim, hidden=width),
        "gru": lambda width: GRUCore(embed_dim=dim, hidden=width),
        "transformer": lambda width: WindowTransformerCore(
            embed_dim=dim,
            window=config.transformer_window,
            num_layers=config.transformer_layers,
            num_heads=config.num_heads,
            ff_dim=width,
        ),
    }
    return factories[config.core]


def salience_features(config: MemoryConfig, observation_features: int) -> int:
    """O, the salience input width of the hierarchical memory of ``config`` in an agent whose
    flattened observation has ``observation_features`` numbers: those with
    ``config.salience == "observation"``, else 0 (the embedding is scored)."""
    return observation_features if config.salience == "observation" else 0


def make_core(config: MemoryConfig, observation_features: int = 0) -> MemoryCore:
    """The memory core of ``config``.

    Args:
        config: the memory's settings.
        observation_features: the flattened observation's width, which HCMRL scores salience on
            with ``config.salience == "observation"`` (0: not known, the embedding is scored).

    With ``config.match_param_budget``, a baseline's width (MLP hidden units, GRU units,
    transformer feed-forward width) is chosen so its parameter count is closest to the
    parameters HCMRL's memory uses to act at the same sizes; the encoder and heads are the
    same for every core, so whole agents then differ by a few percent. Otherwise the width is
    ``config.baseline_width``.
    """
    if config.core == "hcmrl":
        return HierarchicalMemory(
            config=config, salience_features=salience_features(config, observation_features)
        )
    factory = _baseline_factory(config)
    if not config.match_param_budget:
        return factory(config.baseline_width)
    core, _ = size_core(factory, hcmrl_memory_param_count(config), config.embed_dim)
    return core


def bind_observation(core: MemoryCore, observation_features: int) -> MemoryCore:
    """``core`` in an agent whose flattened observation has ``observation_features`` numbers:
    a hierarchical memory that scores salience on the observation but was built without its
    width gets it; any other core is returned as it is."""
    if isinstance(core, HierarchicalMemory) and core.salience_features == 0:
        width = salience_features(core.config, observation_features)
        if width:
            return core.clone(salience_features=width)
    return core


def hcmrl_memory_param_count(config: MemoryConfig) -> int:
    """Parameters HCMRL's memory (all tiers, no salience input of its own) uses to act at the
    sizes of ``config``: the budget the baselines are sized to."""
    return _acting_param_count(HierarchicalMemory(config=config.with_kind("hcmrl")))


@functools.lru_cache(maxsize=64)
def _acting_param_count(memory: HierarchicalMemory) -> int:
    """Cached per memory configuration (linen modules hash and compare by their fields)."""
    return core_param_count(memory, memory.embed_dim)


_BASELINE_CLASSES: dict[str, type] = {
    "mlp": MLPCore,
    "gru": GRUCore,
    "transformer": WindowTransformerCore,
}


def core_capabilities(config: MemoryConfig) -> CoreCapabilities:
    """What the core of ``config`` offers (its salience input width aside, which the env
    decides), without sizing it to a budget or creating parameters."""
    if config.core == "hcmrl":
        return HierarchicalMemory(config=config).capabilities
    return _BASELINE_CLASSES[config.core].capabilities
