"""Long-horizon JAX benchmarks in which memory matters, on the gymnax 1.0 API.

``env, params = envs_jax.make("crafting")`` works like ``gymnax.make`` and also passes gymnax's own
ids through. The four benchmarks: ``"crafting"``, ``"navigation"``, ``"games"``, ``"story"``;
and ``"recall"``, a probe of how far back an agent remembers one cue
(:class:`envs_jax.recall.PassiveRecall`).
"""

from envs_jax.core import LAG_BIN_EDGES, MemoryEnv, clip_action, memory_info
from envs_jax.registry import BENCHMARK_IDS, PROBE_ID, make, registered_envs
from envs_jax.render import rollout_gif, tile_grid, write_gif
from envs_jax.wrappers import (
    EPISODE_STATS_KEYS,
    EpisodeStatsWrapper,
    FlattenObservationWrapper,
    PooledParams,
    PooledResetWrapper,
)

__all__ = [
    "BENCHMARK_IDS",
    "EPISODE_STATS_KEYS",
    "LAG_BIN_EDGES",
    "PROBE_ID",
    "EpisodeStatsWrapper",
    "FlattenObservationWrapper",
    "MemoryEnv",
    "PooledParams",
    "PooledResetWrapper",
    "clip_action",
    "make",
    "memory_info",
    "registered_envs",
    "rollout_gif",
    "tile_grid",
    "write_gif",
]
