"""Hierarchical compressed memory: immediate, short-term and long-term tiers.

``HierarchicalMemory`` composes the tiers; each tier is also usable on its own as a small set of
pure functions around a state type (``immediate_memory``, ``short_term_memory``,
``long_term_memory``). ``MemoryConfig`` holds every memory setting (and names the memory kinds:
HCMRL, its ablations, the baselines); ``MemoryCore`` is the interface every memory core
implements, ``CoreCapabilities`` what a core offers beyond it.
"""

from hcmrl_jax.memory.compression import (
    SegmentVAE,
    bhattacharyya_distance,
    gaussian_distance,
    kl_to_standard_normal,
    mean_pool_summary,
    merge_gaussians,
)
from hcmrl_jax.memory.config import (
    KIND_FIELDS,
    MEMORY_KINDS,
    SUMMARY_KINDS,
    MemoryConfig,
    MemoryKind,
    kind_settings,
)
from hcmrl_jax.memory.core import CoreCapabilities, MemoryCore
from hcmrl_jax.memory.hierarchical import (
    TIER_NAMES,
    HierarchicalMemory,
    MemoryReadInfo,
    MemoryState,
)
from hcmrl_jax.memory.immediate import ImmediateMemory, ImmediateState, immediate_memory
from hcmrl_jax.memory.long_term import LongTermMemory, LongTermState, long_term_memory
from hcmrl_jax.memory.short_term import ShortTermMemory, ShortTermState, short_term_memory

__all__ = [
    "KIND_FIELDS",
    "MEMORY_KINDS",
    "SUMMARY_KINDS",
    "TIER_NAMES",
    "CoreCapabilities",
    "HierarchicalMemory",
    "ImmediateMemory",
    "ImmediateState",
    "LongTermMemory",
    "LongTermState",
    "MemoryConfig",
    "MemoryCore",
    "MemoryKind",
    "MemoryReadInfo",
    "MemoryState",
    "SegmentVAE",
    "ShortTermMemory",
    "ShortTermState",
    "bhattacharyya_distance",
    "gaussian_distance",
    "immediate_memory",
    "kind_settings",
    "kl_to_standard_normal",
    "long_term_memory",
    "mean_pool_summary",
    "merge_gaussians",
    "short_term_memory",
]
