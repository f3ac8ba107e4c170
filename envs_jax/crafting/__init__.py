"""Crafting: a Crafter-like open world with a per-episode recipe book and delayed orders.

``env, params = envs_jax.make("crafting")``; see :mod:`envs_jax.crafting.env` for the
observation, action, reward and termination, and for what must be remembered.

Layout: ``constants`` (rule tables), ``types`` (config, params, state), ``generator`` (world
generation), ``env`` (the environment and its step), the step's parts ``actions`` (the agent),
``creatures``, ``vitals`` and ``observe`` (action mask and observation) over the helpers in
``ops``, ``render`` (text / RGB), ``scoring`` (Crafter score), ``players`` (scripted crafters).
"""

from envs_jax.crafting.constants import (
    ACHIEVEMENTS,
    ACTION_NAMES,
    ITEM_NAMES,
    NUM_ACHIEVEMENTS,
    NUM_ACTIONS,
    TILE_NAMES,
    TOOL_NAMES,
)
from envs_jax.crafting.env import Crafting
from envs_jax.crafting.generator import generate_world, value_noise
from envs_jax.crafting.ops import daylight
from envs_jax.crafting.scoring import (
    CRAFTER_ACHIEVEMENTS,
    achievement_success_rates,
    crafter_score,
    crafter_scores,
)
from envs_jax.crafting.types import CraftingConfig, EnvParams, EnvState

__all__ = [
    "ACHIEVEMENTS",
    "ACTION_NAMES",
    "CRAFTER_ACHIEVEMENTS",
    "ITEM_NAMES",
    "NUM_ACHIEVEMENTS",
    "NUM_ACTIONS",
    "TILE_NAMES",
    "TOOL_NAMES",
    "Crafting",
    "CraftingConfig",
    "EnvParams",
    "EnvState",
    "achievement_success_rates",
    "crafter_score",
    "crafter_scores",
    "daylight",
    "generate_world",
    "value_noise",
]
