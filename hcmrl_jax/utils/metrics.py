"""Host-side metric helpers: flatten per-update metrics into rows, read them back, aggregate.

The training program reduces everything inside the graph to a few scalars per update; a chunk
of ``U`` compiled updates hands the host a dict of arrays with a leading ``[U]`` axis, once. The
functions here turn that dict into one flat row per update (vector metrics such as lag-binned
success become one column per entry), read rows back from a JSONL file, and aggregate curves over
seeds. Nothing here imports the rest of the library.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

#: Column names every row carries besides the metrics.
UPDATE_KEY = "update"
ENV_STEPS_KEY = "env_steps"
TIME_KEY = "time_s"


# Characters TensorBoard accepts in a tag; others become "_" so every sink uses the same names.
_INVALID_NAME_CHARACTERS = re.compile(r"[^-/\w.]")


def safe_name(name: str) -> str:
    """A metric name every sink accepts unchanged (TensorBoard's tag alphabet)."""
    return _INVALID_NAME_CHARACTERS.sub("_", name)


def _column_name(name: str, index: tuple[int, ...], entry_names: Sequence[str] | None) -> str:
    if entry_names is not None and len(index) == 1:
        return safe_name(f"{name}/{entry_names[index[0]]}")
    return safe_name(f"{name}/" + "_".join(str(i) for i in index))


def _short_count(value: int) -> str:
    for scale, suffix in ((1_000_000, "M"), (1_000, "k")):
        if value >= scale and value % scale == 0:
            return f"{value // scale}{suffix}"
    return str(value)


def lag_bin_labels(edges: Sequence[int]) -> tuple[str, ...]:
    """Column labels of lag bins from their left edges, e.g. ``(0, 100, 1000, 5000)`` ->
    ``("0_100", "100_1k", "1k_5k", "5k_inf")`` (the suffixes of the trainer's lag metrics)."""
    edges = [int(edge) for edge in edges]
    if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"lag bin edges must be non-empty and increasing, got {edges}")
    ends = [_short_count(edge) for edge in edges[1:]] + ["inf"]
    return tuple(f"{_short_count(a)}_{b}" for a, b in zip(edges, ends, strict=True))


def flatten_metrics(
    metrics: Mapping[str, Any],
    vector_names: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, np.ndarray]:
    """Flattens per-update metrics into one ``[U]`` column per scalar.

    Args:
        metrics: name -> array ``[U]`` or ``[U, ...]`` (any numeric dtype); a nested mapping is
            flattened with ``/``-joined names.
        vector_names: optional names of the entries of vector metrics, e.g.
            ``{"lag_success": ("0_100", ...)}``; entries of other vector metrics are numbered.

    Returns:
        name -> float64 ``[U]`` array. A metric ``m`` of shape ``[U, k]`` gives ``m/<entry>``
        columns.

    Raises:
        ValueError: metrics disagree on ``U``, or a ``vector_names`` entry has the wrong length.
    """
    vector_names = dict(vector_names or {})
    columns: dict[str, np.ndarray] = {}
    num_updates: int | None = None
    for name, value in _flatten_mapping(metrics):
        array = np.asarray(value)
        if array.ndim == 0:
            raise ValueError(f"metric {name!r} has no leading update axis (a scalar)")
        if num_updates is None:
            num_updates = array.shape[0]
        elif array.shape[0] != num_updates:
            raise ValueError(
                f"metric {name!r} has {array.shape[0]} updates, others have {num_updates}"
            )
        if array.ndim == 1:
            columns[safe_name(name)] = array.astype(np.float64)
            continue
        entry_names = vector_names.get(name)
        if entry_names is not None and (array.ndim != 2 or array.shape[1] != len(entry_names)):
            raise ValueError(
                f"metric {name!r} has shape {array.shape}, but vector_names gives "
                f"{len(entry_names)} entry names"
            )
        for index in np.ndindex(*array.shape[1:]):
            column = array[(slice(None), *index)]
            columns[_column_name(name, index, entry_names)] = column.astype(np.float64)
    return columns


def _flatten_mapping(tree: Mapping[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            yield from _flatten_mapping(value, prefix=f"{name}/")
        else:
            yield name, value


def _json_scalar(value: float) -> float | None:
    # JSON has no NaN/inf: a metric with no data this update (no finished episode) is null.
    return float(value) if math.isfinite(value) else None


def metrics_to_rows(
    metrics: Mapping[str, Any],
    first_update: int,
    steps_per_update: int,
    vector_names: Mapping[str, Sequence[str]] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready row per update of a chunk.

    Args:
        metrics: name -> array ``[U, ...]`` of one chunk (see :func:`flatten_metrics`).
        first_update: number of updates done before this chunk (the first row gets
            ``update = first_update + 1``).
        steps_per_update: environment steps per update (num_envs x rollout length).
        vector_names: entry names of vector metrics.

    Returns:
        ``U`` dicts with ``update``, ``env_steps`` (integers; metrics of the same names are
        dropped) and one float (or None where not finite) per column.
    """
    columns = flatten_metrics(metrics, vector_names)
    num_updates = len(next(iter(columns.values()))) if columns else 0
    rows = []
    for i in range(num_updates):
        update = first_update + i + 1
        row: dict[str, Any] = {UPDATE_KEY: update, ENV_STEPS_KEY: update * steps_per_update}
        # The host's integer counters win over same-named float metrics from the device.
        row.update(
            {name: _json_scalar(column[i]) for name, column in columns.items() if name not in row}
        )
        rows.append(row)
    return rows


def read_jsonl(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Reads the rows of a metrics JSONL file (blank lines skipped)."""
    with open(path, encoding="utf-8") as handle:
        return [json.loads(line) for line in handle if line.strip()]


def rows_to_columns(rows: Sequence[Mapping[str, Any]]) -> dict[str, np.ndarray]:
    """Turns rows into float64 columns; a missing or null value becomes NaN."""
    names: list[str] = []
    for row in rows:
        names.extend(name for name in row if name not in names)
    return {
        name: np.asarray(
            [np.nan if row.get(name) is None else float(row[name]) for row in rows], np.float64
        )
        for name in names
    }


def lag_success_rate(counts: np.ndarray, successes: np.ndarray) -> np.ndarray:
    """Success rate per lag bin: ``successes / counts``, NaN where a bin saw no decision.

    Args:
        counts: int ``[..., B]`` memory decisions per lag bin.
        successes: int ``[..., B]`` correct decisions per lag bin.

    Returns:
        float64 ``[..., B]``.
    """
    counts = np.asarray(counts, np.float64)
    successes = np.asarray(successes, np.float64)
    if counts.shape != successes.shape:
        raise ValueError(f"counts {counts.shape} and successes {successes.shape} differ in shape")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(counts > 0, successes / np.maximum(counts, 1.0), np.nan)


def ema(values: np.ndarray, weight: float = 0.9) -> np.ndarray:
    """Exponential moving average that skips NaN (TensorBoard-style debiased smoothing).

    Args:
        values: float ``[U]``.
        weight: smoothing in ``[0, 1)``; 0 returns the input.

    Returns:
        float64 ``[U]``; NaN until the first finite value.
    """
    if not 0.0 <= weight < 1.0:
        raise ValueError(f"weight must lie in [0, 1), got {weight}")
    values = np.asarray(values, np.float64)
    out = np.full_like(values, np.nan)
    average, norm = 0.0, 0.0
    for i, value in enumerate(values):
        if math.isfinite(value):
            average = weight * average + (1.0 - weight) * value
            norm = weight * norm + (1.0 - weight)
        if norm > 0.0:
            out[i] = average / norm
    return out


def mean_and_std(curves: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation over seeds, ignoring NaN.

    Args:
        curves: float ``[N, U]``, one curve per seed.

    Returns:
        ``(mean, std)``, each float64 ``[U]``; NaN where no seed has a value.
    """
    curves = np.asarray(curves, np.float64)
    if curves.ndim != 2:
        raise ValueError(f"curves must be [num_seeds, num_updates], got shape {curves.shape}")
    finite = np.isfinite(curves)
    count = finite.sum(axis=0)
    total = np.where(finite, curves, 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        sq = np.where(finite, (curves - mean) ** 2, 0.0).sum(axis=0)
        std = np.where(count > 0, np.sqrt(sq / np.maximum(count, 1)), np.nan)
    return mean, std
