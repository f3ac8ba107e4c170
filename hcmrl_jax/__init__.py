"""HCMRL: Hierarchical Compressed Memory for Resource-Limited RL, in JAX/Flax."""

__version__ = "0.1.0"
