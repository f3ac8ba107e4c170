"""Small array helpers shared by the parts of the crafting step, and the day-night curve.

The step is compiled into every training program, several times over, so these avoid gathers
and reductions where a short chain of selects does the same work.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from envs_jax.crafting import constants as C
from envs_jax.crafting.types import EnvParams


def daylight(time: jax.Array, params: EnvParams) -> jax.Array:
    """Daylight in [0, 1] at ``time`` (float32 []), Crafter's curve
    ``1 - |cos(pi * (time / day_length + DAY_START))| ** 3``: about 0.8 at the start of an
    episode, 1 at 0.2 of a cycle, 0 (darkest) at 0.7 of a cycle."""
    cycle = jnp.asarray(time, jnp.float32) / jnp.asarray(params.day_length, jnp.float32)
    return 1.0 - jnp.abs(jnp.cos(jnp.pi * (cycle + C.DAY_START))) ** 3


def same_cell(positions: jax.Array, cell: jax.Array) -> jax.Array:
    """bool [...]: which of ``positions`` [..., 2] equal ``cell`` [..., 2] (no reduction op)."""
    return (positions[..., 0] == cell[..., 0]) & (positions[..., 1] == cell[..., 1])


def direction(facing: jax.Array) -> tuple[jax.Array, jax.Array]:
    """(row, col) step of a facing index (left, right, up, down), without a table lookup."""
    d_row = (facing == C.DOWN).astype(jnp.int32) - (facing == C.UP).astype(jnp.int32)
    d_col = (facing == C.RIGHT).astype(jnp.int32) - (facing == C.LEFT).astype(jnp.int32)
    return d_row, d_col


def select(index: jax.Array, values: list) -> jax.Array:
    """``values[index]`` for a short static list, as a chain of selects (no gather)."""
    out = jnp.asarray(values[-1])
    for k in range(len(values) - 2, -1, -1):
        out = jnp.where(index == k, values[k], out)
    return out


def one_hot_flags(size: int, indices: list[jax.Array], flags: list[jax.Array]) -> jax.Array:
    """bool [size]: True at ``indices[k]`` where ``flags[k]`` (an elementwise OR, no scatter)."""
    positions = jnp.arange(size)
    out = jnp.zeros((size,), jnp.bool_)
    for index, flag in zip(indices, flags, strict=True):
        out = out | ((positions == index) & flag)
    return out


def tile_rules(tile: jax.Array) -> jax.Array:
    """The ``TILE_INFO`` row(s) of tile id(s) ``tile`` [...]: int32 [..., 17] (depots share
    one row)."""
    return jnp.asarray(C.TILE_INFO)[jnp.minimum(tile, C.DEPOT_BASE)]
