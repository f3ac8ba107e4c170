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
:func:`envs_jax.crafting.crafter_score`), ``memory_event`` (int32: 0 none, 1 make,
2 deliver) and ``decision_kind`` (int32: 0 a make decision, 1 a deliver decision, -1 none; the
names are ``Crafting.decision_kinds``).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from envs_jax.core import MemoryEnv, ObservationDict, clip_action, memory_info
from envs_jax.crafting import actions, render
from envs_jax.crafting import constants as C
from envs_jax.crafting import types as T
from envs_jax.crafting.creatures import move_and_attack, spawn
from envs_jax.crafting.generator import generate_world
from envs_jax.crafting.observe import finish, start_observation
from envs_jax.crafting.ops import one_hot_flags
from envs_jax.crafting.types import CraftingConfig, EnvParams, EnvState
from envs_jax.crafting.vitals import Vitals, update_vitals
from envs_jax.hashing import crafting_uniforms
from envs_jax.validation import PROBABILITY, check_order, integer, real, weights

#: ``memory_event`` codes in ``info``.
EVENT_NONE, EVENT_MAKE, EVENT_DELIVER = 0, 1, 2
#: Length of the order triple (1 + item, amount, 1 + depot).
ORDER_FIELDS = 3
#: Achievement indices the step sets directly.
WAKE_UP = C.ACHIEVEMENTS.index("wake_up")
DELIVER_ORDER = C.ACHIEVEMENTS.index("deliver_order")


class StepDraws(NamedTuple):
    """The uniforms one step draws from its key, by use (``C = max_creatures``)."""

    sapling: jax.Array  # [] float32 does "do" on grass yield a sapling
    creature_moves: jax.Array  # [4, C] float32 creature directions, moves, shots, despawns
    spawn: jax.Array  # [4] float32 one spawn attempt: kind, (row, col) offset, slot
    order: jax.Array  # [3] float32 an order's item, amount and depot


def step_draws(key: jax.Array, config: CraftingConfig) -> StepDraws:
    """Every uniform of a step, from one counter-hash draw (one small kernel)."""
    n = config.max_creatures
    noise = crafting_uniforms(key, (1 + 4 * n + 4 + 3,))
    return StepDraws(
        sapling=noise[0],
        creature_moves=noise[1 : 1 + 4 * n].reshape(4, n),
        spawn=noise[1 + 4 * n : 5 + 4 * n],
        order=noise[5 + 4 * n : 8 + 4 * n],
    )


class Crafting(MemoryEnv):
    """The crafting benchmark (see the module docstring)."""

    config_cls = CraftingConfig
    params_cls = EnvParams
    env_id = "crafting"
    decision_kinds = ("make", "deliver")
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
        return start_observation(cfg, self.privileged, state, params)

    def step_env(
        self, key: jax.Array, state: EnvState, action: jax.Array, params: EnvParams
    ) -> tuple[dict[str, jax.Array], EnvState, jax.Array, jax.Array, dict[str, jax.Array]]:
        cfg = self.config
        draws = step_draws(key, cfg)
        action = clip_action(action, C.NUM_ACTIONS)
        allowed = state.action_mask[action]
        act = jnp.where(allowed, action, C.NOOP)

        # The agent: turn and walk, hit, collect, place, plants, make, deliver, the map write.
        walked = actions.walk(state, act)
        hits = actions.hit(state, act, walked)
        collected = actions.collect(state, act, walked, draws.sapling, params)
        placed = actions.place(act)
        plants = actions.grow_plants(cfg, state, walked, placed, collected, params)
        made = actions.make(state, act, params)
        delivery = actions.deliver(state, act, walked, collected, params)
        tiles = actions.write_map(cfg, state, walked, placed, collected, plants)

        # The world's answer: creatures move, attack, vanish and appear; the vitals change.
        sleeping = state.sleeping | (act == C.SLEEP)
        moved, hurt = move_and_attack(
            cfg,
            draws.creature_moves,
            state,
            tiles,
            walked.pos,
            hits.creature_alive,
            hits.creature_health,
            sleeping,
            params,
        )
        creatures = spawn(cfg, draws.spawn, state, tiles, walked.pos, moved, params)
        body = update_vitals(
            state,
            sleeping,
            actions.vital_gain(collected, hits, params),
            hurt,
            hits.ate_cow,
            collected.drank,
            walked.burnt,
            params,
        )

        achievements, counts = _achievements(
            state, walked, hits, collected, placed, made, body, delivery
        )
        reward = _reward(params, state, allowed, counts[0], body, made, delivery)

        inventory_delta = actions.inventory_change(state, walked, collected, placed, made, delivery)
        # One delivery attempt per order.
        closed = delivery.delivering & (jnp.arange(T.ORDER_SIZE) == T.ORDER_ACTIVE)
        new_state = state.replace(
            time=state.time + 1,
            map=tiles,
            agent=_pack_agent(state, walked, body, inventory_delta, made, delivery),
            achievements=achievements,
            creatures=creatures,
            plants=jnp.stack(
                [plants.pos[:, 0], plants.pos[:, 1], plants.time, plants.ripe, plants.alive],
                axis=1,
            ).astype(jnp.int32),
            order=jnp.where(closed, 0, state.order),
        )
        new_state = self._maybe_issue_order(draws.order, new_state, params)
        obs, new_state = finish(cfg, self.privileged, new_state, params)

        making, delivering = made.making, delivery.delivering
        lag = jnp.where(making, made.lag, jnp.where(delivering, delivery.lag, -1))
        info = memory_info(
            lag,
            jnp.where(making, made.made, delivery.delivered),
            counts[1].astype(jnp.float32) / C.NUM_ACHIEVEMENTS,
        )
        info["achievements"] = achievements
        info["memory_event"] = jnp.where(
            making, EVENT_MAKE, jnp.where(delivering, EVENT_DELIVER, EVENT_NONE)
        ).astype(jnp.int32)
        info["decision_kind"] = jnp.where(info["lag"] >= 0, info["memory_event"] - 1, -1)
        return obs, new_state, reward, self.is_terminated(new_state, params), info

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
        return finish(self.config, self.privileged, state, params)

    def get_obs(self, state: EnvState, params: EnvParams | None = None, key=None) -> Any:
        """The observation of ``state`` (gymnax's observation hook)."""
        params = self.default_params if params is None else params
        return finish(self.config, self.privileged, state, params)[0]

    # ------------------------------------------------------------------------------------------
    # Rendering (host side, one unbatched state)
    def render_text(self, state: EnvState, params: EnvParams) -> str:
        """The whole map as characters, plus vitals, inventory, achievements and the hidden
        information (recipe book, open order); see :func:`render.render_text`."""
        return render.render_text(self.config, state, params)

    def render_rgb(self, state: EnvState, params: EnvParams) -> np.ndarray:
        """The whole map as a uint8 [S * 8, S * 8, 3] image, darkened at night."""
        return render.render_rgb(self.config, state, params)


def _pack_agent(
    state: EnvState,
    walked: actions.Walk,
    body: Vitals,
    inventory_delta: jax.Array,
    made: actions.Make,
    delivery: actions.Delivery,
) -> jax.Array:
    """The packed ``agent`` row of the state after the step: int32 [AGENT_SIZE]."""
    return jnp.concatenate(
        [
            walked.pos,
            walked.facing[None],
            body.sleeping.astype(jnp.int32)[None],
            body.counters,
            (state.deliveries + delivery.delivered.astype(jnp.int32))[None],
            body.vitals,
            jnp.clip(state.inventory + inventory_delta, 0, C.MAX_COUNT),
            made.make_ready[None],
        ]
    ).astype(jnp.int32)


def _achievements(
    state: EnvState,
    walked: actions.Walk,
    hits: actions.Hit,
    collected: actions.Collect,
    placed: actions.Place,
    made: actions.Make,
    body: Vitals,
    delivery: actions.Delivery,
) -> tuple[jax.Array, jax.Array]:
    """The achievements unlocked after the step, bool [NUM_ACHIEVEMENTS], and int32 [2]: how
    many are new this step and how many are unlocked so far (one reduction)."""
    unlocked = one_hot_flags(
        C.NUM_ACHIEVEMENTS,
        [
            hits.achievement,
            walked.rule[C.TILE_ACHIEVEMENT],
            placed.placement[C.RECIPE_ACHIEVEMENT],
            made.recipe[C.RECIPE_ACHIEVEMENT],
            WAKE_UP,
            DELIVER_ORDER,
        ],
        [
            hits.killed,
            collected.collected,
            placed.placing,
            made.made,
            body.woke_rested,
            delivery.delivered,
        ],
    )
    achievements = state.achievements | unlocked
    counts = jnp.sum(jnp.stack([unlocked & ~state.achievements, achievements]), axis=1)
    return achievements, counts


def _reward(
    params: EnvParams,
    state: EnvState,
    allowed: jax.Array,
    new_achievements: jax.Array,
    body: Vitals,
    made: actions.Make,
    delivery: actions.Delivery,
) -> jax.Array:
    """The step's reward (float32 []): new achievements, health change, delivery, minus the
    penalties of a masked action and of a botched make."""
    health_change = body.vitals[C.HEALTH] - state.vitals[C.HEALTH]
    return (
        params.achievement_reward * new_achievements
        + params.health_reward * health_change
        + params.delivery_reward * delivery.delivered
        - jnp.where(allowed, 0.0, params.invalid_action_penalty)
        - jnp.where(made.botched, params.botch_penalty, 0.0)
    ).astype(jnp.float32)
