"""Navigation: a multi-room building with coloured locks and keys, and a stream of targets.

``env, params = envs_jax.make("navigation")``; see :mod:`envs_jax.navigation.env` for the
observation, action, reward and termination, and for what must be remembered.

Layout: ``types`` (tile and action ids, config, params, state, the building's static geometry),
``generator`` (building generation), ``env`` (the environment), ``render`` (text / RGB),
``players`` (scripted navigators with and without a map).
"""

from envs_jax.navigation.env import Navigation
from envs_jax.navigation.generator import generate_building
from envs_jax.navigation.types import (
    ACTION_DELTAS,
    COLOUR_NAMES,
    DOWN,
    FLOOR,
    LANDMARK_CHARS,
    LEFT,
    LOCKED_DOOR_BASE,
    NUM_ACTIONS,
    OPEN_DOOR,
    POCKET,
    RIGHT,
    UP,
    WALL,
    Layout,
    NavigationConfig,
    NavigationParams,
    NavigationState,
    layout_of,
)

__all__ = [
    "ACTION_DELTAS",
    "COLOUR_NAMES",
    "DOWN",
    "FLOOR",
    "LANDMARK_CHARS",
    "LEFT",
    "LOCKED_DOOR_BASE",
    "NUM_ACTIONS",
    "OPEN_DOOR",
    "POCKET",
    "RIGHT",
    "UP",
    "WALL",
    "Layout",
    "Navigation",
    "NavigationConfig",
    "NavigationParams",
    "NavigationState",
    "generate_building",
    "layout_of",
]
