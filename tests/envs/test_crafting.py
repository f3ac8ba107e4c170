"""The crafting benchmark: rules, tech tree, memory payoff, renderers, score."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.crafting import (
    ACHIEVEMENTS,
    CRAFTER_ACHIEVEMENTS,
    Crafting,
    CraftingConfig,
    achievement_success_rates,
    crafter_score,
    crafter_scores,
)
from envs_jax.crafting import constants as C
from envs_jax.crafting.observe import view_distance
from envs_jax.crafting.players import players
from envs_jax.scripted import evaluate
from envs_jax.wrappers import EpisodeStatsWrapper, PooledResetWrapper
from tests.envs import configs, conformance

#: A small open world; with PEACEFUL and FLAT all grass (no water, mountains or trees), no
#: creatures, slow vitals.
SMALL = configs.CRAFTING
PEACEFUL = configs.CRAFTING_PEACEFUL
FLAT = configs.CRAFTING_FLAT


def ach(name: str) -> int:
    return ACHIEVEMENTS.index(name)


@pytest.fixture(scope="module")
def small():
    """A small flat, peaceful world and its jitted step (shared by the rule tests)."""
    env, params = envs_jax.make("crafting", **SMALL, **PEACEFUL, **FLAT)
    return env, params, jax.jit(env.step), jax.jit(env.reset), jax.jit(env.refresh)


class Driver:
    """Steps one env on the host and records what happened (for scripted scenarios)."""

    def __init__(self, small, state, seed: int = 0):
        self.env, self.params, self._step, _, self._refresh = small
        self.state = state
        self.key = jax.random.PRNGKey(seed)
        self.obs, self.state = self._refresh(state, self.params)

    def edit(self, **fields):
        self.obs, self.state = self._refresh(self.state.edit(**fields), self.params)

    def put(self, offset: tuple[int, int], tile: int):
        pad = self.env.config.view_radius
        row, col = (np.asarray(self.state.pos) + np.asarray(offset)) + pad
        self.edit(map=self.state.map.at[row, col].set(tile))

    def put_cow(self, health: int, **fields):
        """A cow with ``health`` in creature slot 0, right of the agent; ``fields`` edited too."""
        target = np.asarray(self.state.pos) + np.array([0, 1])
        self.edit(
            creature_pos=self.state.creature_pos.at[0].set(target),
            creature_kind=self.state.creature_kind.at[0].set(C.CREATURE_COW),
            creature_health=self.state.creature_health.at[0].set(health),
            creature_alive=self.state.creature_alive.at[0].set(True),
            **fields,
        )

    def act(self, action: int):
        self.key, key = jax.random.split(self.key)
        self.obs, self.state, reward, terminated, truncated, info = self._step(
            key, self.state, jnp.int32(action), self.params
        )
        self.reward, self.info = float(reward), info
        return self


def fresh(small, seed: int = 0):
    env, params, _, reset, _ = small
    return reset(jax.random.PRNGKey(seed), params)[1]


# ---------------------------------------------------------------------------------------------
# Contract


def test_config_and_overrides_are_validated():
    with pytest.raises(ValueError, match="view_size"):
        CraftingConfig(view_size=8)
    with pytest.raises(ValueError, match="map_size"):
        CraftingConfig(map_size=8)
    with pytest.raises(ValueError, match="initial_cows"):
        CraftingConfig(max_creatures=2, initial_cows=3)
    with pytest.raises(ValueError, match="craft_radius"):
        CraftingConfig(craft_radius=0)
    with pytest.raises(ValueError, match="no option 'bogus'"):
        envs_jax.make("crafting", bogus=1)
    env, params = envs_jax.make("crafting")
    assert isinstance(env, Crafting) and params.max_steps_in_episode == 10_000
    assert env.action_space(params).n == C.NUM_ACTIONS == 18
    assert len(ACHIEVEMENTS) == 23


def test_full_default_episode_runs_to_truncation():
    """The default 64x64 world for its full 10,000 steps (one env, one lax.scan), random actions.
    Creatures, lava and starvation are switched off so the random walker survives to the end."""
    env, params = envs_jax.make("crafting", **PEACEFUL, lava_level=99.0)
    records = conformance.check_full_episode(env, params)
    assert not np.any(records["terminated"]) and records["truncated"][-1]
    assert len(records["lag"]) == 10_000
    success = np.asarray(records["success"])
    assert np.all(np.diff(success) >= 0), "achievements are never lost within an episode"
    assert success[-1] > 0, "a random walker unlocks something in 10,000 steps"


# ---------------------------------------------------------------------------------------------
# World generation


def test_default_worlds_have_every_resource_and_reachable_depots():
    env, params = envs_jax.make("crafting")
    keys = jax.random.split(jax.random.PRNGKey(0), 4)
    reset = jax.jit(jax.vmap(env.reset, in_axes=(0, None)))
    obs, states = reset(keys, params)
    pad = env.config.view_radius
    size = env.config.map_size
    for i in range(4):
        tiles = np.asarray(states.map[i])[pad : pad + size, pad : pad + size]
        counts = np.bincount(tiles.reshape(-1), minlength=C.DEPOT_BASE + 4)
        for tile in (C.GRASS, C.SAND, C.WATER, C.STONE, C.TREE, C.COAL, C.TUNNEL):
            assert counts[tile] > 0, f"world {i} lacks {C.TILE_NAMES[tile]}"
        assert counts[C.IRON] == env.config.num_iron
        assert counts[C.DIAMOND] == env.config.num_diamonds
        np.testing.assert_array_equal(counts[C.DEPOT_BASE : C.DEPOT_BASE + 4], 1)
        pos = np.asarray(states.pos[i])
        assert tuple(pos) == (size // 2, size // 2) and tiles[pos[0], pos[1]] == C.GRASS
        depots = np.asarray(states.depot_pos[i])
        far = np.hypot(*(depots - pos).T)
        assert np.all(far >= params.depot_min_distance * size / 2 - 1e-6)
        # Each depot sits on a cleared 3x3 patch.
        for row, col in depots:
            patch = tiles[row - 1 : row + 2, col - 1 : col + 2].copy()
            patch[1, 1] = C.GRASS
            assert np.all(patch == C.GRASS)
    assert not np.array_equal(np.asarray(states.map[0]), np.asarray(states.map[1]))
    # Each episode has its own recipe book, a permutation of the six tools.
    recipes = np.asarray(states.recipe)
    assert all(sorted(r) == list(range(C.NUM_TOOLS)) for r in recipes)
    assert len({tuple(r) for r in recipes}) > 1
    np.testing.assert_array_equal(np.asarray(obs["recipe"]), recipes + 1)
    # The reset's shortcut observation equals the general one.
    refresh = jax.jit(jax.vmap(env.refresh, in_axes=(0, None)))
    obs_general, states_general = refresh(states, params)
    conformance.chex_equal((obs, states), (obs_general, states_general))


# ---------------------------------------------------------------------------------------------
# Rules


def test_tech_tree_from_wood_to_diamond(small):
    """A scripted crafter climbs the whole tech tree, using the recipe book read at t = 0."""
    drv = Driver(small, fresh(small))
    slot_of = {int(tool): slot for slot, tool in enumerate(np.asarray(drv.obs["recipe"]) - 1)}
    make = {name: C.MAKE_FIRST + slot_of[i] for i, name in enumerate(C.TOOL_NAMES)}
    right = (0, 1)

    def mine(tile: int, times: int = 1):
        for _ in range(times):
            drv.put(right, tile)
            drv.act(C.MOVE_RIGHT).act(C.DO)  # blocked: turns right, then collects

    drv.put(right, C.STONE)
    drv.act(C.MOVE_RIGHT).act(C.DO)
    assert drv.obs["inventory"][C.STONE_ITEM] == 0, "stone needs a wood pickaxe"
    mine(C.TREE, 5)
    assert drv.obs["inventory"][C.WOOD] == 5 and drv.state.achievements[ach("collect_wood")]
    drv.act(C.MOVE_UP)  # face the free cell above
    assert drv.obs["action_mask"][C.PLACE_TABLE] and not drv.obs["action_mask"][C.PLACE_FURNACE]
    drv.act(C.PLACE_TABLE)
    assert drv.reward == pytest.approx(1.0) and drv.state.achievements[ach("place_table")]
    drv.act(make["wood_pickaxe"])
    assert drv.obs["inventory"][C.WOOD_PICKAXE] == 1 and bool(drv.info["recall"])
    assert int(drv.info["lag"]) == int(drv.state.time) - 1  # shown at t = 0 only
    assert small[0].decision_kinds[int(drv.info["decision_kind"])] == "make"
    mine(C.STONE, 5)  # one for the stone pickaxe, four for the furnace
    drv.put(right, C.IRON)
    drv.act(C.DO)
    assert drv.obs["inventory"][C.IRON_ITEM] == 0, "iron needs a stone pickaxe"
    drv.act(make["stone_pickaxe"])
    assert drv.obs["inventory"][C.STONE_PICKAXE] == 1
    assert drv.obs["inventory"][C.WOOD] == 1 and drv.obs["inventory"][C.STONE_ITEM] == 4
    drv.put(right, C.PATH)
    drv.act(C.PLACE_FURNACE)  # to the right; the table is above, within craft_radius
    assert drv.state.achievements[ach("place_furnace")]
    left = (0, -1)
    for tile in (C.COAL, C.IRON):
        drv.put(left, tile)
        drv.act(C.MOVE_LEFT).act(C.DO)
    assert drv.obs["action_mask"][C.MAKE_FIRST] and drv.obs["inventory"][C.IRON_ITEM] == 1
    drv.act(make["iron_pickaxe"])
    assert drv.obs["inventory"][C.IRON_PICKAXE] == 1
    assert drv.state.achievements[ach("make_iron_pickaxe")]
    drv.put(left, C.DIAMOND)
    drv.act(C.DO)
    assert drv.obs["inventory"][C.DIAMOND_ITEM] == 1
    unlocked = {
        n for n, a in zip(ACHIEVEMENTS, np.asarray(drv.state.achievements), strict=True) if a
    }
    assert {
        "collect_wood",
        "place_table",
        "make_wood_pickaxe",
        "collect_stone",
        "make_stone_pickaxe",
        "place_furnace",
        "collect_coal",
        "collect_iron",
        "make_iron_pickaxe",
        "collect_diamond",
    } <= unlocked
    assert float(drv.info["success"]) == pytest.approx(len(unlocked) / 23)
    # The mined cell is floor now.
    pad = drv.env.config.view_radius
    row, col = np.asarray(drv.state.pos) + np.asarray(left) + pad
    assert int(drv.state.map[row, col]) == C.PATH


def test_crafter_costs_nearby_rules_and_used_up_trees(small):
    """Crafter's rules: a tree gives one wood and turns into grass; a table costs 2 wood, a
    furnace 4 stone, and neither needs anything nearby; making a tool needs a table nearby."""
    drv = Driver(small, fresh(small))
    r = drv.env.config.view_radius
    drv.put((0, 1), C.TREE)
    drv.act(C.MOVE_RIGHT).act(C.DO)  # blocked by the tree: turns right, then collects
    assert drv.obs["inventory"][C.WOOD] == 1 and drv.state.achievements[ach("collect_wood")]
    assert drv.obs["view"][r, r + 1] == C.GRASS, "collecting a tree uses it up"
    drv.act(C.DO)  # grass now: no more wood
    assert drv.obs["inventory"][C.WOOD] == 1
    # A table costs 2 wood: with 1 it is masked and placing it is a noop.
    assert not drv.obs["action_mask"][C.PLACE_TABLE]
    before = np.asarray(drv.state.map)
    drv.act(C.PLACE_TABLE)
    np.testing.assert_array_equal(np.asarray(drv.state.map), before)
    drv.edit(inventory=drv.state.inventory.at[C.WOOD].set(3))
    assert drv.obs["action_mask"][C.PLACE_TABLE]
    drv.act(C.PLACE_TABLE)
    assert drv.obs["view"][r, r + 1] == C.TABLE and drv.obs["inventory"][C.WOOD] == 1
    # A furnace costs 4 stone and needs no table nearby.
    drv = Driver(small, fresh(small))
    drv.edit(inventory=drv.state.inventory.at[C.STONE_ITEM].set(3))
    assert not drv.obs["action_mask"][C.PLACE_FURNACE]
    drv.edit(inventory=drv.state.inventory.at[C.STONE_ITEM].set(5))
    view = np.asarray(drv.obs["view"])
    assert not np.any(view == C.TABLE) and drv.obs["action_mask"][C.PLACE_FURNACE]
    drv.act(C.PLACE_FURNACE)  # facing down at reset
    assert drv.obs["view"][r + 1, r] == C.FURNACE and drv.obs["inventory"][C.STONE_ITEM] == 1
    assert drv.state.achievements[ach("place_furnace")]
    # Making a tool needs a table within craft_radius; a furnace alone is not enough.
    drv.edit(inventory=drv.state.inventory.at[C.WOOD].set(1))
    assert not drv.obs["action_mask"][C.MAKE_FIRST : C.MAKE_FIRST + C.NUM_TOOLS].any()
    drv.put((-1, -1), C.TABLE)  # diagonal counts as nearby
    assert drv.obs["action_mask"][C.MAKE_FIRST : C.MAKE_FIRST + C.NUM_TOOLS].all()


def test_eating_drinking_restart_counters_and_health_loss_wakes(small):
    """Crafter's vitals details: eating a cow restarts the hunger counter, "do" on water the
    thirst counter, and any loss of health (here from starving) wakes a sleeper."""
    env, params, *_ = small
    half = 2  # the counters count half steps
    drv = Driver(small, fresh(small))
    drv.params = params.replace(cow_move_prob=0.0)
    drv.put_cow(health=1, hunger=40, thirst=30)
    drv.act(C.MOVE_RIGHT)  # turns to the cow
    assert int(drv.state.hunger) == 40 + half
    drv.act(C.DO)
    assert drv.state.achievements[ach("eat_cow")] and int(drv.state.hunger) == half
    assert int(drv.state.thirst) == 30 + 2 * half
    drv.put((0, 1), C.WATER)
    drv.act(C.DO)
    assert drv.state.achievements[ach("collect_drink")] and int(drv.state.thirst) == half
    # Asleep and starving: the health counter runs down and the first lost point wakes.
    drv.edit(
        sleeping=jnp.asarray(True),
        vitals=drv.state.vitals.at[C.FOOD].set(0).at[C.ENERGY].set(3),
        recover=-half * params.degen_period,
    )
    health = int(drv.state.vitals[C.HEALTH])
    drv.act(C.NOOP)
    assert int(drv.state.vitals[C.HEALTH]) == health - 1
    assert not bool(drv.state.sleeping) and not drv.state.achievements[ach("wake_up")]


def test_daylight_follows_crafter_s_curve():
    from envs_jax.crafting import daylight
    from envs_jax.crafting.render import _daylight

    _, params = envs_jax.make("crafting")
    day = params.day_length
    times = np.arange(0, 2 * day + 1, 7)
    light = np.asarray(jax.vmap(lambda t: daylight(t, params))(jnp.asarray(times)))
    expected = 1.0 - np.abs(np.cos(np.pi * (times / day + 0.3))) ** 3
    np.testing.assert_allclose(light, expected, atol=1e-5)
    np.testing.assert_allclose([_daylight(int(t), params) for t in times], expected, atol=1e-6)
    assert float(daylight(0, params)) == pytest.approx(0.797, abs=1e-3)  # morning at the start
    assert float(daylight(int(0.2 * day), params)) == pytest.approx(1.0, abs=1e-5)  # noon
    assert float(daylight(int(0.7 * day), params)) == pytest.approx(0.0, abs=1e-5)  # midnight
    night = expected < params.night_threshold
    assert 0.25 < night.mean() < 0.35 and not night[0]


def test_action_mask_hides_the_recipe_book_and_masked_actions_are_noops(small):
    drv = Driver(small, fresh(small))
    with pytest.raises(KeyError, match="no field 'bogus'"):
        drv.state.edit(bogus=1)
    recipe = np.arange(C.NUM_TOOLS)[::-1]
    edited = drv.state.edit(recipe=recipe)
    np.testing.assert_array_equal(np.asarray(edited.slot_rules), C.TOOL_INFO[recipe])
    drv.edit(inventory=drv.state.inventory.at[C.WOOD].set(1))
    drv.put((-1, 0), C.TABLE)
    mask = np.asarray(drv.obs["action_mask"])
    # Only the wood tools are makeable, yet all six make actions look alike.
    assert mask[C.MAKE_FIRST : C.MAKE_FIRST + C.NUM_TOOLS].all()
    assert not mask[C.SLEEP] and not mask[C.DELIVER] and not mask[C.PLACE_FURNACE]
    before = drv.state
    drv.act(C.PLACE_FURNACE)  # masked: no stone
    assert drv.reward == pytest.approx(-drv.params.invalid_action_penalty)
    np.testing.assert_array_equal(np.asarray(drv.state.map), np.asarray(before.map))
    np.testing.assert_array_equal(np.asarray(drv.state.inventory), np.asarray(before.inventory))


def test_creatures_vitals_sleep_and_night(small):
    env, params, *_ = small
    drv = Driver(small, fresh(small))
    target = np.asarray(drv.state.pos) + np.array([0, 1])
    # A cow to the right: three bare-handed hits eat it.
    drv.put_cow(health=3, vitals=drv.state.vitals.at[C.FOOD].set(2))
    assert drv.obs["view"][env.config.view_radius, env.config.view_radius + 1] == C.COW
    drv.params = params.replace(cow_move_prob=0.0)
    drv.act(C.MOVE_RIGHT)
    assert tuple(np.asarray(drv.state.pos)) != tuple(target), "the cow blocks the way"
    for _ in range(3):
        drv.act(C.DO)
    assert drv.state.achievements[ach("eat_cow")] and not drv.state.creature_alive[0]
    assert drv.obs["vitals"][C.FOOD] == 2 + params.food_per_cow
    # A zombie next to the agent hits it (harder while asleep) and wakes it up.
    drv.edit(
        creature_kind=drv.state.creature_kind.at[0].set(C.CREATURE_ZOMBIE),
        creature_health=drv.state.creature_health.at[0].set(5),
        creature_alive=drv.state.creature_alive.at[0].set(True),
        creature_cooldown=drv.state.creature_cooldown.at[0].set(0),
        sleeping=jnp.asarray(True),
        vitals=drv.state.vitals.at[C.ENERGY].set(3),
    )
    # As in Crafter, sleep does not hide the world (in daylight nothing is dark).
    assert not np.any(np.asarray(drv.obs["view"]) == C.DARK)
    assert np.flatnonzero(np.asarray(drv.obs["action_mask"])).tolist() == [C.NOOP]
    health = int(drv.state.vitals[C.HEALTH])
    drv.act(C.NOOP)
    assert int(drv.state.vitals[C.HEALTH]) == health - params.zombie_sleep_damage
    assert not bool(drv.state.sleeping) and not drv.state.achievements[ach("wake_up")]
    drv.edit(creature_alive=drv.state.creature_alive.at[0].set(False))
    # Sleeping with low energy until rested unlocks wake_up.
    drv.edit(vitals=drv.state.vitals.at[C.ENERGY].set(C.MAX_COUNT - 1))
    drv.act(C.SLEEP)
    steps = 0
    while bool(drv.state.sleeping) and steps < 3 * params.rest_period:
        drv.act(C.NOOP)
        steps += 1
    assert drv.state.achievements[ach("wake_up")] and steps >= params.rest_period
    # A skeleton in range with a sure shot hits; then spawning: a sure cow spawn lands on grass
    # in the spawn ring around the agent.
    drv.params = params.replace(skeleton_shoot_prob=1.0, skeleton_move_prob=0.0)
    drv.edit(
        creature_pos=drv.state.creature_pos.at[1].set(np.asarray(drv.state.pos) + [0, 3]),
        creature_kind=drv.state.creature_kind.at[1].set(C.CREATURE_SKELETON),
        creature_alive=drv.state.creature_alive.at[1].set(True),
        creature_cooldown=drv.state.creature_cooldown.at[1].set(0),
    )
    health = int(drv.state.vitals[C.HEALTH])
    drv.act(C.NOOP)
    assert int(drv.state.vitals[C.HEALTH]) == health - params.skeleton_damage
    drv.edit(creature_alive=jnp.zeros_like(drv.state.creature_alive))
    drv.params = params.replace(cow_spawn_prob=1.0)
    for _ in range(6):
        drv.act(C.NOOP)
    alive = np.asarray(drv.state.creature_alive)
    assert alive.any() and np.all(np.asarray(drv.state.creature_kind)[alive] == C.CREATURE_COW)
    offsets = np.abs(np.asarray(drv.state.creature_pos)[alive] - np.asarray(drv.state.pos))
    assert np.all(offsets.max(axis=1) >= params.spawn_min_distance)
    assert np.all(offsets.max(axis=1) <= params.spawn_radius + 1)  # cows may have stepped once
    drv.edit(creature_alive=jnp.zeros_like(drv.state.creature_alive))
    drv.params = params
    # At night only the cells within night_view_radius are visible; Crafter's darkest moment is
    # at 0.7 of a cycle.
    drv.edit(time=jnp.asarray(int(0.7 * params.day_length), jnp.int32))
    dark = np.asarray(drv.obs["view"]) == C.DARK
    np.testing.assert_array_equal(dark, view_distance(env.config) > params.night_view_radius)
    assert float(drv.obs["daylight"][0]) < params.night_threshold
    # Lava kills.
    drv.put((0, -1), C.LAVA)
    drv.act(C.MOVE_LEFT)
    assert bool(drv.info["terminated"]) and int(drv.state.time) == 0  # auto-reset


def test_plants_grow_and_regrow(small):
    env, params, *_ = small
    drv = Driver(small, fresh(small))
    drv.params = params.replace(plant_grow_steps=5)
    drv.edit(inventory=drv.state.inventory.at[C.SAPLING].set(1))
    drv.act(C.PLACE_PLANT)  # facing down at reset
    assert drv.state.achievements[ach("place_plant")]
    drv.act(C.DO)  # unripe: nothing
    assert not drv.state.achievements[ach("eat_plant")]
    for _ in range(5):
        drv.act(C.NOOP)
    r = env.config.view_radius
    assert drv.obs["view"][r + 1, r] == C.RIPE_PLANT
    food = int(drv.state.vitals[C.FOOD])
    drv.act(C.DO)
    assert drv.state.achievements[ach("eat_plant")] and drv.obs["view"][r + 1, r] == C.PLANT
    assert int(drv.state.vitals[C.FOOD]) == min(C.MAX_COUNT, food + params.food_per_plant)


def test_orders_are_shown_once_and_closed_by_the_first_attempt(small):
    env, params, *_ = small
    drv = Driver(small, fresh(small))
    drv.params = params.replace(order_start=2, order_delay=4, order_interval=20)
    drv.act(C.NOOP)
    assert np.all(np.asarray(drv.obs["order"]) == 0)
    drv.act(C.NOOP)  # t = 2: the order is issued and shown
    item, amount, depot = (int(v) for v in np.asarray(drv.obs["order"]))
    assert item >= 1 and amount >= 1 and depot >= 1
    assert list(np.asarray(drv.obs["status"])[2:]) == [1, 0]
    drv.act(C.NOOP)
    assert np.all(np.asarray(drv.obs["order"]) == 0), "the order is shown once"
    # Stand next to the ordered depot, holding the goods, once the order is due.
    goal = np.asarray(drv.state.depot_pos)[depot - 1]
    inventory = drv.state.inventory.at[item - 1].set(amount + 1)
    drv.edit(pos=jnp.asarray(goal + np.array([0, -1]), jnp.int32), inventory=inventory)
    drv.act(C.MOVE_RIGHT)  # turn towards the depot
    assert not drv.obs["action_mask"][C.DELIVER], "not due yet"
    for _ in range(3):
        drv.act(C.NOOP)
    assert drv.obs["action_mask"][C.DELIVER] and list(np.asarray(drv.obs["status"])[2:]) == [1, 1]
    drv.act(C.DELIVER)
    assert bool(drv.info["recall"]) and int(drv.info["lag"]) == int(drv.state.time) - 1 - 2
    assert env.decision_kinds[int(drv.info["decision_kind"])] == "deliver"
    assert drv.state.achievements[ach("deliver_order")] and int(drv.state.deliveries) == 1
    assert int(drv.state.inventory[item - 1]) == 1
    assert drv.reward == pytest.approx(params.achievement_reward + params.delivery_reward)
    assert list(np.asarray(drv.obs["status"])[2:]) == [0, 0]
    # The next order, delivered to a wrong depot, is lost.
    while int(drv.state.time) < 22:
        drv.act(C.NOOP)
    depot = int(drv.state.order_depot)
    wrong = np.asarray(drv.state.depot_pos)[(depot + 1) % env.config.num_depots]
    drv.edit(pos=jnp.asarray(wrong + np.array([0, -1]), jnp.int32))
    for _ in range(5):
        drv.act(C.MOVE_RIGHT)
    drv.act(C.DELIVER)
    assert int(drv.info["lag"]) >= 0 and not bool(drv.info["recall"])
    drv.act(C.NOOP)
    assert int(drv.info["decision_kind"]) == -1  # a step without a memory decision
    assert not bool(drv.state.order_active) and int(drv.state.deliveries) == 1


# ---------------------------------------------------------------------------------------------
# Memory matters


def test_a_wrong_make_is_botched_spoils_materials_and_cools_down(small):
    """Tools do not stack and a slot makes only its own tool: pressing the slot of a tool that
    is held, or not makeable here, botches the craft (one unit of each material spoilt, make
    masked for botch_cooldown steps); recall means a tool not held yet was made."""
    drv = Driver(small, fresh(small))
    params = drv.params
    slot_of = {int(tool): slot for slot, tool in enumerate(np.asarray(drv.obs["recipe"]) - 1)}
    drv.put((-1, 0), C.TABLE)
    stock = np.zeros(C.NUM_ITEMS, np.int32)
    stock[[C.WOOD, C.STONE_ITEM, C.IRON_ITEM]] = [3, 2, 1]
    drv.edit(inventory=jnp.asarray(stock))
    drv.act(C.MAKE_FIRST + slot_of[0])  # wood pickaxe: right
    assert bool(drv.info["recall"]) and drv.obs["inventory"][C.WOOD_PICKAXE] == 1
    assert drv.obs["inventory"][C.WOOD] == 2
    drv.act(C.MAKE_FIRST + slot_of[0])  # again: held, botched
    assert not bool(drv.info["recall"]) and int(drv.info["lag"]) >= 0
    inventory = np.asarray(drv.obs["inventory"])
    assert inventory[C.WOOD_PICKAXE] == 1
    assert list(inventory[[C.WOOD, C.STONE_ITEM, C.IRON_ITEM]]) == [1, 1, 0], "one of each spoilt"
    assert drv.reward == pytest.approx(-params.botch_penalty)
    assert not drv.obs["action_mask"][C.MAKE_FIRST : C.MAKE_FIRST + C.NUM_TOOLS].any()
    assert int(drv.state.make_ready) == int(drv.state.time) + params.botch_cooldown
    drv.edit(time=drv.state.make_ready)
    assert drv.obs["action_mask"][C.MAKE_FIRST : C.MAKE_FIRST + C.NUM_TOOLS].all()
    drv.act(C.MAKE_FIRST + slot_of[2])  # iron pickaxe: no furnace, no coal: botched
    assert not bool(drv.info["recall"]) and drv.obs["inventory"][C.IRON_PICKAXE] == 0
    # Nothing left that a new tool could be made of: make is masked.
    drv.edit(time=drv.state.make_ready, inventory=jnp.zeros(C.NUM_ITEMS, jnp.int32))
    assert not drv.obs["action_mask"][C.MAKE_FIRST]


def test_memory_matters_for_the_recipe_book(small):
    """At a table and furnace, holding the wood and stone tools, wood, stone and coal, and the
    world's iron (2 ores), a crafter wants both iron tools. The one that remembers the recipe
    book (seen at t = 0) makes both; the best a memoryless one can do is press random slots
    (waiting out each botch), and it spends the iron on botches."""
    episodes = 32
    rng = np.random.default_rng(0)
    made = {"remember": [], "guess": []}
    for episode in range(episodes):
        drv = Driver(small, fresh(small, seed=100 + episode), seed=episode)
        slot_of = {int(t): s for s, t in enumerate(np.asarray(drv.obs["recipe"]) - 1)}
        drv.put((-1, 0), C.TABLE)
        drv.put((1, 0), C.FURNACE)
        stock = np.zeros(C.NUM_ITEMS, np.int32)
        stock[[C.WOOD, C.STONE_ITEM, C.COAL_ITEM]] = 9
        stock[C.IRON_ITEM] = 2
        stock[[C.WOOD_PICKAXE, C.STONE_PICKAXE, C.WOOD_SWORD, C.STONE_SWORD]] = 1
        drv.edit(inventory=jnp.asarray(stock), time=jnp.asarray(500, jnp.int32))
        assert np.all(np.asarray(drv.obs["recipe"]) == 0), "the book is hidden later"
        start = drv.state
        for policy in made:
            drv.edit(**{f: getattr(start, f) for f in ("agent", "time", "achievements")})
            for tool in (2, 5):
                while (
                    drv.obs["inventory"][C.TOOL_ITEM[tool]] == 0
                    and drv.obs["inventory"][C.IRON_ITEM] > 0
                ):
                    if not drv.obs["action_mask"][C.MAKE_FIRST]:
                        drv.edit(time=drv.state.make_ready)  # wait out the cooldown
                    slot = slot_of[tool] if policy == "remember" else int(rng.integers(0, 6))
                    drv.act(C.MAKE_FIRST + slot)
                    assert int(drv.info["lag"]) >= 500
            inventory = np.asarray(drv.obs["inventory"])
            made[policy].append(int(inventory[C.IRON_PICKAXE] + inventory[C.IRON_SWORD]))
    assert np.all(np.array(made["remember"]) == 2), "both iron tools, every time"
    assert np.mean(made["guess"]) < 1.0, made["guess"]


def _deliverer(env, remember: jax.Array):
    """A scripted courier. Navigation is scripted from the true state (it walks to a depot);
    only the order it acts on differs: the order seen when it was shown (remember) or a random
    depot picked when a new order appears (guess)."""
    r = env.config.view_radius
    dirs = jnp.asarray(C.DIRECTIONS)

    def direction_to(delta):
        return jnp.where(
            delta[0] == 0, jnp.where(delta[1] > 0, 1, 0), jnp.where(delta[0] > 0, 3, 2)
        )

    def policy(key, target, obs, state):
        shown = obs["order"][2] > 0
        guess = jax.random.randint(key, (), 0, env.config.num_depots)
        target = jnp.where(shown, jnp.where(remember, obs["order"][2] - 1, guess), target)
        goal = state.depot_pos[target]
        delta = goal - state.pos
        distance = jnp.sum(jnp.abs(delta))
        # Step along the longer axis first; take the other axis if that cell is blocked.
        first = jnp.where(
            jnp.abs(delta[0]) >= jnp.abs(delta[1]),
            jnp.where(delta[0] > 0, 3, 2),
            jnp.where(delta[1] > 0, 1, 0),
        )
        second = jnp.where(
            jnp.abs(delta[0]) >= jnp.abs(delta[1]),
            jnp.where(delta[1] > 0, 1, 0),
            jnp.where(delta[0] > 0, 3, 2),
        )
        ahead = dirs[first]
        free = obs["view"][r + ahead[0], r + ahead[1]] == C.GRASS
        walk = jnp.where(free, first, second)
        facing_goal = obs["status"][0] == direction_to(delta)
        adjacent = distance == 1
        action = jnp.where(
            adjacent,
            jnp.where(facing_goal, C.DELIVER, C.MOVE_LEFT + direction_to(delta)),
            C.MOVE_LEFT + walk,
        )
        due = obs["status"][3] == 1
        return jnp.where(due, action, C.NOOP).astype(jnp.int32), target

    return policy


def test_memory_matters_for_orders_and_lag_bins_fill():
    """Couriers that start with every raw item: one remembers the order (shown once, due 30
    steps later), the other guesses the depot. Run through PooledResetWrapper and
    EpisodeStatsWrapper, whose lag bins must count every delivery attempt."""
    env, params = envs_jax.make("crafting", **SMALL, **PEACEFUL, **FLAT)
    params = params.replace(
        max_steps_in_episode=300, order_start=2, order_delay=30, order_interval=80
    )
    # pool_size 4 as in check_pooled_stats, so the pool generation reuses its compilation.
    pooled = PooledResetWrapper(env, pool_size=4)
    wrapped = EpisodeStatsWrapper(pooled)
    pool = pooled.with_pool(jax.random.PRNGKey(0), params)
    stock = pool.pool_state.inventory.at[:, : C.NUM_ORDER_ITEMS].set(C.MAX_COUNT)
    pool = pool.replace(pool_state=pool.pool_state.edit(inventory=stock))
    num_envs = 40
    remember = jnp.arange(num_envs) < num_envs // 2
    steps = 301  # one full episode of 300 steps, then the first step of the next

    # Start from pool worlds too, with the statistics at zero, as the wrapper's reset leaves
    # them (its own reset would generate fresh worlds, without the items).
    stats = jax.eval_shape(
        jax.vmap(wrapped.reset, in_axes=(0, None)),
        jax.random.split(jax.random.PRNGKey(0), num_envs),
        pool,
    )[1]
    pick = jnp.arange(num_envs) % pooled.pool_size
    start = jax.tree.map(lambda leaf: jnp.zeros(leaf.shape, leaf.dtype), stats).replace(
        env_state=jax.tree.map(lambda leaf: leaf[pick], pool.pool_state)
    )
    start_obs = jax.tree.map(lambda leaf: leaf[pick], pool.pool_obs)

    def run(key):
        obs, state = start_obs, start

        def body(carry, key_t):
            obs, state, target = carry
            key_act, key_step = jax.random.split(key_t)
            actions, target = jax.vmap(
                lambda k, t, o, s, m: _deliverer(env, m)(k, t, o, s.env_state)
            )(jax.random.split(key_act, num_envs), target, obs, state, remember)
            obs, state, _, _, _, info = jax.vmap(wrapped.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_step, num_envs), state, actions, pool
            )
            keep = {k: info[k] for k in ("lag", "recall", "returned_episode")}
            keep["counts"] = info["returned_lag_counts"]
            keep["successes"] = info["returned_lag_successes"]
            return (obs, state, target), keep

        target = jnp.zeros((num_envs,), jnp.int32)
        _, trace = jax.lax.scan(body, (obs, state, target), jax.random.split(key, steps))
        return trace

    key = jax.random.PRNGKey(1)
    trace = jax.device_get(jax.jit(run)(key))
    decided = trace["lag"] >= 0
    half = num_envs // 2
    rate = {
        name: trace["recall"][:, cols][decided[:, cols]].mean()
        for name, cols in (("remember", slice(0, half)), ("guess", slice(half, None)))
    }
    per_env = decided.sum(axis=0)
    assert np.all(per_env[:half] == 4), "the remembering courier attempts all four orders"
    assert rate["remember"] == 1.0
    assert rate["guess"] < 0.5, rate
    lags = trace["lag"][decided]
    assert lags.min() >= params.order_delay - 1 and lags.max() < 100
    # EpisodeStatsWrapper: the finished episode's lag bins hold exactly these decisions.
    assert trace["returned_episode"][steps - 2].all()
    counts, successes = trace["counts"][-1], trace["successes"][-1]
    np.testing.assert_array_equal(counts[:, 0], per_env)
    assert np.all(counts[:, 1:] == 0)
    np.testing.assert_array_equal(successes[:half, 0], 4)


# ---------------------------------------------------------------------------------------------
# Privileged twin, renderers, score


def test_privileged_twin_shows_recipe_and_open_order_every_step(small):
    env, params, *_ = small
    twin = Crafting(env.config, privileged=True)
    drv = Driver(small, fresh(small, seed=2))
    drv.params = params.replace(order_start=1, order_delay=5)
    for _ in range(4):
        drv.act(C.NOOP)
    obs, _ = jax.jit(twin.refresh)(drv.state, drv.params)
    extra = np.asarray(obs["privileged"])
    np.testing.assert_array_equal(extra[: C.NUM_TOOLS], np.asarray(drv.state.recipe) + 1)
    state = drv.state
    expected = [int(state.order_item) + 1, int(state.order_amount), int(state.order_depot) + 1]
    assert list(extra[C.NUM_TOOLS :]) == expected
    assert np.all(np.asarray(obs["recipe"]) == 0) and np.all(np.asarray(obs["order"]) == 0)
    for name in drv.obs:
        np.testing.assert_array_equal(np.asarray(obs[name]), np.asarray(drv.obs[name]))


def test_renderers(small):
    env, params, *_ = small
    drv = Driver(small, fresh(small))
    drv.put((0, 1), C.TREE)
    drv.act(C.MOVE_RIGHT).act(C.DO)
    drv.put((0, -1), C.TREE)  # the collected tree is used up; another one for the image
    text = env.render_text(drv.state, params)
    size = env.config.map_size
    lines = text.splitlines()
    assert "inventory: wood 1" in text and "collect_wood" in text
    assert "recipe book: make_0 -> " in text and "order: none yet" in text
    grid = [line for line in lines if len(line) == size and not line.startswith("t=")]
    assert len(grid) == size and sum(line.count(">") for line in grid) == 1
    assert sum(line.count(ch) for line in grid for ch in "0123") == env.config.num_depots
    image = env.render_rgb(drv.state, params)
    assert image.shape == (size * 8, size * 8, 3) and image.dtype == np.uint8
    assert len(np.unique(image.reshape(-1, 3), axis=0)) >= 4


def test_crafter_scores_over_23_and_over_crafter_s_22():
    rates = np.zeros(23)
    rates[list(ACHIEVEMENTS).index("collect_wood")] = 100.0
    scores = crafter_scores(rates)
    assert float(scores["score"]) == pytest.approx(np.exp(np.log(101.0) / 23) - 1, rel=1e-5)
    assert float(scores["crafter22_score"]) == pytest.approx(np.exp(np.log(101.0) / 22) - 1, 1e-5)
    # deliver_order counts in the benchmark's score only.
    rates[list(ACHIEVEMENTS).index("deliver_order")] = 100.0
    assert float(crafter_scores(rates)["crafter22_score"]) == pytest.approx(
        float(scores["crafter22_score"]), rel=1e-6
    )
    assert len(CRAFTER_ACHIEVEMENTS) == 22 and "deliver_order" not in [
        ACHIEVEMENTS[i] for i in CRAFTER_ACHIEVEMENTS
    ]
    with pytest.raises(ValueError, match="must be \\[23\\]"):
        crafter_scores(np.zeros(22))


def test_crafter22_score_by_hand_and_crafter_s_achievement_names():
    # Crafter's 22 achievements (its data.yaml order), the ones the 22-achievement score uses.
    crafter_22 = [
        "collect_coal", "collect_diamond", "collect_drink", "collect_iron", "collect_sapling",
        "collect_stone", "collect_wood", "defeat_skeleton", "defeat_zombie", "eat_cow",
        "eat_plant", "make_iron_pickaxe", "make_iron_sword", "make_stone_pickaxe",
        "make_stone_sword", "make_wood_pickaxe", "make_wood_sword", "place_furnace",
        "place_plant", "place_stone", "place_table", "wake_up",
    ]  # fmt: skip
    assert [ACHIEVEMENTS[i] for i in CRAFTER_ACHIEVEMENTS] == crafter_22
    # Eleven achievements at 3 % and eleven at 8 %: exp(mean(ln 4, ln 9)) - 1 = sqrt(36) - 1 = 5.
    rates = np.zeros(23)
    rates[CRAFTER_ACHIEVEMENTS[::2]] = 3.0
    rates[CRAFTER_ACHIEVEMENTS[1::2]] = 8.0
    rates[ACHIEVEMENTS.index("deliver_order")] = 100.0  # left out of the 22
    assert float(crafter_scores(rates)["crafter22_score"]) == pytest.approx(5.0, rel=1e-5)
    # Two achievements at 99 %, twenty at 0 %: 100 ** (2 / 22) - 1.
    rates = np.zeros(22)
    rates[:2] = 99.0
    assert float(crafter_score(rates)) == pytest.approx(10 ** (2 / 11) - 1, rel=1e-5)


def test_crafter_score():
    assert float(crafter_score(np.full(23, 100.0))) == pytest.approx(100.0, rel=1e-5)
    assert float(crafter_score(np.zeros(23))) == pytest.approx(0.0, abs=1e-6)
    assert float(crafter_score([100.0, 0.0])) == pytest.approx(np.sqrt(101.0) - 1.0, rel=1e-5)
    # Unlocking two achievements half the time beats one achievement always.
    assert float(crafter_score([50.0, 50.0])) > float(crafter_score([100.0, 0.0]))
    assert float(jax.jit(crafter_score)(jnp.full(3, 10.0))) == pytest.approx(10.0, rel=1e-5)
    with pytest.raises(ValueError, match="percent"):
        crafter_score([0.5, 120.0])
    with pytest.raises(ValueError, match="success_rates"):
        crafter_score(np.zeros((2, 2)))
    rates = achievement_success_rates(np.array([[True, False], [True, True]]))
    np.testing.assert_allclose(rates, [100.0, 50.0])


def test_scripted_remembering_crafter_beats_the_reactive_one():
    """The full crafter script on a small world with terrain: the one that remembers the recipe
    book and the orders wins on return and success; the reactive one botches most makes."""
    env, params = envs_jax.make("crafting", map_size=32, num_iron=3, num_diamonds=2)
    params = params.replace(order_start=20, order_delay=200, order_interval=400)
    results = {
        name: evaluate(env, params, player, jax.random.PRNGKey(3), num_envs=8, num_steps=1_200)
        for name, player in players(env).items()
    }
    remembering, reactive = results["remembering"], results["reactive"]
    assert remembering["recall"] >= 0.9, remembering
    assert reactive["recall"] < 0.5, reactive
    assert remembering["return"] > reactive["return"] + 2.0, results
    assert remembering["success"] > reactive["success"], results
