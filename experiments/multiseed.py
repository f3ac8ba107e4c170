"""Several seeds in one program: ``python -m experiments.multiseed --num-seeds 4 --env crafting``.

Every seed's run is one vmapped XLA program, ``jax.jit(jax.vmap(update_chunk))``: the seeds
share each compiled kernel, so N seeds cost far less than N runs on an accelerator (on a CPU,
they cost about N times one run, without N compilations). Seed ``i`` uses the key of
``--seed + i``, the key ``python -m experiments.train --seed <seed + i>`` uses. Takes every
:class:`hcmrl_jax.rl.PPOConfig` flag, the short forms ``--env``/``--total-steps`` and
``--preset NAME``, like ``experiments.train``.

The seeds advance together in chunks of ``--chunk-updates`` updates, with a progress bar (env
steps of all seeds, steps/s, mean return); after each chunk the stacked runner state is saved
with orbax, so ``--resume`` continues an interrupted run. A directory that already holds results
is not replaced without ``--overwrite``. Writes into ``<out-dir>/<name>``:

* ``config.json`` — the PPO config and the seeds;
* ``checkpoints/<update>/`` — the runner states of all seeds and the metrics so far;
* ``seed<i>/metrics.jsonl`` — one row per update for each seed;
* ``summary.json`` — per metric, each seed's final value and its mean and std over seeds. A
  final value is the seed's value at the last update that measured it (episode metrics: the
  last update in which an episode finished); ``final_update_per_seed`` says which update that
  is, and ``final`` says how it was chosen;
* ``seeds_<metric>.png`` — every seed's curve and the mean ± std band (return, success).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from typing import Annotated, Any

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from experiments.cli import cli_with_preset
from experiments.errors import exit_on
from experiments.runs import (
    CHECKPOINT_DIR,
    ChunkedTrainer,
    RunSetupError,
    chunk_schedule,
    ensure_writable_directory,
)
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.rl.train import make_train_chunks
from hcmrl_jax.utils.checkpoint import CheckpointError, RunCheckpointer
from hcmrl_jax.utils.logging import METRICS_JSONL, TrainingProgress
from hcmrl_jax.utils.metrics import metrics_to_rows
from hcmrl_jax.utils.serialization import config_from_dict, config_to_dict
from hcmrl_jax.utils.visualization import plot_seed_curves

#: Metrics drawn as mean ± std over seeds and summarised at the last update.
PLOT_METRICS: tuple[str, ...] = ("episode_return", "success")
SUMMARY_METRICS: tuple[str, ...] = ("episode_return", "success", "episode_length", "entropy")
SUMMARY_JSON = "summary.json"
#: How a final value is chosen (written in summary.json).
FINAL_RULE = (
    "each seed's value at the last update that measured it (episode metrics: the last update in "
    "which an episode finished; see final_update_per_seed)"
)


@dataclasses.dataclass(frozen=True)
class MultiSeedOptions:
    """How the multi-seed run is named, driven and stored."""

    num_seeds: int = 4  # seeds trained at once (vmapped in one program)
    seed: int = 0  # first seed; seed i uses the key of seed + i
    out_dir: str = "outputs/multiseed"  # parent directory of multi-seed runs
    name: str | None = None  # run directory name; default: <env>-<memory>-<N>seeds
    chunk_updates: int = 10  # updates per compiled chunk; a checkpoint after each
    resume: bool = False  # continue from the run directory's latest checkpoint
    overwrite: bool = False  # replace the results already in the run directory
    progress: bool = True  # show a progress bar (env steps of all seeds, steps/s, mean return)

    def __post_init__(self) -> None:
        for name in ("num_seeds", "chunk_updates"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MultiSeedOptions.{name} must be >= 1, got {value!r}")
        if self.resume and self.overwrite:
            raise ValueError("MultiSeedOptions: --resume and --overwrite contradict each other")


@dataclasses.dataclass(frozen=True)
class MultiSeedArgs:
    """Train several seeds of one config in one jitted, vmapped program."""

    config: Annotated[PPOConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(
        default_factory=PPOConfig
    )
    run: Annotated[MultiSeedOptions, tyro.conf.OmitArgPrefixes] = dataclasses.field(
        default_factory=MultiSeedOptions
    )


@dataclasses.dataclass
class MultiSeedResult:
    run_dir: str  # where the files went
    metrics: dict[str, np.ndarray]  # name -> [num_seeds, num_updates] host arrays
    runner_states: Any  # the final runner states, leaves [num_seeds, ...]
    paths: dict[str, str]  # name -> file written
    summary: dict[str, Any] | None = None  # what summary.json holds
    wall_s: float | None = None  # seconds of training over all sessions of the run (compile too)


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """Keys [num_seeds] of seeds ``seed .. seed + num_seeds - 1`` (typed PRNG keys)."""
    return jax.vmap(jax.random.key)(jnp.arange(seed, seed + num_seeds))


def make_seed_chunks(config: PPOConfig, updates_per_chunk: int) -> tuple[Callable, Callable]:
    """:func:`hcmrl_jax.rl.train.make_train_chunks` vmapped over seeds: ``init(keys [N])`` and
    ``update(runner_states)`` with leaves ``[N, ...]``."""
    init_fn, update_fn = make_train_chunks(config, updates_per_chunk)
    return init_over_seeds(init_fn), jax.vmap(update_fn)


def init_over_seeds(init_fn: Callable) -> Callable:
    """``init(keys [N]) -> runner states [N, ...]``: the seeds one after another (a loop inside
    the program), not vmapped. A vmapped init runs batched LAPACK kernels (the GRU's orthogonal
    initialiser), which hang jaxlib 0.10's CPU client when other work runs beside them; looped,
    each seed's parameters are exactly those of a single-seed run."""

    def init_seeds(keys: jax.Array) -> Any:
        return jax.lax.map(init_fn, keys)

    return init_seeds


def train_seeds(config: PPOConfig, keys: jax.Array) -> tuple[Any, dict[str, np.ndarray]]:
    """Trains one run per key, all updates in one chunk (no files written).

    Returns:
        ``(runner_states, metrics)``: states with leaves [N, ...] and host metrics [N, U].
    """
    trainer = ChunkedTrainer(config, make_chunks=make_seed_chunks)
    runner_states, metrics = trainer.update(trainer.init(keys), config.num_updates)
    return runner_states, jax.device_get(metrics)


def final_values(curves: np.ndarray) -> tuple[list[float | None], list[int | None]]:
    """Each seed's value at its last finite update, and that update (1-based); None when the
    seed never measured the metric."""
    values, updates = [], []
    for curve in np.asarray(curves, np.float64):
        finite = np.flatnonzero(np.isfinite(curve))
        values.append(float(curve[finite[-1]]) if finite.size else None)
        updates.append(int(finite[-1]) + 1 if finite.size else None)
    return values, updates


def summarize_seeds(metrics: dict[str, np.ndarray], seeds: list[int], num_updates: int) -> dict:
    """summary.json: per metric, final values per seed (see :func:`final_values`), the update
    each comes from, and their mean and std over the seeds that have one."""
    summary: dict[str, Any] = {"seeds": seeds, "num_updates": num_updates, "final": FINAL_RULE}
    for metric in SUMMARY_METRICS:
        if metric not in metrics:
            continue
        values, updates = final_values(metrics[metric])
        measured = np.array([v for v in values if v is not None], np.float64)
        summary[metric] = {
            "final_mean": float(measured.mean()) if measured.size else None,
            "final_std": float(measured.std()) if measured.size else None,
            "final_per_seed": values,
            "final_update_per_seed": updates,
        }
    return summary


def _metrics_to_json(metrics: dict[str, np.ndarray]) -> dict[str, list]:
    """Metrics history ``[N, U]`` as JSON lists, NaN as null."""
    return _json_safe({k: np.asarray(v, np.float64).tolist() for k, v in metrics.items()})


def _metrics_from_json(saved: dict[str, list]) -> dict[str, np.ndarray]:
    return {k: np.array(v, np.float64).astype(np.float32) for k, v in saved.items()}


def _json_safe(value: Any) -> Any:
    """NaN (no measurement) as null, for strict JSON."""
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def run_multiseed(
    config: PPOConfig, options: MultiSeedOptions, log: Any = print
) -> MultiSeedResult:
    """Trains ``options.num_seeds`` seeds in chunks (checkpointed, resumable) and writes per-seed
    curves, the summary and the mean ± std plots.

    Raises:
        RunSetupError: the run directory already holds results (without --resume or
            --overwrite), --resume finds no checkpoint that restores, or the folder cannot be
            written.
    """
    name = options.name or f"{config.env_id}-{config.memory.kind}-{options.num_seeds}seeds"
    run_dir = os.path.join(options.out_dir, name)
    checkpoint_dir = os.path.join(run_dir, CHECKPOINT_DIR)
    seeds = list(range(options.seed, options.seed + options.num_seeds))
    has_results = os.path.isdir(run_dir) and any(
        os.path.exists(os.path.join(run_dir, item)) for item in (SUMMARY_JSON, CHECKPOINT_DIR)
    )
    if options.resume:
        if not os.path.isdir(checkpoint_dir):
            raise RunSetupError(f"--resume: no checkpoint in {checkpoint_dir}")
        with open(os.path.join(run_dir, "config.json"), encoding="utf-8") as handle:
            saved = json.load(handle)
        saved_config = config_from_dict(PPOConfig, saved["config"])
        if config == PPOConfig():  # no config flags: the run's own config
            config = saved_config
        # Compared as configs, not as dicts, so that a folder saved in an older layout resumes.
        if saved_config != config or saved["seeds"] != seeds:
            raise RunSetupError(
                f"--resume: {run_dir} was run with another config or other seeds (seeds "
                f"{saved['seeds']}); resume with the same flags, or use --name for a new run"
            )
    elif has_results and not options.overwrite:
        raise RunSetupError(
            f"{run_dir} already holds multi-seed results; pass --resume to continue that run, "
            f"--overwrite to replace them, or --name for another run directory"
        )
    ensure_writable_directory(run_dir)
    if not options.resume:
        import shutil

        for item in os.listdir(run_dir):  # --overwrite: only the new run's files remain
            if item in (SUMMARY_JSON, CHECKPOINT_DIR, "config.json") or item.startswith(
                ("seed", "seeds_")
            ):
                path = os.path.join(run_dir, item)
                shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
        with open(os.path.join(run_dir, "config.json"), "w", encoding="utf-8") as handle:
            json.dump({"config": config_to_dict(config), "seeds": seeds}, handle, indent=2)

    trainer = ChunkedTrainer(config, make_chunks=make_seed_chunks)
    keys = seed_keys(options.seed, options.num_seeds)
    checkpointer = RunCheckpointer(checkpoint_dir, max_to_keep=2)
    history: dict[str, np.ndarray] = {}
    time_offset = 0.0
    if options.resume:
        try:
            runner_states, metadata = checkpointer.restore(trainer.state_template(keys))
        except CheckpointError as error:
            checkpointer.close()
            raise RunSetupError(f"--resume: {error}") from error
        for step, reason in checkpointer.skipped:
            log(f"resume: skipped checkpoint {step}, it does not restore ({reason})")
        updates_done = int(metadata["updates_done"])
        history = _metrics_from_json(metadata["metrics"])
        time_offset = float(metadata.get("time_s", 0.0))
        log(f"resuming {run_dir} from checkpoint {updates_done}/{config.num_updates}")
    else:
        runner_states = trainer.init(keys)
        updates_done = 0

    steps_per_update = config.steps_per_update * options.num_seeds  # all seeds together
    progress = TrainingProgress(
        total_env_steps=config.num_updates * steps_per_update,
        initial_env_steps=updates_done * steps_per_update,
        return_key="episode_return",
        disable=not options.progress,
    )
    start = time.perf_counter()
    elapsed = time_offset  # training seconds up to the last checkpoint, over all sessions
    try:
        for size in chunk_schedule(config.num_updates, options.chunk_updates, updates_done):
            runner_states, chunk = trainer.update(runner_states, size)
            chunk = jax.device_get(chunk)  # name -> [N, size]
            history = {
                k: np.concatenate([history[k], v], axis=1) if k in history else np.asarray(v)
                for k, v in chunk.items()
            }
            updates_done += size
            returns = np.asarray(chunk.get("episode_return", np.full((1, size), np.nan)))
            with warnings.catch_warnings():  # a chunk in which no seed finished an episode
                warnings.simplefilter("ignore", RuntimeWarning)
                mean_return = np.nanmean(returns, axis=0)
            progress.update(
                [
                    {
                        "env_steps": (updates_done - size + i + 1) * steps_per_update,
                        "episode_return": None if not np.isfinite(r) else float(r),
                    }
                    for i, r in enumerate(mean_return)
                ]
            )
            elapsed = time_offset + time.perf_counter() - start
            checkpointer.save(
                updates_done,
                runner_states,
                {
                    "updates_done": updates_done,
                    "seeds": seeds,
                    "metrics": _metrics_to_json(history),
                    "time_s": elapsed,
                },
            )
    finally:
        progress.close()
        checkpointer.close()
    metrics = history
    total_steps = updates_done * steps_per_update
    log(
        f"{options.num_seeds} seeds x {config.num_updates} updates = {total_steps:,} env steps "
        f"in {elapsed:.1f} s of training (compile included)"
    )

    paths = {"run directory": run_dir, "checkpoints": checkpoint_dir}
    for index, seed in enumerate(seeds):
        seed_dir = os.path.join(run_dir, f"seed{seed}")
        os.makedirs(seed_dir, exist_ok=True)
        rows = metrics_to_rows(
            {k: v[index] for k, v in metrics.items()}, 0, config.steps_per_update
        )
        with open(os.path.join(seed_dir, METRICS_JSONL), "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, allow_nan=False) + "\n" for row in rows)
    paths["per-seed metrics"] = os.path.join(run_dir, "seed<i>", METRICS_JSONL)

    env_steps = np.arange(1, config.num_updates + 1) * config.steps_per_update
    summary = summarize_seeds(metrics, seeds, config.num_updates)
    summary_path = os.path.join(run_dir, SUMMARY_JSON)
    with open(summary_path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    paths["summary"] = summary_path
    for metric in PLOT_METRICS:
        if metric not in metrics:
            continue
        path = os.path.join(run_dir, f"seeds_{metric}.png")
        plot_seed_curves(
            env_steps,
            np.asarray(metrics[metric]),
            path,
            ylabel=metric,
            title=f"{config.env_id} / {config.memory.kind}: {metric}, {options.num_seeds} seeds",
        )
        paths[f"{metric} plot"] = path
    for metric in PLOT_METRICS:
        if metric in summary:
            entry = summary[metric]
            if entry["final_mean"] is not None:
                log(
                    f"final {metric}: {entry['final_mean']:.3f} ± {entry['final_std']:.3f} "
                    f"(per seed, at its last update with finished episodes: updates "
                    f"{entry['final_update_per_seed']})"
                )
    for label, path in paths.items():
        log(f"  {label + ':':<22} {path}")
    return MultiSeedResult(
        run_dir=run_dir,
        metrics=metrics,
        runner_states=runner_states,
        paths=paths,
        summary=summary,
        wall_s=elapsed,
    )


def main(argv: Sequence[str] | None = None) -> MultiSeedResult:
    argv = list(sys.argv[1:] if argv is None else argv)
    with exit_on(KeyError, ValueError):
        args = cli_with_preset(MultiSeedArgs, argv, "python -m experiments.multiseed", __doc__)
    with exit_on(RunSetupError):
        return run_multiseed(args.config, args.run)


if __name__ == "__main__":
    main()
