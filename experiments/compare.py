"""Memory kinds side by side on one benchmark:
``python -m experiments.compare --env navigation --scale small --memories hcmrl gru --seeds 3``.

Each memory kind trains ``--seeds`` seeds at once (one vmapped program, the multi-seed runner of
``experiments.multiseed``) from the same preset (``<env>-small`` or ``<env>``), so every kind gets
the same env steps, the same env, the same PPO settings and, with ``match_param_budget`` (on by
default), the same parameter budget. Kinds run one after another into ``<out>/<kind>/``; each
is checkpointed after every chunk, so running the same command again continues where it stopped
and skips the kinds already done (``--overwrite`` starts afresh). Writes into ``--out``:

* ``<kind>/`` — the kind's multi-seed run folder (config, checkpoints, ``seed<i>/metrics.jsonl``
  per-update metrics, summary, seed-curve PNGs);
* ``comparison.json`` — the settings and, per kind: parameters, wall time (compile included),
  env steps/s, and per metric the final value of each seed, their mean and a 95% t-interval;
* ``results.md`` — the same as a Markdown table (also printed);
* ``curves.png`` — return and success against env steps, one line per kind (mean over seeds)
  with a band from the lowest to the highest seed;
* ``lag_success.png`` — success of the memory decisions per lag bin, one bar per kind, with
  the 95% interval over seeds;
* ``<kind>-attention.png`` and ``<kind>-episode.gif`` — for HCMRL kinds, one greedy episode of
  seed 0 on fresh worlds (``experiments.evaluate``, also in ``<kind>/eval/``): attention over the
  tiers, the tier mix, tier occupancy with the summarise / merge / consolidate events, and the
  episode's frames beside the memory read-out (``--no-episode-pictures`` skips them).

:func:`read_comparison` reads a folder back (``experiments/notebooks/analysis.ipynb`` draws the
same pictures from it).

A final value is a seed's mean over its last ``--final-fraction`` of updates that measured the
metric (episode metrics are NaN in updates where no episode ended), steadier than one update.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
import sys
import warnings
from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import tyro

import envs_jax
from experiments.configs.presets import BENCHMARKS, get_preset
from experiments.configs.scales import scale_preset_name
from experiments.errors import exit_on
from experiments.evaluate import EvalOptions, evaluate_run
from experiments.multiseed import MultiSeedOptions, MultiSeedResult, run_multiseed
from experiments.options import parse_env_options, parse_overrides
from experiments.runs import load_entries_made_alike
from hcmrl_jax.rl import MEMORY_KINDS, PPOConfig, param_count
from hcmrl_jax.rl.metrics import LAG_BIN_KEYS
from hcmrl_jax.utils.logging import METRICS_JSONL
from hcmrl_jax.utils.metrics import read_jsonl, rows_to_columns
from hcmrl_jax.utils.visualization import plot_kind_curves, plot_kind_lag_success

COMPARISON_JSON = "comparison.json"
RESULTS_MD = "results.md"
#: Metrics summarised per kind (final value per seed, mean, 95% interval).
SCORE_METRICS: tuple[str, ...] = ("episode_return", "success", "episode_length")
#: Two-sided 95% quantiles of Student's t with 1 .. 30 degrees of freedom (beyond: 1.96).
T_975: tuple[float, ...] = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)  # fmt: skip


def check_run_options(
    env: str,
    scale: str,
    total_steps: int | None,
    final_fraction: float,
    preset: str | None = None,
    hint: str = "use --scale full",
) -> None:
    """The options a comparison and the seed-swap suite share: a known env, a small scale only
    for a benchmark (unless a preset is given), positive steps, a final fraction in (0, 1].

    Raises:
        KeyError: unknown env.
        ValueError: any other bad value, named.
    """
    if env not in envs_jax.registered_envs:
        raise KeyError(f"unknown env {env!r}; known: {envs_jax.registered_envs}")
    if scale == "small" and preset is None and env not in BENCHMARKS:
        raise ValueError(
            f"--scale small exists for the benchmarks {list(BENCHMARKS)} only, not {env!r}; {hint}"
        )
    if total_steps is not None and total_steps < 1:
        raise ValueError(f"--total-steps must be >= 1, got {total_steps}")
    if not 0.0 < final_fraction <= 1.0:
        raise ValueError(f"--final-fraction must be in (0, 1], got {final_fraction}")


@dataclasses.dataclass(frozen=True)
class CompareArgs:
    """Train several memory kinds on one benchmark at equal env steps and compare them."""

    env: str = "navigation"  # env id: a benchmark (crafting, navigation, games, story) or any
    # registered id; only the benchmarks have a small scale
    scale: Literal["small", "full"] = "small"  # the <env>-small preset, or the env's defaults
    memories: tuple[str, ...] = ("hcmrl", "gru", "transformer", "mlp")  # kinds, in table order
    seeds: int = 3  # seeds per kind, trained at once (vmapped in one program)
    seed: int = 0  # first seed; seed i uses the key of seed + i
    total_steps: int | None = None  # env steps per seed; default: the preset's
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    """Extra settings for every kind (of PPOConfig or its MemoryConfig), as name value pairs,
    e.g. lr 1e-3 embed_dim 32."""
    env_options: dict[str, str] = dataclasses.field(default_factory=dict)
    """Env options for every kind on top of the preset's (static config or EnvParams fields),
    as name value pairs, e.g. rooms_wide 3 num_landmarks 6 (a tuple: game_rates 0,0,0,1,0,0)."""
    preset: str | None = None  # start from this preset instead (its env must be --env)
    out: str | None = None  # results folder; default outputs/compare/<env>-<scale>
    final_fraction: float = 0.1  # last fraction of updates averaged for the final values
    chunk_updates: int = 10  # updates per compiled chunk; a checkpoint after each
    overwrite: bool = False  # discard the kinds already in --out and train them again
    progress: bool = True  # show a progress bar per kind
    episode_pictures: bool = True
    """For HCMRL kinds, evaluate seed 0 and write <kind>-attention.png (attention over the tiers,
    tier mix, occupancy and compression events over one episode) and <kind>-episode.gif."""

    def __post_init__(self) -> None:
        check_run_options(
            self.env,
            self.scale,
            self.total_steps,
            self.final_fraction,
            preset=self.preset,
            hint="use --scale full or --preset",
        )
        unknown = [kind for kind in self.memories if kind not in MEMORY_KINDS]
        if unknown:
            raise ValueError(f"unknown memory kinds {unknown}; choose from {list(MEMORY_KINDS)}")
        if not self.memories or len(set(self.memories)) != len(self.memories):
            raise ValueError(f"--memories must name each kind once, got {list(self.memories)}")
        for name in ("seeds", "chunk_updates"):
            if getattr(self, name) < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1")

    @property
    def out_dir(self) -> str:
        return self.out or os.path.join("outputs", "compare", f"{self.env}-{self.scale}")


def kind_config(args: CompareArgs, kind: str) -> PPOConfig:
    """The PPO config of one memory kind: the preset, the kind, the steps and the overrides."""
    if args.preset is not None:
        base = get_preset(args.preset)
    elif args.scale == "full":
        base = PPOConfig(env_id=args.env)  # the full scale: the env's and the trainer's defaults
    else:
        base = get_preset(scale_preset_name(args.env, args.scale))
    if base.env_id != args.env:
        raise ValueError(
            f"preset {args.preset!r} trains on {base.env_id!r}, not --env {args.env!r}"
        )
    return configure(base, kind, args.overrides, args.env_options, args.total_steps)


def configure(
    base: PPOConfig,
    kind: str,
    overrides: dict[str, str],
    env_options: dict[str, str],
    total_steps: int | None,
) -> PPOConfig:
    """``base`` with the memory ``kind``, env options on top of its own, the env steps and the
    overrides (command-line strings, by the settings' one names: PPOConfig's or its
    MemoryConfig's). The kind sets the core and HCMRL's switches (``base``'s sizes kept); the
    overrides win over both. An unknown or bad env option fails here, naming it, before anything
    trains."""
    settings: dict[str, Any] = parse_overrides(overrides)
    if env_options:
        settings["env_overrides"] = {**base.env_overrides, **parse_env_options(env_options)}
    if total_steps is not None:
        settings["total_timesteps"] = total_steps
    config = dataclasses.replace(base, memory=base.memory.with_kind(kind))
    config = config.with_settings(**settings)
    if env_options:
        envs_jax.make(config.env_id, **config.env_overrides)
    return config


def settings_of(args: CompareArgs) -> dict[str, Any]:
    """What every kind of a comparison shares (a folder only continues with the same)."""
    config = kind_config(args, args.memories[0])
    settings = {
        "env": args.env,
        "scale": args.scale,
        "preset": args.preset or scale_preset_name(args.env, args.scale),
        "seeds": list(range(args.seed, args.seed + args.seeds)),
        "total_steps": config.num_updates * config.steps_per_update,
        "num_updates": config.num_updates,
        "overrides": parse_overrides(args.overrides),
        "final_fraction": args.final_fraction,
    }
    if args.env_options:  # absent when none, so folders made before the option still continue
        settings["env_options"] = parse_env_options(args.env_options)
    return json.loads(json.dumps(settings))  # as comparison.json holds them (tuples as lists)


def final_window(num_updates: int, fraction: float) -> int:
    """Updates averaged for the final values: the last ``fraction`` of them, at least one."""
    return max(1, math.ceil(fraction * num_updates))


def interval95(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and half-width of the 95% Student-t interval of the finite ``values`` (half-width
    None for fewer than two values, mean None for none)."""
    finite = np.asarray([v for v in values if v is not None and np.isfinite(v)], np.float64)
    if finite.size == 0:
        return None, None
    if finite.size == 1:
        return float(finite[0]), None
    dof = finite.size - 1
    quantile = T_975[dof - 1] if dof <= len(T_975) else 1.96
    half = quantile * finite.std(ddof=1) / math.sqrt(finite.size)
    return float(finite.mean()), float(half)


def seed_finals(curves: np.ndarray, window: int) -> list[float | None]:
    """Each seed's mean over its last ``window`` measured updates of ``curves [N, U]`` (NaN
    marks an update that measured nothing, e.g. no episode ended); None for a seed that never
    measured the metric."""
    finals: list[float | None] = []
    for row in np.asarray(curves, np.float64):
        finite = row[np.isfinite(row)][-window:]
        finals.append(float(finite.mean()) if finite.size else None)
    return finals


def summarize_kind(
    result: MultiSeedResult, config: PPOConfig, seeds: int, window: int
) -> dict[str, Any]:
    """One kind's entry of comparison.json."""
    metrics = result.metrics
    entry: dict[str, Any] = {
        "memory": config.memory.kind,
        "param_count": param_count(config),
        "wall_s": result.wall_s,
        "env_steps": config.num_updates * config.steps_per_update * seeds,
    }
    entry["env_steps_per_s"] = entry["env_steps"] / result.wall_s if result.wall_s else None
    for metric in SCORE_METRICS:
        per_seed = seed_finals(metrics[metric], window)
        mean, half = interval95(per_seed)
        entry[metric] = {"per_seed": per_seed, "mean": mean, "ci95": half}
    lags: dict[str, Any] = {}
    for name in LAG_BIN_KEYS:
        per_seed = seed_finals(metrics[f"recall_lag_{name}"], window)
        mean, half = interval95(per_seed)
        decisions = np.nansum(np.asarray(metrics[f"decisions_lag_{name}"])[:, -window:])
        lags[name] = {"per_seed": per_seed, "mean": mean, "ci95": half, "decisions": int(decisions)}
    entry["recall_by_lag"] = lags
    return entry


def _cell(entry: dict[str, Any] | None) -> str:
    if not entry or entry["mean"] is None:
        return "–"
    if entry["ci95"] is None:
        return f"{entry['mean']:.3f}"
    return f"{entry['mean']:.3f} ± {entry['ci95']:.3f}"


def results_table(settings: dict[str, Any], kinds: dict[str, Any], order: Sequence[str]) -> str:
    """The Markdown table of results.md."""
    seeds = len(settings["seeds"])
    lines = [
        f"# {settings['env']} ({settings['scale']}): {settings['total_steps']:,} env steps per "
        f"seed, {seeds} seed(s) per kind",
        "",
        f"Final values: each seed's mean over its last {settings['final_fraction']:.0%} of "
        f"{settings['num_updates']} updates (those that measured the value); cells are the mean "
        "over seeds ± the half-width of the 95% t-interval. Recall by lag: success of the "
        "memory decisions in each lag bin.",
        "",
        *(
            [f"Env options on top of the preset's: {settings['env_options']}", ""]
            if settings.get("env_options")
            else []
        ),
        "| memory | params | return | success | episode length | "
        + " | ".join(f"recall {name}" for name in LAG_BIN_KEYS)
        + " | wall s | env steps/s |",
        "|" + " --- |" * (7 + len(LAG_BIN_KEYS)),
    ]
    for kind in order:
        if kind not in kinds:
            continue
        entry = kinds[kind]
        lag_cells = [_cell(entry["recall_by_lag"][name]) for name in LAG_BIN_KEYS]
        speed = entry["env_steps_per_s"]
        timing = f"{entry['wall_s']:.0f} | {speed:,.0f}" if speed else "– | –"
        lines.append(
            f"| {kind} | {entry['param_count']:,} | {_cell(entry['episode_return'])} | "
            f"{_cell(entry['success'])} | {_cell(entry['episode_length'])} | "
            + " | ".join(lag_cells)
            + f" | {timing} |"
        )
    return "\n".join(lines) + "\n"


def write_outputs(
    out_dir: str,
    settings: dict[str, Any],
    kinds: dict[str, Any],
    curves: dict[str, dict[str, np.ndarray]],
    order: Sequence[str],
) -> dict[str, str]:
    """comparison.json, results.md and the pictures; returns name -> path."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {
        "comparison": os.path.join(out_dir, COMPARISON_JSON),
        "table": os.path.join(out_dir, RESULTS_MD),
    }
    with open(paths["comparison"], "w", encoding="utf-8") as handle:
        json.dump({"settings": settings, "kinds": kinds}, handle, indent=2)
    with open(paths["table"], "w", encoding="utf-8") as handle:
        handle.write(results_table(settings, kinds, order))
    shown = [kind for kind in order if kind in curves]
    if shown:
        options = "".join(f", {k}={v}" for k, v in settings.get("env_options", {}).items())
        title = f"{settings['env']} ({settings['scale']}{options}), {len(settings['seeds'])} seeds"
        paths["curves"] = os.path.join(out_dir, "curves.png")
        plot_kind_curves({kind: curves[kind] for kind in shown}, paths["curves"], title=title)
        paths["lag success"] = os.path.join(out_dir, "lag_success.png")
        plot_kind_lag_success(
            LAG_BIN_KEYS,
            {kind: kinds[kind]["recall_by_lag"] for kind in shown},
            paths["lag success"],
            title=f"{title}: recall by lag",
        )
    return paths


def kind_curves(result: MultiSeedResult, config: PPOConfig) -> dict[str, np.ndarray]:
    """What curves.png draws of one kind: env steps [U] and return / success [N, U]."""
    steps = np.arange(1, config.num_updates + 1) * config.steps_per_update
    return {
        "env_steps": steps,
        "episode_return": np.asarray(result.metrics["episode_return"], np.float64),
        "success": np.asarray(result.metrics["success"], np.float64),
    }


def run_comparison(args: CompareArgs, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Trains (or continues, or reloads) every kind and writes the comparison.

    Returns:
        ``{"settings", "kinds", "paths"}``: what comparison.json holds and the files written.

    Raises:
        RunSetupError: --out holds a comparison made with other settings (without --overwrite),
            or a kind's folder cannot be continued.
    """
    configs = {kind: kind_config(args, kind) for kind in args.memories}  # validates every kind
    settings = settings_of(args)
    out_dir = args.out_dir
    done = load_entries_made_alike(
        os.path.join(out_dir, COMPARISON_JSON), settings, "kinds", args.overwrite
    )
    window = final_window(settings["num_updates"], args.final_fraction)
    kinds: dict[str, Any] = dict(done)
    curves: dict[str, dict[str, np.ndarray]] = {}
    log(
        f"compare on {args.env} ({args.scale}): {', '.join(args.memories)}; {args.seeds} seed(s) "
        f"x {settings['total_steps']:,} env steps per kind; results in {out_dir}"
    )
    for kind in args.memories:
        config = configs[kind]
        run_dir = os.path.join(out_dir, kind)
        started = os.path.isdir(os.path.join(run_dir, "checkpoints"))
        resume = started and not args.overwrite
        log(f"{kind}: {'continuing' if resume else 'training'} in {run_dir}")
        options = MultiSeedOptions(
            num_seeds=args.seeds,
            seed=args.seed,
            out_dir=out_dir,
            name=kind,
            chunk_updates=args.chunk_updates,
            resume=resume,
            overwrite=args.overwrite and started,
            progress=args.progress,
        )
        result = run_multiseed(config, options, log=lambda line: None)
        entry = summarize_kind(result, config, args.seeds, window)
        kinds[kind] = entry
        curves[kind] = kind_curves(result, config)
        log(
            f"{kind}: return {_cell(entry['episode_return'])}, success {_cell(entry['success'])}"
            f" ({entry['param_count']:,} params, {entry['wall_s']:.0f} s)"
        )
        write_outputs(out_dir, settings, kinds, curves, args.memories)
    paths = write_outputs(out_dir, settings, kinds, curves, args.memories)
    if args.episode_pictures:
        for kind in args.memories:
            if configs[kind].memory.core == "hcmrl":
                paths.update(episode_pictures(out_dir, kind))
    log(results_table(settings, kinds, args.memories))
    for label, path in paths.items():
        log(f"  {label + ':':<12} {path}")
    return {"settings": settings, "kinds": kinds, "paths": paths}


def read_comparison(out_dir: str) -> dict[str, Any]:
    """A comparison folder read back: what the notebook draws from.

    Returns:
        ``{"settings", "kinds"}`` of comparison.json, plus ``curves``: kind -> ``{"env_steps":
        [U], "episode_return": [N, U], "success": [N, U]}`` read from each kind's
        ``seed<i>/metrics.jsonl`` (the inputs of :func:`plot_kind_curves`).

    Raises:
        FileNotFoundError: ``out_dir`` holds no comparison.json.
    """
    path = os.path.join(out_dir, COMPARISON_JSON)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{out_dir} is not a comparison folder: no {COMPARISON_JSON}")
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    curves: dict[str, dict[str, np.ndarray]] = {}
    for kind in saved["kinds"]:
        seeds = [
            rows_to_columns(read_jsonl(os.path.join(out_dir, kind, f"seed{i}", METRICS_JSONL)))
            for i in range(len(saved["settings"]["seeds"]))
        ]
        curves[kind] = {
            "env_steps": seeds[0]["env_steps"],
            **{
                key: np.stack([columns[key] for columns in seeds])
                for key in ("episode_return", "success")
            },
        }
    return {"settings": saved["settings"], "kinds": saved["kinds"], "curves": curves}


def episode_pictures(out_dir: str, kind: str, num_episodes: int = 4) -> dict[str, str]:
    """Evaluates seed 0 of one HCMRL kind's run (greedy, ``num_episodes`` fresh worlds) and
    copies its memory picture and episode GIF to ``<out>/<kind>-attention.png`` and
    ``<out>/<kind>-episode.gif``.

    Returns:
        label -> path of the files written (the GIF only where the env renders).
    """
    run_dir = os.path.join(out_dir, kind)
    result = evaluate_run(
        EvalOptions(checkpoint=run_dir, num_episodes=num_episodes, seed_index=0),
        log=lambda line: None,
    )
    written = {}
    for label, name, suffix in (
        ("attention picture", "attention.png", "attention.png"),
        ("episode GIF", "episode GIF", "episode.gif"),
    ):
        source = result.paths.get(label)
        if source is not None:
            target = os.path.join(out_dir, f"{kind}-{suffix}")
            shutil.copyfile(source, target)
            written[f"{kind} {name}"] = target
    return written


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    with exit_on(KeyError, ValueError):  # RunSetupError is a ValueError
        args = tyro.cli(CompareArgs, args=argv, prog="python -m experiments.compare")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of unmeasured updates
            return run_comparison(args)


if __name__ == "__main__":
    main()
