"""The rules of the crafting world as tables: tile ids, items, actions, recipes, achievements.

Every rule the step applies is a row of one of these tables, indexed by a tile id, an item, a
placement or a tool, so the step is a handful of gathers instead of branches. Tables indexed by
tile have :data:`NUM_TABLE_ROWS` rows: depots (ids ``DEPOT_BASE + k``) share the last row, so
look a tile up at row ``min(tile, DEPOT_BASE)``.
"""

from __future__ import annotations

import numpy as np

# ----------------------------------------------------------------------------------------------
# Tile ids. Map tiles first; creature and darkness ids only ever appear in the observed view;
# depot k has id DEPOT_BASE + k (the number of depots is a config size).
OUT = 0  # outside the map (padding); blocks everything
GRASS = 1
SAND = 2
WATER = 3
STONE = 4
PATH = 5  # floor left where a stone / ore was mined
TUNNEL = 6  # cave floor from world generation; skeletons live here
TREE = 7
COAL = 8
IRON = 9
DIAMOND = 10
LAVA = 11
TABLE = 12
FURNACE = 13
PLANT = 14  # a sapling, not yet edible
RIPE_PLANT = 15
COW = 16  # view only
ZOMBIE = 17  # view only
SKELETON = 18  # view only
DARK = 19  # view only: a cell the agent cannot see (night, sleep)
DEPOT_BASE = 20
NUM_TABLE_ROWS = DEPOT_BASE + 1

TILE_NAMES = (
    "out",
    "grass",
    "sand",
    "water",
    "stone",
    "path",
    "tunnel",
    "tree",
    "coal",
    "iron",
    "diamond",
    "lava",
    "table",
    "furnace",
    "plant",
    "ripe_plant",
    "cow",
    "zombie",
    "skeleton",
    "dark",
)

# ----------------------------------------------------------------------------------------------
# Items (inventory slots), each capped at MAX_COUNT.
WOOD = 0
STONE_ITEM = 1
COAL_ITEM = 2
IRON_ITEM = 3
DIAMOND_ITEM = 4
SAPLING = 5
WOOD_PICKAXE = 6
STONE_PICKAXE = 7
IRON_PICKAXE = 8
WOOD_SWORD = 9
STONE_SWORD = 10
IRON_SWORD = 11
NUM_ITEMS = 12
ITEM_NAMES = (
    "wood",
    "stone",
    "coal",
    "iron",
    "diamond",
    "sapling",
    "wood_pickaxe",
    "stone_pickaxe",
    "iron_pickaxe",
    "wood_sword",
    "stone_sword",
    "iron_sword",
)
#: Items an order may ask for: the raw materials (wood .. sapling).
NUM_ORDER_ITEMS = 6
#: Largest count of any item or vital.
MAX_COUNT = 9

# Vitals.
HEALTH = 0
FOOD = 1
DRINK = 2
ENERGY = 3
NUM_VITALS = 4
VITAL_NAMES = ("health", "food", "drink", "energy")
#: Where in the day-night cycle an episode starts (fraction of ``day_length``), as in Crafter.
DAY_START = 0.3

# ----------------------------------------------------------------------------------------------
# Actions.
NOOP = 0
MOVE_LEFT = 1
MOVE_RIGHT = 2
MOVE_UP = 3
MOVE_DOWN = 4
DO = 5
SLEEP = 6
PLACE_STONE = 7
PLACE_TABLE = 8
PLACE_FURNACE = 9
PLACE_PLANT = 10
MAKE_FIRST = 11  # MAKE_FIRST + s: "make with recipe-book slot s"
NUM_TOOLS = 6
DELIVER = MAKE_FIRST + NUM_TOOLS
NUM_ACTIONS = DELIVER + 1
ACTION_NAMES = (
    "noop",
    "move_left",
    "move_right",
    "move_up",
    "move_down",
    "do",
    "sleep",
    "place_stone",
    "place_table",
    "place_furnace",
    "place_plant",
    *(f"make_{s}" for s in range(NUM_TOOLS)),
    "deliver",
)

#: Facing directions (row, col) in move-action order: left, right, up, down.
DIRECTIONS = np.array([[0, -1], [0, 1], [-1, 0], [1, 0]], np.int32)
LEFT, RIGHT, UP, DOWN = 0, 1, 2, 3

# ----------------------------------------------------------------------------------------------
# Achievements, Crafter's 22 plus delivering an order.
ACHIEVEMENTS = (
    "collect_coal",
    "collect_diamond",
    "collect_drink",
    "collect_iron",
    "collect_sapling",
    "collect_stone",
    "collect_wood",
    "defeat_skeleton",
    "defeat_zombie",
    "eat_cow",
    "eat_plant",
    "make_iron_pickaxe",
    "make_iron_sword",
    "make_stone_pickaxe",
    "make_stone_sword",
    "make_wood_pickaxe",
    "make_wood_sword",
    "place_furnace",
    "place_plant",
    "place_stone",
    "place_table",
    "wake_up",
    "deliver_order",
)
NUM_ACHIEVEMENTS = len(ACHIEVEMENTS)
_ACH = {name: i for i, name in enumerate(ACHIEVEMENTS)}
NO_ACHIEVEMENT = -1

# ----------------------------------------------------------------------------------------------
# Tools: what "make" produces. A tool's recipe needs a table nearby, some also a furnace.
TOOL_NAMES = ITEM_NAMES[WOOD_PICKAXE : IRON_SWORD + 1]
TOOL_ITEM = np.arange(WOOD_PICKAXE, IRON_SWORD + 1, dtype=np.int32)  # [T] the item made
TOOL_COST = np.zeros((NUM_TOOLS, NUM_ITEMS), np.int32)  # [T, I] items consumed
for _tool, _cost in enumerate(
    (
        {WOOD: 1},  # wood pickaxe
        {WOOD: 1, STONE_ITEM: 1},  # stone pickaxe
        {WOOD: 1, COAL_ITEM: 1, IRON_ITEM: 1},  # iron pickaxe
        {WOOD: 1},  # wood sword
        {WOOD: 1, STONE_ITEM: 1},  # stone sword
        {WOOD: 1, COAL_ITEM: 1, IRON_ITEM: 1},  # iron sword
    )
):
    for _item, _amount in _cost.items():
        TOOL_COST[_tool, _item] = _amount
TOOL_NEEDS_FURNACE = np.array([False, False, True, False, False, True])  # [T]
TOOL_ACHIEVEMENT = np.array([_ACH[f"make_{name}"] for name in TOOL_NAMES], np.int32)  # [T]

# ----------------------------------------------------------------------------------------------
# Placing: stone, table, furnace, plant (action PLACE_STONE + p).
NUM_PLACEABLE = 4
PLACE_MATERIAL = np.array([STONE, TABLE, FURNACE, PLANT], np.int32)  # [P]
# Crafter's costs: a table takes 2 wood, a furnace 4 stone. Crafter asks for nothing nearby when
# placing (only "make" looks for a table / furnace), so no placement needs a table here either.
PLACE_COST = np.zeros((NUM_PLACEABLE, NUM_ITEMS), np.int32)  # [P, I]
PLACE_COST[0, STONE_ITEM] = 1
PLACE_COST[1, WOOD] = 2
PLACE_COST[2, STONE_ITEM] = 4
PLACE_COST[3, SAPLING] = 1
PLACE_NEEDS_TABLE = np.array([False, False, False, False])  # [P] needs a table nearby
PLACE_ACHIEVEMENT = np.array(
    [_ACH["place_stone"], _ACH["place_table"], _ACH["place_furnace"], _ACH["place_plant"]],
    np.int32,
)
PLACE_WHERE = np.zeros((NUM_PLACEABLE, NUM_TABLE_ROWS), bool)  # [P, rows] allowed targets
PLACE_WHERE[0, [GRASS, SAND, PATH, TUNNEL, WATER, LAVA]] = True
PLACE_WHERE[1, [GRASS, SAND, PATH, TUNNEL]] = True
PLACE_WHERE[2, [GRASS, SAND, PATH, TUNNEL]] = True
PLACE_WHERE[3, [GRASS]] = True
PLANT_PLACE_INDEX = 3

# ----------------------------------------------------------------------------------------------
# Collecting with "do", by the tile in front of the agent.
COLLECT_REQUIRES = np.full(NUM_TABLE_ROWS, -1, np.int32)  # [rows] item needed, -1: none
COLLECT_ITEM = np.full(NUM_TABLE_ROWS, -1, np.int32)  # [rows] item gained (+1), -1: none
COLLECT_VITAL = np.full(NUM_TABLE_ROWS, -1, np.int32)  # [rows] vital gained, -1: none
COLLECT_LEAVES = np.arange(NUM_TABLE_ROWS, dtype=np.int32)  # [rows] tile left behind
COLLECT_ACHIEVEMENT = np.full(NUM_TABLE_ROWS, NO_ACHIEVEMENT, np.int32)  # [rows]
for _tile, _needs, _item, _vital, _leaves, _ach in (
    (TREE, -1, WOOD, -1, GRASS, "collect_wood"),  # the tree is used up, as in Crafter
    (STONE, WOOD_PICKAXE, STONE_ITEM, -1, PATH, "collect_stone"),
    (COAL, WOOD_PICKAXE, COAL_ITEM, -1, PATH, "collect_coal"),
    (IRON, STONE_PICKAXE, IRON_ITEM, -1, PATH, "collect_iron"),
    (DIAMOND, IRON_PICKAXE, DIAMOND_ITEM, -1, PATH, "collect_diamond"),
    (GRASS, -1, SAPLING, -1, GRASS, "collect_sapling"),  # with probability sapling_prob
    (WATER, -1, -1, DRINK, WATER, "collect_drink"),
    (RIPE_PLANT, -1, -1, FOOD, PLANT, "eat_plant"),  # the plant regrows
):
    COLLECT_REQUIRES[_tile] = _needs
    COLLECT_ITEM[_tile] = _item
    COLLECT_VITAL[_tile] = _vital
    COLLECT_LEAVES[_tile] = _leaves
    COLLECT_ACHIEVEMENT[_tile] = _ACH[_ach]
COLLECTABLE = COLLECT_ACHIEVEMENT >= 0  # [rows]

# ----------------------------------------------------------------------------------------------
# Creatures: kind 0 cow, 1 zombie, 2 skeleton.
NUM_CREATURE_KINDS = 3
CREATURE_COW, CREATURE_ZOMBIE, CREATURE_SKELETON = 0, 1, 2
CREATURE_NAMES = ("cow", "zombie", "skeleton")
CREATURE_TILE = np.array([COW, ZOMBIE, SKELETON], np.int32)  # [K] id in the view (COW + kind)
CREATURE_HEALTH = np.array([3, 5, 3], np.int32)  # [K] hits (of damage 1) to defeat
CREATURE_ACHIEVEMENT = np.array(
    [_ACH["eat_cow"], _ACH["defeat_zombie"], _ACH["defeat_skeleton"]], np.int32
)
CREATURE_WALKABLE = np.zeros((NUM_CREATURE_KINDS, NUM_TABLE_ROWS), bool)  # [K, rows]
CREATURE_WALKABLE[CREATURE_COW, [GRASS, SAND, PATH]] = True
CREATURE_WALKABLE[CREATURE_ZOMBIE, [GRASS, SAND, PATH]] = True
CREATURE_WALKABLE[CREATURE_SKELETON, [TUNNEL]] = True
CREATURE_SPAWNS_ON = np.zeros((NUM_CREATURE_KINDS, NUM_TABLE_ROWS), bool)  # [K, rows]
CREATURE_SPAWNS_ON[CREATURE_COW, GRASS] = True
CREATURE_SPAWNS_ON[CREATURE_ZOMBIE, GRASS] = True
CREATURE_SPAWNS_ON[CREATURE_SKELETON, TUNNEL] = True

#: Damage of the agent's hit: bare hands, then the best sword it holds (wood, stone, iron).
BASE_DAMAGE = 1
SWORD_DAMAGE = np.array([2, 3, 5], np.int32)

# ----------------------------------------------------------------------------------------------
AGENT_WALKABLE = np.zeros(NUM_TABLE_ROWS, bool)  # [rows]; lava is walkable, and deadly
AGENT_WALKABLE[[GRASS, SAND, PATH, TUNNEL, LAVA]] = True

# ----------------------------------------------------------------------------------------------
# Packed tables: one gather fetches every rule about a tile / tool / placement.
TILE_WALKABLE = 0  # column of TILE_INFO: the agent may step here
TILE_COLLECTABLE = 1
TILE_REQUIRES = 2
TILE_ITEM = 3
TILE_VITAL = 4
TILE_LEAVES = 5
TILE_ACHIEVEMENT = 6
TILE_PLACE_WHERE = 7  # .. + NUM_PLACEABLE: placement p may target this tile
TILE_CREATURE_WALKABLE = TILE_PLACE_WHERE + NUM_PLACEABLE  # .. + kinds
TILE_SPAWNS = TILE_CREATURE_WALKABLE + NUM_CREATURE_KINDS  # .. + kinds
TILE_INFO = np.concatenate(  # [rows, 17] int32
    [
        np.stack(
            [
                AGENT_WALKABLE,
                COLLECTABLE,
                COLLECT_REQUIRES,
                COLLECT_ITEM,
                COLLECT_VITAL,
                COLLECT_LEAVES,
                COLLECT_ACHIEVEMENT,
            ],
            axis=1,
        ),
        PLACE_WHERE.T,
        CREATURE_WALKABLE.T,
        CREATURE_SPAWNS_ON.T,
    ],
    axis=1,
).astype(np.int32)

# Columns after the NUM_ITEMS cost columns of TOOL_INFO / PLACE_INFO.
RECIPE_NEEDS = NUM_ITEMS  # tool: needs a furnace; placement: needs a table
RECIPE_PRODUCT = NUM_ITEMS + 1  # tool: item made; placement: tile placed
RECIPE_ACHIEVEMENT = NUM_ITEMS + 2
TOOL_INFO = np.concatenate(  # [T, 15] int32
    [TOOL_COST, TOOL_NEEDS_FURNACE[:, None], TOOL_ITEM[:, None], TOOL_ACHIEVEMENT[:, None]],
    axis=1,
).astype(np.int32)
PLACE_INFO = np.concatenate(  # [P, 15] int32
    [PLACE_COST, PLACE_NEEDS_TABLE[:, None], PLACE_MATERIAL[:, None], PLACE_ACHIEVEMENT[:, None]],
    axis=1,
).astype(np.int32)
# Every recipe costs something, so nothing is affordable with the empty starting inventory.
assert PLACE_COST.sum(axis=1).min() > 0 and TOOL_COST.sum(axis=1).min() > 0
