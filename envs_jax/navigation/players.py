"""Scripted navigators for :mod:`envs_jax.navigation`: one keeps a map, the other only sees now.

Both run the same planner (:func:`navigator_action`) over a grid of tile ids, with unseen cells
counted as passable: go to the target landmark; go through a locked door of the held key's
colour; fetch a key whose colour has a reachable locked door; otherwise explore. The remembering
navigator writes every view into its map (its carry) and explores towards the nearest unseen
cell; the reactive one plans on the current view alone (so it goes straight to the target, a
key or a door only while it is in view) and explores with a random allowed move. Both read the
agent's position from the state, standing in for dead reckoning (every allowed move succeeds,
so it follows from the actions and the mask); nothing else of the state.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs_jax.navigation.env import Navigation
from envs_jax.navigation.types import ACTION_DELTAS, FLOOR, LOCKED_DOOR_BASE, OPEN_DOOR, POCKET
from envs_jax.scripted import ScriptedPlayer

#: Map value of a cell never seen.
UNKNOWN = -1
#: Distance of an unreachable cell.
FAR = 1 << 20


def distance_fields(goals: jax.Array, passable: jax.Array) -> jax.Array:
    """BFS distances int32 [M, H, W] to the nearest goal cell, stepping on passable cells."""
    dist = jnp.where(goals, 0, FAR)

    def relax(carry):
        dist, _ = carry
        padded = jnp.pad(dist, ((0, 0), (1, 1), (1, 1)), constant_values=FAR)
        nearest = jnp.minimum(
            jnp.minimum(padded[:, :-2, 1:-1], padded[:, 2:, 1:-1]),
            jnp.minimum(padded[:, 1:-1, :-2], padded[:, 1:-1, 2:]),
        )
        new = jnp.where(passable & ~goals, jnp.minimum(dist, nearest + 1), dist)
        return new, jnp.any(new != dist)

    dist, _ = jax.lax.while_loop(lambda c: c[1], relax, (dist, jnp.bool_(True)))
    return dist


def navigator_action(
    env: Navigation, key: jax.Array, tiles: jax.Array, obs: dict, agent_pos: jax.Array, remember
) -> jax.Array:
    """The planner's action (int32 []) on ``tiles`` (padded grid of ids, ``UNKNOWN`` unseen)."""
    layout = env.layout
    num_colours, r = env.config.num_colours, layout.radius
    pocket = obs["pocket"]
    locked = (tiles >= LOCKED_DOOR_BASE) & (tiles < layout.key_base)
    door_colour = tiles - LOCKED_DOOR_BASE
    opens = locked & (door_colour == pocket - 1)
    passable = (tiles == UNKNOWN) | (tiles == FLOOR) | (tiles == OPEN_DOOR)
    passable = passable | (tiles >= layout.key_base) | opens
    colours = jnp.arange(num_colours)[:, None, None]
    goals = jnp.concatenate(
        [
            (tiles == layout.landmark_base + obs["target"])[None],
            opens[None],
            tiles[None] == layout.key_base + colours,
            locked[None] & (door_colour[None] == colours),
            (tiles == UNKNOWN)[None],
        ]
    )
    dist = distance_fields(goals, jnp.broadcast_to(passable, goals.shape))
    here = dist[:, agent_pos[0] + r, agent_pos[1] + r]
    around = agent_pos + r + jnp.asarray(ACTION_DELTAS[:4])
    mask = obs["action_mask"]
    toward = jnp.argmin(jnp.where(mask[:4], dist[:, around[:, 0], around[:, 1]], FAR + 1), 1)
    reachable = here < FAR

    keys = slice(2, 2 + num_colours)
    doors = slice(2 + num_colours, 2 + 2 * num_colours)
    useful_key = reachable[keys] & reachable[doors] & (jnp.arange(num_colours) != pocket - 1)
    chosen = jnp.argmin(jnp.where(useful_key, here[keys], FAR))
    fetch = jnp.where(here[2 + chosen] == 0, POCKET, toward[2 + chosen])
    random_move = jax.random.categorical(key, jnp.where(mask[:4], 0.0, -jnp.inf))
    explore = jnp.where(remember & reachable[-1], toward[-1], random_move)
    action = jnp.where(
        reachable[0],
        toward[0],
        jnp.where(
            (pocket > 0) & reachable[1], toward[1], jnp.where(useful_key.any(), fetch, explore)
        ),
    )
    return action.astype(jnp.int32)


def navigator(env: Navigation, remember: bool) -> ScriptedPlayer:
    """The scripted navigator (see the module docstring); ``remember`` is static."""
    unknown = jnp.full(env.layout.base_grid.shape, UNKNOWN, jnp.int32)

    def init(key, obs, state, params):
        del key, obs, state, params
        return unknown

    def act(key, tiles, obs, state, params):
        del params
        tiles = tiles if remember else unknown
        tiles = jax.lax.dynamic_update_slice(tiles, obs["view"], tuple(state.agent_pos))
        return navigator_action(env, key, tiles, obs, state.agent_pos, remember), tiles

    name = "remembering" if remember else "reactive"
    return ScriptedPlayer(name=f"navigation-{name}", init=init, act=act)


def players(env: Navigation) -> dict[str, ScriptedPlayer]:
    """``{"remembering": ..., "reactive": ...}`` for ``env``."""
    return {"remembering": navigator(env, True), "reactive": navigator(env, False)}
