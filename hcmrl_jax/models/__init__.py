"""Networks: the memory-augmented policy, value head, encoder, baseline cores and their budget.

The attention the policy reads its memory with lives in :mod:`hcmrl_jax.nn` (shared with
:mod:`hcmrl_jax.memory`); :mod:`hcmrl_jax.models.attention` re-exports it.
"""

from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore
from hcmrl_jax.models.budget import core_param_count, count_params, size_core
from hcmrl_jax.models.encoder import (
    ObservationDecoder,
    ObservationEncoder,
    ObservationSpec,
    observation_spec,
)
from hcmrl_jax.models.policy import ActorHead, MemoryAugmentedPolicy
from hcmrl_jax.models.value import ValueHead

__all__ = [
    "ActorHead",
    "GRUCore",
    "MLPCore",
    "MemoryAugmentedPolicy",
    "ObservationDecoder",
    "ObservationEncoder",
    "ObservationSpec",
    "ValueHead",
    "WindowTransformerCore",
    "core_param_count",
    "count_params",
    "observation_spec",
    "size_core",
]
