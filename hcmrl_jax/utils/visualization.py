"""Pictures of a run: learning curves, mean ± std over seeds, and what the memory attended to.

Every function draws on its own ``matplotlib.figure.Figure`` (no pyplot state, no global
backend change, so it is safe in scripts, threads and notebooks), saves a PNG when given a path,
and returns the figure so a notebook can show it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import EngFormatter, MaxNLocator

from hcmrl_jax.utils.metrics import ema, mean_and_std

#: Names of the memory tiers, in the order of the tier mix.
TIER_NAMES: tuple[str, ...] = ("immediate", "short-term", "long-term")
PNG_DPI = 110


def _new_figure(num_panels: int, panel_size: tuple[float, float]) -> tuple[Figure, list]:
    figure = Figure(figsize=(panel_size[0] * num_panels, panel_size[1]), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, num_panels, squeeze=False)[0]
    return figure, list(axes)


def _save(figure: Figure, path: str | None) -> None:
    if path is not None:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        figure.savefig(path, dpi=PNG_DPI)


def plot_learning_curves(
    columns: Mapping[str, np.ndarray],
    path: str | None = None,
    keys: Sequence[str] = ("return", "success"),
    x_key: str = "env_steps",
    smoothing: float = 0.6,
    title: str | None = None,
    empty_note: str = "no value measured in this run",
) -> Figure:
    """One panel per metric against environment steps (raw and EMA-smoothed).

    Args:
        columns: name -> float ``[U]`` (e.g. :func:`hcmrl_jax.utils.metrics.rows_to_columns`).
        path: PNG to write, or None.
        keys: metrics to draw; those missing from ``columns`` are skipped.
        x_key: the x axis column.
        smoothing: EMA weight in ``[0, 1)`` of the smoothed line.
        title: figure title.
        empty_note: written across a panel whose metric has no finite value (e.g. a lag bin
            in which no decision fell), so the panel does not just look blank.

    Raises:
        ValueError: none of ``keys`` is in ``columns``, or ``x_key`` is missing.
    """
    if x_key not in columns:
        raise ValueError(f"columns have no x axis {x_key!r}; got {sorted(columns)}")
    present = [key for key in keys if key in columns]
    if not present:
        raise ValueError(f"none of {list(keys)} is in the metrics; got {sorted(columns)}")
    figure, axes = _new_figure(len(present), (4.2, 3.2))
    x = np.asarray(columns[x_key])
    for axis, key in zip(axes, present, strict=True):
        y = np.asarray(columns[key], np.float64)
        # Updates in which no episode ended are NaN: join the measured points across them.
        measured = np.isfinite(y)
        axis.plot(
            x[measured],
            y[measured],
            color="tab:blue",
            alpha=0.35,
            linewidth=1.0,
            marker=".",
            markersize=3,
            label="per update",
        )
        smooth = ema(y, smoothing)
        axis.plot(x[measured], smooth[measured], color="tab:blue", linewidth=2.0, label="smoothed")
        if not measured.any():
            axis.text(
                0.5, 0.5, empty_note, transform=axis.transAxes, ha="center", va="center",
                color="0.4", wrap=True,
            )  # fmt: skip
        axis.set_xlabel(x_key.replace("_", " "))
        axis.set_ylabel(key)
        axis.grid(alpha=0.3)
    if axes[0].get_lines() and np.isfinite(np.asarray(columns[present[0]], np.float64)).any():
        axes[0].legend(loc="best", fontsize="small")
    if title:
        figure.suptitle(title)
    _save(figure, path)
    return figure


def plot_seed_curves(
    x: np.ndarray,
    curves: np.ndarray,
    path: str | None = None,
    ylabel: str = "return",
    xlabel: str = "env steps",
    title: str | None = None,
) -> Figure:
    """Each seed's curve (thin) and the mean ± one standard deviation band over seeds.

    Args:
        x: float ``[U]`` x axis.
        curves: float ``[N, U]``, one row per seed (NaN where a seed has no value).
        path: PNG to write, or None.
    """
    curves = np.asarray(curves, np.float64)
    x = np.asarray(x)
    if curves.ndim != 2 or curves.shape[1] != x.shape[0]:
        raise ValueError(f"curves must be [num_seeds, {x.shape[0]}], got shape {curves.shape}")
    mean, std = mean_and_std(curves)
    figure, (axis,) = _new_figure(1, (5.5, 3.6))
    for seed, curve in enumerate(curves):
        axis.plot(x, curve, linewidth=0.8, alpha=0.45, label=f"seed {seed}")
    axis.plot(x, mean, color="black", linewidth=2.0, label="mean")
    axis.fill_between(x, mean - std, mean + std, color="black", alpha=0.15, label="± std")
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.grid(alpha=0.3)
    axis.legend(loc="best", fontsize="x-small", ncol=2)
    axis.set_title(title or f"{ylabel}: mean ± std over {curves.shape[0]} seeds")
    _save(figure, path)
    return figure


def _heads_mean(weights: np.ndarray, name: str) -> np.ndarray:
    weights = np.asarray(weights, np.float64)
    if weights.ndim == 3:  # [T, H, N]: heads averaged
        return weights.mean(axis=1)
    if weights.ndim == 2:  # [T, N]
        return weights
    raise ValueError(f"{name} weights must be [T, H, N] or [T, N], got shape {weights.shape}")


def plot_memory_attention(
    tier_weights: Mapping[str, np.ndarray],
    tier_mix: np.ndarray | None = None,
    path: str | None = None,
    title: str | None = None,
    occupancy: Mapping[str, np.ndarray] | None = None,
    events: Mapping[str, np.ndarray] | None = None,
) -> Figure:
    """What the memory read over an episode: per-tier attention over slots, the tier mix, and
    the tiers' occupancy with the memory's compression events.

    Args:
        tier_weights: tier name -> float ``[T, H, N]`` (or ``[T, N]``) attention weights of each
            step's read over that tier's N slots (heads are averaged). Invalid slots carry zero
            weight, so an empty tier shows as a dark column.
        tier_mix: float ``[T, 3]`` weight of each tier in the read-out, or None.
        path: PNG to write, or None.
        title: figure title.
        occupancy: tier -> int ``[T]`` slots in use after each step (keys ``immediate``,
            ``short_term``, ``long_term``; others are ignored), or None.
        events: event name -> int step indices (``summarised``, ``merged``, ``consolidated``,
            :func:`hcmrl_jax.memory.inspect.memory_events`), drawn as ticks under the occupancy.
    """
    if not tier_weights and tier_mix is None:
        raise ValueError("nothing to plot: no tier weights and no tier mix")
    panels = len(tier_weights) + (tier_mix is not None) + (occupancy is not None)
    figure, axes = _new_figure(panels, (3.8, 3.4))
    for axis, (name, weights) in zip(axes, tier_weights.items(), strict=False):
        image = _heads_mean(weights, name)
        shown = axis.imshow(
            image.T, aspect="auto", origin="lower", interpolation="nearest", cmap="viridis"
        )
        axis.set_title(f"{name} attention")
        axis.set_xlabel("episode step")
        axis.set_ylabel("slot")
        axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        figure.colorbar(shown, ax=axis, fraction=0.05)
    if tier_mix is not None:
        mix = np.asarray(tier_mix, np.float64)
        if mix.ndim != 2:
            raise ValueError(f"tier_mix must be [T, num_tiers], got shape {mix.shape}")
        axis = axes[len(tier_weights)]
        steps = np.arange(mix.shape[0])
        labels = [
            TIER_NAMES[i] if i < len(TIER_NAMES) else f"tier {i}" for i in range(mix.shape[1])
        ]
        axis.stackplot(steps, mix.T, labels=labels, alpha=0.85)
        axis.set_ylim(0.0, max(1.0, float(np.nanmax(mix.sum(axis=1))) if mix.size else 1.0))
        axis.set_title("tier mix")
        axis.set_xlabel("episode step")
        axis.set_ylabel("weight")
        # Beside the panel, not on it: the stacked areas fill the whole axes.
        axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="x-small")
    if occupancy is not None:
        _plot_occupancy(axes[-1], occupancy, events or {})
    if title:
        figure.suptitle(title)
    _save(figure, path)
    return figure


#: Occupancy counters drawn, with their labels; event kinds with their tick rows and colours.
_OCCUPANCY_LINES: tuple[tuple[str, str], ...] = (
    ("immediate", "immediate slots"),
    ("short_term", "short-term summaries"),
    ("long_term", "long-term templates"),
)
_EVENT_ROWS: tuple[tuple[str, str], ...] = (
    ("summarised", "tab:gray"),
    ("merged", "tab:red"),
    ("consolidated", "tab:purple"),
)


def _plot_occupancy(axis: Any, occupancy: Mapping[str, np.ndarray], events: Mapping) -> None:
    """Slots in use per tier over the episode, with event ticks below the lines."""
    top = 1.0
    for key, label in _OCCUPANCY_LINES:
        if key in occupancy:
            values = np.asarray(occupancy[key], np.float64)
            if values.ndim != 1:
                raise ValueError(f"occupancy {key!r} must be [T], got shape {values.shape}")
            axis.step(np.arange(values.size), values, where="post", label=label)
            top = max(top, float(values.max()) if values.size else 1.0)
    for row, (name, colour) in enumerate(_EVENT_ROWS):
        steps = np.asarray(events.get(name, []), np.float64)
        if steps.size:
            level = -(row + 1) * 0.06 * top
            axis.plot(
                steps,
                np.full(steps.shape, level),
                "|",
                color=colour,
                markersize=6,
                label=f"{name} ({steps.size})",
            )
    axis.set_ylim(-0.25 * top, 1.08 * top)
    axis.set_title("tier occupancy and events")
    axis.set_xlabel("episode step")
    axis.set_ylabel("slots in use")
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize="x-small")


def plot_lag_success(
    bin_names: Sequence[str],
    rates: np.ndarray,
    counts: np.ndarray | None = None,
    path: str | None = None,
    title: str | None = None,
) -> Figure:
    """Bar chart of success rate per memory-lag bin; a bin without decisions says so.

    Args:
        bin_names: B bin labels.
        rates: float ``[B]`` success rate per bin (NaN where no decision).
        counts: int ``[B]`` decisions per bin, written above the bars, or None.
        path: PNG to write, or None.
    """
    rates = np.asarray(rates, np.float64)
    if rates.shape != (len(bin_names),):
        raise ValueError(f"rates must have shape [{len(bin_names)}], got {rates.shape}")
    figure, (axis,) = _new_figure(1, (4.5, 3.2))
    positions = np.arange(len(bin_names))
    axis.bar(positions, np.nan_to_num(rates), color="tab:green")
    counts = np.zeros(len(bin_names), int) if counts is None else np.asarray(counts)
    for position, rate, count in zip(positions, rates, counts, strict=True):
        if np.isfinite(rate):
            label = f"n={int(count)}" if count else ""
            axis.text(position, rate + 0.02, label, ha="center", fontsize="small")
        else:
            axis.text(
                position, 0.05, "no decisions\nat this lag", ha="center", va="bottom",
                rotation=90, fontsize="small", color="0.4",
            )  # fmt: skip
    axis.set_xticks(positions, list(bin_names))
    axis.set_ylim(0.0, 1.1)
    axis.set_xlabel("lag: steps since the needed information was last seen")
    axis.set_ylabel("success rate")
    axis.set_title(title or "recall by lag")
    _save(figure, path)
    return figure


def plot_kind_curves(
    curves: Mapping[str, Mapping[str, np.ndarray]],
    path: str | None = None,
    keys: Sequence[str] = ("episode_return", "success"),
    title: str | None = None,
    smoothing: float = 0.9,
) -> Figure:
    """Learning curves of several memory kinds: per kind the mean over seeds, with a band from
    the lowest to the highest seed, each seed first smoothed by :func:`ema` (``smoothing``; 0:
    raw). Updates in which no episode ended (NaN) are skipped.

    Args:
        curves: kind -> ``{"env_steps": [U], key: [N, U] for key in keys}``.
        path: PNG to write, or None.
        keys: one panel per metric.
        title: figure title.
        smoothing: EMA weight in [0, 1) applied to each seed's curve.

    Raises:
        ValueError: no kinds, or a kind's curves do not match its env steps.
    """
    if not curves:
        raise ValueError("plot_kind_curves needs at least one kind")
    figure, axes = _new_figure(len(keys), (4.8, 3.4))
    colours = _kind_colours(list(curves))
    for axis, key in zip(axes, keys, strict=True):
        for kind, columns in curves.items():
            x = np.asarray(columns["env_steps"])
            values = np.asarray(columns[key], np.float64)
            if values.ndim != 2 or values.shape[1] != x.shape[0]:
                raise ValueError(
                    f"{kind}: {key} must be [num_seeds, {x.shape[0]}], got {values.shape}"
                )
            measured = np.isfinite(values).any(axis=0)
            if not measured.any():
                continue
            x, values = x[measured], values[:, measured]
            values = np.stack([ema(row, smoothing) for row in values])
            with np.errstate(all="ignore"):
                low = np.nanmin(values, axis=0)
                high = np.nanmax(values, axis=0)
            mean, _ = mean_and_std(values)
            axis.plot(x, mean, color=colours[kind], linewidth=1.6, label=kind)
            axis.fill_between(x, low, high, color=colours[kind], alpha=0.15, linewidth=0)
        axis.set_xlabel("env steps per seed")
        axis.xaxis.set_major_formatter(EngFormatter(sep=""))  # 400k, 1M: labels that fit
        axis.set_ylabel(key.replace("_", " "))
        axis.grid(alpha=0.3)
    axes[0].legend(loc="best", fontsize="small")
    figure.suptitle(title or "mean over seeds; band: lowest to highest seed", fontsize="medium")
    _save(figure, path)
    return figure


def plot_kind_lag_success(
    bin_names: Sequence[str],
    by_kind: Mapping[str, Mapping[str, Mapping[str, float | None]]],
    path: str | None = None,
    title: str | None = None,
) -> Figure:
    """Success of the memory decisions per lag bin, one bar per memory kind in each bin, with
    the 95% interval over seeds as an error bar, drawn within the possible range [0, 1]; a bin
    where a kind made no decision is empty.

    Args:
        bin_names: B bin labels.
        by_kind: kind -> bin name -> ``{"mean": float | None, "ci95": float | None}``.
        path: PNG to write, or None.
        title: figure title.
    """
    kinds = list(by_kind)
    if not kinds:
        raise ValueError("plot_kind_lag_success needs at least one kind")
    figure, (axis,) = _new_figure(1, (1.2 + 1.3 * len(bin_names), 3.4))
    colours = _kind_colours(kinds)
    width = 0.8 / len(kinds)
    positions = np.arange(len(bin_names))
    for index, kind in enumerate(kinds):
        means = [by_kind[kind][name]["mean"] for name in bin_names]
        errors = [by_kind[kind][name]["ci95"] for name in bin_names]
        heights = np.array([np.nan if m is None else m for m in means], np.float64)
        spread = np.array([0.0 if e is None else e for e in errors], np.float64)
        offset = positions - 0.4 + width * (index + 0.5)
        axis.bar(offset, np.nan_to_num(heights), width, color=colours[kind], label=kind)
        shown = np.isfinite(heights)
        low, high = np.minimum(spread, heights), np.minimum(spread, 1.0 - heights)
        axis.errorbar(
            offset[shown], heights[shown], yerr=np.stack([low, high])[:, shown], fmt="none",
            ecolor="0.2", capsize=2, linewidth=0.8,
        )  # fmt: skip
    axis.set_xticks(positions, list(bin_names))
    axis.set_ylim(0.0, 1.1)
    axis.set_xlabel("lag: steps since the needed information was last seen")
    axis.set_ylabel("success of memory decisions")
    axis.legend(loc="best", fontsize="x-small", ncol=2)
    axis.set_title(title or "recall by lag (mean over seeds, 95% interval)", fontsize="medium")
    _save(figure, path)
    return figure


def _kind_colours(kinds: Sequence[str]) -> dict[str, str]:
    palette = [f"C{i}" for i in range(10)]
    return {kind: palette[i % len(palette)] for i, kind in enumerate(kinds)}
