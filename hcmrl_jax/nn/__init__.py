"""Primitives shared by the memory and the models: masked attention, windows, time encodings.

The lowest package of ``hcmrl_jax``: ``memory`` and ``models`` build on it, and it imports
neither.
"""

from hcmrl_jax.nn.attention import HierarchicalAttention, MaskedMultiHeadAttention, masked_softmax
from hcmrl_jax.nn.time import log_time_encoding, sinusoidal_time_encoding
from hcmrl_jax.nn.windows import ring_history, sliding_windows

__all__ = [
    "HierarchicalAttention",
    "MaskedMultiHeadAttention",
    "log_time_encoding",
    "masked_softmax",
    "ring_history",
    "sinusoidal_time_encoding",
    "sliding_windows",
]
