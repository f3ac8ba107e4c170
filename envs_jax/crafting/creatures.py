"""The creatures' part of a crafting step: cows, zombies and skeletons move, attack, vanish and
appear.

Creatures live in a fixed number of slots (``max_creatures``); a free slot is one whose
``alive`` flag is off. Every random draw comes from the step's uniforms.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs_jax.crafting import constants as C
from envs_jax.crafting.ops import daylight, direction, same_cell, select, tile_rules
from envs_jax.crafting.types import CraftingConfig, EnvParams, EnvState


class Creatures(NamedTuple):
    """Every creature slot after the creatures moved (``C = max_creatures``)."""

    pos: jax.Array  # [C, 2] int32 (row, col)
    kind: jax.Array  # [C] int32 0 cow, 1 zombie, 2 skeleton
    health: jax.Array  # [C] int32
    cooldown: jax.Array  # [C] int32 steps until the creature may attack again
    alive: jax.Array  # [C] bool


def move_and_attack(
    config: CraftingConfig,
    u: jax.Array,
    state: EnvState,
    tiles: jax.Array,
    pos: jax.Array,
    alive: jax.Array,
    health: jax.Array,
    sleeping: jax.Array,
    params: EnvParams,
) -> tuple[Creatures, jax.Array]:
    """Moves every creature one step at most, lets hostile ones attack, despawns far ones.

    Args:
        config: static sizes.
        u: float32 [4, C] uniforms: random direction, move, shoot and despawn draws.
        state: the state before the step (creature positions, kinds, cooldowns).
        tiles: uint8 [M, M] the padded map after the agent's action.
        pos: int32 [2] the agent's position after its move.
        alive: bool [C] creatures alive after the agent's hit.
        health: int32 [C] creature health after the agent's hit.
        sleeping: bool [] the agent is asleep (zombies hit harder).
        params: env params.

    Returns:
        (the creatures after the step, int32 [] damage dealt to the agent).
    """
    pad = config.view_radius
    num = config.max_creatures
    num_dirs = len(C.DIRECTIONS)
    kind = state.creature_kind
    cpos = state.creature_pos
    d_row = pos[0] - cpos[:, 0]
    d_col = pos[1] - cpos[:, 1]
    manhattan = jnp.abs(d_row) + jnp.abs(d_col)
    # Hostile creatures close to the agent step along the axis where it is farther away.
    along_rows = jnp.abs(d_row) > jnp.abs(d_col)
    toward = jnp.where(
        along_rows,
        jnp.where(d_row > 0, C.DOWN, C.UP),
        jnp.where(d_col > 0, C.RIGHT, C.LEFT),
    )
    chase = (kind != C.CREATURE_COW) & (manhattan <= params.chase_distance)
    wander = jnp.minimum((u[0] * num_dirs).astype(jnp.int32), num_dirs - 1)
    heading = jnp.where(chase, toward, wander)
    move_prob = jnp.where(
        kind == C.CREATURE_COW,
        params.cow_move_prob,
        jnp.where(kind == C.CREATURE_ZOMBIE, params.zombie_move_prob, params.skeleton_move_prob),
    )
    target = cpos + jnp.stack(direction(heading), axis=-1)
    target_tile = tiles[target[:, 0] + pad, target[:, 1] + pad].astype(jnp.int32)
    rules = tile_rules(target_tile)  # [C, 17]
    walkable = select(
        kind, [rules[:, C.TILE_CREATURE_WALKABLE + k] for k in range(C.NUM_CREATURE_KINDS)]
    )
    wants = alive & (u[1] < move_prob) & (walkable > 0) & ~same_cell(target, pos)
    # A cell is blocked by a creature standing there or by a lower slot stepping into it.
    into_creature = same_cell(target[:, None, :], cpos[None, :, :]) & alive[None, :]
    earlier = jnp.tril(jnp.ones((num, num), jnp.bool_), k=-1)
    into_claim = same_cell(target[:, None, :], target[None, :, :]) & earlier & wants[None, :]
    blocked = jnp.any(jnp.stack([into_creature, into_claim]), axis=(0, 2))
    moves = wants & ~blocked
    cpos = jnp.where(moves[:, None], target, cpos)

    distance = jnp.abs(pos[0] - cpos[:, 0]) + jnp.abs(pos[1] - cpos[:, 1])
    cooldown = jnp.maximum(state.creature_cooldown - 1, 0)
    ready = alive & (cooldown == 0)
    zombie_hits = ready & (kind == C.CREATURE_ZOMBIE) & (distance <= 1)
    arrows = ready & (kind == C.CREATURE_SKELETON) & (distance <= params.skeleton_range)
    arrows = arrows & (u[2] < params.skeleton_shoot_prob)
    cooldown = jnp.where(zombie_hits, params.zombie_cooldown, cooldown)
    cooldown = jnp.where(arrows, params.skeleton_cooldown, cooldown)
    zombie_damage = jnp.where(sleeping, params.zombie_sleep_damage, params.zombie_damage)
    hurt = jnp.sum(
        jnp.where(zombie_hits, zombie_damage, 0) + jnp.where(arrows, params.skeleton_damage, 0)
    ).astype(jnp.int32)

    chebyshev = jnp.maximum(jnp.abs(pos[0] - cpos[:, 0]), jnp.abs(pos[1] - cpos[:, 1]))
    far = chebyshev > params.despawn_distance
    alive = alive & ~(far & (u[3] < params.despawn_prob))
    creatures = Creatures(
        pos=cpos, kind=kind, health=health, cooldown=cooldown.astype(jnp.int32), alive=alive
    )
    return creatures, hurt


def spawn(
    config: CraftingConfig,
    u: jax.Array,
    state: EnvState,
    tiles: jax.Array,
    pos: jax.Array,
    creatures: Creatures,
    params: EnvParams,
) -> jax.Array:
    """One spawn attempt per step near the agent, into a random slot if that one is free.

    Args:
        config: static sizes.
        u: float32 [4] uniforms: the kind, (row, col) offset and slot draws.
        state: the state before the step (for the time of day).
        tiles: uint8 [M, M] the padded map.
        pos: int32 [2] the agent's position.
        creatures: the creatures after :func:`move_and_attack`.
        params: env params.

    Returns:
        int32 [C, CREATURE_FIELDS] the packed creatures, with the new one if one spawned.
    """
    night = daylight(state.time, params) < params.night_threshold
    zombie_prob = jnp.where(night, params.zombie_spawn_prob_night, params.zombie_spawn_prob_day)
    # Kind by inverse CDF: cow, zombie, skeleton, or (the rest of [0, 1)) nothing.
    up_to_cow = params.cow_spawn_prob
    up_to_zombie = up_to_cow + zombie_prob
    up_to_skeleton = up_to_zombie + params.skeleton_spawn_prob
    kind = (
        (u[0] >= up_to_cow).astype(jnp.int32)
        + (u[0] >= up_to_zombie).astype(jnp.int32)
        + (u[0] >= up_to_skeleton).astype(jnp.int32)
    )
    kind_row = jnp.minimum(kind, C.NUM_CREATURE_KINDS - 1)
    width = 2 * params.spawn_radius + 1
    offset = jnp.minimum((u[1:3] * width).astype(jnp.int32), width - 1) - params.spawn_radius
    # The slot is drawn too, and the spawn happens only if it is free (no search for a free
    # slot: that would cost a reduction and a gather for little).
    slot = jnp.minimum((u[3] * config.max_creatures).astype(jnp.int32), config.max_creatures - 1)
    spot = jnp.clip(pos + offset, 0, config.map_size - 1)
    far_enough = jnp.maximum(*jnp.abs(spot - pos)) >= params.spawn_min_distance
    tile = tiles[spot[0] + config.view_radius, spot[1] + config.view_radius].astype(jnp.int32)
    rule = tile_rules(tile)
    fits = select(kind_row, [rule[C.TILE_SPAWNS + k] for k in range(C.NUM_CREATURE_KINDS)])
    alive = creatures.alive
    taken = jnp.any(alive & same_cell(creatures.pos, spot))
    spawns = (kind < C.NUM_CREATURE_KINDS) & (fits > 0) & far_enough & ~taken
    put = spawns & ~alive & (jnp.arange(config.max_creatures) == slot)  # [C]
    born = jnp.stack(
        [
            spot[0],
            spot[1],
            kind_row,
            select(kind_row, [int(h) for h in C.CREATURE_HEALTH]),
            jnp.zeros((), jnp.int32),
            jnp.ones((), jnp.int32),
        ]
    )  # [CREATURE_FIELDS]
    current = jnp.stack(
        [
            creatures.pos[:, 0],
            creatures.pos[:, 1],
            creatures.kind,
            creatures.health,
            creatures.cooldown,
            alive.astype(jnp.int32),
        ],
        axis=1,
    )  # [C, CREATURE_FIELDS]
    return jnp.where(put[:, None], born[None, :], current).astype(jnp.int32)
