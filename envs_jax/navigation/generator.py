"""Generates a building from a key: doors, locks, keys, landmarks and the agent's start.

The rooms are joined by doors along a random spanning tree of the room grid (randomized
Kruskal) plus ``num_extra_doors`` doors that make loops; ``num_locked_doors`` doors are locked,
colours cycling along a random order. The colours are unlocked in a random order, and the key
of the i-th colour lies in a room reachable from the start room with only the doors of the
colours before it unlocked, so every building is solvable. Landmarks stand in distinct rooms,
dead ends first, each at its room's centre (see :class:`NavigationConfig`).

Every random number comes from one draw of :func:`envs_jax.hashing.navigation_uniforms`, and
sorting is done by pairwise ranks: both keep the compiled reset small.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.hashing import navigation_uniforms
from envs_jax.navigation.types import (
    LOCKED_DOOR_BASE,
    OPEN_DOOR,
    WALL,
    Layout,
    NavigationState,
)


def spanning_tree(layout: Layout, order: jax.Array) -> jax.Array:
    """Kruskal over the room grid taking edges in ``order`` (a random permutation of the
    E candidate edges, int32 [E]): bool [E], True for the tree's edges."""
    edge_a, edge_b = jnp.asarray(layout.edge_a), jnp.asarray(layout.edge_b)

    def add_edge(i, carry):
        component, in_tree = carry
        edge = order[i]
        comp_a, comp_b = component[edge_a[edge]], component[edge_b[edge]]
        joins = comp_a != comp_b
        # Merge by relabelling the whole of b's component: R is small and this keeps the
        # loop free of data-dependent trip counts.
        component = jnp.where(joins & (component == comp_b), comp_a, component)
        return component, in_tree.at[edge].set(joins)

    init = (jnp.arange(layout.num_rooms), jnp.zeros((layout.num_edges,), jnp.bool_))
    _, in_tree = jax.lax.fori_loop(0, layout.num_edges, add_edge, init)
    return in_tree


def adjacency(layout: Layout, passable: jax.Array) -> jax.Array:
    """Room adjacency through the passable candidate edges (bool [..., E]) -> bool
    [..., R, R], symmetric, with the diagonal set (a room reaches itself)."""
    num_rooms = layout.num_rooms
    shape = (*passable.shape[:-1], num_rooms, num_rooms)
    adjacent = jnp.broadcast_to(jnp.eye(num_rooms, dtype=jnp.bool_), shape)
    adjacent = adjacent.at[..., layout.edge_a, layout.edge_b].set(passable)
    return adjacent.at[..., layout.edge_b, layout.edge_a].set(passable)


def closure(layout: Layout, adjacent: jax.Array) -> jax.Array:
    """Transitive closure of adjacency matrices (bool [..., R, R]) by repeated squaring:
    a few matrix products (memory R^2, not R^3) instead of R - 1 frontier steps."""
    # Squarings after which paths of every length up to R - 1 are covered.
    doubling_steps = max(int(np.ceil(np.log2(max(layout.num_rooms - 1, 1)))), 1)
    reach = adjacent.astype(jnp.float32)
    for _ in range(doubling_steps):  # static, about log2(R)
        reach = (jnp.matmul(reach, reach) > 0).astype(jnp.float32)
    return reach > 0


def room_distances(layout: Layout, is_door: jax.Array) -> jax.Array:
    """All-pairs room distance through doors (Floyd-Warshall, memory R^2): int32 [R, R]."""
    num_rooms = layout.num_rooms
    unreachable = jnp.int32(num_rooms)  # longer than any path; every room is connected
    dist = jnp.where(adjacency(layout, is_door), 1, unreachable)
    dist = jnp.where(jnp.eye(num_rooms, dtype=jnp.bool_), 0, dist).astype(jnp.int32)

    def relax(k, dist):
        return jnp.minimum(dist, dist[:, k, None] + dist[None, k, :])

    return jax.lax.fori_loop(0, num_rooms, relax, dist)


def draw_uniforms(layout: Layout, key: jax.Array) -> dict[str, jax.Array]:
    """Every random number the generator needs, from one draw, by name (float32 in [0, 1)).

    One call of :func:`navigation_uniforms` keeps the compiled program small.
    """
    cfg = layout.config
    num_edges, num_rooms, num_colours = layout.num_edges, layout.num_rooms, cfg.num_colours
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
    flat = navigation_uniforms(key, sum(sizes))
    parts = jnp.split(flat, np.cumsum(sizes)[:-1])
    return {
        name: part.reshape(shape) for (name, shape), part in zip(shapes.items(), parts, strict=True)
    }


def ranks(scores: jax.Array) -> jax.Array:
    """Rank of each score along the last axis, highest first, ties by position (int32).

    Pairwise comparisons instead of a sort: the axes are short, and it compiles faster.
    """
    n = scores.shape[-1]
    above = scores[..., None, :] > scores[..., :, None]
    tied_before = (scores[..., None, :] == scores[..., :, None]) & jnp.tril(
        jnp.ones((n, n), jnp.bool_), k=-1
    )
    return jnp.sum(above | tied_before, axis=-1).astype(jnp.int32)


def order(scores: jax.Array) -> jax.Array:
    """Indices sorted by score, highest first (int32 [n]): a random permutation when the
    scores are uniform draws."""
    n = scores.shape[-1]
    is_at = ranks(scores)[None, :] == jnp.arange(n)[:, None]  # [position, index]
    return jnp.sum(jnp.where(is_at, jnp.arange(n)[None, :], 0), axis=1).astype(jnp.int32)


def scaled(u: jax.Array, n: int) -> jax.Array:
    """An integer in [0, n) from a uniform in [0, 1) (int32, same shape)."""
    return jnp.minimum((u * n).astype(jnp.int32), n - 1)


def generate_building(layout: Layout, key: jax.Array) -> NavigationState:
    """A new building and the agent at its start, at time 0 (the first target shown).

    Args:
        layout: the static layout of the config.
        key: the reset key.

    Returns:
        The episode's first :class:`NavigationState`.
    """
    cfg = layout.config
    num_colours, num_landmarks = cfg.num_colours, cfg.num_landmarks
    num_rooms = layout.num_rooms
    u = draw_uniforms(layout, key)

    # Doors: a spanning tree plus extra doors drawn among the other candidate edges.
    in_tree = spanning_tree(layout, order(u["tree_order"]))
    extra_rank = ranks(jnp.where(in_tree, -1.0, u["extra_doors"]))
    is_door = in_tree | (extra_rank < cfg.num_extra_doors)
    offset = scaled(u["door_offset"], cfg.room_size)
    door_pos = jnp.asarray(layout.door_base) + jnp.asarray(layout.door_step) * offset[:, None]

    # Locks: the first num_locked_doors doors of a random order; colours cycle along it.
    lock_rank = ranks(jnp.where(is_door, u["lock_order"], -1.0))
    is_locked = is_door & (lock_rank < cfg.num_locked_doors)
    door_colour = (lock_rank % num_colours).astype(jnp.int32)

    # Keys: colours are unlocked in a random order; the key of the i-th colour lies in a
    # room reachable from the start with only the earlier colours unlocked.
    start_room = scaled(u["start_room"], num_rooms)

    # Colours unlocked before the i-th one: row i of [C (step), C (colour)].
    colour_rank = ranks(u["colour_order"])
    unlocked = colour_rank[None, :] < jnp.arange(num_colours)[:, None]
    passable = is_door & (~is_locked | unlocked[:, door_colour])  # [C, E]
    reach = closure(layout, adjacency(layout, passable))[:, start_room]  # [C, R]
    room_of_step = jnp.argmax(jnp.where(reach, u["key_rooms"], -1.0), axis=1)
    key_room = room_of_step[colour_rank].astype(jnp.int32)

    # Landmarks in distinct rooms, dead ends (one door) first when landmarks_in_dead_ends:
    # walks between other rooms then rarely pass them, so a landmark stays out of view
    # until it is sought. Every item gets its own cell of its room.
    doors_of_room = (
        jnp.zeros((num_rooms,), jnp.float32)
        .at[jnp.asarray(layout.edge_a)]
        .add(is_door)
        .at[jnp.asarray(layout.edge_b)]
        .add(is_door)
    )
    room_score = u["landmark_rooms"] - cfg.landmarks_in_dead_ends * doors_of_room
    landmark_room = order(room_score)[:num_landmarks]
    # Landmarks come first, so each takes the cell ranked first in its room: the centre
    # when landmarks_at_room_centre, which a 7x7 view sees only from inside the room or
    # its doorways (with rooms of 5 cells or more), never through a wall in passing.
    item_room = jnp.concatenate([landmark_room, key_room])
    num_items = num_colours + num_landmarks
    centre = (cfg.room_size // 2) * cfg.room_size + cfg.room_size // 2
    cell_scores = u["item_cells"].at[:, centre].add(2.0 * cfg.landmarks_at_room_centre)
    cell_rank = ranks(cell_scores)  # [R, room_size**2]
    earlier = jnp.tril(jnp.ones((num_items, num_items), jnp.bool_), k=-1)
    rank_in_room = jnp.sum(earlier & (item_room[:, None] == item_room[None, :]), axis=1)
    item_cell = jnp.argmax(cell_rank[item_room] == rank_in_room[:, None], axis=1)
    item_pos = layout.room_cell(item_room, item_cell)
    landmark_pos, key_pos = item_pos[:num_landmarks], item_pos[num_landmarks:]

    # The grid: the static floor plan, then doors, keys and landmarks scattered in.
    r = layout.radius
    door_tile = jnp.where(is_locked, LOCKED_DOOR_BASE + door_colour, OPEN_DOOR)
    door_tile = jnp.where(is_door, door_tile, WALL).astype(jnp.int8)
    item_tile = jnp.concatenate(
        [
            layout.landmark_base + jnp.arange(num_landmarks),
            layout.key_base + jnp.arange(num_colours),
        ]
    ).astype(jnp.int8)
    grid = jnp.asarray(layout.base_grid)
    grid = grid.at[door_pos[:, 0] + r, door_pos[:, 1] + r].set(door_tile)
    grid = grid.at[item_pos[:, 0] + r, item_pos[:, 1] + r].set(item_tile)

    room_dist = room_distances(layout, is_door)
    agent_pos = layout.room_cell(start_room, scaled(u["agent_cell"], cfg.room_size**2))
    target = scaled(u["first_target"], num_landmarks)
    last_seen = jnp.where(layout.in_view(landmark_pos, agent_pos), 0, -1).astype(jnp.int32)
    return NavigationState(
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
