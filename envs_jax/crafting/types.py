"""Static config, sweepable params and the state of the crafting world."""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
from flax import struct
from gymnax.environments import environment

from envs_jax.crafting import constants as C


@dataclasses.dataclass(frozen=True)
class CraftingConfig:
    """Shape-defining sizes (static under ``jit``); validated on construction."""

    map_size: int = 64  # side of the square world, in cells
    view_size: int = 9  # side of the egocentric view (odd); the map is padded by view_size // 2
    max_creatures: int = 8  # capacity of the creature array (cows, zombies, skeletons)
    max_plants: int = 4  # capacity of the planted-sapling array (growth timers)
    num_depots: int = 4  # delivery depots, one per sector around the start, far from it
    num_iron: int = 5  # iron ores generated (the deepest-scoring mountain cells)
    num_diamonds: int = 3  # diamonds generated (the deepest-scoring mountain cells)
    initial_cows: int = 3  # cows placed near the start at reset (<= max_creatures)
    craft_radius: int = 1  # "nearby" for tables / furnaces: within this Chebyshev distance
    order_max_amount: int = 2  # an order asks for 1 .. order_max_amount of one raw item
    noise_cells: tuple[int, ...] = (4, 8, 16)  # coarse grid sides of the value-noise octaves

    def __post_init__(self):
        def need(ok: bool, name: str, problem: str) -> None:
            if not ok:
                raise ValueError(f"CraftingConfig.{name}: {problem}, got {getattr(self, name)!r}")

        need(isinstance(self.map_size, int) and self.map_size >= 12, "map_size", "must be >= 12")
        need(
            isinstance(self.view_size, int) and self.view_size >= 3 and self.view_size % 2 == 1,
            "view_size",
            "must be an odd int >= 3",
        )
        need(self.view_size <= self.map_size, "view_size", "must be <= map_size")
        need(self.max_creatures >= 1, "max_creatures", "must be >= 1")
        need(self.max_plants >= 1, "max_plants", "must be >= 1")
        need(1 <= self.num_depots <= 16, "num_depots", "must be in [1, 16]")
        need(self.num_iron >= 0, "num_iron", "must be >= 0")
        need(self.num_diamonds >= 0, "num_diamonds", "must be >= 0")
        need(
            self.num_iron + self.num_diamonds <= self.map_size**2 // 4,
            "num_diamonds",
            "num_iron + num_diamonds must fit in a quarter of the map",
        )
        need(
            0 <= self.initial_cows <= self.max_creatures,
            "initial_cows",
            "must be in [0, max_creatures]",
        )
        need(
            1 <= self.craft_radius <= self.view_size // 2,
            "craft_radius",
            "must be in [1, view_size // 2]",
        )
        need(1 <= self.order_max_amount <= C.MAX_COUNT, "order_max_amount", "must be in [1, 9]")
        need(
            len(self.noise_cells) >= 1
            and all(isinstance(c, int) and 1 <= c <= self.map_size for c in self.noise_cells),
            "noise_cells",
            "must be a non-empty tuple of ints in [1, map_size]",
        )

    @property
    def view_radius(self) -> int:
        """Cells seen on each side of the agent (also the map padding)."""
        return self.view_size // 2

    @property
    def num_tile_ids(self) -> int:
        """Number of ids a view cell can hold (map tiles, creatures, darkness, depots)."""
        return C.DEPOT_BASE + self.num_depots


def _default_order_weights() -> jax.Array:
    return jnp.ones((C.NUM_ORDER_ITEMS,), jnp.float32)


@struct.dataclass
class EnvParams(environment.EnvParams):
    """Sweepable values; every field is a pytree leaf (no recompilation when changed)."""

    max_steps_in_episode: int = 10_000  # truncation length
    # --- rewards
    achievement_reward: float = 1.0  # per achievement unlocked for the first time this episode
    health_reward: float = 0.1  # per point of health gained (lost: negative)
    delivery_reward: float = 1.0  # per order delivered to the right depot
    invalid_action_penalty: float = 0.01  # subtracted when the action is masked (done as noop)
    botch_penalty: float = 0.1  # subtracted for a botched make (wrong recipe slot)
    # --- memory: recipe book and orders
    recipe_show_steps: int = 1  # the recipe book is in the observation for t < this
    botch_cooldown: int = 100  # steps "make" stays masked after a botched make
    order_start: int = 50  # time of the first order
    order_interval: int = 2_500  # a new order every this many steps (0: only one order)
    order_delay: int = 1_000  # an order can be delivered from issue + order_delay on
    order_show_steps: int = 1  # an order is in the observation for this many steps after issue
    order_item_weights: jax.Array = struct.field(  # [6] float32 odds of each raw item in orders
        default_factory=_default_order_weights
    )
    # --- day and night
    day_length: int = 300  # steps of one day-night cycle
    night_threshold: float = 0.3  # daylight below this is night
    night_view_radius: int = 2  # at night only cells this close (Chebyshev) are visible
    # --- vitals (Crafter's dynamics; periods in steps awake, sleeping halves hunger and thirst)
    hunger_period: int = 25  # food drops by one every this many steps
    thirst_period: int = 20  # drink drops by one every this many steps
    fatigue_period: int = 30  # energy drops by one every this many steps awake
    rest_period: int = 10  # energy rises by one every this many steps asleep
    recover_period: int = 25  # health rises by one after this many steps with all needs met
    degen_period: int = 15  # health drops by one after this many steps with a need unmet
    food_per_cow: int = 6  # food gained by eating a cow
    food_per_plant: int = 4  # food gained by eating a ripe plant
    drink_per_sip: int = 1  # drink gained per "do" on water
    sapling_prob: float = 0.1  # chance that "do" on grass yields a sapling
    plant_grow_steps: int = 300  # steps for a sapling to ripen (and to regrow after eating)
    # --- creatures
    cow_spawn_prob: float = 0.02  # per step: chance of trying to spawn a cow near the agent
    zombie_spawn_prob_day: float = 0.004  # ... a zombie, in daylight
    zombie_spawn_prob_night: float = 0.04  # ... a zombie, at night
    skeleton_spawn_prob: float = 0.02  # ... a skeleton (on tunnel floor only)
    spawn_radius: int = 8  # spawns land within this Chebyshev distance of the agent
    spawn_min_distance: int = 3  # ... and at least this far from it (keep >= 1)
    despawn_distance: int = 14  # creatures farther than this (Chebyshev) may vanish
    despawn_prob: float = 0.05  # per step chance that a far creature vanishes
    cow_move_prob: float = 0.5  # per step chance that a cow takes a random step
    zombie_move_prob: float = 0.7  # per step chance that a zombie steps (towards the agent if near)
    skeleton_move_prob: float = 0.4  # per step chance that a skeleton steps
    chase_distance: int = 6  # hostile creatures this close (Manhattan) move towards the agent
    zombie_damage: int = 2  # health lost per zombie hit
    zombie_sleep_damage: int = 7  # ... when the zombie catches the agent asleep
    zombie_cooldown: int = 5  # steps between two hits of one zombie
    skeleton_damage: int = 2  # health lost per skeleton arrow
    skeleton_range: int = 4  # skeletons shoot within this Manhattan distance
    skeleton_shoot_prob: float = 0.1  # per step chance that a skeleton in range shoots
    skeleton_cooldown: int = 4  # steps between two arrows of one skeleton
    # --- terrain (thresholds on standardised value noise)
    start_clear_radius: float = 5.0  # the start area (this close to the centre) is open grass
    water_level: float = 1.0  # water where the water noise exceeds this
    sand_width: float = 0.35  # sand where the water noise is within this below water_level
    mountain_level: float = 0.55  # mountains (stone) where the mountain noise exceeds this
    cave_level: float = 1.0  # tunnels inside mountains where the cave noise exceeds this
    lava_level: float = 1.1  # lava inside deep mountains where the lava noise exceeds this
    lava_depth: float = 1.2  # ... and the mountain noise exceeds this
    coal_prob: float = 0.08  # chance that a mountain stone cell is coal
    tree_level: float = 0.0  # forests where the tree noise exceeds this
    tree_density: float = 0.3  # chance of a tree in a forest cell
    depot_min_distance: float = 0.55  # depots lie between this and depot_max_distance ...
    depot_max_distance: float = 0.9  # ... times map_size / 2 from the start


# ----------------------------------------------------------------------------------------------
# Packed state layout. The state keeps a few arrays instead of one leaf per quantity: every
# leaf costs the compiled step (and each auto-reset select) a kernel of its own, and the step
# compiles several times over in a training program. Read fields through the named properties
# of EnvState; write them by building the packed arrays (the step) or with ``EnvState.edit``.

# agent: int32 [AGENT_SIZE]
AGENT_ROW, AGENT_COL, AGENT_FACING, AGENT_SLEEPING = 0, 1, 2, 3
AGENT_HUNGER, AGENT_THIRST, AGENT_FATIGUE, AGENT_RECOVER, AGENT_DELIVERIES = 4, 5, 6, 7, 8
AGENT_VITALS = 9  # .. + NUM_VITALS
AGENT_INVENTORY = AGENT_VITALS + C.NUM_VITALS  # .. + NUM_ITEMS
AGENT_MAKE_READY = AGENT_INVENTORY + C.NUM_ITEMS  # time from which "make" is allowed again
AGENT_SIZE = AGENT_MAKE_READY + 1
# creatures: int32 [C, CREATURE_FIELDS]
CREATURE_ROW, CREATURE_COL, CREATURE_KIND, CREATURE_HEALTH = 0, 1, 2, 3
CREATURE_COOLDOWN, CREATURE_ALIVE = 4, 5
CREATURE_FIELDS = 6
# plants: int32 [P, PLANT_FIELDS]
PLANT_ROW, PLANT_COL, PLANT_TIME, PLANT_RIPE, PLANT_ALIVE = 0, 1, 2, 3, 4
PLANT_FIELDS = 5
# order: int32 [ORDER_SIZE]
ORDER_ITEM, ORDER_AMOUNT, ORDER_DEPOT, ORDER_TIME, ORDER_ACTIVE = 0, 1, 2, 3, 4
ORDER_SIZE = 5
# book: int32 [NUM_TOOLS, BOOK_FIELDS]: per make slot, its tool's TOOL_INFO row, then the tool
BOOK_TOOL = C.TOOL_INFO.shape[1]
BOOK_FIELDS = BOOK_TOOL + 1
# cache: int32 [CACHE_SIZE]: recomputed at the end of every step (and by Crafting.refresh)
CACHE_NEIGHBOURS = 0  # .. + 4: tiles left, right, above and below the agent
CACHE_MAKEABLE = 4  # .. + NUM_TOOLS: make slot s would make its tool here now
CACHE_MASK = CACHE_MAKEABLE + C.NUM_TOOLS  # .. + NUM_ACTIONS: the action mask
CACHE_SIZE = CACHE_MASK + C.NUM_ACTIONS

#: Named fields: name -> (packed leaf, index into its last axis), for reading and ``edit``.
_FIELDS = {
    "pos": ("agent", slice(AGENT_ROW, AGENT_COL + 1)),
    "facing": ("agent", AGENT_FACING),
    "sleeping": ("agent", AGENT_SLEEPING),
    "hunger": ("agent", AGENT_HUNGER),
    "thirst": ("agent", AGENT_THIRST),
    "fatigue": ("agent", AGENT_FATIGUE),
    "recover": ("agent", AGENT_RECOVER),
    "deliveries": ("agent", AGENT_DELIVERIES),
    "vitals": ("agent", slice(AGENT_VITALS, AGENT_VITALS + C.NUM_VITALS)),
    "inventory": ("agent", slice(AGENT_INVENTORY, AGENT_INVENTORY + C.NUM_ITEMS)),
    "make_ready": ("agent", AGENT_MAKE_READY),
    "creature_pos": ("creatures", slice(CREATURE_ROW, CREATURE_COL + 1)),
    "creature_kind": ("creatures", CREATURE_KIND),
    "creature_health": ("creatures", CREATURE_HEALTH),
    "creature_cooldown": ("creatures", CREATURE_COOLDOWN),
    "creature_alive": ("creatures", CREATURE_ALIVE),
    "plant_pos": ("plants", slice(PLANT_ROW, PLANT_COL + 1)),
    "plant_time": ("plants", PLANT_TIME),
    "plant_ripe": ("plants", PLANT_RIPE),
    "plant_alive": ("plants", PLANT_ALIVE),
    "order_item": ("order", ORDER_ITEM),
    "order_amount": ("order", ORDER_AMOUNT),
    "order_depot": ("order", ORDER_DEPOT),
    "order_time": ("order", ORDER_TIME),
    "order_active": ("order", ORDER_ACTIVE),
    "recipe": ("book", BOOK_TOOL),
    "slot_rules": ("book", slice(0, BOOK_TOOL)),
    "neighbours": ("cache", slice(CACHE_NEIGHBOURS, CACHE_NEIGHBOURS + 4)),
    "makeable": ("cache", slice(CACHE_MAKEABLE, CACHE_MAKEABLE + C.NUM_TOOLS)),
    "action_mask": ("cache", slice(CACHE_MASK, CACHE_MASK + C.NUM_ACTIONS)),
}
#: Named fields that hold flags (read as bool).
_FLAGS = {
    "sleeping",
    "creature_alive",
    "plant_ripe",
    "plant_alive",
    "order_active",
    "makeable",
    "action_mask",
}


def _field(name: str):
    leaf, index = _FIELDS[name]

    def read(self):
        value = getattr(self, leaf)[..., index]
        return value > 0 if name in _FLAGS else value

    read.__doc__ = f"``{name}``: read from the packed ``{leaf}`` array."
    return property(read)


@struct.dataclass
class EnvState(environment.EnvState):
    """One crafting world. ``M = map_size + 2 * view_radius`` (the padded map side).

    The quantities are packed into a few int32 arrays (layouts above) and read through
    properties: ``pos`` [2], ``facing``, ``sleeping`` (bool), ``hunger``, ``thirst``,
    ``fatigue``, ``recover``, ``deliveries``, ``vitals`` [4] (health, food, drink, energy),
    ``inventory`` [NUM_ITEMS], ``make_ready`` (make is masked before this time: a botched
    make's cooldown); ``creature_pos`` [C, 2], ``creature_kind`` (0 cow, 1 zombie,
    2 skeleton), ``creature_health``, ``creature_cooldown``, ``creature_alive`` (bool);
    ``plant_pos`` [P, 2], ``plant_time`` (planted or last eaten), ``plant_ripe``,
    ``plant_alive``; ``order_item``, ``order_amount``, ``order_depot``, ``order_time`` (-1: none
    yet), ``order_active``; ``recipe`` [NUM_TOOLS] (tool made by each make slot) and
    ``slot_rules`` [NUM_TOOLS, 15] (its TOOL_INFO row); the cached ``neighbours`` [4],
    ``makeable`` [NUM_TOOLS] (by make slot) and ``action_mask`` [NUM_ACTIONS].
    """

    time: jax.Array  # [] int32 steps since the episode started
    map: jax.Array  # [M, M] uint8 tile ids, padded with OUT by view_radius on every side
    agent: jax.Array  # [AGENT_SIZE] int32 position, facing, sleep, vital counters, deliveries,
    # vitals in [0, 9], inventory in [0, 9], the time make is allowed again (after a botch)
    achievements: jax.Array  # [NUM_ACHIEVEMENTS] bool unlocked this episode
    creatures: jax.Array  # [C, CREATURE_FIELDS] int32 one row per creature slot
    plants: jax.Array  # [P, PLANT_FIELDS] int32 one row per planted-sapling slot
    order: jax.Array  # [ORDER_SIZE] int32 the current order
    depot_pos: jax.Array  # [D, 2] int32 (row, col) of each depot
    book: jax.Array  # [NUM_TOOLS, BOOK_FIELDS] int32 the recipe book, one row per make slot
    cache: jax.Array  # [CACHE_SIZE] int32 neighbour tiles, makeable slots, action mask

    pos = _field("pos")
    facing = _field("facing")
    sleeping = _field("sleeping")
    hunger = _field("hunger")
    thirst = _field("thirst")
    fatigue = _field("fatigue")
    recover = _field("recover")
    deliveries = _field("deliveries")
    vitals = _field("vitals")
    inventory = _field("inventory")
    make_ready = _field("make_ready")
    creature_pos = _field("creature_pos")
    creature_kind = _field("creature_kind")
    creature_health = _field("creature_health")
    creature_cooldown = _field("creature_cooldown")
    creature_alive = _field("creature_alive")
    plant_pos = _field("plant_pos")
    plant_time = _field("plant_time")
    plant_ripe = _field("plant_ripe")
    plant_alive = _field("plant_alive")
    order_item = _field("order_item")
    order_amount = _field("order_amount")
    order_depot = _field("order_depot")
    order_time = _field("order_time")
    order_active = _field("order_active")
    recipe = _field("recipe")
    slot_rules = _field("slot_rules")
    neighbours = _field("neighbours")
    makeable = _field("makeable")
    action_mask = _field("action_mask")

    def edit(self, **fields) -> EnvState:
        """A copy with named fields (the property names, or the packed leaves) replaced; for
        scripted scenarios and tests. Editing ``recipe`` rewrites ``slot_rules`` to match. Call
        ``Crafting.refresh`` afterwards to update the cache.

        Raises:
            KeyError: an unknown field name.
        """
        state = self
        for name, value in fields.items():
            if name in _FIELDS:
                leaf, index = _FIELDS[name]
                packed = getattr(state, leaf)
                value = jnp.asarray(value).astype(packed.dtype)
                state = state.replace(**{leaf: packed.at[..., index].set(value)})
                if name == "recipe":
                    state = state.edit(slot_rules=jnp.asarray(C.TOOL_INFO)[value])
            elif name in {f.name for f in dataclasses.fields(state)}:
                state = state.replace(**{name: value})
            else:
                raise KeyError(f"EnvState has no field {name!r}; fields: {sorted(_FIELDS)}")
        return state
