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

import dataclasses
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces

from envs_jax.core import MemoryEnv, ObservationDict, clip_action, integer, memory_info, real
from envs_jax.rendering import tile_grid

#: Tile ids shared by every configuration; locked doors, keys and landmarks follow.
FLOOR, WALL, OPEN_DOOR, LOCKED_DOOR_BASE = 0, 1, 2, 3
#: Actions: four moves, then the pocket action.
UP, RIGHT, DOWN, LEFT, POCKET = 0, 1, 2, 3, 4
NUM_ACTIONS = 5
#: Row and column change of each action (the pocket action stays in place).
ACTION_DELTAS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1], [0, 0]], np.int32)
#: Names of the colours, in id order (also limits ``num_colours``).
COLOUR_NAMES = ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "pink")
#: Text-renderer characters: locked doors upper case, keys lower case, landmarks from the list.
COLOUR_LETTERS = "RGBYPOCK"
LANDMARK_CHARS = "0123456789&$%*+=?!~^"
#: RGB renderer: brightness of the cells outside the agent's view, relative to those inside.
OUT_OF_VIEW_BRIGHTNESS = 0.55
COLOUR_RGB = np.array(
    [
        [220, 40, 40],
        [40, 180, 60],
        [50, 90, 230],
        [230, 200, 30],
        [150, 60, 200],
        [240, 130, 20],
        [30, 200, 210],
        [240, 120, 180],
    ],
    np.uint8,
)


#: Constants of the counter-based hash that turns a PRNG key into uniform numbers.
_GOLDEN_GAMMA = 0x9E3779B9  # odd increment between counters (2**32 / golden ratio)
_MIX_MULTIPLIERS = (0x7FEB352D, 0x846CA68B)  # a 32-bit avalanche mix with low bias


def _mix32(x: jax.Array) -> jax.Array:
    """A bijective 32-bit avalanche mix (xor-shift-multiply), uint32 -> uint32."""
    x = x ^ (x >> 16)
    x = x * jnp.uint32(_MIX_MULTIPLIERS[0])
    x = x ^ (x >> 15)
    x = x * jnp.uint32(_MIX_MULTIPLIERS[1])
    return x ^ (x >> 16)


def key_uniforms(key: jax.Array, num: int) -> jax.Array:
    """``num`` uniform numbers in [0, 1) (float32 [num]) derived from a PRNG key.

    The key's words are folded into a seed, then each counter ``i`` is hashed with
    :func:`_mix32` (splitmix-style counter mode). This is deterministic in the key like
    ``jax.random.uniform`` but compiles to a handful of integer operations; the generator
    needs about a thousand numbers per world and threefry's compile time would otherwise
    dominate every program that contains a reset.

    Args:
        key: a PRNG key (raw ``uint32 [2]`` or a typed key).
        num: how many numbers.
    """
    if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
        key = jax.random.key_data(key)
    words = jnp.asarray(key).astype(jnp.uint32).reshape(-1)
    seed = jnp.uint32(0)
    for i in range(words.shape[0]):  # static: two words for threefry keys
        seed = _mix32(seed ^ (words[i] + jnp.uint32(_GOLDEN_GAMMA)))
    counters = jnp.arange(1, num + 1, dtype=jnp.uint32) * jnp.uint32(_GOLDEN_GAMMA)
    bits = _mix32(_mix32(counters + seed) ^ seed)
    # The top 24 bits give floats exactly representable in float32, all below 1.
    return (bits >> 8).astype(jnp.float32) * jnp.float32(1.0 / (1 << 24))


@dataclasses.dataclass(frozen=True)
class NavigationConfig:
    """Static, shape-defining sizes of the building."""

    rooms_high: int = 7  # rows of rooms
    rooms_wide: int = 7  # columns of rooms
    room_size: int = 5  # side of a room's interior in cells (walls excluded)
    view_size: int = 7  # side of the agent-centred square view (odd)
    num_colours: int = 4  # lock colours; one key per colour
    num_locked_doors: int = 6  # doors locked by colour (colours cycle over them)
    num_extra_doors: int = 4  # doors beyond the spanning tree, which make loops
    num_landmarks: int = 16  # target objects, each in its own room
    landmarks_in_dead_ends: bool = True  # landmark rooms: fewest doors first (else uniform)
    landmarks_at_room_centre: bool = True  # a landmark stands at its room's centre cell

    def __post_init__(self):
        for name in ("rooms_high", "rooms_wide", "room_size", "num_colours"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        num_rooms = self.rooms_high * self.rooms_wide
        if num_rooms < 2:
            raise ValueError(
                f"rooms_high * rooms_wide must be >= 2, got {self.rooms_high}x{self.rooms_wide}"
            )
        if self.view_size < 3 or self.view_size % 2 == 0:
            raise ValueError(f"view_size must be odd and >= 3, got {self.view_size}")
        if self.num_colours > len(COLOUR_NAMES):
            raise ValueError(f"num_colours must be <= {len(COLOUR_NAMES)}, got {self.num_colours}")
        if not 2 <= self.num_landmarks <= min(num_rooms, len(LANDMARK_CHARS)):
            raise ValueError(
                f"num_landmarks must lie in [2, {min(num_rooms, len(LANDMARK_CHARS))}] "
                f"(at most one per room), got {self.num_landmarks}"
            )
        num_edges = self.rooms_high * (self.rooms_wide - 1) + (self.rooms_high - 1) * (
            self.rooms_wide
        )
        spare = num_edges - (num_rooms - 1)
        if not 0 <= self.num_extra_doors <= spare:
            raise ValueError(
                f"num_extra_doors must lie in [0, {spare}] for this room grid, "
                f"got {self.num_extra_doors}"
            )
        num_doors = num_rooms - 1 + self.num_extra_doors
        if not 0 <= self.num_locked_doors <= num_doors:
            raise ValueError(
                f"num_locked_doors must lie in [0, {num_doors}] (the number of doors), "
                f"got {self.num_locked_doors}"
            )
        if self.room_size**2 < self.num_colours + 1:
            raise ValueError(
                f"room_size must leave room for every key and a landmark in one room: "
                f"room_size**2 >= num_colours + 1, got room_size={self.room_size}"
            )
        if 3 + 2 * self.num_colours + self.num_landmarks > np.iinfo(np.int8).max:
            raise ValueError("num_colours and num_landmarks give too many tile ids for int8")


@struct.dataclass
class NavigationParams(environment.EnvParams):
    """Sweepable values (leaves under ``jit``)."""

    max_steps_in_episode: int = 5000  # episode length (truncation)
    target_reward: float = 1.0  # reward for reaching the shown target
    invalid_action_penalty: float = 0.0  # cost of an action the mask forbids (a no-op)
    recall_slack: float = 2.0  # recall: reached within slack * pitch * (rooms apart + 1) steps
    steps_per_target: float = 70.0  # success = min(1, reached * this / max_steps_in_episode)
    stale_min_steps: int = 400  # next target: among landmarks unseen for at least this many
    # steps when any exist, else among those never seen, else among all but the current one
    stale_power: float = 3.0  # odds within that set: (steps since last seen) ** power; 0 uniform


@struct.dataclass
class NavigationState(environment.EnvState):
    """One building and the agent in it (``Hp, Wp`` = grid padded by the view radius)."""

    time: int  # [] int32, steps taken in this episode
    grid: jax.Array  # [Hp, Wp] int8 tile ids, padded with walls by the view radius
    agent_pos: jax.Array  # [2] int32 (row, col) of the agent in unpadded grid coordinates
    pocket: jax.Array  # [] int32, 0 empty, 1 + c holding the key of colour c
    key_pos: jax.Array  # [C, 2] int32 where each key lies (its last drop while held)
    landmark_pos: jax.Array  # [K, 2] int32 (row, col) of each landmark
    landmark_dist: jax.Array  # [K, K] int32 room-to-room door distance between landmarks
    target: jax.Array  # [] int32, the landmark to reach
    target_shown_at: jax.Array  # [] int32, time the current target was shown
    target_seen_at: jax.Array  # [] int32, its last sighting at or before then, -1 if never
    target_rooms_away: jax.Array  # [] int32, door distance in rooms when it was shown
    last_seen: jax.Array  # [K] int32, last time each landmark was in view, -1 if never
    targets_reached: jax.Array  # [] int32, targets reached this episode


class Navigation(MemoryEnv):
    """Multi-room navigation with coloured locks, keys and a stream of targets (see module)."""

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
        cfg = self.config
        self.num_rooms = cfg.rooms_high * cfg.rooms_wide
        self.pitch = cfg.room_size + 1
        self.height = cfg.rooms_high * self.pitch + 1
        self.width = cfg.rooms_wide * self.pitch + 1
        self.radius = cfg.view_size // 2
        self.key_base = LOCKED_DOOR_BASE + cfg.num_colours
        self.landmark_base = self.key_base + cfg.num_colours
        self.num_tiles = self.landmark_base + cfg.num_landmarks

        # Candidate doors: one per pair of neighbouring rooms, with the wall cell its offset
        # (0 .. room_size - 1) moves along.
        rooms_a, rooms_b, door_base, door_step = [], [], [], []
        for i in range(cfg.rooms_high):
            for j in range(cfg.rooms_wide):
                if j + 1 < cfg.rooms_wide:  # east neighbour: door in the wall column
                    rooms_a.append(i * cfg.rooms_wide + j)
                    rooms_b.append(i * cfg.rooms_wide + j + 1)
                    door_base.append((i * self.pitch + 1, (j + 1) * self.pitch))
                    door_step.append((1, 0))
                if i + 1 < cfg.rooms_high:  # south neighbour: door in the wall row
                    rooms_a.append(i * cfg.rooms_wide + j)
                    rooms_b.append((i + 1) * cfg.rooms_wide + j)
                    door_base.append(((i + 1) * self.pitch, j * self.pitch + 1))
                    door_step.append((0, 1))
        self.edge_a = np.array(rooms_a, np.int32)
        self.edge_b = np.array(rooms_b, np.int32)
        self.door_base = np.array(door_base, np.int32)
        self.door_step = np.array(door_step, np.int32)
        self.num_edges = len(rooms_a)

        rows, cols = np.arange(self.height), np.arange(self.width)
        interior = (rows[:, None] % self.pitch != 0) & (cols[None, :] % self.pitch != 0)
        base = np.where(interior, FLOOR, WALL).astype(np.int8)
        self.base_grid = np.pad(base, self.radius, constant_values=WALL)

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
            "view": spaces.Box(0, self.num_tiles - 1, (view, view), jnp.int32),
            "pocket": spaces.Box(0, cfg.num_colours, (), jnp.int32),
            "target": spaces.Box(0, cfg.num_landmarks - 1, (), jnp.int32),
            "action_mask": spaces.Box(0, 1, (NUM_ACTIONS,), jnp.bool_),
        }
        if self.privileged:
            obs["privileged"] = spaces.Box(-1.0, 1.0, (self.privileged_size,), jnp.float32)
        return ObservationDict(obs)

    # ----------------------------------------------------------------------------------------
    # Generation

    def _spanning_tree(self, order: jax.Array) -> jax.Array:
        """Kruskal over the room grid taking edges in ``order`` (a random permutation of the
        E candidate edges, int32 [E]): bool [E], True for the tree's edges."""
        edge_a, edge_b = jnp.asarray(self.edge_a), jnp.asarray(self.edge_b)

        def add_edge(i, carry):
            component, in_tree = carry
            edge = order[i]
            comp_a, comp_b = component[edge_a[edge]], component[edge_b[edge]]
            joins = comp_a != comp_b
            # Merge by relabelling the whole of b's component: R is small and this keeps the
            # loop free of data-dependent trip counts.
            component = jnp.where(joins & (component == comp_b), comp_a, component)
            return component, in_tree.at[edge].set(joins)

        init = (jnp.arange(self.num_rooms), jnp.zeros((self.num_edges,), jnp.bool_))
        _, in_tree = jax.lax.fori_loop(0, self.num_edges, add_edge, init)
        return in_tree

    def _adjacency(self, passable: jax.Array) -> jax.Array:
        """Room adjacency through the passable candidate edges (bool [..., E]) -> bool
        [..., R, R], symmetric, with the diagonal set (a room reaches itself)."""
        shape = (*passable.shape[:-1], self.num_rooms, self.num_rooms)
        adjacency = jnp.broadcast_to(jnp.eye(self.num_rooms, dtype=jnp.bool_), shape)
        adjacency = adjacency.at[..., self.edge_a, self.edge_b].set(passable)
        return adjacency.at[..., self.edge_b, self.edge_a].set(passable)

    @property
    def _doubling_steps(self) -> int:
        """Squarings after which paths of every length up to R - 1 are covered."""
        return max(int(np.ceil(np.log2(max(self.num_rooms - 1, 1)))), 1)

    def _closure(self, adjacency: jax.Array) -> jax.Array:
        """Transitive closure of adjacency matrices (bool [..., R, R]) by repeated squaring:
        a few matrix products (memory R^2, not R^3) instead of R - 1 frontier steps."""
        reach = adjacency.astype(jnp.float32)
        for _ in range(self._doubling_steps):  # static, about log2(R)
            reach = (jnp.matmul(reach, reach) > 0).astype(jnp.float32)
        return reach > 0

    def _room_distances(self, is_door: jax.Array) -> jax.Array:
        """All-pairs room distance through doors (Floyd-Warshall, memory R^2): int32 [R, R]."""
        num_rooms = self.num_rooms
        unreachable = jnp.int32(num_rooms)  # longer than any path; every room is connected
        dist = jnp.where(self._adjacency(is_door), 1, unreachable)
        dist = jnp.where(jnp.eye(num_rooms, dtype=jnp.bool_), 0, dist).astype(jnp.int32)

        def relax(k, dist):
            return jnp.minimum(dist, dist[:, k, None] + dist[None, k, :])

        return jax.lax.fori_loop(0, num_rooms, relax, dist)

    def _room_cell(self, room: jax.Array, cell: jax.Array) -> jax.Array:
        """Grid (row, col) of interior cell ``cell`` (row-major in the room) of ``room``."""
        cfg = self.config
        room_row, room_col = room // cfg.rooms_wide, room % cfg.rooms_wide
        row = room_row * self.pitch + 1 + cell // cfg.room_size
        col = room_col * self.pitch + 1 + cell % cfg.room_size
        return jnp.stack([row, col], axis=-1).astype(jnp.int32)

    def _room_of(self, pos: jax.Array) -> jax.Array:
        """Room index of an interior cell (row, col) (int32 [...])."""
        return (pos[..., 0] // self.pitch) * self.config.rooms_wide + pos[..., 1] // self.pitch

    def _draw_uniforms(self, key: jax.Array) -> dict[str, jax.Array]:
        """Every random number the generator needs, from one draw, by name (float32 in [0, 1)).

        One call of :func:`key_uniforms` keeps the compiled program small.
        """
        cfg = self.config
        num_edges, num_rooms, num_colours = self.num_edges, self.num_rooms, cfg.num_colours
        shapes = {
            "tree_order": (num_edges,),
            "extra_doors": (num_edges,),
            "door_offset": (num_edges,),
            "lock_order": (num_edges,),
            "colour_order": (num_colours,),
            "start_room": (),
            "key_rooms": (num_colours, num_rooms),
            "landmark_rooms": (num_rooms,),
            "item_cells": (num_rooms, cfg.room_size**2),
            "agent_cell": (),
            "first_target": (),
        }
        sizes = [int(np.prod(shape)) for shape in shapes.values()]
        flat = key_uniforms(key, sum(sizes))
        parts = jnp.split(flat, np.cumsum(sizes)[:-1])
        return {
            name: part.reshape(shape)
            for (name, shape), part in zip(shapes.items(), parts, strict=True)
        }

    @staticmethod
    def _ranks(scores: jax.Array) -> jax.Array:
        """Rank of each score along the last axis, highest first, ties by position (int32).

        Pairwise comparisons instead of a sort: the axes are short, and it compiles faster.
        """
        n = scores.shape[-1]
        above = scores[..., None, :] > scores[..., :, None]
        tied_before = (scores[..., None, :] == scores[..., :, None]) & jnp.tril(
            jnp.ones((n, n), jnp.bool_), k=-1
        )
        return jnp.sum(above | tied_before, axis=-1).astype(jnp.int32)

    @classmethod
    def _order(cls, scores: jax.Array) -> jax.Array:
        """Indices sorted by score, highest first (int32 [n]): a random permutation when the
        scores are uniform draws."""
        n = scores.shape[-1]
        is_at = cls._ranks(scores)[None, :] == jnp.arange(n)[:, None]  # [position, index]
        return jnp.sum(jnp.where(is_at, jnp.arange(n)[None, :], 0), axis=1).astype(jnp.int32)

    @staticmethod
    def _scaled(u: jax.Array, n: int) -> jax.Array:
        """An integer in [0, n) from a uniform in [0, 1) (int32, same shape)."""
        return jnp.minimum((u * n).astype(jnp.int32), n - 1)

    def reset_env(
        self, key: jax.Array, params: NavigationParams
    ) -> tuple[dict[str, jax.Array], NavigationState]:
        cfg = self.config
        num_colours, num_landmarks, num_rooms = cfg.num_colours, cfg.num_landmarks, self.num_rooms
        u = self._draw_uniforms(key)

        # Doors: a spanning tree plus extra doors drawn among the other candidate edges.
        in_tree = self._spanning_tree(self._order(u["tree_order"]))
        extra_rank = self._ranks(jnp.where(in_tree, -1.0, u["extra_doors"]))
        is_door = in_tree | (extra_rank < cfg.num_extra_doors)
        offset = self._scaled(u["door_offset"], cfg.room_size)
        door_pos = jnp.asarray(self.door_base) + jnp.asarray(self.door_step) * offset[:, None]

        # Locks: the first num_locked_doors doors of a random order; colours cycle along it.
        lock_rank = self._ranks(jnp.where(is_door, u["lock_order"], -1.0))
        is_locked = is_door & (lock_rank < cfg.num_locked_doors)
        door_colour = (lock_rank % num_colours).astype(jnp.int32)

        # Keys: colours are unlocked in a random order; the key of the i-th colour lies in a
        # room reachable from the start with only the earlier colours unlocked.
        start_room = self._scaled(u["start_room"], num_rooms)

        # Colours unlocked before the i-th one: row i of [C (step), C (colour)].
        colour_rank = self._ranks(u["colour_order"])
        unlocked = colour_rank[None, :] < jnp.arange(num_colours)[:, None]
        passable = is_door & (~is_locked | unlocked[:, door_colour])  # [C, E]
        reach = self._closure(self._adjacency(passable))[:, start_room]  # [C, R]
        room_of_step = jnp.argmax(jnp.where(reach, u["key_rooms"], -1.0), axis=1)
        key_room = room_of_step[colour_rank].astype(jnp.int32)

        # Landmarks in distinct rooms, dead ends (one door) first when landmarks_in_dead_ends:
        # walks between other rooms then rarely pass them, so a landmark stays out of view
        # until it is sought. Every item gets its own cell of its room.
        doors_of_room = (
            jnp.zeros((num_rooms,), jnp.float32)
            .at[jnp.asarray(self.edge_a)]
            .add(is_door)
            .at[jnp.asarray(self.edge_b)]
            .add(is_door)
        )
        room_score = u["landmark_rooms"] - cfg.landmarks_in_dead_ends * doors_of_room
        landmark_room = self._order(room_score)[:num_landmarks]
        # Landmarks come first, so each takes the cell ranked first in its room: the centre
        # when landmarks_at_room_centre, which a 7x7 view sees only from inside the room or
        # its doorways (with rooms of 5 cells or more), never through a wall in passing.
        item_room = jnp.concatenate([landmark_room, key_room])
        num_items = num_colours + num_landmarks
        centre = (cfg.room_size // 2) * cfg.room_size + cfg.room_size // 2
        cell_scores = u["item_cells"].at[:, centre].add(2.0 * cfg.landmarks_at_room_centre)
        cell_rank = self._ranks(cell_scores)  # [R, room_size**2]
        earlier = jnp.tril(jnp.ones((num_items, num_items), jnp.bool_), k=-1)
        rank_in_room = jnp.sum(earlier & (item_room[:, None] == item_room[None, :]), axis=1)
        item_cell = jnp.argmax(cell_rank[item_room] == rank_in_room[:, None], axis=1)
        item_pos = self._room_cell(item_room, item_cell)
        landmark_pos, key_pos = item_pos[:num_landmarks], item_pos[num_landmarks:]

        # The grid: the static floor plan, then doors, keys and landmarks scattered in.
        r = self.radius
        door_tile = jnp.where(is_locked, LOCKED_DOOR_BASE + door_colour, OPEN_DOOR)
        door_tile = jnp.where(is_door, door_tile, WALL).astype(jnp.int8)
        item_tile = jnp.concatenate(
            [
                self.landmark_base + jnp.arange(num_landmarks),
                self.key_base + jnp.arange(num_colours),
            ]
        ).astype(jnp.int8)
        grid = jnp.asarray(self.base_grid)
        grid = grid.at[door_pos[:, 0] + r, door_pos[:, 1] + r].set(door_tile)
        grid = grid.at[item_pos[:, 0] + r, item_pos[:, 1] + r].set(item_tile)

        room_dist = self._room_distances(is_door)
        agent_pos = self._room_cell(start_room, self._scaled(u["agent_cell"], cfg.room_size**2))
        target = self._scaled(u["first_target"], num_landmarks)
        last_seen = jnp.where(self._in_view(landmark_pos, agent_pos), 0, -1).astype(jnp.int32)
        state = NavigationState(
            time=jnp.int32(0),
            grid=grid,
            agent_pos=agent_pos,
            pocket=jnp.int32(0),
            key_pos=key_pos,
            landmark_pos=landmark_pos,
            landmark_dist=room_dist[landmark_room[:, None], landmark_room[None, :]],
            target=target,
            target_shown_at=jnp.int32(0),
            target_seen_at=last_seen[target],
            target_rooms_away=room_dist[start_room, landmark_room[target]],
            last_seen=last_seen,
            targets_reached=jnp.int32(0),
        )
        return self._observe(state, self._view(grid, agent_pos)), state

    # ----------------------------------------------------------------------------------------
    # Dynamics

    def _view(self, grid: jax.Array, agent_pos: jax.Array) -> jax.Array:
        """The agent-centred window, int8 [V, V] (the padding makes it a plain slice)."""
        size = self.config.view_size
        return jax.lax.dynamic_slice(grid, (agent_pos[0], agent_pos[1]), (size, size))

    def _in_view(self, positions: jax.Array, agent_pos: jax.Array) -> jax.Array:
        """Whether each (row, col) in ``positions`` [..., 2] lies in the view: bool [...]."""
        return jnp.all(jnp.abs(positions - agent_pos) <= self.radius, axis=-1)

    def _walkable(self, tile: jax.Array, pocket: jax.Array) -> jax.Array:
        """Whether a move onto ``tile`` succeeds; a locked door needs the key in the pocket."""
        open_tile = (tile == FLOOR) | (tile == OPEN_DOOR) | (tile >= self.key_base)
        return open_tile | self._unlocks(tile, pocket)

    def _unlocks(self, tile: jax.Array, pocket: jax.Array) -> jax.Array:
        return (pocket > 0) & (tile == LOCKED_DOOR_BASE + pocket - 1)

    def _pocket_ok(self, tile: jax.Array, pocket: jax.Array) -> jax.Array:
        """The pocket action does something: pick up / swap on a key, drop on empty floor."""
        on_key = (tile >= self.key_base) & (tile < self.landmark_base)
        return on_key | ((tile == FLOOR) & (pocket > 0))

    def _observe(self, state: NavigationState, view: jax.Array) -> dict[str, jax.Array]:
        r = self.radius
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
        scale = jnp.array([self.height - 1, self.width - 1], jnp.float32)
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
        draw = key_uniforms(key, 1)[0] * jnp.sum(odds)
        chosen = jnp.sum((jnp.cumsum(odds) <= draw).astype(jnp.int32))
        # Rounding at the top end can step past the last eligible slot: take the last one.
        last = num_landmarks - 1 - jnp.argmax(pool[::-1])
        return jnp.where(
            (chosen < num_landmarks) & pool[jnp.minimum(chosen, num_landmarks - 1)], chosen, last
        ).astype(jnp.int32)

    def step_env(
        self,
        key: jax.Array,
        state: NavigationState,
        action: jax.Array,
        params: NavigationParams,
    ) -> tuple[dict[str, jax.Array], NavigationState, jax.Array, jax.Array, dict]:
        r = self.radius
        action = clip_action(action, NUM_ACTIONS)
        grid, pos, pocket = state.grid, state.agent_pos, state.pocket
        is_move = action != POCKET
        dest = pos + jnp.asarray(ACTION_DELTAS)[action]
        here_tile = grid[pos[0] + r, pos[1] + r].astype(jnp.int32)
        dest_tile = grid[dest[0] + r, dest[1] + r].astype(jnp.int32)

        move_ok = is_move & self._walkable(dest_tile, pocket)
        unlock = move_ok & self._unlocks(dest_tile, pocket)
        pocket_ok = ~is_move & self._pocket_ok(here_tile, pocket)
        valid = move_ok | pocket_ok

        # At most one cell changes: the door being unlocked, or the cell under the agent.
        picks_up = (here_tile >= self.key_base) & (here_tile < self.landmark_base)
        left_tile = jnp.where(pocket > 0, self.key_base + pocket - 1, FLOOR)
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
            pocket_ok, jnp.where(picks_up, here_tile - self.key_base + 1, 0), pocket
        ).astype(jnp.int32)
        new_pos = jnp.where(move_ok, dest, pos)

        # Sightings, then whether the target was reached.
        now = state.time + 1
        view = self._view(grid, new_pos)
        last_seen = jnp.where(self._in_view(state.landmark_pos, new_pos), now, state.last_seen)
        reached = move_ok & (view[r, r] == self.landmark_base + state.target)
        seen_before = state.target_seen_at >= 0
        lag = jnp.where(reached & seen_before, now - state.target_seen_at, -1)
        budget = params.recall_slack * self.pitch * (state.target_rooms_away + 1)
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
            grid=grid,
            agent_pos=new_pos,
            pocket=new_pocket,
            key_pos=key_pos,
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
        reward = params.target_reward * reached - params.invalid_action_penalty * ~valid
        success = jnp.minimum(
            1.0, targets_reached * params.steps_per_target / params.max_steps_in_episode
        )
        info = memory_info(lag, recall, success)
        obs = self._observe(new_state, view)
        terminated = self.is_terminated(new_state, params)
        return obs, new_state, reward.astype(jnp.float32), terminated, info

    def is_terminated(self, state: NavigationState, params: NavigationParams) -> jax.Array:
        """Never: the stream of targets lasts the whole episode (truncation ends it)."""
        return jnp.zeros((), jnp.bool_)

    # ----------------------------------------------------------------------------------------
    # Rendering (host side, one unbatched state)

    def _tile_chars(self) -> list[str]:
        cfg = self.config
        chars = [".", "#", "/"]
        chars += list(COLOUR_LETTERS[: cfg.num_colours])
        chars += list(COLOUR_LETTERS[: cfg.num_colours].lower())
        chars += list(LANDMARK_CHARS[: cfg.num_landmarks])
        return chars

    def _unpadded(self, state: NavigationState) -> np.ndarray:
        r = self.radius
        return np.asarray(state.grid, np.int32)[r : r + self.height, r : r + self.width]

    def render_text(self, state: NavigationState, params: NavigationParams) -> str:
        """The building as characters with a header line and a legend.

        ``#`` wall, ``.`` floor, ``/`` open door, upper-case letters locked doors and lower-case
        letters keys (by colour), digits and symbols landmarks, ``@`` the agent; ``>`` marks
        the rows and ``^`` (under the map) the columns of the agent's view window.
        """
        cfg = self.config
        chars = self._tile_chars()
        grid = self._unpadded(state)
        rows = [[chars[t] for t in line] for line in grid]
        agent_row, agent_col = (int(v) for v in np.asarray(state.agent_pos))
        rows[agent_row][agent_col] = "@"
        target = int(state.target)
        pocket = int(state.pocket)
        holding = f"{COLOUR_NAMES[pocket - 1]} key" if pocket > 0 else "nothing"
        lines = [
            f"step {int(state.time)}/{int(params.max_steps_in_episode)}  target: landmark "
            f"{target} '{LANDMARK_CHARS[target]}'  holding: {holding}  "
            f"targets reached: {int(state.targets_reached)}"
        ]
        left = max(agent_col - self.radius, 0)
        right = min(agent_col + self.radius + 1, self.width)
        for i, row in enumerate(rows):
            marker = ">" if abs(i - agent_row) <= self.radius else " "
            lines.append(marker + "".join(row))
        lines.append(" " + " " * left + "^" * (right - left))
        colours = ", ".join(
            f"{COLOUR_LETTERS[c]}/{COLOUR_LETTERS[c].lower()} {COLOUR_NAMES[c]}"
            for c in range(cfg.num_colours)
        )
        lines.append(
            "legend: # wall, . floor, / open door, upper case locked door, lower case key "
            f"({colours}), {LANDMARK_CHARS[: cfg.num_landmarks]} landmarks, @ agent"
        )
        return "\n".join(lines)

    def _palette(self) -> np.ndarray:
        cfg = self.config
        colours = COLOUR_RGB[: cfg.num_colours].astype(np.int32)
        hues = np.linspace(0.0, 1.0, cfg.num_landmarks, endpoint=False)
        # Landmarks: evenly spaced hues at medium brightness, distinct from the key colours.
        landmark_rgb = np.stack(
            [
                127 + 100 * np.cos(2 * np.pi * (hues + shift))
                for shift in (0.0, 1.0 / 3.0, 2.0 / 3.0)
            ],
            axis=1,
        )
        palette = np.concatenate(
            [
                np.array([[235, 235, 225], [70, 70, 80], [170, 120, 70]]),
                colours * 6 // 10,  # locked doors: darker shade of their colour
                colours,  # keys: the colour itself
                landmark_rgb,
            ]
        )
        return np.clip(palette, 0, 255).astype(np.uint8)

    def render_rgb(
        self, state: NavigationState, params: NavigationParams, tile: int = 8
    ) -> np.ndarray:
        """The building, uint8 [(H + 1) * tile, W * tile, 3].

        Walls dark grey, floor light, open doors brown, locked doors a dark shade of their
        colour, keys a bar of their colour on the floor, landmarks a tile of their own hue with
        a white centre. Cells outside the agent's view are dimmed; the agent is a black square,
        the target landmark has a black frame; a status row under the map shows the target's
        colour and the held key's colour (grey when empty).
        """
        grid = self._unpadded(state)
        palette = self._palette()
        floor_rgb = palette[FLOOR]
        is_key = (grid >= self.key_base) & (grid < self.landmark_base)
        image = tile_grid(np.where(is_key, FLOOR, grid), palette, tile)
        eighth = max(tile // 8, 1)
        for row, col in np.argwhere(is_key):  # a few keys at most
            top, left = row * tile, col * tile
            image[
                top + 3 * eighth : top + tile - 3 * eighth, left + eighth : left + tile - eighth
            ] = palette[grid[row, col]]
        for row, col in np.argwhere(grid >= self.landmark_base):
            top, left = row * tile, col * tile
            image[
                top + 3 * eighth : top + tile - 3 * eighth,
                left + 3 * eighth : left + tile - 3 * eighth,
            ] = floor_rgb
        agent_row, agent_col = (int(v) for v in np.asarray(state.agent_pos))
        rows, cols = np.arange(self.height), np.arange(self.width)
        in_view = (np.abs(rows - agent_row)[:, None] <= self.radius) & (
            np.abs(cols - agent_col)[None, :] <= self.radius
        )
        dim = np.repeat(np.repeat(np.where(in_view, 1.0, OUT_OF_VIEW_BRIGHTNESS), tile, 0), tile, 1)
        image = (image * dim[..., None]).astype(np.uint8)
        quarter = max(tile // 4, 1)
        top, left = agent_row * tile, agent_col * tile
        image[top + quarter : top + tile - quarter, left + quarter : left + tile - quarter] = 0
        target = int(state.target)
        t_row, t_col = (int(v) * tile for v in np.asarray(state.landmark_pos)[target])
        frame = image[t_row : t_row + tile, t_col : t_col + tile]
        frame[0, :] = frame[-1, :] = frame[:, 0] = frame[:, -1] = 0

        status = np.full((tile, self.width * tile, 3), 255, np.uint8)
        status[:, :tile] = palette[self.landmark_base + target]
        pocket = int(state.pocket)
        status[:, 2 * tile : 3 * tile] = (
            palette[self.key_base + pocket - 1] if pocket > 0 else np.array([128, 128, 128])
        )
        return np.concatenate([image, status], axis=0)
