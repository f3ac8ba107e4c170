"""Named training configurations (see :mod:`experiments.configs.presets`)."""

from experiments.configs.presets import BENCHMARKS, DEMO, PRESETS, TINY, get_preset

__all__ = ["BENCHMARKS", "DEMO", "PRESETS", "TINY", "get_preset"]
