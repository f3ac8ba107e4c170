"""Procedural world generation: value-noise terrain, ores, depots and the first cows.

Runs only in ``reset_env`` (kept off the hot path by :class:`envs_jax.PooledResetWrapper`, and
run by the env's ``step`` only for the environments whose episode ended). All
of it is vectorised over the map: each noise field is a few coarse uniform grids upsampled
bilinearly and summed (octaves), standardised per map so the terrain thresholds in
:class:`EnvParams` mean the same on every map size.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from envs_jax.crafting import constants as C
from envs_jax.crafting.types import CraftingConfig, EnvParams
from envs_jax.hashing import crafting_uniforms

#: Score offset that makes shallow mountain cells the fallback for ores (deep cells win first).
_SHALLOW_PENALTY = 10.0
#: Ores prefer cells whose mountain noise exceeds mountain_level by this much.
_DEEP_MARGIN = 0.5
#: At the start, water and mountain noise are lowered by this much (in standard deviations),
#: fading to nothing at start_clear_radius, so the agent starts on open grass.
_START_CLEARING = 3.0
#: No trees within this distance of the start (the start cell and its neighbours stay free).
_TREE_FREE_RADIUS = 1.5
#: Initial cows stand at least this far (Chebyshev) from the start: never next to the agent.
_COW_MIN_DISTANCE = 2


class World(NamedTuple):
    """A generated world (unpadded) and the episode's other random draws."""

    tiles: jax.Array  # [S, S] uint8 tile ids
    start: jax.Array  # [2] int32 agent start (row, col)
    depot_pos: jax.Array  # [D, 2] int32
    cow_pos: jax.Array  # [initial_cows, 2] int32
    cow_valid: jax.Array  # [initial_cows] bool (False where the drawn cell was not free grass)
    recipe: jax.Array  # [NUM_TOOLS] int32 the recipe book: tool made by each make slot
    order_uniforms: jax.Array  # [3] float32 uniforms for an order issued at t = 0


def _interpolation_matrix(size: int, cells: int) -> np.ndarray:
    """float32 [size, cells + 1]: linear interpolation from ``cells + 1`` knots to ``size`` points.

    A static matrix, so upsampling a grid is two small matrix products (cheap to compile, unlike
    a general resize).
    """
    x = np.linspace(0.0, float(cells), size)
    low = np.minimum(np.floor(x).astype(np.int64), cells - 1)
    frac = x - low
    matrix = np.zeros((size, cells + 1), np.float32)
    matrix[np.arange(size), low] = 1.0 - frac
    matrix[np.arange(size), np.minimum(low + 1, cells)] += frac
    return matrix


def _octave_matrices(size: int, cells: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """All octaves as one product: ``up @ (G * amplitude) @ up.T`` sums the upsampled octaves.

    Returns:
        (up float32 [size, K] with K = sum(c + 1): the octaves' interpolation matrices side by
        side; amplitude float32 [K, K]: each octave's weight on its diagonal block, 0 elsewhere).
    """
    up = np.concatenate([_interpolation_matrix(size, c) for c in cells], axis=1)
    knots = up.shape[1]
    amplitude = np.zeros((knots, knots), np.float32)
    start = 0
    for c in cells:
        amplitude[start : start + c + 1, start : start + c + 1] = min(cells) / c
        start += c + 1
    return up, amplitude


def noise_uniforms(cells: tuple[int, ...]) -> int:
    """Number of uniforms :func:`noise_from_uniforms` consumes per field."""
    return sum(c + 1 for c in cells) ** 2


def noise_from_uniforms(uniforms: jax.Array, size: int, cells: tuple[int, ...]) -> jax.Array:
    """Smooth random fields: octaves of bilinearly upsampled uniform grids, standardised.

    Args:
        uniforms: float32 [F, noise_uniforms(cells)] uniform samples, one row per field.
        size: side of the output.
        cells: coarse grid side of each octave; an octave's amplitude is ``min(cells) / c``.

    Returns:
        float32 [F, size, size], each field with mean 0 and standard deviation 1.
    """
    up, amplitude = _octave_matrices(size, cells)
    knots = up.shape[1]
    grids = uniforms.reshape(-1, knots, knots) * jnp.asarray(amplitude)
    up = jnp.asarray(up)
    total = jnp.einsum("ia,fab,jb->fij", up, grids, up)
    moments = jnp.mean(jnp.stack([total, total * total]), axis=(2, 3), keepdims=True)
    mean, mean_square = moments[0], moments[1]
    std = jnp.sqrt(jnp.maximum(mean_square - mean * mean, 0.0))
    return (total - mean) / (std + 1e-6)


def value_noise(key: jax.Array, size: int, cells: tuple[int, ...]) -> jax.Array:
    """One smooth random field (float32 [size, size], standardised); see
    :func:`noise_from_uniforms`."""
    return noise_from_uniforms(crafting_uniforms(key, (1, noise_uniforms(cells))), size, cells)[0]


def _same_rows(cells: jax.Array) -> jax.Array:
    """bool [N, N]: whether cells i and j (int [N, 2]) are the same cell."""
    return (cells[:, None, 0] == cells[None, :, 0]) & (cells[:, None, 1] == cells[None, :, 1])


def _pick_cells(u: jax.Array, candidates: jax.Array, preferred: jax.Array, count: int):
    """Draws ``count`` distinct cells at random, preferred cells first, then other candidates.

    Args:
        u: float32 [S, S] uniforms.
        candidates: bool [S, S] cells that may be picked.
        preferred: bool [S, S] cells picked before the other candidates.
        count: how many.

    Returns:
        (flat indices int32 [count], valid bool [count]) — invalid where too few candidates.
    """
    u = u.reshape(-1)
    score = jnp.where(preferred.reshape(-1), u, u - _SHALLOW_PENALTY)
    score = jnp.where(candidates.reshape(-1), score, -jnp.inf)
    top, index = jax.lax.top_k(score, count)
    return index.astype(jnp.int32), jnp.isfinite(top)


#: Noise fields, in the order they are drawn.
_FIELDS = ("water", "mountain", "cave", "lava", "tree")
#: Per-cell uniform maps, in the order they are drawn.
_MAPS = ("coal", "tree", "ore", "depot")


def generate_world(key: jax.Array, params: EnvParams, config: CraftingConfig) -> World:
    """Generates terrain, ores, depots, the first cows and the recipe book from ``key``.

    Water and sand come from one noise field, mountains from another; inside mountains, a cave
    field carves tunnels, a lava field puts lava in the deepest parts, coal is scattered and a
    fixed number of iron ores and diamonds go to random deep cells. Forests come from a third
    field. The start (the map centre) is cleared to grass. Depot ``k`` goes to a random grass
    cell of the ``k``-th angular sector around the start, between ``depot_min_distance`` and
    ``depot_max_distance`` (as fractions of half the map side), on a cleared 3x3 patch.

    All randomness is one counter-based draw, sliced by use: every PRNG call and every sort,
    scatter or reduction costs compile time, so the generator keeps them few.
    """
    size = config.map_size
    per_field = noise_uniforms(config.noise_cells)
    num_noise = len(_FIELDS) * per_field
    num_maps = len(_MAPS) * size * size
    num_cow_draws = 2 * config.initial_cows
    draws = crafting_uniforms(key, (num_noise + num_maps + C.NUM_TOOLS + 3 + num_cow_draws,))
    fields = noise_from_uniforms(
        draws[:num_noise].reshape(len(_FIELDS), per_field), size, config.noise_cells
    )
    maps = draws[num_noise : num_noise + num_maps].reshape(len(_MAPS), size, size)
    rest = draws[num_noise + num_maps :]
    field = dict(zip(_FIELDS, fields, strict=True))
    uniform = dict(zip(_MAPS, maps, strict=True))

    grids = _static_grids(config)
    rows, cols, dist = jnp.asarray(grids.rows), jnp.asarray(grids.cols), jnp.asarray(grids.dist)
    centre = size // 2
    # Push water and mountains away from the start so the agent starts on open grass.
    clear = _START_CLEARING * jnp.clip(1.0 - dist / params.start_clear_radius, 0.0, 1.0)
    water_noise = field["water"] - clear
    mountain_noise = field["mountain"] - clear

    water = water_noise > params.water_level
    sand = ~water & (water_noise > params.water_level - params.sand_width)
    mountain = ~water & ~sand & (mountain_noise > params.mountain_level)
    tunnel = mountain & (field["cave"] > params.cave_level)
    lava = mountain & ~tunnel & (mountain_noise > params.lava_depth)
    lava = lava & (field["lava"] > params.lava_level)
    rock = mountain & ~tunnel & ~lava
    coal = rock & (uniform["coal"] < params.coal_prob)
    forest = ~water & ~sand & ~mountain & (field["tree"] > params.tree_level)
    tree = forest & (uniform["tree"] < params.tree_density)
    tree = tree & (dist > _TREE_FREE_RADIUS)

    tiles = jnp.full((size, size), C.GRASS, jnp.int32)
    tiles = jnp.where(tree, C.TREE, tiles)
    tiles = jnp.where(sand, C.SAND, tiles)
    tiles = jnp.where(water, C.WATER, tiles)
    tiles = jnp.where(rock, C.STONE, tiles)
    tiles = jnp.where(coal, C.COAL, tiles)
    tiles = jnp.where(tunnel, C.TUNNEL, tiles)
    tiles = jnp.where(lava, C.LAVA, tiles)

    # Iron and diamonds: a fixed count each, deep mountain cells preferred, never stacked. One
    # draw picks both; the random scores make which ore lands where random too.
    num_ores = config.num_iron + config.num_diamonds
    if num_ores > 0:
        deep = mountain_noise > params.mountain_level + _DEEP_MARGIN
        index, valid = _pick_cells(uniform["ore"], rock & ~coal, deep, num_ores)
        ore = jnp.where(jnp.arange(num_ores) < config.num_iron, C.IRON, C.DIAMOND)
        flat = tiles.reshape(-1)
        tiles = flat.at[index].set(jnp.where(valid, ore, flat[index])).reshape(size, size)

    # Depots on cleared 3x3 grass patches; computed per cell, without scatters.
    depot_pos = _place_depots(uniform["depot"], params, config, grids)
    d_row = jnp.abs(rows[None] - depot_pos[:, 0, None, None])  # [D, S, S]
    d_col = jnp.abs(cols[None] - depot_pos[:, 1, None, None])
    depot_ids = C.DEPOT_BASE + jnp.arange(config.num_depots)[:, None, None]
    marks = jnp.stack(
        [
            ((d_row <= 1) & (d_col <= 1)).astype(jnp.int32),
            jnp.where((d_row == 0) & (d_col == 0), depot_ids + 1, 0),
        ]
    ).max(axis=1)  # [2, S, S]: in a patch, 1 + depot id
    tiles = jnp.where(marks[0] > 0, C.GRASS, tiles)
    tiles = jnp.where(marks[1] > 0, marks[1] - 1, tiles)
    tiles = jnp.where((rows == centre) & (cols == centre), C.GRASS, tiles)

    # The first cows: one random cell each within the view around the start, at least
    # _COW_MIN_DISTANCE from it; a cow is dropped where that cell is not free grass.
    if config.initial_cows > 0:
        r = config.view_radius
        cow_draws = rest[C.NUM_TOOLS + 3 :].reshape(config.initial_cows, 2)
        offset = jnp.minimum((cow_draws * (2 * r + 1)).astype(jnp.int32), 2 * r) - r
        cow_pos = jnp.clip(centre + offset, 0, size - 1).astype(jnp.int32)
        far = jnp.max(jnp.abs(cow_pos - centre), axis=1) >= _COW_MIN_DISTANCE
        on_grass = tiles[cow_pos[:, 0], cow_pos[:, 1]] == C.GRASS
        same = _same_rows(cow_pos) & jnp.tril(jnp.ones((config.initial_cows,) * 2, bool), k=-1)
        cow_valid = far & on_grass & ~jnp.any(same, axis=1)
    else:
        cow_pos = jnp.zeros((0, 2), jnp.int32)
        cow_valid = jnp.zeros((0,), jnp.bool_)
    return World(
        tiles=tiles.astype(jnp.uint8),
        start=jnp.array([centre, centre], jnp.int32),
        depot_pos=depot_pos,
        cow_pos=cow_pos,
        cow_valid=cow_valid,
        # The order of i.i.d. uniforms is a uniformly random permutation.
        recipe=jnp.argsort(rest[: C.NUM_TOOLS]).astype(jnp.int32),
        order_uniforms=rest[C.NUM_TOOLS : C.NUM_TOOLS + 3],
    )


class _Grids(NamedTuple):
    """Per-cell constants of a map size (numpy: computed once, no work in the compiled reset)."""

    rows: np.ndarray  # [S, S] int32 row index
    cols: np.ndarray  # [S, S] int32 column index
    dist: np.ndarray  # [S, S] float32 Euclidean distance from the start (the centre)
    sector: np.ndarray  # [S, S] int32 angular sector around the start, in [0, num_depots)
    inside: np.ndarray  # [S, S] bool off the map border (room for a 3x3 depot patch)


@functools.lru_cache(maxsize=16)
def _static_grids(config: CraftingConfig) -> _Grids:
    size, centre = config.map_size, config.map_size // 2
    rows, cols = np.meshgrid(np.arange(size), np.arange(size), indexing="ij")
    angle = np.arctan2(rows - centre, cols - centre)  # in [-pi, pi]
    sector = np.floor((angle + np.pi) / (2.0 * np.pi) * config.num_depots).astype(np.int32)
    return _Grids(
        rows=rows.astype(np.int32),
        cols=cols.astype(np.int32),
        dist=np.sqrt((rows - centre) ** 2.0 + (cols - centre) ** 2.0).astype(np.float32),
        sector=np.minimum(sector, config.num_depots - 1),
        inside=(rows >= 1) & (rows <= size - 2) & (cols >= 1) & (cols <= size - 2),
    )


def _place_depots(u: jax.Array, params: EnvParams, config: CraftingConfig, grids: _Grids):
    """One depot per angular sector around the start, in a ring, off the map border.

    Args:
        u: float32 [S, S] uniforms (the random choice within each sector).
        params: env params (the ring's radii).
        config: static sizes.
        grids: the map size's per-cell constants.

    Returns:
        int32 [D, 2] (row, col) of each depot.
    """
    size = config.map_size
    half = size / 2.0
    dist = jnp.asarray(grids.dist)
    ring = (dist >= params.depot_min_distance * half) & (dist <= params.depot_max_distance * half)
    in_sector = grids.sector[None] == np.arange(config.num_depots)[:, None, None]  # [D, S, S]
    candidates = jnp.asarray(grids.inside & in_sector) & ring[None]
    index = jnp.argmax(jnp.where(candidates, u[None], -1.0).reshape(config.num_depots, -1), axis=-1)
    return jnp.stack([index // size, index % size], -1).astype(jnp.int32)
