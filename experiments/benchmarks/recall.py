"""Recall against lag: ``python -m experiments.benchmark recall [options]``.

Trains every memory kind of ``--memories`` on a recall task at every lag of ``--lags`` and
reports the final return and success of each (kind, lag) cell: how far back each kind can carry
one fact it saw once. The task is the passive recall probe (``--env recall``, :mod:`envs_jax.
recall`: a cue at ``t = 0``, a query at ``t = lag``, noise in between; chance is return 0 and
success ``1 / num_cues``) or bsuite's MemoryChain (``--env MemoryChain-bsuite``, the lag is its
``memory_length``; it reports no success, so success is the share of right answers,
``(return + 1) / 2``, chance 0.5).

Every cell is one :class:`hcmrl_jax.rl.PPOConfig` (``env_overrides`` sets the lag; ``--overrides``
adds PPOConfig fields to every kind alike) with equal env steps for every kind and, by the
config's default ``match_param_budget``, baseline cores sized to HCMRL's parameter count (each
kind's count is printed). All seeds of a cell train as one program: ``init`` and the chunked
``update`` of :func:`hcmrl_jax.rl.make_train_chunks`, both under ``jax.vmap`` over the seeds'
keys, with a progress bar between chunks. The lag is an env-params value carried in the runner
state, so a kind's compiled update is reused for every lag (a cell's ``compile_s`` is 0 then).

The final return (success) of a seed is the mean over the episodes that finished in the last
``--final-window`` updates (default 10 % of the updates): the per-update means weighted by the
number of episodes each update finished.

Writes into ``--out`` (default ``outputs/benchmarks/recall-<env>``):

* ``results.json`` — the settings and, per cell, the per-seed final return and success, their
  mean and std, wall seconds, compile seconds, env steps per second, the parameter count and
  the per-update return curve of each seed. Rewritten after every finished cell; a rerun with
  the same settings skips the cells already there (so a sweep can be resumed or extended cell
  by cell), ``--overwrite`` discards them;
* ``results.md`` — a Markdown table (rows: memory kinds, columns: lags) of
  ``return mean ± std / success mean`` with each seed's take-off (the env steps after which
  the return of the last max(8, 5 % of the updates) updates first averages 0.5 or more: the
  plateau before recall is learned), also printed at the end;
* ``recall.png`` — final return and success against lag (log axis), one line per kind, seed
  std as error bars, chance levels dashed;
* ``curves.png`` — learning curves, a panel per lag: the return (mean of the last 8 updates)
  against env steps, a line per seed, a colour per kind.

This suite trains agents for minutes to hours, so ``python -m experiments.benchmark all`` leaves
it out; run it by name.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

import jax
import numpy as np
import tyro
from tqdm import tqdm  # a text bar: tqdm.auto warns in notebooks without ipywidgets

import envs_jax
from experiments.benchmarks.recall_report import (
    CURVES_PNG,
    RESULTS_JSON,
    RESULTS_MD,
    RESULTS_PNG,
    cell_name,
    fmt,
    write_outputs,
)
from experiments.errors import exit_on
from experiments.multiseed import init_over_seeds, seed_keys
from experiments.options import SETTING_DEFAULTS, parse_env_options, parse_overrides
from experiments.runs import load_entries_made_alike
from hcmrl_jax.memory import MemoryKind, kind_settings
from hcmrl_jax.rl import PPOConfig, make_train_chunks, param_count
from hcmrl_jax.rl.config import RENAMED_SETTINGS
from hcmrl_jax.utils.checkpoint import strong_types
from hcmrl_jax.utils.serialization import config_to_dict

#: Env option that holds the lag, per supported env.
LAG_OPTION: dict[str, str] = {"recall": "lag", "MemoryChain-bsuite": "memory_length"}
RecallEnv = Literal["recall", "MemoryChain-bsuite"]
#: Settings that have their own flag here (not settable through --overrides).
OWN_FLAGS: dict[str, str] = {
    "env_id": "--env",
    "env_overrides": "--lags / --env-options",
    "memory": "--memories",
    "core": "--memories",
    "total_timesteps": "--total-steps",
    "num_envs": "--num-envs",
    "num_steps": "--num-steps",
    "desync_steps": "--desync / --no-desync",
}
#: Share of the updates averaged for the final numbers when --final-window is not given.
DEFAULT_FINAL_SHARE = 0.1
#: Progress lines per cell the chunking aims at (chunk sizes that divide the run are preferred,
#: so that one compiled chunk serves the whole run).
TARGET_CHUNKS = 20


@dataclasses.dataclass(frozen=True)
class RecallBenchmarkArgs:
    """Train memory kinds on a recall task at several lags; tabulate return and success."""

    env: RecallEnv = "recall"  # task: the passive recall probe or bsuite's MemoryChain
    lags: tuple[int, ...] = (100, 300, 1000, 3000)  # steps from the cue to the query
    memories: tuple[MemoryKind, ...] = ("hcmrl", "hcmrl_immediate", "gru", "transformer")
    """Memory kinds to compare (each trained at every lag)."""
    seeds: int = 1  # seeds per cell, trained at once (vmapped in one program)
    seed: int = 0  # first seed; seed i uses the key of seed + i
    total_steps: int = 5_000_000  # env steps per seed and cell (equal for every kind)
    num_envs: int = SETTING_DEFAULTS["num_envs"]  # parallel environments per seed
    num_steps: int = SETTING_DEFAULTS["num_steps"]  # rollout length per update
    out: str | None = None  # output folder; default outputs/benchmarks/recall-<env>
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    """Extra settings for every kind (of PPOConfig or its MemoryConfig), as name value pairs,
    e.g. lr 1e-3 embed_dim 32."""
    env_options: dict[str, str] = dataclasses.field(default_factory=dict)
    """Extra env options for every cell (static config or EnvParams), e.g. num_cues 4."""
    final_window: int | None = None  # last updates averaged for the final numbers (default 10%)
    desync: bool = True
    """Start env i at a random step of its first episode (PPOConfig.desync_steps = lag + 1, for
    every kind alike): recall episodes all last lag + 1 steps, so without it every env answers
    in the same update and the updates in between hold no reward at all."""
    overwrite: bool = False  # discard the cells of an existing results.json in --out
    progress: bool = True  # show a progress bar per cell

    def __post_init__(self) -> None:
        for name in ("seeds", "total_steps", "num_envs", "num_steps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be a positive integer")
        if not self.lags or any(lag < 1 for lag in self.lags):
            raise ValueError(f"--lags must be one or more integers >= 1, got {self.lags}")
        if not self.memories:
            raise ValueError("--memories needs at least one memory kind")
        if self.final_window is not None and self.final_window < 1:
            raise ValueError(f"--final-window must be >= 1, got {self.final_window}")
        for name in self.overrides:
            name = RENAMED_SETTINGS.get(name, name)
            if name in OWN_FLAGS:
                raise ValueError(f"--overrides {name}: set it with {OWN_FLAGS[name]}")
            if name not in SETTING_DEFAULTS:
                raise ValueError(
                    f"--overrides {name}: no such setting; settings: "
                    f"{sorted(set(SETTING_DEFAULTS) - set(OWN_FLAGS))}"
                )
        if LAG_OPTION[self.env] in self.env_options:
            raise ValueError(f"--env-options {LAG_OPTION[self.env]}: set the lag with --lags")

    @property
    def out_dir(self) -> str:
        return self.out or os.path.join("outputs", "benchmarks", f"recall-{self.env}")


# ---------------------------------------------------------------------------------------------
# Configs of the cells
# ---------------------------------------------------------------------------------------------


def env_overrides(env_id: str, lag: int, options: dict[str, Any]) -> dict[str, Any]:
    """The env options of one lag: the lag, and a time limit beyond it when the env's default
    limit would cut the episode before the query."""
    overrides = {**options, LAG_OPTION[env_id]: int(lag)}
    _, params = envs_jax.make(env_id, **overrides)
    if int(params.max_steps_in_episode) <= lag + 1:
        overrides["max_steps_in_episode"] = 2 * (lag + 1)
    return overrides


def cell_config(args: RecallBenchmarkArgs, memory: str, lag: int) -> PPOConfig:
    """The PPOConfig of one (memory kind, lag) cell."""
    # Overrides of HCMRL's switches win over the kind's (as in MemoryConfig.of_kind).
    memory_settings = {**kind_settings(memory), **parse_overrides(args.overrides)}
    return PPOConfig().with_settings(
        **memory_settings,
        env_id=args.env,
        env_overrides=env_overrides(args.env, lag, parse_env_options(args.env_options)),
        total_timesteps=args.total_steps,
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        desync_steps=lag + 1 if args.desync else 0,
    )


def resolve_final_window(final_window: int | None, num_updates: int) -> int:
    """The number of last updates averaged: the given one (at most the run), else 10 %."""
    if final_window is None:
        return max(1, int(round(DEFAULT_FINAL_SHARE * num_updates)))
    return min(final_window, num_updates)


def settings_of(args: RecallBenchmarkArgs) -> dict[str, Any]:
    """What every cell of a results file shares (everything but the kinds and lags)."""
    num_updates = cell_config(args, args.memories[0], args.lags[0]).num_updates
    # Without --desync the key is left out, so folders made before the option still resume.
    desync = {"desync": True} if args.desync else {}
    return desync | {
        "env": args.env,
        "seeds": list(range(args.seed, args.seed + args.seeds)),
        "total_steps": args.total_steps,
        "num_envs": args.num_envs,
        "num_steps": args.num_steps,
        "num_updates": num_updates,
        "overrides": parse_overrides(args.overrides),
        "env_options": parse_env_options(args.env_options),
        "final_window": resolve_final_window(args.final_window, num_updates),
    }


def chunk_sizes(num_updates: int, target_chunks: int = TARGET_CHUNKS) -> list[int]:
    """Chunk sizes that sum to ``num_updates``: equal chunks when a divisor gives between half
    and twice ``target_chunks`` of them (one compiled program), else equal chunks and a
    remainder."""
    if num_updates <= target_chunks:
        return [1] * num_updates
    counts = range(target_chunks // 2, 2 * target_chunks + 1)
    dividing = [k for k in counts if num_updates % k == 0]
    if dividing:
        count = min(dividing, key=lambda k: abs(k - target_chunks))
        return [num_updates // count] * count
    size = math.ceil(num_updates / target_chunks)
    sizes = [size] * (num_updates // size)
    if num_updates % size:
        sizes.append(num_updates % size)
    return sizes


# ---------------------------------------------------------------------------------------------
# Final numbers
# ---------------------------------------------------------------------------------------------


def window_mean(values: np.ndarray, episodes: np.ndarray, window: int) -> np.ndarray:
    """Episode-weighted mean of per-update means over the last ``window`` updates.

    Args:
        values: float [S, U] per-update means over finished episodes (NaN where none finished).
        episodes: float [S, U] episodes finished in each update.
        window: number of last updates to average.

    Returns:
        float [S]: per seed, ``sum(value * episodes) / sum(episodes)`` over the window's updates
        that finished episodes; NaN for a seed whose window finished none.
    """
    values, episodes = np.asarray(values)[:, -window:], np.asarray(episodes)[:, -window:]
    weights = np.where(np.isfinite(values) & (episodes > 0), episodes, 0.0)
    total = np.sum(np.where(weights > 0, values, 0.0) * weights, axis=1)
    count = np.sum(weights, axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1e-12), np.nan)


def success_curve(env_id: str, metrics: dict[str, np.ndarray]) -> np.ndarray:
    """Per-update success [S, U]: the env's own, or the share of right answers
    ``(return + 1) / 2`` for MemoryChain (one +1/-1 decision per episode, no success info)."""
    if env_id == "MemoryChain-bsuite":
        return (np.asarray(metrics["episode_return"]) + 1.0) / 2.0
    return np.asarray(metrics["success"])


def _json_number(value: float) -> float | None:
    return float(value) if np.isfinite(value) else None


def _seed_stats(values: np.ndarray) -> tuple[float | None, float | None]:
    finite = np.asarray(values)[np.isfinite(values)]
    if finite.size == 0:
        return None, None
    return float(np.mean(finite)), float(np.std(finite))


def summarize_cell(env_id: str, metrics: dict[str, np.ndarray], window: int) -> dict[str, Any]:
    """Final return and success per seed and over seeds, and the return curves."""
    episodes = np.asarray(metrics["episodes"])
    returns = window_mean(metrics["episode_return"], episodes, window)
    successes = window_mean(success_curve(env_id, metrics), episodes, window)
    return_mean, return_std = _seed_stats(returns)
    success_mean, success_std = _seed_stats(successes)
    return {
        "final_return": [_json_number(v) for v in returns],
        "final_success": [_json_number(v) for v in successes],
        "final_episodes": [int(v) for v in episodes[:, -window:].sum(axis=1)],
        "return_mean": return_mean,
        "return_std": return_std,
        "success_mean": success_mean,
        "success_std": success_std,
        "return_curve": [
            [_json_number(v) for v in curve] for curve in np.asarray(metrics["episode_return"])
        ],
    }


# ---------------------------------------------------------------------------------------------
# Training a cell
# ---------------------------------------------------------------------------------------------


def _shared_update_key(config: PPOConfig, size: int) -> str:
    """Cells whose configs differ only in env-params values (the lag, the time limit) share one
    compiled update: those values live in the runner state, not in the program."""
    fields = config_to_dict(config)
    fields.pop("desync_steps", None)  # used by init only, not by the update
    per_cell = ("max_steps_in_episode", *LAG_OPTION.values())
    fields["env_overrides"] = {
        k: v for k, v in fields["env_overrides"].items() if k not in per_cell
    }
    return json.dumps([fields, size], sort_keys=True)


def train_cell(
    config: PPOConfig,
    keys: jax.Array,
    compiled_updates: dict[str, Any],
    progress: bool,
    description: str,
) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Trains one seed per key, all seeds vmapped in one program, chunk by chunk.

    Args:
        config: the cell's config.
        keys: typed PRNG keys [S].
        compiled_updates: compiled vmapped chunk updates, shared across cells (filled here).
        progress: show a tqdm bar.
        description: the bar's label.

    Returns:
        Host metrics (name -> float32 [S, U]) and timings: ``wall_s`` (everything, compiles
        included), ``compile_s`` (compiling the chunk updates), ``train_s`` (running them).
    """
    start = time.perf_counter()
    sizes = chunk_sizes(config.num_updates)
    init_fn, _ = make_train_chunks(config, sizes[0])
    state = strong_types(jax.jit(init_over_seeds(init_fn))(keys))
    compile_s = train_s = 0.0
    chunks: list[dict[str, np.ndarray]] = []
    num_seeds = int(keys.shape[0])
    bar = tqdm(
        total=config.num_updates * config.steps_per_update * num_seeds,
        unit="step",
        unit_scale=True,
        dynamic_ncols=True,
        disable=not progress,
        desc=description,
    )
    try:
        for size in sizes:
            key = _shared_update_key(config, size)
            if key not in compiled_updates:
                _, update_fn = make_train_chunks(config, size)
                begin = time.perf_counter()
                update = jax.jit(jax.vmap(update_fn), donate_argnums=0)
                compiled_updates[key] = update.lower(state).compile()
                compile_s += time.perf_counter() - begin
            begin = time.perf_counter()
            state, metrics = compiled_updates[key](state)
            metrics = jax.device_get(metrics)
            train_s += time.perf_counter() - begin
            chunks.append(metrics)
            latest = _latest_finite(metrics["episode_return"])
            if latest is not None:
                bar.set_postfix({"return": f"{latest:.3f}"}, refresh=False)
            bar.update(size * config.steps_per_update * num_seeds)
    finally:
        bar.close()
    metrics = {name: np.concatenate([c[name] for c in chunks], axis=1) for name in chunks[0]}
    timings = {
        "wall_s": time.perf_counter() - start,
        "compile_s": compile_s,
        "train_s": train_s,
    }
    return metrics, timings


def _latest_finite(values: np.ndarray) -> float | None:
    """Seed mean of the last update in which any seed finished an episode ([S, U] input)."""
    values = np.asarray(values)
    for column in values.T[::-1]:
        finite = column[np.isfinite(column)]
        if finite.size:
            return float(finite.mean())
    return None


# ---------------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SweepPlan:
    """The validated sweep: its settings, the cells to train and the cells already done."""

    args: RecallBenchmarkArgs
    settings: dict[str, Any]  # what every cell of the results file shares
    configs: dict[tuple[str, int], PPOConfig]  # (memory kind, lag) -> config, in sweep order
    done: dict[str, Any]  # cells loaded from an existing results.json (same settings)


def plan_sweep(args: RecallBenchmarkArgs) -> SweepPlan:
    """Builds every cell's config (validating it) and loads the cells already done.

    Raises:
        ValueError: a bad option or config value, or a results file made with other settings.
        KeyError: an unknown env option or memory kind.
    """
    settings = settings_of(args)
    configs = {(m, lag): cell_config(args, m, lag) for m in args.memories for lag in args.lags}
    done = load_entries_made_alike(
        os.path.join(args.out_dir, RESULTS_JSON), settings, "cells", args.overwrite
    )
    return SweepPlan(args=args, settings=settings, configs=configs, done=done)


def run_sweep(plan: SweepPlan, log: Any = print) -> dict[str, Any]:
    """Trains and records every (memory kind, lag) cell not already done; returns all cells."""
    args, settings = plan.args, plan.settings
    out_dir = args.out_dir
    os.makedirs(out_dir, exist_ok=True)
    cells = dict(plan.done)
    keys = seed_keys(args.seed, args.seeds)
    compiled_updates: dict[str, Any] = {}
    log(
        f"{args.env}: lags {list(args.lags)}, {args.seeds} seed(s), {args.total_steps:,} env "
        f"steps per seed ({settings['num_updates']} updates of {args.num_envs} envs x "
        f"{args.num_steps} steps), final window {settings['final_window']} updates; "
        f"devices {jax.devices()}"
    )
    params = {m: param_count(plan.configs[m, args.lags[0]]) for m in args.memories}
    for memory, count in params.items():
        log(f"{memory}: {count:,} parameters")
    for (memory, lag), config in plan.configs.items():
        name = cell_name(memory, lag)
        if name in cells:
            cell = cells[name]
            log(
                f"skip {memory} lag {lag}: already in {RESULTS_JSON} (return "
                f"{fmt(cell['return_mean'])}, success {fmt(cell['success_mean'], '.2f')})"
            )
            continue
        metrics, timings = train_cell(
            config, keys, compiled_updates, args.progress, f"{memory} lag {lag}"
        )
        env_steps = config.num_updates * config.steps_per_update * args.seeds
        cells[name] = cell = {
            "memory": memory,
            "lag": lag,
            **summarize_cell(args.env, metrics, settings["final_window"]),
            "wall_s": timings["wall_s"],
            "compile_s": timings["compile_s"],
            "env_steps": env_steps,
            "env_steps_per_s": env_steps / max(timings["train_s"], 1e-9),
            "param_count": params[memory],
            "config": config_to_dict(config),
        }
        write_outputs(out_dir, settings, cells, args.memories, args.lags)
        log(
            f"{memory} lag {lag}: return {fmt(cell['return_mean'])} ± "
            f"{fmt(cell['return_std'])}, success {fmt(cell['success_mean'], '.2f')}, "
            f"{timings['wall_s']:.1f} s ({timings['compile_s']:.1f} s compile, "
            f"{cell['env_steps_per_s']:,.0f} env steps/s)"
        )
    table = write_outputs(out_dir, settings, cells, args.memories, args.lags)
    log(table)
    for file_name in (RESULTS_JSON, RESULTS_MD, RESULTS_PNG, CURVES_PNG):
        log(f"  {os.path.join(out_dir, file_name)}")
    return cells


def parse_args(argv: Sequence[str]) -> RecallBenchmarkArgs:
    """The sweep's options from the command line (``--help`` prints them and exits)."""
    return tyro.cli(
        RecallBenchmarkArgs,
        args=list(argv),
        prog="python -m experiments.benchmark recall",
        description=__doc__,
    )


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    with exit_on(KeyError, ValueError):
        args = parse_args(argv)
        plan = plan_sweep(args)
    return run_sweep(plan)


if __name__ == "__main__":
    main()
