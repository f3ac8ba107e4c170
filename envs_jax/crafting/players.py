"""Scripted crafters: one remembers the recipe book and the orders, the other only sees now.

Both play the same survival and tech-tree script (:func:`crafter`): fight a hostile creature
next to it, drink, eat a cow, sleep when exhausted; deliver a due order; otherwise climb the
tech tree (wood, table, wood pickaxe and sword, stone, stone pickaxe and sword, furnace, coal,
iron, iron pickaxe and sword, diamond), placing a table (and a furnace) where it stands when it
needs one. Path finding is an oracle shared by both: a breadth-first search over the true map in
a window around the agent (creatures block), and outside it a walk towards the nearest target
of the whole map. The players differ only in the two things the benchmark shows once:

* **Recipe book.** The remembering crafter keeps the book read at t = 0 and presses the slot of
  the tool it wants. The reactive one cannot know it; its best play is to press a uniformly
  random slot when a tool it lacks is affordable at a table (any fixed slot would make one tool
  only), and to gather materials while a botch cooldown runs.
* **Orders.** The remembering crafter keeps the order (item, amount, depot), collects the item
  and walks to the named depot once it is due. The reactive one sees that an order is open and
  due (``status``) but not what or where: it delivers what it holds at the nearest depot.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from flax import struct

from envs_jax.crafting import constants as C
from envs_jax.crafting.env import Crafting
from envs_jax.crafting.types import EnvParams, EnvState
from envs_jax.scripted import ScriptedPlayer

#: Half-side of the path-finding window (cells).
SEARCH_RADIUS = 12
#: Food / drink at or below these send the crafter to eat / drink; energy at or below
#: LOW_ENERGY, to sleep.
LOW_FOOD = 5
LOW_DRINK = 4
LOW_ENERGY = 1
#: Wood and stone the crafter keeps in stock (tables, tools, furnace, orders).
STOCK = 3
#: Wood a table costs and stone a furnace costs.
TABLE_WOOD = int(C.PLACE_COST[C.PLACE_TABLE - C.PLACE_STONE, C.WOOD])
FURNACE_STONE = int(C.PLACE_COST[C.PLACE_FURNACE - C.PLACE_STONE, C.STONE_ITEM])
#: Tools in the order the crafter makes them (tool indices, as in TOOL_NAMES).
TOOL_ORDER = (0, 3, 1, 4, 2, 5)
#: Tile a raw item is gathered from (order items: wood, stone, coal, iron, diamond, sapling).
ITEM_SOURCE = (C.TREE, C.STONE, C.COAL, C.IRON, C.DIAMOND, C.GRASS)
#: Goal kinds: a tile id (0 .. DEPOT_BASE + D - 1) or one of these.
GOAL_COW = -2
GOAL_NONE = -1


@struct.dataclass
class CrafterMemory:
    """What a crafter carries between steps (a reactive one refills it from the observation)."""

    slot_of: jax.Array  # [NUM_TOOLS] int32 make slot of each tool, -1 unknown
    order: jax.Array  # [3] int32 item, amount, depot of the open order, -1 unknown


def _observe(memory: CrafterMemory, obs: dict, remember: bool) -> CrafterMemory:
    """Takes in what the observation shows (the recipe book at t = 0, an order when issued)."""
    base = (
        memory
        if remember
        else CrafterMemory(
            slot_of=jnp.full((C.NUM_TOOLS,), -1, jnp.int32), order=jnp.full((3,), -1, jnp.int32)
        )
    )
    shown_book = obs["recipe"] > 0  # [6] by slot
    tools = jnp.where(shown_book, obs["recipe"] - 1, C.NUM_TOOLS)
    slot_of = base.slot_of.at[tools].set(jnp.arange(C.NUM_TOOLS, dtype=jnp.int32), mode="drop")
    shown_order = obs["order"][0] > 0
    order = jnp.where(shown_order, obs["order"] - jnp.asarray([1, 0, 1]), base.order)
    order = jnp.where(obs["status"][2] > 0, order, -1)  # closed orders are forgotten
    return CrafterMemory(slot_of=slot_of.astype(jnp.int32), order=order.astype(jnp.int32))


def _relax(passable: jax.Array, start: jax.Array, iterations: int) -> jax.Array:
    """int32 [W, W] breadth-first distances from ``start`` (bool [W, W]) over passable cells."""
    big = jnp.int32(10_000)
    dist = jnp.where(start, 0, big)

    def body(_, dist):
        padded = jnp.pad(dist, 1, constant_values=big)
        best = jnp.minimum(
            jnp.minimum(padded[:-2, 1:-1], padded[2:, 1:-1]),
            jnp.minimum(padded[1:-1, :-2], padded[1:-1, 2:]),
        )
        return jnp.where(passable, jnp.minimum(dist, best + 1), dist)

    return jax.lax.fori_loop(0, iterations, body, dist)


def _neighbours(grid: jax.Array) -> jax.Array:
    """[4, W, W]: the value of the left, right, upper and lower neighbour of each cell."""
    padded = jnp.pad(grid, 1)
    return jnp.stack([padded[1:-1, :-2], padded[1:-1, 2:], padded[:-2, 1:-1], padded[2:, 1:-1]])


def _navigate(
    key: jax.Array, state: EnvState, goal: jax.Array, depot: jax.Array, env: Crafting
) -> tuple[jax.Array, jax.Array]:
    """The move towards ``goal`` and whether the agent already stands next to it, facing it.

    Args:
        key: PRNG key for the random step when stuck.
        state: the true state (map, creatures, position: the path-finding oracle).
        goal: int32 [] a tile id, ``GOAL_COW`` or ``GOAL_NONE``.
        depot: int32 [] for a depot goal (tile >= DEPOT_BASE): -1 any depot, else that depot.
        env: the env (sizes).

    Returns:
        (action int32 [] a move or DO (mine the stone in the way), bool [] facing the goal).
    """
    cfg = env.config
    pad, size = cfg.view_radius, 2 * SEARCH_RADIUS + 1
    side = cfg.map_size + 2 * pad
    origin = jnp.clip(state.pos + pad - SEARCH_RADIUS, 0, side - size)
    tiles = jax.lax.dynamic_slice(state.map, (origin[0], origin[1]), (size, size)).astype(jnp.int32)
    agent = state.pos + pad - origin  # [2] in the window
    rows = jnp.arange(size)[:, None]
    cols = jnp.arange(size)[None, :]
    rel = state.creature_pos + pad - origin[None, :]  # [K, 2]
    inside = state.creature_alive & jnp.all((rel >= 0) & (rel < size), axis=-1)
    flat = jnp.where(inside, rel[:, 0] * size + rel[:, 1], size * size)
    creature = jnp.zeros((size * size,), jnp.bool_).at[flat].set(True, mode="drop")
    cow = (
        jnp.zeros((size * size,), jnp.bool_)
        .at[flat]
        .set(state.creature_kind == C.CREATURE_COW, mode="drop")
    )
    creature, cow = creature.reshape(size, size), cow.reshape(size, size)
    is_depot_goal = goal >= C.DEPOT_BASE
    target = jnp.where(
        goal == GOAL_COW,
        cow,
        jnp.where(
            is_depot_goal,
            (tiles >= C.DEPOT_BASE) & ((depot < 0) | (tiles == C.DEPOT_BASE + depot)),
            (tiles == goal) & ~creature,
        ),
    ) & (goal != GOAL_NONE)
    walkable = jnp.asarray(C.AGENT_WALKABLE)[jnp.minimum(tiles, C.DEPOT_BASE)] & (tiles != C.LAVA)
    can_mine = state.inventory[C.WOOD_PICKAXE] > 0
    passable = (walkable | (can_mine & ((tiles == C.STONE) | (tiles == C.COAL)))) & ~creature
    here = (rows == agent[0]) & (cols == agent[1])
    passable = passable | here
    dist = _relax(passable, here, 2 * SEARCH_RADIUS)
    big = 10_000
    approach = passable & jnp.any(_neighbours(target), axis=0) & (dist < big)

    # Outside the window: the reachable cell nearest the nearest target of the whole map.
    full = state.map.astype(jnp.int32)
    full_rows = jnp.arange(side)[:, None]
    full_cols = jnp.arange(side)[None, :]
    me = state.pos + pad
    far_target = jnp.where(
        is_depot_goal,
        (full >= C.DEPOT_BASE) & ((depot < 0) | (full == C.DEPOT_BASE + depot)),
        full == goal,
    )
    far_dist = jnp.abs(full_rows - me[0]) + jnp.abs(full_cols - me[1])
    nearest = jnp.argmin(jnp.where(far_target, far_dist, 10 * side).reshape(-1))
    cow_dist = jnp.where(
        state.creature_alive & (state.creature_kind == C.CREATURE_COW),
        jnp.sum(jnp.abs(state.creature_pos - state.pos), axis=-1),
        10 * side,
    )
    # No cow about: head for the open grass around the start, where cows live and spawn.
    centre = jnp.full((2,), cfg.map_size // 2 + pad, jnp.int32)
    cow_at = jnp.where(
        jnp.min(cow_dist) < 10 * side, state.creature_pos[jnp.argmin(cow_dist)] + pad, centre
    )
    goal_cell = jnp.where(goal == GOAL_COW, cow_at, jnp.stack([nearest // side, nearest % side]))
    exists = (goal == GOAL_COW) | jnp.any(far_target)
    towards = jnp.abs(rows + origin[0] - goal_cell[0]) + jnp.abs(cols + origin[1] - goal_cell[1])
    score = jnp.where(
        jnp.any(approach),
        jnp.where(approach, dist, big),
        jnp.where(dist < big, towards * 64 + dist, big * 64),
    )
    best = jnp.argmin(score.reshape(-1))
    cell = jnp.stack([best // size, best % size])

    # Walk back from the chosen cell to the agent along decreasing distance.
    def back(_, cell):
        d = dist[cell[0], cell[1]]
        steps = jnp.asarray(C.DIRECTIONS)
        nbrs = jnp.clip(cell[None, :] + steps, 0, size - 1)
        nd = dist[nbrs[:, 0], nbrs[:, 1]]
        k = jnp.argmin(jnp.where(nd == d - 1, 0, 1))
        return jnp.where((d > 1) & (nd[k] == d - 1), nbrs[k], cell)

    first = jax.lax.fori_loop(0, 2 * SEARCH_RADIUS, back, cell)
    delta = first - agent
    step_dir = jnp.argmax(
        jnp.all(jnp.asarray(C.DIRECTIONS) == delta[None, :], axis=-1).astype(jnp.int32)
    )
    arrived = jnp.any(approach) & (dist[cell[0], cell[1]] == 0)
    # At an approach cell: turn to a target neighbour.
    around = _neighbours(target)[:, agent[0], agent[1]]  # [4]
    face_dir = jnp.argmax(around.astype(jnp.int32))
    facing_goal = arrived & (state.facing == face_dir)
    ahead = agent + jnp.asarray(C.DIRECTIONS)[step_dir]
    mine = (tiles[ahead[0], ahead[1]] == C.STONE) | (tiles[ahead[0], ahead[1]] == C.COAL)
    mine = mine & (state.facing == step_dir)
    stuck = (~arrived & (cell[0] == agent[0]) & (cell[1] == agent[1])) | ~exists
    # A random step when stuck, never into lava.
    nbr_tiles = _neighbours(tiles)[:, agent[0], agent[1]]
    safe = nbr_tiles != C.LAVA
    random_dir = jax.random.categorical(key, jnp.where(safe, 0.0, -1e9))
    move = jnp.where(
        arrived,
        C.MOVE_LEFT + face_dir,
        jnp.where(stuck, C.MOVE_LEFT + random_dir, jnp.where(mine, C.DO, C.MOVE_LEFT + step_dir)),
    )
    return move.astype(jnp.int32), facing_goal


def crafter(env: Crafting, remember: bool) -> ScriptedPlayer:
    """The scripted crafter (see the module docstring); ``remember`` is static."""

    def init(key, obs, state, params):
        del key, state, params
        empty = CrafterMemory(
            slot_of=jnp.full((C.NUM_TOOLS,), -1, jnp.int32), order=jnp.full((3,), -1, jnp.int32)
        )
        return _observe(empty, obs, remember)

    def act(key, memory: CrafterMemory, obs: dict, state: EnvState, params: EnvParams):
        memory = _observe(memory, obs, remember)
        key_nav, key_slot = jax.random.split(key)
        inv, vitals, mask = obs["inventory"], obs["vitals"], obs["action_mask"]
        r = env.config.view_radius
        view = obs["view"]
        near = view[r - 1 : r + 2, r - 1 : r + 2]
        near_table = jnp.any(near == C.TABLE)
        near_furnace = jnp.any(near == C.FURNACE)

        # Hostile creature next to the agent: face it and hit.
        hostile = (
            state.creature_alive
            & (state.creature_kind != C.CREATURE_COW)
            & (jnp.sum(jnp.abs(state.creature_pos - state.pos), axis=-1) == 1)
        )
        foe = jnp.argmax(hostile)
        foe_delta = state.creature_pos[foe] - state.pos
        foe_dir = jnp.argmax(
            jnp.all(jnp.asarray(C.DIRECTIONS) == foe_delta[None, :], axis=-1).astype(jnp.int32)
        )
        fight = jnp.where(state.facing == foe_dir, C.DO, C.MOVE_LEFT + foe_dir)

        # The next tool and what it still needs.
        held = inv[C.WOOD_PICKAXE : C.IRON_SWORD + 1] > 0  # [6] by tool
        order = jnp.asarray(TOOL_ORDER)
        missing = ~held[order]
        next_tool = order[jnp.argmax(missing)]
        all_tools = ~jnp.any(missing)
        cost = jnp.asarray(C.TOOL_COST)[next_tool]
        needs_furnace = jnp.asarray(C.TOOL_NEEDS_FURNACE)[next_tool]
        short = (inv < cost) & (cost > 0)  # [I]
        affordable = ~jnp.any(short)
        # What a table / furnace still to be placed will cost.
        reserve_table = jnp.where(near_table, 0, TABLE_WOOD)
        reserve_furnace = jnp.where(needs_furnace & ~near_furnace, FURNACE_STONE, 0)
        enough_wood = inv[C.WOOD] >= cost[C.WOOD] + reserve_table
        enough_stone = inv[C.STONE_ITEM] >= cost[C.STONE_ITEM] + reserve_furnace
        at_bench = near_table & (~needs_furnace | near_furnace)
        ready = ~all_tools & affordable & enough_wood & enough_stone
        if remember:
            slot = memory.slot_of[next_tool]
            slot = jnp.where(slot >= 0, slot, jax.random.randint(key_slot, (), 0, C.NUM_TOOLS))
        else:
            slot = jax.random.randint(key_slot, (), 0, C.NUM_TOOLS)
        make_action = C.MAKE_FIRST + slot
        make_now = ready & at_bench & mask[C.MAKE_FIRST]
        place_table = ready & ~near_table & mask[C.PLACE_TABLE]
        place_furnace = ready & near_table & needs_furnace & ~near_furnace & mask[C.PLACE_FURNACE]

        # What to gather: the first shortfall of the next tool, then stock, then the diamond.
        material = jnp.where(
            inv[C.WOOD] < cost[C.WOOD] + reserve_table + 1,
            C.WOOD,
            jnp.where(
                short[C.STONE_ITEM] | ~enough_stone,
                C.STONE_ITEM,
                jnp.where(short[C.COAL_ITEM], C.COAL_ITEM, C.IRON_ITEM),
            ),
        )
        material = jnp.where(
            all_tools | (~short.any() & enough_wood & enough_stone),
            jnp.where(
                inv[C.WOOD] < STOCK,
                C.WOOD,
                jnp.where(
                    (inv[C.STONE_ITEM] < STOCK) & (inv[C.WOOD_PICKAXE] > 0),
                    C.STONE_ITEM,
                    jnp.where(
                        (inv[C.IRON_PICKAXE] > 0) & (inv[C.DIAMOND_ITEM] == 0),
                        C.DIAMOND_ITEM,
                        C.WOOD,
                    ),
                ),
            ),
            material,
        )

        # Orders: a remembering crafter fetches the ordered item, then the named depot.
        due = obs["status"][3] > 0
        known = memory.order[0] >= 0
        lacking = known & (inv[jnp.maximum(memory.order[0], 0)] < memory.order[1])
        fetch = known & lacking & (memory.order[0] != C.SAPLING)
        material = jnp.where(fetch, memory.order[0], material)
        go_deliver = due & ~lacking
        depot = jnp.where(known, memory.order[2], -1)

        goal = jnp.asarray(ITEM_SOURCE)[material]
        goal = jnp.where(go_deliver, C.DEPOT_BASE, goal)
        goal = jnp.where(vitals[C.FOOD] <= LOW_FOOD, GOAL_COW, goal)
        goal = jnp.where(vitals[C.DRINK] <= LOW_DRINK, C.WATER, goal)
        move, facing_goal = _navigate(key_nav, state, goal, depot, env)
        use = jnp.where(goal >= C.DEPOT_BASE, C.DELIVER, C.DO)
        travel = jnp.where(facing_goal & mask[use], use, move)

        action = jnp.where(
            make_now,
            make_action,
            jnp.where(
                place_table, C.PLACE_TABLE, jnp.where(place_furnace, C.PLACE_FURNACE, travel)
            ),
        )
        action = jnp.where(
            (vitals[C.DRINK] <= LOW_DRINK) | (vitals[C.FOOD] <= LOW_FOOD) | go_deliver,
            travel,
            action,
        )
        sleepy = (vitals[C.ENERGY] <= LOW_ENERGY) & mask[C.SLEEP]
        action = jnp.where(sleepy, C.SLEEP, action)
        action = jnp.where(jnp.any(hostile), fight, action)
        action = jnp.where(state.sleeping, C.NOOP, action)
        return action.astype(jnp.int32), memory

    name = "remembering" if remember else "reactive"
    return ScriptedPlayer(name=f"crafting-{name}", init=init, act=act)


def players(env: Crafting) -> dict[str, ScriptedPlayer]:
    """``{"remembering": ..., "reactive": ...}`` for ``env``."""
    return {"remembering": crafter(env, True), "reactive": crafter(env, False)}
