"""Networks: the memory-augmented policy, value head, encoder, baseline cores and their budget.

``make_core(memory_config)`` builds the memory core a ``MemoryConfig`` describes (HCMRL or a
baseline sized to HCMRL's parameter budget); ``core_capabilities`` says what it offers.

The attention the policy reads its memory with lives in :mod:`hcmrl_jax.nn` (shared with
:mod:`hcmrl_jax.memory`); :mod:`hcmrl_jax.models.attention` re-exports it.
"""

from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore
from hcmrl_jax.models.budget import core_param_count, count_params, size_core
from hcmrl_jax.models.cores import (
    bind_observation,
    core_capabilities,
    hcmrl_memory_param_count,
    make_core,
)
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
    "bind_observation",
    "core_capabilities",
    "core_param_count",
    "count_params",
    "hcmrl_memory_param_count",
    "make_core",
    "observation_spec",
    "size_core",
]
