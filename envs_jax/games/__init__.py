"""The sequential decision games benchmark (id ``"games"``): see :mod:`envs_jax.games.env`."""

from envs_jax.games.env import Games
from envs_jax.games.generator import Script, generate_script
from envs_jax.games.render import describe_event
from envs_jax.games.types import GAME_NAMES, EnvParams, EnvState, GamesConfig

__all__ = [
    "GAME_NAMES",
    "EnvParams",
    "EnvState",
    "Games",
    "GamesConfig",
    "Script",
    "describe_event",
    "generate_script",
]
