"""Hierarchical compressed memory: immediate, short-term and long-term tiers.

``HierarchicalMemory`` composes the tiers; each tier is also usable on its own as a small set of
pure functions around a state type (``immediate_memory``, ``short_term_memory``,
``long_term_memory``).
"""

from hcmrl_jax.memory.compression import (
    SegmentVAE,
    bhattacharyya_distance,
    gaussian_distance,
    kl_to_standard_normal,
    mean_pool_summary,
    merge_gaussians,
)
from hcmrl_jax.memory.hierarchical import (
    SUMMARY_KINDS,
    TIER_NAMES,
    HierarchicalMemory,
    MemoryReadInfo,
    MemoryState,
)
from hcmrl_jax.memory.immediate import ImmediateMemory, ImmediateState, immediate_memory
from hcmrl_jax.memory.long_term import LongTermMemory, LongTermState, long_term_memory
from hcmrl_jax.memory.short_term import ShortTermMemory, ShortTermState, short_term_memory

__all__ = [
    "SUMMARY_KINDS",
    "TIER_NAMES",
    "HierarchicalMemory",
    "ImmediateMemory",
    "ImmediateState",
    "LongTermMemory",
    "LongTermState",
    "MemoryReadInfo",
    "MemoryState",
    "SegmentVAE",
    "ShortTermMemory",
    "ShortTermState",
    "bhattacharyya_distance",
    "gaussian_distance",
    "immediate_memory",
    "kl_to_standard_normal",
    "long_term_memory",
    "mean_pool_summary",
    "merge_gaussians",
    "short_term_memory",
]
