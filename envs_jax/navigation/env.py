"""Multi-room navigation with coloured locks and keys, and a stream of targets to reach.

A building of ``rooms_high x rooms_wide`` square rooms (each ``room_size`` cells across, walls
one cell thick) is generated from the reset key: the rooms are joined by doors along a random
spanning tree of the room grid (randomized Kruskal) plus ``num_extra_doors`` doors that make
loops. ``num_locked_doors`` of the doors are locked, each with one of ``num_colours`` colours,
and one key of every colour lies on the floor of some room. ``num_landmarks`` landmarks
(distinct objects) stand in distinct rooms, dead ends (rooms with one door) first, each at its
room's centre cell (``landmarks_in_dead_ends``, ``landmarks_at_room_centre``). The agent sees a
square window of ``view_size x view_size`` cells centred on itself; walls do not occlude (a
plain window), so near a wall it sees a little of the next room — but not a room's centre, so a
landmark is seen only from inside its room or a doorway, and one in a dead end only when that
room is entered: walks between other rooms do not refresh it. Over the whole episode it is
shown a stream of targets: the index of one landmark; reaching it gives a reward and shows the
next target, drawn from the step key among the landmarks last in view at least
``stale_min_steps`` steps ago when there are any (else among those never seen, else among all
but the current one), with odds growing as a power (``stale_power``) of the time since each
was last in view, so most targets ask for a memory hundreds to thousands of steps old.

Solvable by construction: the colours are unlocked in a random order, and the key of the i-th
colour lies in a room reachable from the start room when only the doors of the colours before
it are unlocked. A door stays open once unlocked, so every room can be reached.

What must be remembered: the agent has no map and no coordinates. To go straight to a target
it must remember where that landmark was seen (often hundreds to thousands of steps before it is
asked for), how the rooms connect, which doors are locked in which colour, and where the keys
lie (including keys it dropped itself). Without memory the only strategy is to explore afresh
for every target.

Observation (dict; ``V = view_size``, ``C = num_colours``, ``K = num_landmarks``):

==================  =================  ====================================================
key                 shape, dtype       meaning
==================  =================  ====================================================
``view``            [V, V] int32       tile ids around the agent (agent at the centre),
                                       ``0`` floor, ``1`` wall (also outside the building),
                                       ``2`` open door, ``3 + c`` locked door of colour c,
                                       ``3 + C + c`` key of colour c, ``3 + 2C + k``
                                       landmark k; space high = ``2 + 2C + K``
``pocket``          [] int32           ``0`` empty, ``1 + c`` holding the key of colour c
``target``          [] int32           index k of the landmark to reach, in [0, K)
``action_mask``     [5] bool           True where the action does something
``privileged``      [4 + 3C] float32   privileged twin only, in [-1, 1]: the agent's row and
                                       column / (grid side - 1); the target's offset from
                                       the agent (rows, cols) / (grid side - 1); per colour
                                       the key's offset from the agent and 1.0 if held
==================  =================  ====================================================

Action: ``Discrete(5)``: 0 up, 1 right, 2 down, 3 left, 4 pocket (pick up the key on the
agent's cell, drop the held key on an empty floor cell, or swap the two). Moving into a locked
door while holding the key of its colour unlocks it for good and steps into the doorway; the key
is kept. Out-of-range actions are clipped into [0, 4] (``clip_action``). An action that the
mask forbids (walking into a wall or a locked door without its key, the pocket action with
nothing to pick up or drop, or dropping onto a door or landmark cell) leaves the state unchanged
and costs ``invalid_action_penalty``.

Reward: ``target_reward`` when the agent steps onto the target landmark, minus
``invalid_action_penalty`` for a masked action; 0 otherwise.

Termination: never; episodes are truncated at ``max_steps_in_episode`` (5,000 by default).

Memory statistics (``info``): a step that reaches the target is a memory decision when the
target had been in view at or before the moment it was shown; its ``lag`` is the number of
steps from that last sighting to reaching it (sightings during the search do not count: they are
its result). ``recall`` is True when the target was reached within ``recall_slack x pitch x
(rooms apart + 1)`` steps of being shown, ``pitch = room_size + 1`` and "rooms apart" the
shortest room-to-room distance through doors (locks ignored). ``success`` is the number of
targets reached so far times ``steps_per_target / max_steps_in_episode``, capped at 1.
"""

from __future__ import annotations

from typing import ClassVar, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import spaces

from envs_jax.core import MemoryEnv, ObservationDict, clip_action, memory_info
from envs_jax.hashing import navigation_uniforms
from envs_jax.navigation import render
from envs_jax.navigation.generator import generate_building
from envs_jax.navigation.types import (
    ACTION_DELTAS,
    FLOOR,
    LOCKED_DOOR_BASE,
    NUM_ACTIONS,
    OPEN_DOOR,
    POCKET,
    NavigationConfig,
    NavigationParams,
    NavigationState,
    layout_of,
)
from envs_jax.validation import integer, real


class Moved(NamedTuple):
    """What the agent's action did to the building (before sightings and targets)."""

    valid: jax.Array  # [] bool, the mask allowed the action
    moved: jax.Array  # [] bool, the agent stepped (into a free cell or an unlocked door)
    grid: jax.Array  # [Hp, Wp] int8, with the door unlocked or the pocket's key put down
    agent_pos: jax.Array  # [2] int32
    pocket: jax.Array  # [] int32
    key_pos: jax.Array  # [C, 2] int32


class Navigation(MemoryEnv):
    """Multi-room navigation with coloured locks, keys and a stream of targets (see module).

    ``layout`` holds the building's static geometry (:class:`envs_jax.navigation.types.Layout`).
    """

    config_cls: ClassVar[type] = NavigationConfig
    params_cls: ClassVar[type] = NavigationParams
    env_id: ClassVar[str] = "navigation"
    param_rules: ClassVar[dict] = {
        "max_steps_in_episode": integer(1),
        "target_reward": real(),
        "invalid_action_penalty": real(0),
        "recall_slack": real(0),
        "steps_per_target": real(0),
        "stale_min_steps": integer(0),
        "stale_power": real(0, 16),
    }

    def __init__(self, config: NavigationConfig | None = None, privileged: bool = False):
        super().__init__(config, privileged)
        self.layout = layout_of(self.config)

    # ----------------------------------------------------------------------------------------
    # Spaces

    @property
    def default_params(self) -> NavigationParams:
        return NavigationParams()

    @property
    def num_actions(self) -> int:
        return NUM_ACTIONS

    def action_space(self, params: NavigationParams | None = None) -> spaces.Discrete:
        return spaces.Discrete(NUM_ACTIONS)

    @property
    def privileged_size(self) -> int:
        """Length of the privileged vector: agent position, target offset, per-key info."""
        return 4 + 3 * self.config.num_colours

    def observation_space(self, params: NavigationParams | None = None) -> spaces.Dict:
        cfg = self.config
        view = cfg.view_size
        obs = {
            "view": spaces.Box(0, self.layout.num_tiles - 1, (view, view), jnp.int32),
            "pocket": spaces.Box(0, cfg.num_colours, (), jnp.int32),
            "target": spaces.Box(0, cfg.num_landmarks - 1, (), jnp.int32),
            "action_mask": spaces.Box(0, 1, (NUM_ACTIONS,), jnp.bool_),
        }
        if self.privileged:
            obs["privileged"] = spaces.Box(-1.0, 1.0, (self.privileged_size,), jnp.float32)
        return ObservationDict(obs)

    # ----------------------------------------------------------------------------------------
    # Dynamics

    def reset_env(
        self, key: jax.Array, params: NavigationParams
    ) -> tuple[dict[str, jax.Array], NavigationState]:
        state = generate_building(self.layout, key)
        return self.observe(state, self.layout.view(state.grid, state.agent_pos)), state

    def _walkable(self, tile: jax.Array, pocket: jax.Array) -> jax.Array:
        """Whether a move onto ``tile`` succeeds; a locked door needs the key in the pocket."""
        open_tile = (tile == FLOOR) | (tile == OPEN_DOOR) | (tile >= self.layout.key_base)
        return open_tile | self._unlocks(tile, pocket)

    def _unlocks(self, tile: jax.Array, pocket: jax.Array) -> jax.Array:
        return (pocket > 0) & (tile == LOCKED_DOOR_BASE + pocket - 1)

    def _pocket_ok(self, tile: jax.Array, pocket: jax.Array) -> jax.Array:
        """The pocket action does something: pick up / swap on a key, drop on empty floor."""
        on_key = (tile >= self.layout.key_base) & (tile < self.layout.landmark_base)
        return on_key | ((tile == FLOOR) & (pocket > 0))

    def observe(self, state: NavigationState, view: jax.Array) -> dict[str, jax.Array]:
        """The observation of ``state`` whose view window (int8 [V, V]) is ``view``."""
        r = self.layout.radius
        view = view.astype(jnp.int32)
        neighbours = view[r + ACTION_DELTAS[:4, 0], r + ACTION_DELTAS[:4, 1]]
        action_mask = jnp.concatenate(
            [
                self._walkable(neighbours, state.pocket),
                self._pocket_ok(view[r, r], state.pocket)[None],
            ]
        )
        obs = {
            "view": view,
            "pocket": state.pocket,
            "target": state.target,
            "action_mask": action_mask,
        }
        if self.privileged:
            obs["privileged"] = self._privileged(state)
        return obs

    def _privileged(self, state: NavigationState) -> jax.Array:
        """The hidden information as float32 [4 + 3C] in [-1, 1] (see the module docstring)."""
        scale = jnp.array([self.layout.height - 1, self.layout.width - 1], jnp.float32)
        held = state.pocket - 1 == jnp.arange(self.config.num_colours)
        key_pos = jnp.where(held[:, None], state.agent_pos, state.key_pos)
        key_info = jnp.concatenate(
            [(key_pos - state.agent_pos) / scale, held[:, None].astype(jnp.float32)], axis=1
        )
        return jnp.concatenate(
            [
                state.agent_pos / scale,
                (state.landmark_pos[state.target] - state.agent_pos) / scale,
                key_info.reshape(-1),
            ]
        ).astype(jnp.float32)

    def _draw_target(
        self,
        key: jax.Array,
        current: jax.Array,
        last_seen: jax.Array,
        now: jax.Array,
        params: NavigationParams,
    ) -> jax.Array:
        """The next target (int32 []), drawn as the module docstring says.

        Args:
            key: the step key.
            current: the target just reached (never drawn again at once), int32 [].
            last_seen: int32 [K], last time each landmark was in view, -1 if never.
            now: the current time, int32 [].
            params: ``stale_min_steps`` and ``stale_power``.
        """
        num_landmarks = self.config.num_landmarks
        other = jnp.arange(num_landmarks) != current
        seen = last_seen >= 0
        age = jnp.where(seen, now - last_seen, 0)
        stale = other & seen & (age >= params.stale_min_steps)
        unseen = other & ~seen
        pool = jnp.where(stale.any(), stale, jnp.where(unseen.any(), unseen, other))
        # Ages relative to the oldest keep the power's odds within float32 range.
        relative = (age + 1.0) / (jnp.max(jnp.where(pool, age, 0)) + 1.0)
        odds = jnp.where(pool, jnp.where(seen, relative**params.stale_power, 1.0), 0.0)
        draw = navigation_uniforms(key, 1)[0] * jnp.sum(odds)
        chosen = jnp.sum((jnp.cumsum(odds) <= draw).astype(jnp.int32))
        # Rounding at the top end can step past the last eligible slot: take the last one.
        last = num_landmarks - 1 - jnp.argmax(pool[::-1])
        return jnp.where(
            (chosen < num_landmarks) & pool[jnp.minimum(chosen, num_landmarks - 1)], chosen, last
        ).astype(jnp.int32)

    def _act(self, state: NavigationState, action: jax.Array) -> Moved:
        """Carries out a move or the pocket action; a masked action changes nothing.

        Args:
            state: the state before the step.
            action: int32 [] in range.
        """
        layout = self.layout
        r = layout.radius
        grid, pos, pocket = state.grid, state.agent_pos, state.pocket
        is_move = action != POCKET
        dest = pos + jnp.asarray(ACTION_DELTAS)[action]
        here_tile = grid[pos[0] + r, pos[1] + r].astype(jnp.int32)
        dest_tile = grid[dest[0] + r, dest[1] + r].astype(jnp.int32)

        move_ok = is_move & self._walkable(dest_tile, pocket)
        unlock = move_ok & self._unlocks(dest_tile, pocket)
        pocket_ok = ~is_move & self._pocket_ok(here_tile, pocket)

        # At most one cell changes: the door being unlocked, or the cell under the agent.
        picks_up = (here_tile >= layout.key_base) & (here_tile < layout.landmark_base)
        left_tile = jnp.where(pocket > 0, layout.key_base + pocket - 1, FLOOR)
        write_pos = jnp.where(is_move, dest, pos) + r
        write_tile = jnp.where(is_move, OPEN_DOOR, left_tile)
        old_tile = jnp.where(is_move, dest_tile, here_tile)
        grid = grid.at[write_pos[0], write_pos[1]].set(
            jnp.where(unlock | pocket_ok, write_tile, old_tile).astype(jnp.int8)
        )
        drops = pocket_ok & (pocket > 0)
        dropped_colour = jnp.maximum(pocket - 1, 0)
        key_pos = state.key_pos.at[dropped_colour].set(
            jnp.where(drops, pos, state.key_pos[dropped_colour])
        )
        new_pocket = jnp.where(
            pocket_ok, jnp.where(picks_up, here_tile - layout.key_base + 1, 0), pocket
        ).astype(jnp.int32)
        return Moved(
            valid=move_ok | pocket_ok,
            moved=move_ok,
            grid=grid,
            agent_pos=jnp.where(move_ok, dest, pos),
            pocket=new_pocket,
            key_pos=key_pos,
        )

    def step_env(
        self,
        key: jax.Array,
        state: NavigationState,
        action: jax.Array,
        params: NavigationParams,
    ) -> tuple[dict[str, jax.Array], NavigationState, jax.Array, jax.Array, dict]:
        r = self.layout.radius
        moved = self._act(state, clip_action(action, NUM_ACTIONS))

        # Sightings, then whether the target was reached.
        now = state.time + 1
        view = self.layout.view(moved.grid, moved.agent_pos)
        last_seen = jnp.where(
            self.layout.in_view(state.landmark_pos, moved.agent_pos), now, state.last_seen
        )
        reached = moved.moved & (view[r, r] == self.layout.landmark_base + state.target)
        seen_before = state.target_seen_at >= 0
        lag = jnp.where(reached & seen_before, now - state.target_seen_at, -1)
        budget = params.recall_slack * self.layout.pitch * (state.target_rooms_away + 1)
        recall = (now - state.target_shown_at) <= budget
        targets_reached = state.targets_reached + reached.astype(jnp.int32)

        # The next target is another landmark, drawn from the step key: among those out of
        # view for at least stale_min_steps when there are any, so that going straight there
        # needs a memory at least that old; else among those never seen (a search, no memory
        # decision); else among all but the current one. Within the set the odds favour the
        # stalest: a power of the steps since the last sighting.
        next_target = self._draw_target(key, state.target, last_seen, now, params)
        target = jnp.where(reached, next_target, state.target)

        new_state = NavigationState(
            time=now,
            grid=moved.grid,
            agent_pos=moved.agent_pos,
            pocket=moved.pocket,
            key_pos=moved.key_pos,
            landmark_pos=state.landmark_pos,
            landmark_dist=state.landmark_dist,
            target=target,
            target_shown_at=jnp.where(reached, now, state.target_shown_at),
            target_seen_at=jnp.where(reached, last_seen[next_target], state.target_seen_at),
            target_rooms_away=jnp.where(
                reached, state.landmark_dist[state.target, next_target], state.target_rooms_away
            ),
            last_seen=last_seen,
            targets_reached=targets_reached,
        )
        reward = params.target_reward * reached - params.invalid_action_penalty * ~moved.valid
        success = jnp.minimum(
            1.0, targets_reached * params.steps_per_target / params.max_steps_in_episode
        )
        info = memory_info(lag, recall, success)
        obs = self.observe(new_state, view)
        terminated = self.is_terminated(new_state, params)
        return obs, new_state, reward.astype(jnp.float32), terminated, info

    def is_terminated(self, state: NavigationState, params: NavigationParams) -> jax.Array:
        """Never: the stream of targets lasts the whole episode (truncation ends it)."""
        return jnp.zeros((), jnp.bool_)

    # ----------------------------------------------------------------------------------------
    # Rendering (host side, one unbatched state)

    def render_text(self, state: NavigationState, params: NavigationParams) -> str:
        """The building as characters (see :func:`envs_jax.navigation.render.render_text`)."""
        return render.render_text(self.layout, state, params)

    def render_rgb(
        self, state: NavigationState, params: NavigationParams, tile: int = 8
    ) -> np.ndarray:
        """The building, uint8 [(H + 1) * tile, W * tile, 3]
        (see :func:`envs_jax.navigation.render.render_rgb`)."""
        return render.render_rgb(self.layout, state, params, tile)
