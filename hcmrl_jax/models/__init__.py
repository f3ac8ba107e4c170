"""Networks: attention, the memory-augmented policy, value head, encoder and baselines.

``from hcmrl_jax.models import MemoryAugmentedPolicy`` works, but the names are resolved lazily
(PEP 562): ``hcmrl_jax.memory`` imports ``hcmrl_jax.models.attention``, so this package
initialiser must not import its submodules eagerly, or importing the memory would pull in (and
could circularly import) the policy modules.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, str] = {
    "MemoryAugmentedPolicy": "hcmrl_jax.models.policy",
    "ActorHead": "hcmrl_jax.models.policy",
    "ValueHead": "hcmrl_jax.models.value",
    "ObservationEncoder": "hcmrl_jax.models.encoder",
    "ObservationDecoder": "hcmrl_jax.models.encoder",
    "ObservationSpec": "hcmrl_jax.models.encoder",
    "observation_spec": "hcmrl_jax.models.encoder",
    "MLPCore": "hcmrl_jax.models.baselines",
    "GRUCore": "hcmrl_jax.models.baselines",
    "WindowTransformerCore": "hcmrl_jax.models.baselines",
    "count_params": "hcmrl_jax.models.baselines",
    "size_core": "hcmrl_jax.models.baselines",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hcmrl_jax.models' has no attribute {name!r}")
