"""What the crafting agent sees: the cached action mask and the observation dict.

:func:`finish` ends every step (and :meth:`envs_jax.crafting.env.Crafting.refresh`): it
refreshes the state's cache (neighbour tiles, makeable slots, action mask) and builds the
observation; :func:`start_observation` does the same for a freshly generated world, with what
is known at the start folded in.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.crafting import constants as C
from envs_jax.crafting.ops import daylight, direction, same_cell, select, tile_rules
from envs_jax.crafting.types import CraftingConfig, EnvParams, EnvState


@functools.cache
def view_distance(config: CraftingConfig) -> np.ndarray:
    """int [V, V]: Chebyshev distance of each view cell from the agent."""
    grid = np.arange(config.view_size) - config.view_radius
    return np.maximum(np.abs(grid)[:, None], np.abs(grid)[None, :])


def finish(
    config: CraftingConfig, privileged: bool, state: EnvState, params: EnvParams
) -> tuple[dict[str, jax.Array], EnvState]:
    """Refreshes the cached neighbour tiles, makeable slots and action mask; builds the
    observation.

    The mask: noop, moves and do are always allowed; sleep when energy is not full; a
    placement when affordable, onto an allowed free tile (nothing needs to be nearby; the
    plant needs a free plant slot); all six make actions alike when any tool not yet held can be
    made and no botch cooldown runs (so the mask does not reveal the recipe book); deliver
    when facing a depot while an order is due. Asleep, only noop.
    """
    cfg = config
    r, cr, size = cfg.view_radius, cfg.craft_radius, cfg.view_size
    # The padding equals the view radius, so the view's corner is the agent's position.
    raw = jax.lax.dynamic_slice(state.map, (state.pos[0], state.pos[1]), (size, size))
    raw = raw.astype(jnp.int32)
    neighbours = jnp.stack([raw[r, r - 1], raw[r, r + 1], raw[r - 1, r], raw[r + 1, r]])
    target_tile = select(state.facing, [neighbours[k] for k in range(len(C.DIRECTIONS))])
    target = state.pos + jnp.stack(direction(state.facing))

    near = raw[r - cr : r + cr + 1, r - cr : r + cr + 1]
    near_count = jnp.sum(
        jnp.stack([near == C.TABLE, near == C.FURNACE]).astype(jnp.int32), axis=(1, 2)
    )
    near_table, near_furnace = near_count[0] > 0, near_count[1] > 0
    creature_there = jnp.any(state.creature_alive & same_cell(state.creature_pos, target))
    plant_room = ~jnp.all(state.plant_alive)
    # One reduction tells which placements and which make slots are affordable.
    costs = jnp.concatenate(
        [jnp.asarray(C.PLACE_COST), state.slot_rules[:, : C.NUM_ITEMS]], axis=0
    )  # [P + T, I]
    affordable = jnp.min(state.inventory[None, :] - costs, axis=1) >= 0

    rule = tile_rules(target_tile)
    where_ok = rule[C.TILE_PLACE_WHERE : C.TILE_PLACE_WHERE + C.NUM_PLACEABLE] > 0
    place_ok = affordable[: C.NUM_PLACEABLE] & where_ok & ~creature_there
    place_ok = place_ok & (~jnp.asarray(C.PLACE_NEEDS_TABLE) | near_table)
    place_ok = place_ok & ((jnp.arange(C.NUM_PLACEABLE) != C.PLANT_PLACE_INDEX) | plant_room)
    needs_furnace = state.slot_rules[:, C.RECIPE_NEEDS] > 0
    makeable = affordable[C.NUM_PLACEABLE :] & near_table & (~needs_furnace | near_furnace)
    held = state.inventory[state.recipe + C.WOOD_PICKAXE] > 0  # [T] by make slot
    makeable = makeable & ~held
    can_make = jnp.any(makeable) & (state.time >= state.make_ready)
    due = state.order_active & (state.time >= state.order_time + params.order_delay)
    awake = jnp.concatenate(
        [
            jnp.ones((C.DO + 1,), jnp.bool_),  # noop, moves, do
            (state.vitals[C.ENERGY] < C.MAX_COUNT)[None],  # sleep
            place_ok,
            jnp.broadcast_to(can_make, (C.NUM_TOOLS,)),
            ((target_tile >= C.DEPOT_BASE) & due)[None],
        ]
    )
    mask = jnp.where(state.sleeping, jnp.arange(C.NUM_ACTIONS) == C.NOOP, awake)
    cache = jnp.concatenate([neighbours, makeable, mask]).astype(jnp.int32)
    state = state.replace(cache=cache)
    return observation(config, privileged, state, raw, due, params), state


def start_observation(
    config: CraftingConfig, privileged: bool, state: EnvState, params: EnvParams
) -> tuple[dict[str, jax.Array], EnvState]:
    """:func:`finish` for a freshly generated state, with what is known at the start folded
    in (world generation is compiled into the auto-resetting step, so its cost matters).

    At the start the agent stands at the map centre (a static view slice), with an empty
    inventory (nothing can be placed or made: every recipe costs something), full energy
    (no sleep) and no table, furnace or creature next to it (the generator places none
    there). Only delivering can be allowed, if a depot is next to it and an order is due.
    ``tests/envs/test_crafting.py`` checks that this equals :meth:`Crafting.refresh`.
    """
    cfg = config
    r, size, centre = cfg.view_radius, cfg.view_size, cfg.map_size // 2
    # Padded coordinates: the view's corner is the agent's position.
    raw = state.map[centre : centre + size, centre : centre + size].astype(jnp.int32)
    neighbours = jnp.stack([raw[r, r - 1], raw[r, r + 1], raw[r - 1, r], raw[r + 1, r]])
    target_tile = select(state.facing, [neighbours[k] for k in range(len(C.DIRECTIONS))])
    due = state.order_active & (state.time >= state.order_time + params.order_delay)
    mask = jnp.concatenate(
        [
            jnp.ones((C.DO + 1,), jnp.bool_),
            jnp.zeros((1 + C.NUM_PLACEABLE + C.NUM_TOOLS,), jnp.bool_),
            ((target_tile >= C.DEPOT_BASE) & due)[None],
        ]
    )
    nothing = jnp.zeros((C.NUM_TOOLS,), jnp.int32)  # nothing can be made
    state = state.replace(cache=jnp.concatenate([neighbours, nothing, mask]).astype(jnp.int32))
    return observation(config, privileged, state, raw, due, params), state


def observation(
    config: CraftingConfig,
    privileged: bool,
    state: EnvState,
    raw: jax.Array,
    due: jax.Array,
    params: EnvParams,
) -> dict[str, jax.Array]:
    """The observation dict (see the module docstring) from the state and its raw view."""
    cfg = config
    r, size = cfg.view_radius, cfg.view_size
    # Draw creatures over the tiles; those outside the view are dropped by the scatter.
    rel = state.creature_pos - state.pos + r  # [C, 2]
    inside = state.creature_alive & jnp.all((rel >= 0) & (rel < size), axis=-1)
    flat_index = jnp.where(inside, rel[:, 0] * size + rel[:, 1], size * size)
    creature_tile = C.COW + state.creature_kind  # creature tiles follow kind order
    view = raw.reshape(-1).at[flat_index].set(creature_tile, mode="drop").reshape(size, size)
    light = daylight(state.time, params)
    night = light < params.night_threshold
    seen = jnp.where(night, params.night_view_radius, r)
    view = jnp.where(jnp.asarray(view_distance(config)) <= seen, view, C.DARK)

    recipe_shown = state.time < params.recipe_show_steps
    order_fields = jnp.stack(
        [state.order_item + 1, state.order_amount, state.order_depot + 1]
    ).astype(jnp.int32)
    order_shown = (state.order_time >= 0) & (
        state.time - state.order_time < params.order_show_steps
    )
    obs = {
        "view": view.astype(jnp.int32),
        "inventory": state.inventory.astype(jnp.int32),
        "vitals": state.vitals.astype(jnp.int32),
        "status": jnp.stack([state.facing, state.sleeping, state.order_active, due]).astype(
            jnp.int32
        ),
        "daylight": light.astype(jnp.float32)[None],
        "recipe": jnp.where(recipe_shown, state.recipe + 1, 0).astype(jnp.int32),
        "order": jnp.where(order_shown, order_fields, 0),
        "action_mask": state.action_mask,
    }
    if privileged:
        obs["privileged"] = jnp.concatenate(
            [state.recipe + 1, jnp.where(state.order_active, order_fields, 0)]
        ).astype(jnp.int32)
    return obs
