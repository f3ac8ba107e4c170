"""Host-side renderers of one (unbatched) navigation state: text and RGB."""

from __future__ import annotations

import numpy as np

from envs_jax.navigation.types import (
    COLOUR_NAMES,
    FLOOR,
    LANDMARK_CHARS,
    Layout,
    NavigationParams,
    NavigationState,
)
from envs_jax.render import tile_grid

#: Text-renderer characters: locked doors upper case, keys lower case (by colour).
COLOUR_LETTERS = "RGBYPOCK"
#: RGB renderer: brightness of the cells outside the agent's view, relative to those inside.
OUT_OF_VIEW_BRIGHTNESS = 0.55
#: RGB colour of each lock colour, in id order.
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


def tile_chars(layout: Layout) -> list[str]:
    """The text renderer's character of every tile id."""
    cfg = layout.config
    chars = [".", "#", "/"]
    chars += list(COLOUR_LETTERS[: cfg.num_colours])
    chars += list(COLOUR_LETTERS[: cfg.num_colours].lower())
    chars += list(LANDMARK_CHARS[: cfg.num_landmarks])
    return chars


def render_text(layout: Layout, state: NavigationState, params: NavigationParams) -> str:
    """The building as characters with a header line and a legend.

    ``#`` wall, ``.`` floor, ``/`` open door, upper-case letters locked doors and lower-case
    letters keys (by colour), digits and symbols landmarks, ``@`` the agent; ``>`` marks
    the rows and ``^`` (under the map) the columns of the agent's view window.
    """
    cfg = layout.config
    chars = tile_chars(layout)
    grid = layout.unpadded(state.grid)
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
    left = max(agent_col - layout.radius, 0)
    right = min(agent_col + layout.radius + 1, layout.width)
    for i, row in enumerate(rows):
        marker = ">" if abs(i - agent_row) <= layout.radius else " "
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


def palette(layout: Layout) -> np.ndarray:
    """The RGB colour of every tile id, uint8 [num_tiles, 3]."""
    cfg = layout.config
    colours = COLOUR_RGB[: cfg.num_colours].astype(np.int32)
    hues = np.linspace(0.0, 1.0, cfg.num_landmarks, endpoint=False)
    # Landmarks: evenly spaced hues at medium brightness, distinct from the key colours.
    landmark_rgb = np.stack(
        [127 + 100 * np.cos(2 * np.pi * (hues + shift)) for shift in (0.0, 1.0 / 3.0, 2.0 / 3.0)],
        axis=1,
    )
    colours_of_tiles = np.concatenate(
        [
            np.array([[235, 235, 225], [70, 70, 80], [170, 120, 70]]),
            colours * 6 // 10,  # locked doors: darker shade of their colour
            colours,  # keys: the colour itself
            landmark_rgb,
        ]
    )
    return np.clip(colours_of_tiles, 0, 255).astype(np.uint8)


def render_rgb(
    layout: Layout, state: NavigationState, params: NavigationParams, tile: int = 8
) -> np.ndarray:
    """The building, uint8 [(H + 1) * tile, W * tile, 3].

    Walls dark grey, floor light, open doors brown, locked doors a dark shade of their
    colour, keys a bar of their colour on the floor, landmarks a tile of their own hue with
    a white centre. Cells outside the agent's view are dimmed; the agent is a black square,
    the target landmark has a black frame; a status row under the map shows the target's
    colour and the held key's colour (grey when empty).
    """
    del params
    grid = layout.unpadded(state.grid)
    colours = palette(layout)
    floor_rgb = colours[FLOOR]
    is_key = (grid >= layout.key_base) & (grid < layout.landmark_base)
    image = tile_grid(np.where(is_key, FLOOR, grid), colours, tile)
    eighth = max(tile // 8, 1)
    for row, col in np.argwhere(is_key):  # a few keys at most
        top, left = row * tile, col * tile
        image[top + 3 * eighth : top + tile - 3 * eighth, left + eighth : left + tile - eighth] = (
            colours[grid[row, col]]
        )
    for row, col in np.argwhere(grid >= layout.landmark_base):
        top, left = row * tile, col * tile
        image[
            top + 3 * eighth : top + tile - 3 * eighth,
            left + 3 * eighth : left + tile - 3 * eighth,
        ] = floor_rgb
    agent_row, agent_col = (int(v) for v in np.asarray(state.agent_pos))
    rows, cols = np.arange(layout.height), np.arange(layout.width)
    in_view = (np.abs(rows - agent_row)[:, None] <= layout.radius) & (
        np.abs(cols - agent_col)[None, :] <= layout.radius
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

    status = np.full((tile, layout.width * tile, 3), 255, np.uint8)
    status[:, :tile] = colours[layout.landmark_base + target]
    pocket = int(state.pocket)
    status[:, 2 * tile : 3 * tile] = (
        colours[layout.key_base + pocket - 1] if pocket > 0 else np.array([128, 128, 128])
    )
    return np.concatenate([image, status], axis=0)
