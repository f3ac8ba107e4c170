"""Host-side renderers of one (unbatched) crafting state: text and RGB."""

from __future__ import annotations

import numpy as np

from envs_jax.crafting import constants as C
from envs_jax.crafting.types import CraftingConfig, EnvParams, EnvState
from envs_jax.render import tile_grid

#: One character per tile id below DEPOT_BASE (view-only ids included for completeness).
TILE_CHARS = " .:~#_,TciD%tfpPCZS?"
#: Depot k is drawn as DEPOT_CHARS[k].
DEPOT_CHARS = "0123456789jklmno"
#: Agent drawn by facing (left, right, up, down).
AGENT_CHARS = "<>^v"
#: Colours of the tile ids below DEPOT_BASE, then of depots, then of the agent.
TILE_COLOURS = np.array(
    [
        (0, 0, 0),  # out
        (90, 170, 60),  # grass
        (225, 210, 140),  # sand
        (60, 110, 200),  # water
        (120, 120, 120),  # stone
        (165, 150, 130),  # path
        (70, 60, 55),  # tunnel
        (30, 100, 30),  # tree
        (40, 40, 40),  # coal
        (200, 150, 110),  # iron
        (150, 240, 240),  # diamond
        (240, 80, 20),  # lava
        (150, 95, 40),  # table
        (110, 50, 50),  # furnace
        (140, 200, 80),  # plant
        (220, 60, 120),  # ripe plant
        (250, 250, 250),  # cow
        (20, 140, 80),  # zombie
        (200, 200, 170),  # skeleton
        (10, 10, 20),  # dark
    ],
    np.uint8,
)
DEPOT_COLOUR = np.array((250, 200, 0), np.uint8)
AGENT_COLOUR = np.array((230, 30, 30), np.uint8)
#: Night darkening: brightness = NIGHT_FLOOR + (1 - NIGHT_FLOOR) * daylight.
NIGHT_FLOOR = 0.45
#: Side of one cell in pixels.
TILE_PIXELS = 8


def _daylight(time: int, params: EnvParams) -> float:
    """Host-side twin of :func:`envs_jax.crafting.ops.daylight`."""
    cycle = time / float(params.day_length)
    return float(1.0 - abs(np.cos(np.pi * (cycle + C.DAY_START))) ** 3)


def _grid_with_actors(config: CraftingConfig, state: EnvState) -> tuple[np.ndarray, np.ndarray]:
    """Unpadded tile ids [S, S] with creatures drawn on top, and the agent position."""
    pad = config.view_radius
    size = config.map_size
    tiles = np.asarray(state.map)[pad : pad + size, pad : pad + size].astype(np.int32)
    alive = np.asarray(state.creature_alive)
    for (row, col), kind in zip(
        np.asarray(state.creature_pos)[alive], np.asarray(state.creature_kind)[alive], strict=True
    ):
        tiles[row, col] = C.CREATURE_TILE[kind]
    return tiles, np.asarray(state.pos)


def render_rgb(config: CraftingConfig, state: EnvState, params: EnvParams) -> np.ndarray:
    """The whole map, creatures and agent as uint8 [S * 8, S * 8, 3], dimmed at night."""
    tiles, pos = _grid_with_actors(config, state)
    agent_id = config.num_tile_ids
    tiles[pos[0], pos[1]] = agent_id
    palette = np.concatenate(
        [
            TILE_COLOURS,
            np.repeat(DEPOT_COLOUR[None], config.num_depots, axis=0),
            AGENT_COLOUR[None],
        ]
    )
    image = tile_grid(tiles, palette, TILE_PIXELS).astype(np.float32)
    brightness = NIGHT_FLOOR + (1.0 - NIGHT_FLOOR) * _daylight(int(state.time), params)
    return np.clip(image * brightness, 0, 255).astype(np.uint8)


def render_text(config: CraftingConfig, state: EnvState, params: EnvParams) -> str:
    """The world as text: status lines, the recipe book and the order, then the map."""
    tiles, pos = _grid_with_actors(config, state)
    chars = np.empty(tiles.shape, dtype="<U1")
    below = tiles < C.DEPOT_BASE
    chars[below] = np.array(list(TILE_CHARS))[tiles[below]]
    chars[~below] = np.array(list(DEPOT_CHARS))[tiles[~below] - C.DEPOT_BASE]
    chars[pos[0], pos[1]] = AGENT_CHARS[int(state.facing)]

    time = int(state.time)
    light = _daylight(time, params)
    phase = "night" if light < float(params.night_threshold) else "day"
    vitals = np.asarray(state.vitals)
    inventory = np.asarray(state.inventory)
    achievements = np.asarray(state.achievements)
    lines = [
        f"t={time}/{int(params.max_steps_in_episode)}  {phase} (daylight {light:.2f})"
        + ("  asleep" if bool(state.sleeping) else ""),
        "vitals: " + ", ".join(f"{n} {int(v)}" for n, v in zip(C.VITAL_NAMES, vitals, strict=True)),
        "inventory: "
        + (
            ", ".join(
                f"{n} {int(c)}" for n, c in zip(C.ITEM_NAMES, inventory, strict=True) if c > 0
            )
            or "empty"
        ),
        f"achievements ({int(achievements.sum())}/{C.NUM_ACHIEVEMENTS}): "
        + (", ".join(n for n, a in zip(C.ACHIEVEMENTS, achievements, strict=True) if a) or "none"),
        "recipe book: "
        + ", ".join(f"make_{s} -> {C.TOOL_NAMES[int(tool)]}" for s, tool in enumerate(state.recipe))
        + f" (shown while t < {int(params.recipe_show_steps)})",
    ]
    order_time = int(state.order_time)
    if order_time < 0:
        lines.append("order: none yet")
    else:
        status = "open" if bool(state.order_active) else "closed"
        lines.append(
            f"order: {int(state.order_amount)} x {C.ITEM_NAMES[int(state.order_item)]} to depot "
            f"{DEPOT_CHARS[int(state.order_depot)]}, issued t={order_time}, deliverable from "
            f"t={order_time + int(params.order_delay)} [{status}]; "
            f"delivered so far: {int(state.deliveries)}"
        )
    lines.extend("".join(row) for row in chars)
    lines.append(
        "legend: . grass  : sand  ~ water  # stone  _ path  , tunnel  T tree  c coal  i iron  "
        "D diamond  % lava  t table  f furnace  p plant  P ripe plant  C cow  Z zombie  "
        f"S skeleton  {DEPOT_CHARS[: config.num_depots]} depots  <>^v agent"
    )
    return "\n".join(lines)
