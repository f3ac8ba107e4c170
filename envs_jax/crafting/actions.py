"""The agent's part of a crafting step, one named phase per function.

The step runs them in order (see :meth:`envs_jax.crafting.env.Crafting.step_env`): turn and
walk, hit a creature, collect a tile, place, grow plants, make, deliver; then the inventory
change and the one map write they add up to. Each phase reads the state before the step and
the results of the phases before it, and returns a small named tuple. The action is the
executed one (a masked action has become a noop).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp

from envs_jax.crafting import constants as C
from envs_jax.crafting.ops import direction, same_cell, select, tile_rules
from envs_jax.crafting.types import CraftingConfig, EnvParams, EnvState


class Walk(NamedTuple):
    """Turning and walking, and what stands in front of the agent."""

    facing: jax.Array  # [] int32 the facing after the turn
    target: jax.Array  # [2] int32 the cell in front of the agent (before it walks)
    target_tile: jax.Array  # [] int32 that cell's tile id
    rule: jax.Array  # [17] int32 that tile's TILE_INFO row
    at_target: jax.Array  # [C] bool the creature slot standing there (at most one)
    victim: jax.Array  # [3] int32 (1 if a creature stands there, its health, its kind)
    moved: jax.Array  # [] bool the agent stepped forward
    pos: jax.Array  # [2] int32 the agent's position after the step
    burnt: jax.Array  # [] bool it stepped into lava


class Hit(NamedTuple):
    """ "Do" on a creature: the hit and its outcome."""

    killed: jax.Array  # [] bool the creature in front died
    achievement: jax.Array  # [] int32 the achievement of killing its kind
    ate_cow: jax.Array  # [] bool it was a cow (the agent eats it)
    creature_health: jax.Array  # [C] int32 creature health after the hit
    creature_alive: jax.Array  # [C] bool creatures alive after the hit


class Collect(NamedTuple):
    """ "Do" on a tile: collecting, drinking or eating it."""

    collected: jax.Array  # [] bool the tile in front was collected
    vital: jax.Array  # [] int32 the vital it feeds (TILE_VITAL), if any
    vital_amount: jax.Array  # [] int32 how much of that vital
    leaves: jax.Array  # [] int32 the tile left behind
    ate_plant: jax.Array  # [] bool a ripe plant was eaten
    drank: jax.Array  # [] bool "do" on water (the thirst counter restarts)
    order_item_held: jax.Array  # [] int32 count of the open order's item (read here, in the
    # same reduction as the tool the tile needs)


class Place(NamedTuple):
    """Placing stone, a table, a furnace or a plant (the mask has checked cost and target)."""

    placing: jax.Array  # [] bool the action is a placement
    placement: jax.Array  # [15] int32 its PLACE_INFO row
    planted: jax.Array  # [] bool it places a plant


class Plants(NamedTuple):
    """Every plant slot after the step (``P = max_plants``)."""

    pos: jax.Array  # [P, 2] int32
    time: jax.Array  # [P] int32 planted or last eaten
    ripe: jax.Array  # [P] bool
    alive: jax.Array  # [P] bool
    ripen: jax.Array  # [P] bool ripened this step (the map shows a ripe plant)


class Make(NamedTuple):
    """Make with a recipe-book slot."""

    making: jax.Array  # [] bool the action is a make
    made: jax.Array  # [] bool the slot's tool was made
    botched: jax.Array  # [] bool a make that made nothing
    recipe: jax.Array  # [15] int32 the slot's TOOL_INFO row
    spoilt: jax.Array  # [I] int32 one unit of every material held, lost to a botch
    make_ready: jax.Array  # [] int32 the time make is allowed again
    lag: jax.Array  # [] int32 steps since the recipe book was last shown


class Delivery(NamedTuple):
    """Delivering the open order to the depot in front (the mask has checked it is due)."""

    delivering: jax.Array  # [] bool the action is a delivery attempt
    delivered: jax.Array  # [] bool the right amount at the right depot
    lag: jax.Array  # [] int32 steps since the order was last shown


def walk(state: EnvState, act: jax.Array) -> Walk:
    """Turn and walk: moving into a blocked cell (or a creature) only turns the agent."""
    is_move = (act >= C.MOVE_LEFT) & (act <= C.MOVE_DOWN)
    facing = jnp.where(is_move, act - C.MOVE_LEFT, state.facing)
    d_row, d_col = direction(facing)
    target = state.pos + jnp.stack([d_row, d_col])
    target_tile = select(facing, [state.neighbours[k] for k in range(len(C.DIRECTIONS))])
    rule = tile_rules(target_tile)  # [17]
    # Creatures never share a cell, so at most one stands in front of the agent: masked
    # sums read its health and kind in one reduction.
    at_target = state.creature_alive & same_cell(state.creature_pos, target)  # [C]
    victim = jnp.sum(
        jnp.where(
            at_target[None, :],
            jnp.stack(
                [jnp.ones_like(state.creature_kind), state.creature_health, state.creature_kind]
            ),
            0,
        ),
        axis=1,
    )
    creature_there = victim[0] > 0
    moved = is_move & (rule[C.TILE_WALKABLE] > 0) & ~creature_there
    return Walk(
        facing=facing,
        target=target,
        target_tile=target_tile,
        rule=rule,
        at_target=at_target,
        victim=victim,
        moved=moved,
        pos=jnp.where(moved, target, state.pos),
        burnt=moved & (target_tile == C.LAVA),
    )


def hit(state: EnvState, act: jax.Array, walked: Walk) -> Hit:
    """ "Do" on a creature: hit it with the best sword held."""
    inventory = state.inventory
    damage = jnp.where(
        inventory[C.IRON_SWORD] > 0,
        C.SWORD_DAMAGE[2],
        jnp.where(
            inventory[C.STONE_SWORD] > 0,
            C.SWORD_DAMAGE[1],
            jnp.where(inventory[C.WOOD_SWORD] > 0, C.SWORD_DAMAGE[0], C.BASE_DAMAGE),
        ),
    )
    hits = (act == C.DO) & (walked.victim[0] > 0)
    victim_health = walked.victim[1] - damage
    killed = hits & (victim_health <= 0)
    victim_kind = walked.victim[2]
    return Hit(
        killed=killed,
        achievement=select(victim_kind, [int(a) for a in C.CREATURE_ACHIEVEMENT]),
        ate_cow=killed & (victim_kind == C.CREATURE_COW),
        creature_health=jnp.where(walked.at_target & hits, victim_health, state.creature_health),
        creature_alive=state.creature_alive & ~(walked.at_target & killed),
    )


def collect(
    state: EnvState, act: jax.Array, walked: Walk, u_sapling: jax.Array, params: EnvParams
) -> Collect:
    """ "Do" on a tile: collect, drink or eat it (grass yields a sapling by chance).

    Args:
        state: the state before the step.
        act: int32 [] the executed action.
        walked: the walk phase.
        u_sapling: float32 [] uniform for the sapling draw.
        params: env params.
    """
    items = jnp.arange(C.NUM_ITEMS)
    is_do_on_tile = (act == C.DO) & ~(walked.victim[0] > 0)
    requires = walked.rule[C.TILE_REQUIRES]
    # The counts of the tool a tile needs and of the ordered item, in one reduction.
    held = jnp.sum(
        jnp.where(jnp.stack([items == requires, items == state.order_item]), state.inventory, 0),
        axis=1,
    )
    has_tool = (requires < 0) | (held[0] > 0)
    chance = jnp.where(walked.target_tile == C.GRASS, params.sapling_prob, 1.0)
    collected = is_do_on_tile & (walked.rule[C.TILE_COLLECTABLE] > 0) & has_tool
    collected = collected & (u_sapling < chance)
    vital = walked.rule[C.TILE_VITAL]
    return Collect(
        collected=collected,
        vital=vital,
        vital_amount=jnp.where(vital == C.DRINK, params.drink_per_sip, params.food_per_plant),
        leaves=walked.rule[C.TILE_LEAVES],
        ate_plant=collected & (walked.target_tile == C.RIPE_PLANT),
        # As in Crafter, eating a cow restarts the hunger counter and "do" on water the thirst one.
        drank=is_do_on_tile & (walked.target_tile == C.WATER),
        order_item_held=held[1],
    )


def place(act: jax.Array) -> Place:
    """Placement (the mask has checked cost, target and neighbourhood)."""
    placing = (act >= C.PLACE_STONE) & (act <= C.PLACE_PLANT)
    placement = jnp.asarray(C.PLACE_INFO)[jnp.clip(act - C.PLACE_STONE, 0, C.NUM_PLACEABLE - 1)]
    return Place(placing=placing, placement=placement, planted=placing & (act == C.PLACE_PLANT))


def grow_plants(
    config: CraftingConfig,
    state: EnvState,
    walked: Walk,
    placed: Place,
    collected: Collect,
    params: EnvParams,
) -> Plants:
    """Plants: a new one takes a free slot; eating a ripe one restarts its growth; those grown
    for ``plant_grow_steps`` ripen."""
    t = state.time
    plant_here = state.plant_alive & same_cell(state.plant_pos, walked.target)  # [P]
    new_plant = placed.planted & (jnp.arange(config.max_plants) == jnp.argmin(state.plant_alive))
    touched = new_plant | (collected.ate_plant & plant_here)
    alive = state.plant_alive | new_plant
    pos = jnp.where(new_plant[:, None], walked.target, state.plant_pos)
    time = jnp.where(touched, t, state.plant_time)
    ripe = state.plant_ripe & ~touched
    grown = t + 1 - time >= params.plant_grow_steps
    ripen = alive & ~ripe & ~touched & grown
    return Plants(pos=pos, time=time, ripe=ripe | ripen, alive=alive, ripen=ripen)


def make(state: EnvState, act: jax.Array, params: EnvParams) -> Make:
    """Make with recipe-book slot s: the tool is recipe[s]; it is made when its recipe is met
    here and it is not held yet (tools do not stack). Otherwise the craft is botched: one unit
    of every material held is spoilt and make is masked for ``botch_cooldown`` steps."""
    t = state.time
    items = jnp.arange(C.NUM_ITEMS)
    making = (act >= C.MAKE_FIRST) & (act < C.MAKE_FIRST + C.NUM_TOOLS)
    slot = jnp.clip(act - C.MAKE_FIRST, 0, C.NUM_TOOLS - 1)
    made = making & state.makeable[slot]
    botched = making & ~made
    spoilt = jnp.where(
        botched & (items <= C.DIAMOND_ITEM) & (state.inventory > 0), 1, 0
    )  # [I] one unit of each material held
    return Make(
        making=making,
        made=made,
        botched=botched,
        recipe=state.slot_rules[slot],  # [15] the rules of the tool this slot makes
        spoilt=spoilt,
        make_ready=jnp.where(botched, t + 1 + params.botch_cooldown, state.make_ready),
        lag=jnp.maximum(t - jnp.minimum(t, params.recipe_show_steps - 1), 0),
    )


def deliver(
    state: EnvState, act: jax.Array, walked: Walk, collected: Collect, params: EnvParams
) -> Delivery:
    """Deliver to the depot in front: right when it is the order's depot and enough of the
    item is held."""
    delivering = act == C.DELIVER
    right_depot = walked.target_tile - C.DEPOT_BASE == state.order_depot
    enough = collected.order_item_held >= state.order_amount
    order_last_seen = state.order_time + jnp.maximum(params.order_show_steps, 1) - 1
    return Delivery(
        delivering=delivering,
        delivered=delivering & right_depot & enough,
        lag=jnp.maximum(state.time - order_last_seen, 0),
    )


def inventory_change(
    state: EnvState,
    walked: Walk,
    collected: Collect,
    placed: Place,
    made: Make,
    delivery: Delivery,
) -> jax.Array:
    """int32 [I]: every gain and cost of the step (collected, placed, made, delivered,
    spoilt), before the cap."""
    items = jnp.arange(C.NUM_ITEMS)
    return (
        jnp.where(collected.collected & (items == walked.rule[C.TILE_ITEM]), 1, 0)
        - jnp.where(placed.placing, placed.placement[: C.NUM_ITEMS], 0)
        + jnp.where(
            made.made, (items == made.recipe[C.RECIPE_PRODUCT]) - made.recipe[: C.NUM_ITEMS], 0
        )
        - jnp.where(delivery.delivered & (items == state.order_item), state.order_amount, 0)
        - made.spoilt
    )


def vital_gain(collected: Collect, hits: Hit, params: EnvParams) -> jax.Array:
    """int32 [4]: vitals gained by eating and drinking this step."""
    vitals = jnp.arange(C.NUM_VITALS)
    return jnp.where(
        collected.collected & (vitals == collected.vital), collected.vital_amount, 0
    ) + jnp.where(hits.ate_cow & (vitals == C.FOOD), params.food_per_cow, 0)


def write_map(
    config: CraftingConfig,
    state: EnvState,
    walked: Walk,
    placed: Place,
    collected: Collect,
    plants: Plants,
) -> jax.Array:
    """The agent's one map write (collect / place) and the plants that ripen, in one scatter:
    uint8 [M, M] the padded map after the step."""
    pad = config.view_radius
    target = walked.target
    cell_value = jnp.where(placed.placing, placed.placement[C.RECIPE_PRODUCT], collected.leaves)
    cell_write = placed.placing | (collected.collected & (collected.leaves != walked.target_tile))
    off_map = config.map_size + 2 * pad  # an out-of-bounds row: the scatter drops it
    write_rows = jnp.concatenate(
        [
            jnp.where(cell_write, target[0] + pad, off_map)[None],
            jnp.where(plants.ripen, plants.pos[:, 0] + pad, off_map),
        ]
    )
    write_cols = jnp.concatenate([(target[1] + pad)[None], plants.pos[:, 1] + pad])
    write_values = jnp.concatenate(
        [cell_value[None], jnp.full((config.max_plants,), C.RIPE_PLANT, jnp.int32)]
    ).astype(jnp.uint8)
    return state.map.at[write_rows, write_cols].set(write_values, mode="drop")
