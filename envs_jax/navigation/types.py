"""Tile and action ids, the static config, the params, the state and the building's geometry."""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment

#: Tile ids shared by every configuration; locked doors, keys and landmarks follow.
FLOOR, WALL, OPEN_DOOR, LOCKED_DOOR_BASE = 0, 1, 2, 3
#: Actions: four moves, then the pocket action.
UP, RIGHT, DOWN, LEFT, POCKET = 0, 1, 2, 3, 4
NUM_ACTIONS = 5
#: Row and column change of each action (the pocket action stays in place).
ACTION_DELTAS = np.array([[-1, 0], [0, 1], [1, 0], [0, -1], [0, 0]], np.int32)
#: Names of the colours, in id order (also limits ``num_colours``).
COLOUR_NAMES = ("red", "green", "blue", "yellow", "purple", "orange", "cyan", "pink")
#: Text-renderer characters of the landmarks (also limits ``num_landmarks``).
LANDMARK_CHARS = "0123456789&$%*+=?!~^"


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


@dataclasses.dataclass(frozen=True, eq=False)
class Layout:
    """The building's static geometry, derived from a :class:`NavigationConfig` once
    (:func:`layout_of`); host-side numbers and numpy arrays, constants under ``jit``.

    ``E`` is the number of candidate doors: one per pair of neighbouring rooms, in a wall cell
    that ``door_base + door_step * offset`` (offset in ``[0, room_size)``) picks.
    """

    config: NavigationConfig
    num_rooms: int  # R = rooms_high * rooms_wide
    pitch: int  # room_size + 1: the distance between two rooms' first cells
    height: int  # rows of the unpadded grid, walls included
    width: int  # columns of the unpadded grid, walls included
    radius: int  # view_size // 2, also the grid's padding
    key_base: int  # tile id of the key of colour 0
    landmark_base: int  # tile id of landmark 0
    num_tiles: int  # number of tile ids
    edge_a: np.ndarray  # [E] int32 the first room of each candidate door
    edge_b: np.ndarray  # [E] int32 its second room (east or south of the first)
    door_base: np.ndarray  # [E, 2] int32 the door's wall cell at offset 0
    door_step: np.ndarray  # [E, 2] int32 the step along the wall per unit of offset
    base_grid: np.ndarray  # [Hp, Wp] int8 the floor plan (floor and walls), padded with walls

    @property
    def num_edges(self) -> int:
        return len(self.edge_a)

    def view(self, grid: jax.Array, agent_pos: jax.Array) -> jax.Array:
        """The agent-centred window, int8 [V, V] (the padding makes it a plain slice)."""
        size = self.config.view_size
        return jax.lax.dynamic_slice(grid, (agent_pos[0], agent_pos[1]), (size, size))

    def in_view(self, positions: jax.Array, agent_pos: jax.Array) -> jax.Array:
        """Whether each (row, col) in ``positions`` [..., 2] lies in the view: bool [...]."""
        return jnp.all(jnp.abs(positions - agent_pos) <= self.radius, axis=-1)

    def room_cell(self, room: jax.Array, cell: jax.Array) -> jax.Array:
        """Grid (row, col) of interior cell ``cell`` (row-major in the room) of ``room``."""
        cfg = self.config
        room_row, room_col = room // cfg.rooms_wide, room % cfg.rooms_wide
        row = room_row * self.pitch + 1 + cell // cfg.room_size
        col = room_col * self.pitch + 1 + cell % cfg.room_size
        return jnp.stack([row, col], axis=-1).astype(jnp.int32)

    def room_of(self, pos: jax.Array) -> jax.Array:
        """Room index of an interior cell (row, col) (int32 [...])."""
        return (pos[..., 0] // self.pitch) * self.config.rooms_wide + pos[..., 1] // self.pitch

    def unpadded(self, grid: jax.Array) -> np.ndarray:
        """The grid without its padding, int32 [H, W] on the host."""
        r = self.radius
        return np.asarray(grid, np.int32)[r : r + self.height, r : r + self.width]


@functools.cache
def layout_of(config: NavigationConfig) -> Layout:
    """The :class:`Layout` of a config (computed once per config)."""
    num_rooms = config.rooms_high * config.rooms_wide
    pitch = config.room_size + 1
    height = config.rooms_high * pitch + 1
    width = config.rooms_wide * pitch + 1
    radius = config.view_size // 2
    key_base = LOCKED_DOOR_BASE + config.num_colours
    landmark_base = key_base + config.num_colours

    rooms_a, rooms_b, door_base, door_step = [], [], [], []
    for i in range(config.rooms_high):
        for j in range(config.rooms_wide):
            if j + 1 < config.rooms_wide:  # east neighbour: door in the wall column
                rooms_a.append(i * config.rooms_wide + j)
                rooms_b.append(i * config.rooms_wide + j + 1)
                door_base.append((i * pitch + 1, (j + 1) * pitch))
                door_step.append((1, 0))
            if i + 1 < config.rooms_high:  # south neighbour: door in the wall row
                rooms_a.append(i * config.rooms_wide + j)
                rooms_b.append((i + 1) * config.rooms_wide + j)
                door_base.append(((i + 1) * pitch, j * pitch + 1))
                door_step.append((0, 1))

    rows, cols = np.arange(height), np.arange(width)
    interior = (rows[:, None] % pitch != 0) & (cols[None, :] % pitch != 0)
    base = np.where(interior, FLOOR, WALL).astype(np.int8)
    return Layout(
        config=config,
        num_rooms=num_rooms,
        pitch=pitch,
        height=height,
        width=width,
        radius=radius,
        key_base=key_base,
        landmark_base=landmark_base,
        num_tiles=landmark_base + config.num_landmarks,
        edge_a=np.array(rooms_a, np.int32),
        edge_b=np.array(rooms_b, np.int32),
        door_base=np.array(door_base, np.int32),
        door_step=np.array(door_step, np.int32),
        base_grid=np.pad(base, radius, constant_values=WALL),
    )
