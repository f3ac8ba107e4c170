"""Masked and hierarchical attention, which live in :mod:`hcmrl_jax.nn.attention`.

Re-exported here so that ``from hcmrl_jax.models.attention import ...`` keeps working.
"""

from hcmrl_jax.nn.attention import HierarchicalAttention, MaskedMultiHeadAttention, masked_softmax
from hcmrl_jax.nn.time import log_time_encoding
from hcmrl_jax.nn.windows import sliding_windows

__all__ = [
    "HierarchicalAttention",
    "MaskedMultiHeadAttention",
    "log_time_encoding",
    "masked_softmax",
    "sliding_windows",
]
