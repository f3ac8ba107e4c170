"""The recall sweep's files: ``results.json``, the Markdown table with take-offs, and the two
pictures (final return and success against lag; learning curves per lag).

:func:`write_outputs` writes them from the cells of :mod:`experiments.benchmarks.recall`;
:func:`takeoff_update` finds where a learning curve leaves chance.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

import envs_jax

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
RESULTS_PNG = "recall.png"
CURVES_PNG = "curves.png"
#: y ranges of the plot: every possible final return (one decision worth +1, or at worst -1)
#: and success.
RETURN_LIMITS: tuple[float, float] = (-1.05, 1.05)
SUCCESS_LIMITS: tuple[float, float] = (-0.02, 1.02)
#: Factor of room left and right of the smallest and largest lag on the log axis.
LAG_MARGIN = 1.5


def cell_name(memory: str, lag: int) -> str:
    return f"{memory}/lag{lag}"


def write_json(path: str, payload: dict[str, Any]) -> None:
    """Writes ``payload`` through a temporary file, so an interruption never leaves half a file."""
    partial = path + ".partial"
    with open(partial, "w", encoding="utf-8") as handle:
        json.dump(payload, handle, indent=1, allow_nan=False)
    os.replace(partial, path)


def _ordered(values: Sequence[Any], first: Sequence[Any]) -> list[Any]:
    """``first`` in its order, then the other values in theirs, without repeats."""
    return list(dict.fromkeys([*(v for v in first if v in values), *values]))


def fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


#: Take-off: the first update at which the mean return of the last W updates (a full window,
#: W = max(TAKEOFF_WINDOW, 5 % of the updates)) reaches TAKEOFF_RETURN (half of perfect
#: recall; chance is 0). The window grows with the run so that at long lags, where an update
#: finishes only a few episodes, a lucky handful of answers does not count as learning.
TAKEOFF_WINDOW = 8
TAKEOFF_RETURN = 0.5


def takeoff_window(num_updates: int) -> int:
    """W: updates averaged by :func:`takeoff_update` for a run of ``num_updates``."""
    return max(TAKEOFF_WINDOW, num_updates // 20)


def smoothed(curve: Sequence[float | None], window: int = TAKEOFF_WINDOW) -> np.ndarray:
    """Trailing mean of the last ``window`` per-update returns (updates without episodes left
    out; NaN until one finished): the line :func:`takeoff_update` thresholds."""
    values = np.array([np.nan if v is None else v for v in curve], np.float64)
    out = np.full(values.shape, np.nan)
    for update in range(1, len(values) + 1):
        recent = values[max(0, update - window) : update]
        recent = recent[np.isfinite(recent)]
        if recent.size:
            out[update - 1] = recent.mean()
    return out


def takeoff_update(curve: Sequence[float | None], window: int | None = None) -> int | None:
    """Updates until a seed "takes off": the first update count ``u >= window`` at which the
    mean of the per-update returns ``curve[u - window : u]`` (updates without a finished
    episode left out) is at least ``TAKEOFF_RETURN``; None if it never is. ``window``
    defaults to :func:`takeoff_window` of the curve's length.

    Recall is learned as a sudden rise after a plateau, so this counts the plateau.
    """
    window = takeoff_window(len(curve)) if window is None else window
    trailing = smoothed(curve, window)[window - 1 :]
    reached = np.nonzero(trailing >= TAKEOFF_RETURN)[0]
    return int(reached[0]) + window if reached.size else None


def takeoff_text(cell: dict[str, Any]) -> str:
    """Per seed, the env steps at take-off in millions (``–`` for a seed that never did)."""
    config = cell.get("config", {})
    steps_per_update = int(config.get("num_envs", 0)) * int(config.get("num_steps", 0))
    updates = [takeoff_update(curve) for curve in cell.get("return_curve", [])]
    return ", ".join("–" if u is None else f"{u * steps_per_update / 1e6:.2f} M" for u in updates)


def markdown_table(cells: dict[str, Any], memories: Sequence[str], lags: Sequence[int]) -> str:
    """Rows: memory kinds; columns: lags; cells ``return mean ± std / success mean`` and the
    env steps at which each seed took off (:func:`takeoff_update`)."""
    header = "| memory | " + " | ".join(f"lag {lag:,}" for lag in lags) + " |"
    lines = [header, "| --- " * (len(lags) + 1) + "|"]
    for memory in memories:
        entries = []
        for lag in lags:
            cell = cells.get(cell_name(memory, lag))
            if cell is None:
                entries.append("–")
                continue
            entries.append(
                f"{fmt(cell['return_mean'])} ± {fmt(cell['return_std'])} / "
                f"{fmt(cell['success_mean'], '.2f')} (take-off {takeoff_text(cell)})"
            )
        lines.append(f"| {memory} | " + " | ".join(entries) + " |")
    return "\n".join(lines)


def chance_levels(env_id: str, env_options: dict[str, Any]) -> tuple[float, float]:
    """Return and success of a player that cannot remember: ``(0, 1 / num_actions)``."""
    env, params = envs_jax.make(env_id, **env_options)
    return 0.0, 1.0 / int(env.action_space(params).n)


def plot_sweep(
    cells: dict[str, Any],
    memories: Sequence[str],
    lags: Sequence[int],
    chance: tuple[float, float],
    path: str,
    title: str,
) -> Figure:
    """Final return and success against lag (log axis), one line per memory kind, the seeds'
    std as error bars, chance dashed; saved to ``path`` as a PNG."""
    figure = Figure(figsize=(11.0, 4.2), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 2)
    panels = (
        ("return", "final episode return", RETURN_LIMITS),
        ("success", "final success", SUCCESS_LIMITS),
    )
    for axis, (metric, label, limits), level in zip(axes, panels, chance, strict=True):
        for memory in memories:
            points = [
                (lag, cells[cell_name(memory, lag)])
                for lag in lags
                if cell_name(memory, lag) in cells
                and cells[cell_name(memory, lag)][f"{metric}_mean"] is not None
            ]
            if not points:
                continue
            xs = [lag for lag, _ in points]
            means = [cell[f"{metric}_mean"] for _, cell in points]
            stds = [cell[f"{metric}_std"] or 0.0 for _, cell in points]
            axis.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=memory)
        axis.axhline(level, color="grey", linestyle="--", linewidth=1, label="chance")
        axis.set_xscale("log")
        axis.set_xticks(list(lags), labels=[f"{lag:,}" for lag in lags])
        axis.minorticks_off()
        axis.set_xlim(min(lags) / LAG_MARGIN, max(lags) * LAG_MARGIN)
        axis.set_ylim(*limits)
        axis.set_xlabel("lag (steps from cue to query)")
        axis.set_ylabel(label)
        axis.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize="small")
    figure.suptitle(title)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110)
    return figure


def plot_curves(
    cells: dict[str, Any],
    memories: Sequence[str],
    lags: Sequence[int],
    chance: float,
    path: str,
    title: str,
) -> Figure:
    """Learning curves: one panel per lag, the return (trailing mean over 8 updates) against
    env steps, one line per seed, a colour per memory kind, chance dashed; saved to ``path``."""
    figure = Figure(figsize=(4.2 * len(lags) + 1.0, 3.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(1, len(lags), sharey=True))
    colours = {memory: f"C{index}" for index, memory in enumerate(memories)}
    for axis, lag in zip(axes, lags, strict=True):
        for memory in memories:
            cell = cells.get(cell_name(memory, lag))
            if cell is None:
                continue
            config = cell.get("config", {})
            steps_per_update = int(config.get("num_envs", 1)) * int(config.get("num_steps", 1))
            for seed, curve in enumerate(cell["return_curve"]):
                xs = np.arange(1, len(curve) + 1) * steps_per_update / 1e6
                axis.plot(
                    xs,
                    smoothed(curve),
                    color=colours[memory],
                    linewidth=1.2,
                    label=memory if seed == 0 else None,
                )
        axis.axhline(chance, color="grey", linestyle="--", linewidth=1)
        axis.axhline(TAKEOFF_RETURN, color="grey", linestyle=":", linewidth=1, label="take-off")
        axis.set_title(f"lag {lag:,}")
        axis.set_xlabel("env steps (millions)")
        axis.set_ylim(*RETURN_LIMITS)
        axis.grid(True, alpha=0.3)
    axes[0].set_ylabel("return (mean of last 8 updates)")
    axes[0].legend(fontsize="small")
    figure.suptitle(title)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, dpi=110)
    return figure


def write_outputs(
    out_dir: str,
    settings: dict[str, Any],
    cells: dict[str, Any],
    memories: Sequence[str],
    lags: Sequence[int],
) -> str:
    """Writes results.json, results.md, recall.png and curves.png; returns the Markdown table."""
    write_json(os.path.join(out_dir, RESULTS_JSON), {"settings": settings, "cells": cells})
    all_memories = _ordered([c["memory"] for c in cells.values()], memories)
    all_lags = sorted({*lags, *(c["lag"] for c in cells.values())})
    table = markdown_table(cells, all_memories, all_lags)
    chance = chance_levels(settings["env"], settings["env_options"])
    seeds = len(settings["seeds"])
    title = (
        f"{settings['env']}: {settings['total_steps']:,} env steps, {seeds} seed(s), "
        f"final {settings['final_window']} of {settings['num_updates']} updates"
    )
    with open(os.path.join(out_dir, RESULTS_MD), "w", encoding="utf-8") as handle:
        handle.write(
            f"# {title}\n\nCells: final return mean ± std over seeds / final success mean. "
            f"Chance: return {chance[0]:g}, success {chance[1]:.3g}.\n\n{table}\n"
        )
    plot_sweep(cells, all_memories, all_lags, chance, os.path.join(out_dir, RESULTS_PNG), title)
    curve_lags = [lag for lag in all_lags if any(c["lag"] == lag for c in cells.values())]
    if curve_lags:
        plot_curves(
            cells, all_memories, curve_lags, chance[0], os.path.join(out_dir, CURVES_PNG), title
        )
    return table
