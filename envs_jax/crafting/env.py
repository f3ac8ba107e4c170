"""Crafting: an open world with a tech tree, day and night, creatures, a recipe book and orders.

A Minecraft-like 2-D world (Crafter's rules, in JAX) in which two pieces of information are
shown once and needed much later:

* **The recipe book.** Which of the six "make" actions produces which tool (wood / stone / iron
  pickaxe and sword) is a fresh permutation every episode, shown in the observation only for the
  first ``recipe_show_steps`` steps (default: the reset observation alone). Every later craft
  must use the remembered mapping; the action mask enables all six make actions alike (when any
  tool not yet held can be made), so it does not give the mapping away. Tools do not stack: a
  slot makes its tool only when the recipe is met here and the tool is not held yet. Any other
  make is *botched*: one unit of every material held (wood, stone, coal, iron, diamond) is
  spoilt, ``botch_penalty`` is paid and make stays masked for ``botch_cooldown`` steps. Iron is
  scarce (``num_iron`` ores per world), so slot cycling loses the iron tools and the diamond.
* **Orders.** From ``order_start`` on, every ``order_interval`` steps an order is issued: "bring
  ``amount`` x ``item`` (a raw material) to depot ``d``", shown for ``order_show_steps`` steps.
  It can be delivered only ``order_delay`` steps after it was issued (default 1,000), at the
  named one of ``num_depots`` depots far from the start (all look alike except their number).
  The first delivery attempt closes the order, right or wrong.

Observation (dict; ``V = view_size``, ids as in :mod:`envs_jax.crafting.constants`):

==================  ===================  ===================================================
key                 shape / dtype        content
==================  ===================  ===================================================
``view``            [V, V] int32         tile ids around the agent (agent at the centre),
                                         creatures drawn on top, ``DARK`` where unseen
                                         (beyond ``night_view_radius`` at night, asleep or
                                         awake); ids < 20 + num_depots
``inventory``       [12] int32           item counts in [0, 9] (``ITEM_NAMES``)
``vitals``          [4] int32            health, food, drink, energy in [0, 9]
``status``          [4] int32            facing (0 left, 1 right, 2 up, 3 down), asleep,
                                         an order is open, it can be delivered now (0 / 1)
``daylight``        [1] float32          in [0, 1]; night when below ``night_threshold``
``recipe``          [6] int32            slot s -> 1 + tool made by make_s while shown, else 0
``order``           [3] int32            (1 + item, amount, 1 + depot) while shown, else 0
``action_mask``     [18] bool            True where the action is allowed
``privileged``      [9] int32            privileged twin only: the recipe row and the open
                                         order, every step
==================  ===================  ===================================================

Actions (``Discrete(18)``): 0 noop, 1-4 move left / right / up / down (turns, and steps when the
cell is free), 5 do (hit the creature in front, or collect / drink / eat the tile in front),
6 sleep, 7-10 place stone / table / furnace / plant, 11-16 make with recipe-book slot 0-5,
17 deliver (to the depot in front). Out-of-range actions are clipped into [0, 17]. A masked
action is executed as a noop and costs ``invalid_action_penalty``. While asleep only noop is
allowed; the agent wakes when its energy is full (achievement ``wake_up``) or when its health
drops.

Reward: ``achievement_reward`` for each of the 23 achievements (``ACHIEVEMENTS``: Crafter's 22
and ``deliver_order``) the first time it is unlocked in the episode, ``health_reward`` per point
of health gained or lost, ``delivery_reward`` per order delivered, minus the penalty above
and ``botch_penalty`` per botched make.

Termination: health reaches 0 (zombies, skeletons, lava, hunger, thirst, exhaustion).
Truncation: ``max_steps_in_episode`` (default 10,000). ``step`` is gymnax's auto-resetting step
(same keys, same outputs), generating the next world only when an episode ends.

Info every step: ``lag`` / ``recall`` / ``success`` (:func:`envs_jax.core.memory_info`): a make
action is a recipe decision (lag = steps since the recipe book was last shown, recall = the
pressed slot made a tool that was not held yet, i.e. the make was not botched), a deliver
action an order decision (lag = steps since the order was last shown,
recall = delivered); lags count from the plain observation in both twins. ``success`` is the
fraction of achievements unlocked so far. Also ``achievements`` (bool [23], for
:func:`envs_jax.crafting.crafter_score`) and ``memory_event`` (int32: 0 none, 1 make,
2 deliver).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from envs_jax.core import (
    PROBABILITY,
    MemoryEnv,
    ObservationDict,
    check_order,
    clip_action,
    integer,
    memory_info,
    real,
    weights,
)
from envs_jax.crafting import constants as C
from envs_jax.crafting import renderer
from envs_jax.crafting import types as T
from envs_jax.crafting.generator import generate_world
from envs_jax.crafting.hashing import uniforms
from envs_jax.crafting.types import CraftingConfig, EnvParams, EnvState

#: ``memory_event`` codes in ``info``.
EVENT_NONE, EVENT_MAKE, EVENT_DELIVER = 0, 1, 2
#: Length of the order triple (1 + item, amount, 1 + depot).
ORDER_FIELDS = 3
#: Achievement indices the step sets directly.
WAKE_UP = C.ACHIEVEMENTS.index("wake_up")
DELIVER_ORDER = C.ACHIEVEMENTS.index("deliver_order")
#: The hunger, thirst and recovery counters count half steps (sleep changes their rates).
HALF_STEPS_PER_STEP = 2


#: Where in the day-night cycle an episode starts (fraction of ``day_length``), as in Crafter.
DAY_START = 0.3


def daylight(time: jax.Array, params: EnvParams) -> jax.Array:
    """Daylight in [0, 1] at ``time`` (float32 []), Crafter's curve
    ``1 - |cos(pi * (time / day_length + DAY_START))| ** 3``: about 0.8 at the start of an
    episode, 1 at 0.2 of a cycle, 0 (darkest) at 0.7 of a cycle."""
    cycle = jnp.asarray(time, jnp.float32) / jnp.asarray(params.day_length, jnp.float32)
    return 1.0 - jnp.abs(jnp.cos(jnp.pi * (cycle + DAY_START))) ** 3


def _same_cell(positions: jax.Array, cell: jax.Array) -> jax.Array:
    """bool [...]: which of ``positions`` [..., 2] equal ``cell`` [..., 2] (no reduction op)."""
    return (positions[..., 0] == cell[..., 0]) & (positions[..., 1] == cell[..., 1])


def _direction(facing: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(row, col) step of a facing index (left, right, up, down), without a table lookup."""
    d_row = (facing == C.DOWN).astype(jnp.int32) - (facing == C.UP).astype(jnp.int32)
    d_col = (facing == C.RIGHT).astype(jnp.int32) - (facing == C.LEFT).astype(jnp.int32)
    return d_row, d_col


def _select(index: jax.Array, values: list) -> jax.Array:
    """``values[index]`` for a short static list, as a chain of selects (no gather)."""
    out = jnp.asarray(values[-1])
    for k in range(len(values) - 2, -1, -1):
        out = jnp.where(index == k, values[k], out)
    return out


def _one_hot_flags(size: int, indices: list[jax.Array], flags: list[jax.Array]) -> jax.Array:
    """bool [size]: True at ``indices[k]`` where ``flags[k]`` (an elementwise OR, no scatter)."""
    positions = jnp.arange(size)
    out = jnp.zeros((size,), jnp.bool_)
    for index, flag in zip(indices, flags, strict=True):
        out = out | ((positions == index) & flag)
    return out


class Crafting(MemoryEnv):
    """The crafting benchmark (see the module docstring)."""

    config_cls = CraftingConfig
    params_cls = EnvParams
    env_id = "crafting"
    param_rules = {
        "max_steps_in_episode": integer(1),
        "achievement_reward": real(),
        "health_reward": real(),
        "delivery_reward": real(),
        "invalid_action_penalty": real(0),
        "botch_penalty": real(0),
        "recipe_show_steps": integer(0),
        "botch_cooldown": integer(0),
        "order_start": integer(0),
        "order_interval": integer(0),
        "order_delay": integer(0),
        "order_show_steps": integer(0),
        "order_item_weights": weights(6),
        "day_length": integer(1),
        "night_threshold": real(0, 1),
        "night_view_radius": integer(0),
        **{
            name: integer(1)
            for name in (
                "hunger_period",
                "thirst_period",
                "fatigue_period",
                "rest_period",
                "recover_period",
                "degen_period",
            )
        },
        "food_per_cow": integer(0),
        "food_per_plant": integer(0),
        "drink_per_sip": integer(0),
        "sapling_prob": PROBABILITY,
        "plant_grow_steps": integer(0),
        "cow_spawn_prob": PROBABILITY,
        "zombie_spawn_prob_day": PROBABILITY,
        "zombie_spawn_prob_night": PROBABILITY,
        "skeleton_spawn_prob": PROBABILITY,
        "spawn_radius": integer(1),
        "spawn_min_distance": integer(1),
        "despawn_distance": integer(1),
        "despawn_prob": PROBABILITY,
        "cow_move_prob": PROBABILITY,
        "zombie_move_prob": PROBABILITY,
        "skeleton_move_prob": PROBABILITY,
        "chase_distance": integer(0),
        "zombie_damage": integer(0),
        "zombie_sleep_damage": integer(0),
        "zombie_cooldown": integer(0),
        "skeleton_damage": integer(0),
        "skeleton_range": integer(1),
        "skeleton_shoot_prob": PROBABILITY,
        "skeleton_cooldown": integer(0),
        "start_clear_radius": real(0),
        "water_level": real(),
        "sand_width": real(0),
        "mountain_level": real(),
        "cave_level": real(),
        "lava_level": real(),
        "lava_depth": real(),
        "coal_prob": PROBABILITY,
        "tree_level": real(),
        "tree_density": PROBABILITY,
        "depot_min_distance": real(0),
        "depot_max_distance": real(0),
    }

    def check_params(self, params: EnvParams) -> None:
        check_order("EnvParams", params, "spawn_min_distance", "spawn_radius")
        check_order("EnvParams", params, "depot_min_distance", "depot_max_distance")

    def __init__(self, config: CraftingConfig | None = None, privileged: bool = False):
        super().__init__(config, privileged)
        size = self.config.view_size
        grid = np.arange(size) - self.config.view_radius
        #: [V, V] Chebyshev distance of each view cell from the agent.
        self._view_distance = np.maximum(np.abs(grid)[:, None], np.abs(grid)[None, :])
        #: Uniforms drawn per step: sapling, 4 per creature, 4 for spawning, 3 for an order.
        self._num_uniforms = 1 + 4 * self.config.max_creatures + 4 + 3

    # ------------------------------------------------------------------------------------------
    # gymnax API
    @property
    def default_params(self) -> EnvParams:
        return EnvParams()

    @property
    def num_actions(self) -> int:
        return C.NUM_ACTIONS

    def action_space(self, params: EnvParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(C.NUM_ACTIONS)

    def observation_space(self, params: EnvParams | None = None) -> spaces.Dict:
        cfg = self.config
        v = cfg.view_size
        order_high = max(C.NUM_ORDER_ITEMS, cfg.order_max_amount, cfg.num_depots)
        obs = {
            "view": spaces.Box(0, cfg.num_tile_ids - 1, (v, v), jnp.int32),
            "inventory": spaces.Box(0, C.MAX_COUNT, (C.NUM_ITEMS,), jnp.int32),
            "vitals": spaces.Box(0, C.MAX_COUNT, (C.NUM_VITALS,), jnp.int32),
            "status": spaces.Box(0, len(C.DIRECTIONS) - 1, (4,), jnp.int32),
            "daylight": spaces.Box(0.0, 1.0, (1,), jnp.float32),
            "recipe": spaces.Box(0, C.NUM_TOOLS, (C.NUM_TOOLS,), jnp.int32),
            "order": spaces.Box(0, order_high, (ORDER_FIELDS,), jnp.int32),
            "action_mask": spaces.Box(0, 1, (C.NUM_ACTIONS,), jnp.bool_),
        }
        if self.privileged:
            obs["privileged"] = spaces.Box(
                0, max(C.NUM_TOOLS, order_high), (C.NUM_TOOLS + ORDER_FIELDS,), jnp.int32
            )
        return ObservationDict(obs)

    def is_terminated(self, state: EnvState, params: EnvParams) -> jax.Array:
        return state.vitals[C.HEALTH] <= 0

    # ------------------------------------------------------------------------------------------
    def reset_env(self, key: jax.Array, params: EnvParams) -> tuple[dict[str, jax.Array], Any]:
        cfg = self.config
        world = generate_world(key, params, cfg)
        tiles = jnp.pad(world.tiles, cfg.view_radius, constant_values=C.OUT)
        agent = jnp.concatenate(
            [
                world.start,
                # Facing down, awake, vital counters and deliveries at 0.
                jnp.asarray([C.DOWN, 0, 0, 0, 0, 0, 0], jnp.int32),
                jnp.full((C.NUM_VITALS,), C.MAX_COUNT, jnp.int32),
                jnp.zeros((C.NUM_ITEMS,), jnp.int32),
                jnp.zeros((1,), jnp.int32),  # make is allowed from the start
            ]
        )
        # The first slots hold the initial cows; the others are free.
        num_cows = cfg.initial_cows
        cows = jnp.concatenate(
            [
                world.cow_pos,
                jnp.full((num_cows, 1), C.CREATURE_COW, jnp.int32),
                jnp.full((num_cows, 1), C.CREATURE_HEALTH[C.CREATURE_COW], jnp.int32),
                jnp.zeros((num_cows, 1), jnp.int32),
                world.cow_valid[:, None].astype(jnp.int32),
            ],
            axis=1,
        )
        creatures = jnp.zeros((cfg.max_creatures, T.CREATURE_FIELDS), jnp.int32)
        creatures = jnp.concatenate([cows, creatures[num_cows:]], axis=0)
        no_order = jnp.zeros((T.ORDER_SIZE,), jnp.int32).at[T.ORDER_TIME].set(-1)
        book = jnp.concatenate(
            [jnp.asarray(C.TOOL_INFO)[world.recipe], world.recipe[:, None]], axis=1
        )
        state = EnvState(
            time=jnp.zeros((), jnp.int32),
            map=tiles,
            agent=agent,
            achievements=jnp.zeros((C.NUM_ACHIEVEMENTS,), jnp.bool_),
            creatures=creatures,
            plants=jnp.zeros((cfg.max_plants, T.PLANT_FIELDS), jnp.int32),
            order=no_order,
            depot_pos=world.depot_pos,
            book=book,
            cache=jnp.zeros((T.CACHE_SIZE,), jnp.int32),
        )
        state = self._maybe_issue_order(world.order_uniforms, state, params)
        return self._start_observation(state, params)

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[dict[str, jax.Array], EnvState, jax.Array, jax.Array, dict[str, jax.Array]]:
        cfg = self.config
        pad = cfg.view_radius
        n = cfg.max_creatures
        items = jnp.arange(C.NUM_ITEMS)
        noise = uniforms(key, (self._num_uniforms,))
        u_sapling = noise[0]
        u_creatures = noise[1 : 1 + 4 * n].reshape(4, n)
        u_spawn = noise[1 + 4 * n : 5 + 4 * n]
        u_order = noise[5 + 4 * n : 8 + 4 * n]
        t = state.time
        action = clip_action(action, C.NUM_ACTIONS)
        allowed = state.action_mask[action]
        act = jnp.where(allowed, action, C.NOOP)
        inventory = state.inventory

        # --- Turn and walk. Moving into a blocked cell only turns the agent.
        is_move = (act >= C.MOVE_LEFT) & (act <= C.MOVE_DOWN)
        facing = jnp.where(is_move, act - C.MOVE_LEFT, state.facing)
        d_row, d_col = _direction(facing)
        target = state.pos + jnp.stack([d_row, d_col])
        target_tile = _select(facing, [state.neighbours[k] for k in range(len(C.DIRECTIONS))])
        rule = jnp.asarray(C.TILE_INFO)[jnp.minimum(target_tile, C.DEPOT_BASE)]  # [17]
        # Creatures never share a cell, so at most one stands in front of the agent: masked
        # sums read its health and kind in one reduction.
        at_target = state.creature_alive & _same_cell(state.creature_pos, target)  # [C]
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
        pos = jnp.where(moved, target, state.pos)
        burnt = moved & (target_tile == C.LAVA)

        # --- "do" on a creature: hit it with the best sword held.
        is_do = act == C.DO
        damage = jnp.where(
            inventory[C.IRON_SWORD] > 0,
            C.SWORD_DAMAGE[2],
            jnp.where(
                inventory[C.STONE_SWORD] > 0,
                C.SWORD_DAMAGE[1],
                jnp.where(inventory[C.WOOD_SWORD] > 0, C.SWORD_DAMAGE[0], C.BASE_DAMAGE),
            ),
        )
        hit = is_do & creature_there
        victim_health = victim[1] - damage
        killed = hit & (victim_health <= 0)
        victim_kind = victim[2]
        creature_health = jnp.where(at_target & hit, victim_health, state.creature_health)
        creature_alive = state.creature_alive & ~(at_target & killed)
        kill_ach = _select(victim_kind, [int(a) for a in C.CREATURE_ACHIEVEMENT])
        ate_cow = killed & (victim_kind == C.CREATURE_COW)

        # --- "do" on a tile: collect, drink or eat it.
        requires = rule[C.TILE_REQUIRES]
        # The counts of the tool a tile needs and of the ordered item, in one reduction.
        held = jnp.sum(
            jnp.where(jnp.stack([items == requires, items == state.order_item]), inventory, 0),
            axis=1,
        )
        has_tool = (requires < 0) | (held[0] > 0)
        chance = jnp.where(target_tile == C.GRASS, params.sapling_prob, 1.0)
        collected = is_do & ~creature_there & (rule[C.TILE_COLLECTABLE] > 0) & has_tool
        collected = collected & (u_sapling < chance)
        gain_vital = rule[C.TILE_VITAL]
        vital_amount = jnp.where(gain_vital == C.DRINK, params.drink_per_sip, params.food_per_plant)
        leaves = rule[C.TILE_LEAVES]
        ate_plant = collected & (target_tile == C.RIPE_PLANT)
        # As in Crafter, eating a cow restarts the hunger counter and "do" on water the thirst one.
        drank = is_do & ~creature_there & (target_tile == C.WATER)

        # --- Place (the mask has checked cost, target and neighbourhood).
        is_place = (act >= C.PLACE_STONE) & (act <= C.PLACE_PLANT)
        placement = jnp.asarray(C.PLACE_INFO)[jnp.clip(act - C.PLACE_STONE, 0, C.NUM_PLACEABLE - 1)]
        planted = is_place & (act == C.PLACE_PLANT)

        # --- Plants: a new one takes a free slot; eating a ripe one restarts its growth.
        plant_here = state.plant_alive & _same_cell(state.plant_pos, target)  # [P]
        new_plant = planted & (jnp.arange(cfg.max_plants) == jnp.argmin(state.plant_alive))
        touched = new_plant | (ate_plant & plant_here)
        plant_alive = state.plant_alive | new_plant
        plant_pos = jnp.where(new_plant[:, None], target, state.plant_pos)
        plant_time = jnp.where(touched, t, state.plant_time)
        plant_ripe = state.plant_ripe & ~touched
        grown = t + 1 - plant_time >= params.plant_grow_steps
        ripen = plant_alive & ~plant_ripe & ~touched & grown
        plant_ripe = plant_ripe | ripen

        # --- Make with recipe-book slot s: the tool is recipe[s]; it is made when its recipe is
        # met here and it is not held yet (tools do not stack). Otherwise the craft is botched:
        # one unit of every material held is spoilt and make is masked for botch_cooldown steps.
        is_make = (act >= C.MAKE_FIRST) & (act < C.MAKE_FIRST + C.NUM_TOOLS)
        slot = jnp.clip(act - C.MAKE_FIRST, 0, C.NUM_TOOLS - 1)
        recipe = state.slot_rules[slot]  # [15] the rules of the tool this slot makes
        made = is_make & state.makeable[slot]
        botched = is_make & ~made
        spoilt = jnp.where(
            botched & (items <= C.DIAMOND_ITEM) & (inventory > 0), 1, 0
        )  # [I] one unit of each material held
        make_ready = jnp.where(botched, t + 1 + params.botch_cooldown, state.make_ready)
        recipe_lag = jnp.maximum(t - jnp.minimum(t, params.recipe_show_steps - 1), 0)

        # --- Deliver to the depot in front (the mask has checked that an order is due).
        is_deliver = act == C.DELIVER
        right_depot = target_tile - C.DEPOT_BASE == state.order_depot
        enough = held[1] >= state.order_amount
        delivered = is_deliver & right_depot & enough
        order_last_seen = state.order_time + jnp.maximum(params.order_show_steps, 1) - 1
        order_lag = jnp.maximum(t - order_last_seen, 0)

        # --- Inventory: all gains and costs of this step, then the cap.
        inv_delta = (
            jnp.where(collected & (items == rule[C.TILE_ITEM]), 1, 0)
            - jnp.where(is_place, placement[: C.NUM_ITEMS], 0)
            + jnp.where(made, (items == recipe[C.RECIPE_PRODUCT]) - recipe[: C.NUM_ITEMS], 0)
            - jnp.where(delivered & (items == state.order_item), state.order_amount, 0)
            - spoilt
        )
        vital_gain = jnp.where(
            collected & (jnp.arange(C.NUM_VITALS) == gain_vital), vital_amount, 0
        ) + jnp.where(ate_cow & (jnp.arange(C.NUM_VITALS) == C.FOOD), params.food_per_cow, 0)

        # --- The agent's one map write (collect / place) and the plants that ripen, at once.
        cell_value = jnp.where(is_place, placement[C.RECIPE_PRODUCT], leaves)
        cell_write = is_place | (collected & (leaves != target_tile))
        off_map = cfg.map_size + 2 * pad  # an out-of-bounds row: the scatter drops it
        write_rows = jnp.concatenate(
            [
                jnp.where(cell_write, target[0] + pad, off_map)[None],
                jnp.where(ripen, plant_pos[:, 0] + pad, off_map),
            ]
        )
        write_cols = jnp.concatenate([(target[1] + pad)[None], plant_pos[:, 1] + pad])
        write_values = jnp.concatenate(
            [cell_value[None], jnp.full((cfg.max_plants,), C.RIPE_PLANT, jnp.int32)]
        ).astype(jnp.uint8)
        tiles = state.map.at[write_rows, write_cols].set(write_values, mode="drop")

        # --- Sleep; creatures move, attack, vanish and appear.
        sleeping = state.sleeping | (act == C.SLEEP)
        creatures, hurt = self._update_creatures(
            u_creatures, state, tiles, pos, creature_alive, creature_health, sleeping, params
        )
        creatures = self._spawn(u_spawn, state, tiles, pos, creatures, params)

        # --- Vitals: hunger, thirst, fatigue and health recovery.
        vitals, counters, rested = self._update_vitals(
            state, sleeping, vital_gain, hurt, ate_cow, drank, params
        )
        vitals = jnp.where(burnt & (jnp.arange(C.NUM_VITALS) == C.HEALTH), 0, vitals)
        woke_rested = sleeping & rested
        # Any loss of health wakes the agent (creatures, hunger, thirst), as in Crafter.
        sleeping = sleeping & ~rested & (vitals[C.HEALTH] >= state.vitals[C.HEALTH])

        unlocked = _one_hot_flags(
            C.NUM_ACHIEVEMENTS,
            [
                kill_ach,
                rule[C.TILE_ACHIEVEMENT],
                placement[C.RECIPE_ACHIEVEMENT],
                recipe[C.RECIPE_ACHIEVEMENT],
                WAKE_UP,
                DELIVER_ORDER,
            ],
            [killed, collected, is_place, made, woke_rested, delivered],
        )
        achievements = state.achievements | unlocked
        counts = jnp.sum(jnp.stack([unlocked & ~state.achievements, achievements]), axis=1)
        health_change = vitals[C.HEALTH] - state.vitals[C.HEALTH]
        reward = (
            params.achievement_reward * counts[0]
            + params.health_reward * health_change
            + params.delivery_reward * delivered
            - jnp.where(allowed, 0.0, params.invalid_action_penalty)
            - jnp.where(botched, params.botch_penalty, 0.0)
        ).astype(jnp.float32)

        agent = jnp.concatenate(
            [
                pos,
                facing[None],
                sleeping.astype(jnp.int32)[None],
                counters,
                (state.deliveries + delivered.astype(jnp.int32))[None],
                vitals,
                jnp.clip(inventory + inv_delta, 0, C.MAX_COUNT),
                make_ready[None],
            ]
        ).astype(jnp.int32)
        plants = jnp.stack(
            [plant_pos[:, 0], plant_pos[:, 1], plant_time, plant_ripe, plant_alive], axis=1
        ).astype(jnp.int32)
        # One delivery attempt per order.
        closed = is_deliver & (jnp.arange(T.ORDER_SIZE) == T.ORDER_ACTIVE)
        new_state = state.replace(
            time=t + 1,
            map=tiles,
            agent=agent,
            achievements=achievements,
            creatures=creatures,
            plants=plants,
            order=jnp.where(closed, 0, state.order),
        )
        new_state = self._maybe_issue_order(u_order, new_state, params)
        obs, new_state = self._finish(new_state, params)

        lag = jnp.where(is_make, recipe_lag, jnp.where(is_deliver, order_lag, -1))
        info = memory_info(
            lag,
            jnp.where(is_make, made, delivered),
            counts[1].astype(jnp.float32) / C.NUM_ACHIEVEMENTS,
        )
        info["achievements"] = achievements
        info["memory_event"] = jnp.where(
            is_make, EVENT_MAKE, jnp.where(is_deliver, EVENT_DELIVER, EVENT_NONE)
        ).astype(jnp.int32)
        return obs, new_state, reward, self.is_terminated(new_state, params), info

    # ------------------------------------------------------------------------------------------
    # Step parts
    def _update_creatures(
        self,
        u: jax.Array,
        state: EnvState,
        tiles: jax.Array,
        pos: jax.Array,
        alive: jax.Array,
        health: jax.Array,
        sleeping: jax.Array,
        params: EnvParams,
    ) -> tuple[dict[str, jax.Array], jax.Array]:
        """Moves every creature one step at most, lets hostile ones attack, despawns far ones.

        Args:
            u: float32 [4, C] uniforms: random direction, move, shoot and despawn draws.
            state: the state before the step (creature positions, kinds, cooldowns).
            tiles: uint8 [M, M] the padded map after the agent's action.
            pos: int32 [2] the agent's position after its move.
            alive: bool [C] creatures alive after the agent's hit.
            health: int32 [C] creature health after the agent's hit.
            sleeping: bool [] the agent is asleep (zombies hit harder).
            params: env params.

        Returns:
            (the creature fields of the new state, int32 [] damage dealt to the agent).
        """
        pad = self.config.view_radius
        num = self.config.max_creatures
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
        direction = jnp.where(chase, toward, wander)
        move_prob = jnp.where(
            kind == C.CREATURE_COW,
            params.cow_move_prob,
            jnp.where(
                kind == C.CREATURE_ZOMBIE, params.zombie_move_prob, params.skeleton_move_prob
            ),
        )
        target = cpos + jnp.stack(_direction(direction), axis=-1)
        target_tile = tiles[target[:, 0] + pad, target[:, 1] + pad].astype(jnp.int32)
        rules = jnp.asarray(C.TILE_INFO)[jnp.minimum(target_tile, C.DEPOT_BASE)]  # [C, 17]
        walkable = _select(
            kind, [rules[:, C.TILE_CREATURE_WALKABLE + k] for k in range(C.NUM_CREATURE_KINDS)]
        )
        wants = alive & (u[1] < move_prob) & (walkable > 0) & ~_same_cell(target, pos)
        # A cell is blocked by a creature standing there or by a lower slot stepping into it.
        into_creature = _same_cell(target[:, None, :], cpos[None, :, :]) & alive[None, :]
        earlier = jnp.tril(jnp.ones((num, num), jnp.bool_), k=-1)
        into_claim = _same_cell(target[:, None, :], target[None, :, :]) & earlier & wants[None, :]
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
        creatures = {
            "creature_pos": cpos,
            "creature_kind": kind,
            "creature_health": health,
            "creature_cooldown": cooldown.astype(jnp.int32),
            "creature_alive": alive,
        }
        return creatures, hurt

    def _spawn(
        self,
        u: jax.Array,
        state: EnvState,
        tiles: jax.Array,
        pos: jax.Array,
        creatures: dict[str, jax.Array],
        params: EnvParams,
    ) -> jax.Array:
        """One spawn attempt per step near the agent, into a random slot if that one is free.

        Args:
            u: float32 [4] uniforms: the kind, (row, col) offset and slot draws.
            state: the state before the step (for the time of day).
            tiles: uint8 [M, M] the padded map.
            pos: int32 [2] the agent's position.
            creatures: the creature fields after :meth:`_update_creatures`.
            params: env params.

        Returns:
            int32 [C, CREATURE_FIELDS] the packed creatures, with the new one if one spawned.
        """
        cfg = self.config
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
        slot = jnp.minimum((u[3] * cfg.max_creatures).astype(jnp.int32), cfg.max_creatures - 1)
        spot = jnp.clip(pos + offset, 0, cfg.map_size - 1)
        far_enough = jnp.maximum(*jnp.abs(spot - pos)) >= params.spawn_min_distance
        tile = tiles[spot[0] + cfg.view_radius, spot[1] + cfg.view_radius].astype(jnp.int32)
        rule = jnp.asarray(C.TILE_INFO)[jnp.minimum(tile, C.DEPOT_BASE)]
        fits = _select(kind_row, [rule[C.TILE_SPAWNS + k] for k in range(C.NUM_CREATURE_KINDS)])
        alive = creatures["creature_alive"]
        taken = jnp.any(alive & _same_cell(creatures["creature_pos"], spot))
        spawn = (kind < C.NUM_CREATURE_KINDS) & (fits > 0) & far_enough & ~taken
        put = spawn & ~alive & (jnp.arange(cfg.max_creatures) == slot)  # [C]
        born = jnp.stack(
            [
                spot[0],
                spot[1],
                kind_row,
                _select(kind_row, [int(h) for h in C.CREATURE_HEALTH]),
                jnp.zeros((), jnp.int32),
                jnp.ones((), jnp.int32),
            ]
        )  # [CREATURE_FIELDS]
        current = jnp.stack(
            [
                creatures["creature_pos"][:, 0],
                creatures["creature_pos"][:, 1],
                creatures["creature_kind"],
                creatures["creature_health"],
                creatures["creature_cooldown"],
                alive.astype(jnp.int32),
            ],
            axis=1,
        )  # [C, CREATURE_FIELDS]
        return jnp.where(put[:, None], born[None, :], current).astype(jnp.int32)

    def _update_vitals(
        self,
        state: EnvState,
        sleeping: jax.Array,
        gain: jax.Array,
        hurt: jax.Array,
        ate_cow: jax.Array,
        drank: jax.Array,
        params: EnvParams,
    ) -> tuple[jax.Array, jax.Array, jax.Array]:
        """Crafter's vitals: food, drink and energy drain; health recovers when all are met.

        Counters run in half steps so that sleeping (which halves hunger and thirst) stays
        integer.

        Args:
            state: the state before the step.
            sleeping: bool [] asleep during this step.
            gain: int32 [4] vitals gained by eating and drinking this step.
            hurt: int32 [] damage taken from creatures this step.
            ate_cow: bool [] a cow was eaten this step (the hunger counter restarts).
            drank: bool [] "do" on water this step (the thirst counter restarts).
            params: env params.

        Returns:
            (vitals int32 [4], counters int32 [4] (hunger, thirst, fatigue, recover),
            bool [] energy is full, so a sleeper wakes up).
        """
        vitals = state.vitals
        half = HALF_STEPS_PER_STEP
        rate = jnp.where(sleeping, half // 2, half)  # sleeping halves hunger and thirst
        hunger = jnp.where(ate_cow, 0, state.hunger) + rate
        food_drop = hunger > half * params.hunger_period
        hunger = jnp.where(food_drop, 0, hunger)
        thirst = jnp.where(drank, 0, state.thirst) + rate
        drink_drop = thirst > half * params.thirst_period
        thirst = jnp.where(drink_drop, 0, thirst)
        fatigue = jnp.where(sleeping, jnp.minimum(state.fatigue - 1, 0), state.fatigue + 1)
        rested = fatigue < -params.rest_period
        tired = fatigue > params.fatigue_period
        fatigue = jnp.where(rested | tired, 0, fatigue)
        needs_met = (vitals[C.FOOD] > 0) & (vitals[C.DRINK] > 0)
        needs_met = needs_met & ((vitals[C.ENERGY] > 0) | sleeping)
        # Health recovers twice as fast asleep, and decays half as fast.
        recover = state.recover + jnp.where(
            needs_met, jnp.where(sleeping, 2 * half, half), jnp.where(sleeping, -half // 2, -half)
        )
        heal = recover > half * params.recover_period
        decay = recover < -half * params.degen_period
        recover = jnp.where(heal | decay, 0, recover)
        change = jnp.stack(
            [
                heal.astype(jnp.int32) - decay.astype(jnp.int32) - hurt,
                -food_drop.astype(jnp.int32),
                -drink_drop.astype(jnp.int32),
                rested.astype(jnp.int32) - tired.astype(jnp.int32),
            ]
        )
        vitals = jnp.clip(vitals + gain + change, 0, C.MAX_COUNT)
        counters = jnp.stack([hunger, thirst, fatigue, recover]).astype(jnp.int32)
        return vitals, counters, vitals[C.ENERGY] >= C.MAX_COUNT

    def _maybe_issue_order(self, u: jax.Array, state: EnvState, params: EnvParams) -> EnvState:
        """Issues a new order (replacing any open one) when ``state.time`` is an order time.

        Args:
            u: float32 [3] uniforms for the item, amount and depot draws.
            state: the state whose time is checked.
            params: env params.
        """
        cfg = self.config
        t = state.time
        since = t - params.order_start
        interval = jnp.maximum(params.order_interval, 1)
        issue = (since == 0) | ((params.order_interval > 0) & (since > 0) & (since % interval == 0))
        weights = jnp.maximum(jnp.asarray(params.order_item_weights, jnp.float32), 0.0)
        # Item by inverse CDF over the weights (unrolled: six scalars, no scan).
        total = jnp.sum(weights)
        draw = u[0] * total
        cumulative = jnp.zeros((), jnp.float32)
        item = jnp.zeros((), jnp.int32)
        for k in range(C.NUM_ORDER_ITEMS - 1):
            cumulative = cumulative + weights[k]
            item = item + (draw >= cumulative).astype(jnp.int32)
        amount = 1 + jnp.minimum(
            (u[1] * cfg.order_max_amount).astype(jnp.int32), cfg.order_max_amount - 1
        )
        depot = jnp.minimum((u[2] * cfg.num_depots).astype(jnp.int32), cfg.num_depots - 1)
        new_order = jnp.stack([item, amount, depot, t, jnp.ones((), jnp.int32)]).astype(jnp.int32)
        return state.replace(order=jnp.where(issue, new_order, state.order))

    # ------------------------------------------------------------------------------------------
    # Observation
    def refresh(self, state: EnvState, params: EnvParams) -> tuple[dict[str, jax.Array], Any]:
        """Recomputes the cached fields of a hand-edited state (what can be made, the action
        mask) and returns ``(obs, state)``; for scripted scenarios and tests."""
        return self._finish(state, params)

    def get_obs(self, state: EnvState, params: EnvParams | None = None, key=None) -> Any:
        """The observation of ``state`` (gymnax's observation hook)."""
        return self._finish(state, self.default_params if params is None else params)[0]

    def _finish(self, state: EnvState, params: EnvParams) -> tuple[dict[str, jax.Array], Any]:
        """Refreshes the cached neighbour tiles, makeable slots and action mask; builds the
        observation.

        The mask: noop, moves and do are always allowed; sleep when energy is not full; a
        placement when affordable, onto an allowed free tile (nothing needs to be nearby; the
        plant needs a free plant slot); all six make actions alike when any tool not yet held can be
        made and no botch cooldown runs (so the mask does not reveal the recipe book); deliver
        when facing a depot while an order is due. Asleep, only noop.
        """
        cfg = self.config
        r, cr, size = cfg.view_radius, cfg.craft_radius, cfg.view_size
        # The padding equals the view radius, so the view's corner is the agent's position.
        raw = jax.lax.dynamic_slice(state.map, (state.pos[0], state.pos[1]), (size, size))
        raw = raw.astype(jnp.int32)
        neighbours = jnp.stack([raw[r, r - 1], raw[r, r + 1], raw[r - 1, r], raw[r + 1, r]])
        target_tile = _select(state.facing, [neighbours[k] for k in range(len(C.DIRECTIONS))])
        target = state.pos + jnp.stack(_direction(state.facing))

        near = raw[r - cr : r + cr + 1, r - cr : r + cr + 1]
        near_count = jnp.sum(
            jnp.stack([near == C.TABLE, near == C.FURNACE]).astype(jnp.int32), axis=(1, 2)
        )
        near_table, near_furnace = near_count[0] > 0, near_count[1] > 0
        creature_there = jnp.any(state.creature_alive & _same_cell(state.creature_pos, target))
        plant_room = ~jnp.all(state.plant_alive)
        # One reduction tells which placements and which make slots are affordable.
        costs = jnp.concatenate(
            [jnp.asarray(C.PLACE_COST), state.slot_rules[:, : C.NUM_ITEMS]], axis=0
        )  # [P + T, I]
        affordable = jnp.min(state.inventory[None, :] - costs, axis=1) >= 0

        rule = jnp.asarray(C.TILE_INFO)[jnp.minimum(target_tile, C.DEPOT_BASE)]
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
        return self._observation(state, raw, due, params), state

    def _start_observation(
        self, state: EnvState, params: EnvParams
    ) -> tuple[dict[str, jax.Array], Any]:
        """:meth:`_finish` for a freshly generated state, with what is known at the start folded
        in (world generation is compiled into the auto-resetting step, so its cost matters).

        At the start the agent stands at the map centre (a static view slice), with an empty
        inventory (nothing can be placed or made: every recipe costs something), full energy
        (no sleep) and no table, furnace or creature next to it (the generator places none
        there). Only delivering can be allowed, if a depot is next to it and an order is due.
        ``tests/envs/test_crafting.py`` checks that this equals :meth:`refresh`.
        """
        cfg = self.config
        r, size, centre = cfg.view_radius, cfg.view_size, cfg.map_size // 2
        # Padded coordinates: the view's corner is the agent's position.
        raw = state.map[centre : centre + size, centre : centre + size].astype(jnp.int32)
        neighbours = jnp.stack([raw[r, r - 1], raw[r, r + 1], raw[r - 1, r], raw[r + 1, r]])
        target_tile = _select(state.facing, [neighbours[k] for k in range(len(C.DIRECTIONS))])
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
        return self._observation(state, raw, due, params), state

    def _observation(
        self, state: EnvState, raw: jax.Array, due: jax.Array, params: EnvParams
    ) -> dict[str, jax.Array]:
        """The observation dict (see the module docstring) from the state and its raw view."""
        cfg = self.config
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
        view = jnp.where(jnp.asarray(self._view_distance) <= seen, view, C.DARK)

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
        if self.privileged:
            obs["privileged"] = jnp.concatenate(
                [state.recipe + 1, jnp.where(state.order_active, order_fields, 0)]
            ).astype(jnp.int32)
        return obs

    # ------------------------------------------------------------------------------------------
    # Rendering (host side, one unbatched state)
    def render_text(self, state: EnvState, params: EnvParams) -> str:
        """The whole map as characters, plus vitals, inventory, achievements and the hidden
        information (recipe book, open order); see :func:`renderer.render_text`."""
        return renderer.render_text(self.config, state, params)

    def render_rgb(self, state: EnvState, params: EnvParams) -> np.ndarray:
        """The whole map as a uint8 [S * 8, S * 8, 3] image, darkened at night."""
        return renderer.render_rgb(self.config, state, params)
