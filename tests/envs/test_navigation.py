"""The navigation benchmark: mechanics, solvability, and that memory matters."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from envs_jax.navigation import (
    ACTION_DELTAS,
    DOWN,
    FLOOR,
    LEFT,
    LOCKED_DOOR_BASE,
    NUM_ACTIONS,
    OPEN_DOOR,
    POCKET,
    RIGHT,
    UP,
    Navigation,
    NavigationConfig,
)
from envs_jax.navigation.players import UNKNOWN, navigator_action
from tests.envs import configs, conformance

ENV_ID = "navigation"  # the env of the shared fixtures (tests/envs/conftest.py)
SMALL = configs.NAVIGATION
#: Worlds generated for the layout and solvability checks; the navigator runs on the first few.
NUM_WORLDS = 200
NUM_NAVIGATED = 8
NAVIGATION_STEPS = 800
#: The target rule at the small building's scale (the default asks for >= 400 steps).
SMALL_TARGETS = dict(stale_min_steps=40, stale_power=3.0)


# ------------------------------------------------------------------------------------------
# Full episodes and the privileged twin (the shared checks run in test_conformance.py)


def test_full_default_episode_to_truncation():
    env, params = envs_jax.make("navigation")
    assert params.max_steps_in_episode == 5000
    records = conformance.check_full_episode(env, params)
    assert records["truncated"].sum() == 1 and records["truncated"][-1]
    assert not records["terminated"].any()
    # Rewards only ever come from reaching a target; success follows the reached count.
    reached = np.cumsum(records["reward"] > 0)
    expected = np.minimum(1.0, reached * params.steps_per_target / params.max_steps_in_episode)
    np.testing.assert_allclose(records["success"], expected, rtol=1e-6)


def test_privileged_twin_shows_positions(small):
    env, params = small
    twin = Navigation(env.config, privileged=True)
    _, state = env.reset(jax.random.PRNGKey(2), params)
    scale = np.array([twin.layout.height - 1, twin.layout.width - 1], np.float32)
    extra = np.asarray(twin._privileged(state))
    assert extra.shape == (twin.privileged_size,)
    pos = np.asarray(state.agent_pos)
    np.testing.assert_allclose(extra[:2], pos / scale, rtol=1e-6)
    target_pos = np.asarray(state.landmark_pos)[int(state.target)]
    np.testing.assert_allclose(extra[2:4], (target_pos - pos) / scale, rtol=1e-6)
    keys = extra[4:].reshape(twin.config.num_colours, 3)
    np.testing.assert_allclose(keys[:, :2], (np.asarray(state.key_pos) - pos) / scale, rtol=1e-6)
    assert not keys[:, 2].any(), "no key is held at reset"
    holding = state.replace(pocket=jnp.int32(2))
    keys = np.asarray(twin._privileged(holding))[4:].reshape(twin.config.num_colours, 3)
    np.testing.assert_array_equal(keys[:, 2], [0.0, 1.0, 0.0])
    np.testing.assert_allclose(keys[1, :2], 0.0)


# ------------------------------------------------------------------------------------------
# Configuration


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("view_size", 4),
        ("view_size", 1),
        ("rooms_high", 0),
        ("num_landmarks", 1),
        ("num_landmarks", 10),
        ("num_extra_doors", 5),
        ("num_locked_doors", 20),
        ("num_colours", 9),
        ("room_size", 1),
    ],
)
def test_bad_config_names_the_field(field, value):
    with pytest.raises(ValueError, match=field):
        NavigationConfig(**{**SMALL, field: value})


def test_unknown_override_is_rejected():
    with pytest.raises(ValueError, match="colour_count"):
        envs_jax.make("navigation", colour_count=3)
    env, params = envs_jax.make("navigation", rooms_high=3, recall_slack=3.0)
    assert isinstance(env, Navigation) and env.config.rooms_high == 3
    assert params.recall_slack == 3.0


# ------------------------------------------------------------------------------------------
# Generation: the building, and solvability with keys as gates


def _locked(grid: np.ndarray, env: Navigation) -> np.ndarray:
    return (grid >= LOCKED_DOOR_BASE) & (grid < env.layout.key_base)


def _flood(passable: np.ndarray, start: tuple[int, int]) -> np.ndarray:
    """Cells reachable from ``start`` through 4-neighbour steps on ``passable`` (numpy)."""
    reach = np.zeros_like(passable)
    reach[start] = True
    while True:
        grown = reach.copy()
        grown[1:] |= reach[:-1]
        grown[:-1] |= reach[1:]
        grown[:, 1:] |= reach[:, :-1]
        grown[:, :-1] |= reach[:, 1:]
        grown &= passable
        if np.array_equal(grown, reach):
            return reach
        reach = grown


def _solve_with_keys_as_gates(grid: np.ndarray, start: tuple[int, int], env: Navigation):
    """Reachable cells and unlockable colours: flood fill, collect the keys reached, open their
    doors, repeat. Doors stay open once unlocked, so carrying one key at a time suffices."""
    num_colours = env.config.num_colours
    open_tiles = (grid == FLOOR) | (grid == OPEN_DOOR) | (grid >= env.layout.key_base)
    door_colour = np.clip(grid - LOCKED_DOOR_BASE, 0, num_colours - 1)
    unlocked = np.zeros(num_colours, bool)
    while True:
        reach = _flood(open_tiles | (_locked(grid, env) & unlocked[door_colour]), start)
        found = np.array(
            [np.any(grid[reach] == env.layout.key_base + c) for c in range(num_colours)]
        )
        if np.array_equal(found | unlocked, unlocked):
            return reach, unlocked
        unlocked |= found


def _doors_per_room(doors: np.ndarray, env: Navigation) -> np.ndarray:
    """Door cells on the four walls of each room, int [R] (rooms in row-major order)."""
    cfg, p = env.config, env.layout.pitch
    counts = []
    for i in range(cfg.rooms_high):
        for j in range(cfg.rooms_wide):
            rows, cols = slice(i * p + 1, (i + 1) * p), slice(j * p + 1, (j + 1) * p)
            counts.append(
                doors[i * p, cols].sum()
                + doors[(i + 1) * p, cols].sum()
                + doors[rows, j * p].sum()
                + doors[rows, (j + 1) * p].sum()
            )
    return np.asarray(counts)


def test_building_layout(worlds_and_navigation):
    env, _, worlds, _ = worlds_and_navigation
    cfg = env.config
    num_doors = env.layout.num_rooms - 1 + cfg.num_extra_doors
    for state in worlds:
        grid = env.layout.unpadded(state.grid)
        doors = (grid == OPEN_DOOR) | _locked(grid, env)
        assert doors.sum() == num_doors
        assert _locked(grid, env).sum() == cfg.num_locked_doors
        # One key per colour, each landmark once, in distinct rooms, all on interior cells.
        for c in range(cfg.num_colours):
            assert np.sum(grid == env.layout.key_base + c) == 1
        landmark_pos = np.asarray(state.landmark_pos)
        for k, (row, col) in enumerate(landmark_pos):
            assert grid[row, col] == env.layout.landmark_base + k
        rooms = np.asarray(env.layout.room_of(landmark_pos))
        assert len(set(rooms.tolist())) == cfg.num_landmarks
        # Each landmark at its room's centre; landmark rooms have no more doors than the rest.
        centre = cfg.room_size // 2 + 1
        assert np.all((landmark_pos - centre) % env.layout.pitch == 0), landmark_pos
        doors_of = _doors_per_room(doors, env)
        others = np.setdiff1d(np.arange(env.layout.num_rooms), rooms)
        assert doors_of[rooms].max() <= doors_of[others].min()
        np.testing.assert_array_equal(np.diag(state.landmark_dist), 0)
        # With every lock open the building is connected (spanning tree of doors).
        floor_plan = grid != 1
        assert _flood(floor_plan, tuple(state.agent_pos)).sum() == floor_plan.sum()


def test_solvable_by_construction(worlds_and_navigation):
    env, _, worlds, _ = worlds_and_navigation
    gated = 0
    for state in worlds:
        grid = env.layout.unpadded(state.grid)
        start = tuple(int(v) for v in state.agent_pos)
        reach, unlocked = _solve_with_keys_as_gates(grid, start, env)
        assert unlocked.all(), "some colour can never be unlocked"
        assert reach[grid != 1].all(), "some cell stays out of reach"
        # Without keys the locks do cut the building (so the check above can fail).
        no_keys = np.where(
            (grid >= env.layout.key_base) & (grid < env.layout.landmark_base), FLOOR, grid
        )
        reach_without, _ = _solve_with_keys_as_gates(no_keys, start, env)
        gated += not reach_without[grid != 1].all()
    assert gated >= len(worlds) // 2, f"locks cut the building in only {gated} worlds"


def test_key_chain_order(worlds_and_navigation):
    """Each key is reachable with only the colours before it in some unlock order open."""
    env, _, worlds, _ = worlds_and_navigation
    num_colours = env.config.num_colours
    for state in worlds[:50]:
        grid = env.layout.unpadded(state.grid)
        start = tuple(int(v) for v in state.agent_pos)
        door_colour = np.clip(grid - LOCKED_DOOR_BASE, 0, num_colours - 1)
        open_tiles = (grid == FLOOR) | (grid == OPEN_DOOR) | (grid >= env.layout.key_base)
        unlocked = np.zeros(num_colours, bool)
        for _ in range(num_colours):
            reach = _flood(open_tiles | (_locked(grid, env) & unlocked[door_colour]), start)
            reachable_keys = [
                c
                for c in range(num_colours)
                if not unlocked[c] and np.any(grid[reach] == env.layout.key_base + c)
            ]
            assert reachable_keys, "no new key reachable: the chain is broken"
            unlocked[reachable_keys[0]] = True


# ------------------------------------------------------------------------------------------
# Mechanics on hand-arranged states


def _arrange(state, **changes):
    """The state with some fields set (keeping their dtypes, so the jitted step is reused)."""
    return state.replace(**{k: jnp.asarray(v, getattr(state, k).dtype) for k, v in changes.items()})


def _floor_neighbour(grid: np.ndarray, cell: np.ndarray) -> tuple[np.ndarray, int]:
    """A floor cell next to ``cell`` and the move from it into ``cell``."""
    for action in (UP, RIGHT, DOWN, LEFT):
        source = cell - ACTION_DELTAS[action]
        if grid[source[0], source[1]] == FLOOR:
            return source, action
    raise AssertionError("no floor neighbour")


def test_locked_door_needs_its_key(small, step_env):
    env, params = small
    params = params.replace(invalid_action_penalty=0.25)
    _, state = env.reset(jax.random.PRNGKey(3), params)
    grid = env.layout.unpadded(state.grid)
    door = np.argwhere(_locked(grid, env))[0]
    colour = int(grid[door[0], door[1]]) - LOCKED_DOOR_BASE
    source, action = _floor_neighbour(grid, door)
    key = jax.random.PRNGKey(0)
    other = (colour + 1) % env.config.num_colours + 1
    for pocket in (0, other):
        at_door = _arrange(state, agent_pos=source, pocket=pocket)
        obs, after, reward, *_ = step_env(key, at_door, action, params)
        assert not bool(
            env.observe(at_door, env.layout.view(at_door.grid, at_door.agent_pos))["action_mask"][
                action
            ]
        )
        np.testing.assert_array_equal(after.agent_pos, source)
        np.testing.assert_array_equal(after.grid, at_door.grid)
        assert float(reward) == -0.25
    with_key = _arrange(state, agent_pos=source, pocket=colour + 1)
    _, after, reward, *_ = step_env(key, with_key, action, params)
    np.testing.assert_array_equal(after.agent_pos, door)
    assert env.layout.unpadded(after.grid)[door[0], door[1]] == OPEN_DOOR
    assert int(after.pocket) == colour + 1, "the key is kept"
    assert float(reward) == 0.0
    # Unlocked for good: walking back out and in again needs no key.
    back = (action + 2) % 4
    _, out, *_ = step_env(key, after.replace(pocket=jnp.int32(0)), back, params)
    _, again, *_ = step_env(key, out, action, params)
    np.testing.assert_array_equal(again.agent_pos, door)


def test_pocket_pick_drop_swap(small, step_env):
    env, params = small
    _, state = env.reset(jax.random.PRNGKey(4), params)
    r = env.layout.radius
    key = jax.random.PRNGKey(0)
    key_cell = np.asarray(state.key_pos)[0]
    # Pick up key 0.
    on_key = _arrange(state, agent_pos=key_cell)
    obs, picked, *_ = step_env(key, on_key, POCKET, params)
    assert int(picked.pocket) == 1
    assert env.layout.unpadded(picked.grid)[key_cell[0], key_cell[1]] == FLOOR
    assert int(obs["pocket"]) == 1 and int(obs["view"][r, r]) == FLOOR
    assert bool(obs["action_mask"][POCKET]), "dropping on empty floor is allowed"
    # Drop it again on the same (now empty) floor cell.
    _, dropped, *_ = step_env(key, picked, POCKET, params)
    assert int(dropped.pocket) == 0
    assert env.layout.unpadded(dropped.grid)[key_cell[0], key_cell[1]] == env.layout.key_base
    np.testing.assert_array_equal(dropped.key_pos[0], key_cell)
    # Swap: holding key 1 on the cell of key 0.
    holding_other = _arrange(on_key, pocket=2)
    _, swapped, *_ = step_env(key, holding_other, POCKET, params)
    assert int(swapped.pocket) == 1
    assert env.layout.unpadded(swapped.grid)[key_cell[0], key_cell[1]] == env.layout.key_base + 1
    np.testing.assert_array_equal(swapped.key_pos[1], key_cell)
    # Empty pocket on a landmark: nothing to do, a no-op.
    landmark = np.asarray(state.landmark_pos)[0]
    on_landmark = _arrange(state, agent_pos=landmark, pocket=0)
    _, same, *_ = step_env(key, on_landmark, POCKET, params)
    np.testing.assert_array_equal(same.grid, on_landmark.grid)
    assert int(same.pocket) == 0


def test_reaching_the_target_lag_and_recall(small, step_env):
    env, params = small
    _, state = env.reset(jax.random.PRNGKey(5), params)
    grid = env.layout.unpadded(state.grid)
    target = int(state.target)
    goal = np.asarray(state.landmark_pos)[target]
    source, action = _floor_neighbour(grid, goal)
    key = jax.random.PRNGKey(0)
    budget = params.recall_slack * env.layout.pitch * (1 + 1)  # shown one room away
    # Shown at t = 5, last seen at t = 3 (before it was shown), reached at t = 11.
    arranged = _arrange(
        state,
        agent_pos=source,
        time=10,
        target_shown_at=5,
        target_seen_at=3,
        target_rooms_away=1,
    )
    obs, after, reward, terminated, info = step_env(key, arranged, action, params)
    assert float(reward) == params.target_reward
    assert int(info["lag"]) == 11 - 3
    assert bool(info["recall"]) == (11 - 5 <= budget)
    assert int(after.targets_reached) == int(state.targets_reached) + 1
    assert int(after.target) != target and int(obs["target"]) == int(after.target)
    assert int(after.target_shown_at) == 11
    assert int(after.target_seen_at) == int(after.last_seen[int(after.target)])
    assert not bool(terminated)
    # Too slow: shown long before.
    slow = arranged.replace(target_shown_at=jnp.int32(10 - int(budget)))
    _, _, _, _, info = step_env(key, slow, action, params)
    assert not bool(info["recall"]) and int(info["lag"]) == 8
    # Never seen before it was shown: exploration, not a memory decision.
    unseen = arranged.replace(target_seen_at=jnp.int32(-1))
    _, _, reward, _, info = step_env(key, unseen, action, params)
    assert int(info["lag"]) == -1 and not bool(info["recall"]) and float(reward) > 0
    # Any other step is not a memory decision.
    _, _, reward, _, info = step_env(key, arranged, (action + 2) % 4, params)
    assert int(info["lag"]) == -1 and float(reward) <= 0


# ------------------------------------------------------------------------------------------
# Memory matters: the same scripted navigator with and without a map of what it has seen


def _navigate(env, params, key, obs, state, remember):
    """One episode of the scripted navigator from a generated world; ``remember`` is a traced
    bool so both variants share one compilation. The agent's position stands in for dead
    reckoning (every allowed move succeeds, so it follows from the actions and the mask).

    Each step also probes the environment with a random action from the same state (not
    taken) and records whether the mask allowed it and whether it changed anything.
    """
    unknown = jnp.full(env.layout.base_grid.shape, UNKNOWN, jnp.int32)

    def body(carry, key_t):
        obs, state, tiles = carry
        key_act, key_step, key_probe = jax.random.split(key_t, 3)
        tiles = jnp.where(remember, tiles, unknown)
        tiles = jax.lax.dynamic_update_slice(tiles, obs["view"], tuple(state.agent_pos))
        action = navigator_action(env, key_act, tiles, obs, state.agent_pos, remember)
        probe = jax.random.randint(key_probe, (), 0, NUM_ACTIONS)
        _, probed, *_ = env.step_env(key_step, state, probe, params)
        changed = (
            jnp.any(probed.agent_pos != state.agent_pos)
            | (probed.pocket != state.pocket)
            | jnp.any(probed.grid != state.grid)
        )
        new_obs, state, reward, _, info = env.step_env(key_step, state, action, params)
        record = {
            "reward": reward,
            **info,
            "probe_allowed": obs["action_mask"][probe],
            "probe_changed": changed,
        }
        return (new_obs, state, tiles), record

    steps = jax.random.split(key, NAVIGATION_STEPS)
    _, records = jax.lax.scan(body, (obs, state, unknown), steps)
    return records


def _generate_and_navigate(env, key, params, remember):
    """``NUM_WORLDS`` generated worlds, and the navigator's episodes on the first few.

    ``lax.map`` rather than ``vmap``: the unbatched reset and planner compile faster, and the
    planner's search loops stop per world instead of at the slowest world of a batch.
    """
    key_worlds, key_run = jax.random.split(key)
    obs, states = jax.lax.map(
        lambda key_world: env.reset_env(key_world, params),
        jax.random.split(key_worlds, NUM_WORLDS),
    )
    first_obs, first_states = jax.tree.map(lambda leaf: leaf[:NUM_NAVIGATED], (obs, states))
    records = jax.lax.map(
        lambda args: _navigate(env, params, *args, remember),
        (jax.random.split(key_run, NUM_NAVIGATED), first_obs, first_states),
    )
    return states, records


@pytest.fixture(scope="module")
def worlds_and_navigation(small):
    """One compiled program: generated worlds (for the layout and solvability checks) and the
    navigator with and without its map on the first few of them."""
    env, params = small
    params = params.replace(max_steps_in_episode=NAVIGATION_STEPS, **SMALL_TARGETS)
    program = jax.jit(
        lambda key, params, remember: _generate_and_navigate(env, key, params, remember)
    )
    runs = {}
    for remember in (True, False):
        states, runs[remember] = jax.device_get(
            program(jax.random.PRNGKey(0), params, jnp.bool_(remember))
        )
    # The same worlds with targets drawn uniformly among the other landmarks.
    uniform = params.replace(stale_min_steps=0, stale_power=0.0)
    _, runs["uniform targets"] = jax.device_get(
        program(jax.random.PRNGKey(0), uniform, jnp.bool_(True))
    )
    worlds = [jax.tree.map(lambda leaf, i=i: leaf[i], states) for i in range(NUM_WORLDS)]
    return env, params, worlds, runs


def test_memory_matters(worlds_and_navigation):
    _, _, _, runs = worlds_and_navigation
    results = {}
    for remember in (True, False):
        records = runs[remember]
        decided = records["lag"] >= 0
        results[remember] = {
            "targets": records["reward"].sum(axis=1).mean(),
            "success": records["success"][:, -1].mean(),
            "recall": records["recall"][decided].mean() if decided.any() else 0.0,
            "decisions": decided.sum(),
        }
    with_map, without = results[True], results[False]
    # Measured: with a map ~60 targets per 800 steps and recall ~1.0; without ~2-3 targets.
    assert with_map["targets"] >= 35, results
    assert without["targets"] <= 8, results
    assert with_map["success"] >= 0.95 and without["success"] <= 0.4, results
    # Nearly every target the map-keeping navigator reaches, it reaches within the recall budget;
    # the forgetful one makes few memory decisions at all (and its recall is a small sample).
    assert with_map["recall"] >= 0.9, results
    assert with_map["decisions"] >= 5 * max(without["decisions"], 1), results


def test_targets_ask_for_memories_older_than_stale_min_steps(worlds_and_navigation):
    """The target rule: the next target is a landmark out of view for at least
    ``stale_min_steps`` when there is one, so most of the remembering navigator's decisions
    have lags beyond it; drawing uniformly instead gives much shorter lags (measured on the
    small building: 383 decisions, median 54, 80% >= 40 against 427, 29 and 29%)."""
    _, params, _, runs = worlds_and_navigation
    stale = int(params.stale_min_steps)
    lags = {}
    for name in (True, "uniform targets"):
        lag = runs[name]["lag"]
        lags[name] = lag[lag >= 0]
    shaped, uniform = lags[True], lags["uniform targets"]
    summary = {
        name: (len(lag), float(np.median(lag)), float(np.mean(lag >= stale)))
        for name, lag in lags.items()
    }
    assert len(shaped) >= 8 * NUM_NAVIGATED, summary
    assert np.mean(shaped >= stale) >= 0.5, summary
    assert np.median(shaped) >= 1.5 * np.median(uniform), summary
    assert np.mean(uniform >= stale) < 0.5 * np.mean(shaped >= stale), summary


def test_action_mask_is_exactly_what_changes_the_state(worlds_and_navigation):
    """Random probe actions along both navigators' trajectories: an action changes the
    position, the pocket or the grid exactly when the mask allows it."""
    _, _, _, runs = worlds_and_navigation
    for remember in (True, False):
        allowed, changed = runs[remember]["probe_allowed"], runs[remember]["probe_changed"]
        np.testing.assert_array_equal(allowed, changed)
        assert 0.2 < allowed.mean() < 0.95


# ------------------------------------------------------------------------------------------
# Renderers


def test_renderers(small):
    env, params = small
    _, state = env.reset(jax.random.PRNGKey(8), params)
    text = env.render_text(state, params)
    lines = text.splitlines()
    assert lines[0].startswith("step 0/") and "target: landmark" in lines[0]
    assert "holding: nothing" in lines[0]
    grid_lines = lines[1 : 1 + env.layout.height]
    assert all(len(line) == env.layout.width + 1 for line in grid_lines)
    assert sum(line.count("@") for line in grid_lines) == 1
    assert sum(line.startswith(">") for line in grid_lines) == env.config.view_size
    assert lines[-1].startswith("legend:") and "red" in lines[-1]
    locked_doors = sum(sum(line.count(c) for c in "RGB") for line in grid_lines)
    assert locked_doors == env.config.num_locked_doors

    image = env.render_rgb(state, params)
    assert image.dtype == np.uint8
    assert image.shape == ((env.layout.height + 1) * 8, env.layout.width * 8, 3)
    moved = state.replace(agent_pos=jnp.asarray(state.landmark_pos)[0])
    assert not np.array_equal(image, env.render_rgb(moved, params))
