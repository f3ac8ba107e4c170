"""Train or resume one run in its folder: chunks of compiled updates, logs and checkpoints.

Only the per-update scalar metrics cross to the host, once per chunk; between chunks the run
logs them and saves the whole runner state with orbax, so a resumed run continues an interrupted
one bit for bit on the CPU. The folder's layout and the resume rules are in
:mod:`experiments.runs.folder`.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import jax
import numpy as np

from experiments.runs.chunks import ChunkedTrainer, chunk_schedule, get_trainer
from experiments.runs.folder import (
    CHECKPOINT_DIR,
    CONFIG_JSON,
    CURVE_PNG,
    RunOptions,
    RunSetup,
    RunSetupError,
    clear_run_directory,
    ensure_writable_directory,
    set_aside_damaged_checkpoint,
    set_up_run,
    write_config_json,
)
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.utils.checkpoint import CheckpointError, RunCheckpointer
from hcmrl_jax.utils.logging import MetricsLogger, TrainingProgress
from hcmrl_jax.utils.metrics import TIME_KEY, rows_to_columns
from hcmrl_jax.utils.serialization import config_to_dict
from hcmrl_jax.utils.visualization import plot_learning_curves

#: The per-update metric shown as the return (progress bar) and the learning-curve panels.
RETURN_KEY = "episode_return"
CURVE_KEYS: tuple[str, ...] = (RETURN_KEY, "success", "reward")


class TrainingDivergedError(RuntimeError):
    """An update produced non-finite losses or parameters; the run stopped before saving it.

    Attributes:
        update: the first update with non-finite values.
        last_checkpoint: update count of the newest checkpoint on disk (None: none saved).
    """

    def __init__(self, message: str, update: int, last_checkpoint: int | None):
        super().__init__(message)
        self.update = update
        self.last_checkpoint = last_checkpoint


@dataclasses.dataclass
class RunResult:
    """What a finished (or stopped) run leaves behind."""

    run_dir: str  # the run directory
    config: PPOConfig  # the config the run used (the saved one on resume)
    runner_state: Any  # the final runner state (device arrays)
    rows: list[dict[str, Any]]  # one metrics row per update done
    updates_done: int  # updates done so far
    finished: bool  # False when stopped early by stop_after_updates
    paths: dict[str, str]  # name -> file written
    elapsed_s: float = 0.0  # seconds of training of the whole run (resumed parts included)
    run: RunOptions | None = None  # the options in force (the run's own ones on resume)


class StartState(NamedTuple):
    """Where the chunk loop starts: a fresh or a restored run."""

    runner_state: Any  # device arrays
    updates_done: int  # updates already done
    rows: list[dict[str, Any]]  # their metrics rows (without the time column)
    time_offset: float  # seconds of training before this session
    checkpointer: RunCheckpointer  # open on the run's checkpoints/


def first_nonfinite_update(metrics: dict[str, Any], first_update: int) -> int | None:
    """The first update of a chunk whose losses or parameters hold inf/NaN, if any.

    Args:
        metrics: a chunk's host metrics, name -> [size].
        first_update: updates done before the chunk.
    """
    bad = None
    for name in ("nonfinite_loss", "nonfinite_params"):
        if name in metrics:
            flags = np.asarray(metrics[name]) > 0
            bad = flags if bad is None else bad | flags
    if bad is None or not bad.any():
        return None
    return first_update + int(np.argmax(bad)) + 1


def diverged_error(
    bad_update: int, row: dict[str, Any], last_checkpoint: int | None, checkpoint_dir: str
) -> TrainingDivergedError:
    """The error that stops a run at its first non-finite update (``row`` is its metrics)."""
    kept = (
        f"the last good checkpoint is update {last_checkpoint} in {checkpoint_dir}"
        if last_checkpoint is not None
        else "no checkpoint was saved before it"
    )
    return TrainingDivergedError(
        f"update {bad_update} produced non-finite values "
        f"({int(row.get('nonfinite_loss') or 0)} loss entries, "
        f"{int(row.get('nonfinite_params') or 0)} parameters); training stopped "
        f"without saving it; {kept} (a smaller --lr or --max-grad-norm may help)",
        update=bad_update,
        last_checkpoint=last_checkpoint,
    )


def _start_state(
    setup: RunSetup,
    trainer: ChunkedTrainer,
    key: jax.Array,
    is_main_process: bool,
    log: Callable[[str], None],
) -> StartState:
    """A fresh runner state, or the newest checkpoint that restores (the damaged newer ones set
    aside, saying why)."""
    checkpoint_dir = os.path.join(setup.run_dir, CHECKPOINT_DIR)
    keep = setup.run.keep_checkpoints
    checkpointer = RunCheckpointer(checkpoint_dir, max_to_keep=keep)
    if not setup.run.resume:
        return StartState(trainer.init(key), 0, [], 0.0, checkpointer)
    try:
        runner_state, metadata = checkpointer.restore(trainer.state_template(key))
    except CheckpointError as error:
        checkpointer.close()
        raise RunSetupError(f"--resume: {error}") from error
    updates_done = int(metadata["updates_done"])
    for step, reason in checkpointer.skipped:
        log(f"resume: skipped checkpoint {step}, it does not restore ({reason})")
        if is_main_process:
            set_aside_damaged_checkpoint(setup.run_dir, step)
    if checkpointer.skipped:  # a fresh manager, that knows those names are free again
        checkpointer.close()
        checkpointer = RunCheckpointer(checkpoint_dir, max_to_keep=keep)
    time_offset = float(metadata.get("time_s", 0.0))
    log(
        f"resuming {setup.run_dir} from checkpoint {updates_done}/{setup.config.num_updates} "
        f"({time_offset:.1f} s of training so far)"
    )
    return StartState(runner_state, updates_done, list(metadata["rows"]), time_offset, checkpointer)


def _write_curve(
    run_dir: str, rows: list[dict[str, Any]], config: PPOConfig, seed: int
) -> str | None:
    """Writes ``learning_curve.png`` of the metrics that the rows hold; its path, if written."""
    columns = rows_to_columns(rows)
    keys = [k for k in CURVE_KEYS if k in columns]
    if not keys:
        return None
    path = os.path.join(run_dir, CURVE_PNG)
    plot_learning_curves(
        columns, path, keys=keys, title=f"{config.env_id} / {config.memory.kind} / seed {seed}"
    )
    return path


def train(
    config: PPOConfig,
    run: RunOptions,
    trainer: ChunkedTrainer | None = None,
    log: Callable[[str], None] = print,
    explicit: Collection[str] | None = None,
) -> RunResult:
    """Runs (or resumes) one training run and writes its files.

    A fresh run starts from an empty run directory: what an earlier run wrote there is removed
    (it needs ``--overwrite`` when that run left checkpoints). A resumed run continues the same
    run: the saved config, the run's own options (:data:`~experiments.runs.folder.
    RUN_LEVEL_OPTIONS`; one set explicitly wins, and the log says so), the metrics history and
    the training time so far; it restores the newest checkpoint that restores, saying which
    newer ones it skipped and why.

    Args:
        config: the PPO config (on resume, the run directory's saved config is used; a different
            non-default one is an error).
        run: run options.
        trainer: compiled functions to use; the process-wide cached ones of the config when
            None (see :func:`~experiments.runs.chunks.get_trainer`).
        log: where the summary lines go.
        explicit: on resume, the run options set explicitly (the CLI passes the flags on its
            command line); None: those that differ from the defaults.

    Returns:
        The :class:`RunResult`.

    Raises:
        RunSetupError: the run directory and the options disagree, no checkpoint restores, or
            an output folder cannot be written (one line each).
        TrainingDivergedError: an update produced non-finite losses or parameters; the run
            stops without saving it, the checkpoints before it stay.
    """
    # Training time counts from here: the init or restore and its compile are part of it.
    start_time = time.perf_counter()
    setup = set_up_run(config, run, explicit, log)
    run_dir, config, run = setup.run_dir, setup.config, setup.run
    checkpoint_dir = os.path.join(run_dir, CHECKPOINT_DIR)
    if trainer is None or trainer.config != config:
        trainer = get_trainer(config)
    is_main_process = jax.process_index() == 0
    if is_main_process:
        ensure_writable_directory(run_dir)
        if not run.resume:
            removed = clear_run_directory(run_dir)
            if removed:
                log(f"starting afresh in {run_dir}: removed the earlier run's {removed}")
    num_updates = config.num_updates
    steps_per_update = config.steps_per_update
    start = _start_state(setup, trainer, jax.random.key(run.seed), is_main_process, log)
    runner_state, updates_done, rows = start.runner_state, start.updates_done, start.rows
    time_offset, checkpointer = start.time_offset, start.checkpointer
    resumes = setup.resumes
    if run.resume:
        resumes = [*resumes, {"from_update": updates_done, "overrides": sorted(setup.overridden)}]
    if is_main_process:
        write_config_json(run_dir, config, setup.run_section, resumes)
    logger = MetricsLogger(
        run_dir,
        steps_per_update,
        start_update=updates_done,
        csv_file=run.csv,
        tensorboard=run.tensorboard and is_main_process,
        jsonl=is_main_process,
        wandb_project=run.wandb_project if is_main_process else None,
        wandb_config=config_to_dict(config),
        time_offset=time_offset + time.perf_counter() - start_time,  # the same clock as time_s
    )
    stop_at = (
        num_updates if run.stop_after_updates is None else min(num_updates, run.stop_after_updates)
    )
    progress = TrainingProgress(
        total_env_steps=num_updates * steps_per_update,
        initial_env_steps=updates_done * steps_per_update,
        return_key=RETURN_KEY,
        disable=not (run.progress and is_main_process),
    )
    try:
        for index, size in enumerate(chunk_schedule(stop_at, run.chunk_updates, updates_done)):
            runner_state, metrics = trainer.update(runner_state, size)
            metrics = jax.device_get(metrics)  # the only device -> host transfer of a chunk
            chunk_rows = logger.log_chunk(metrics, updates_done)
            progress.update(chunk_rows)
            bad_update = first_nonfinite_update(metrics, updates_done)
            if bad_update is not None:
                row = chunk_rows[bad_update - updates_done - 1]
                raise diverged_error(bad_update, row, checkpointer.latest_step(), checkpoint_dir)
            rows.extend({k: v for k, v in row.items() if k != TIME_KEY} for row in chunk_rows)
            updates_done += size
            if (index + 1) % run.checkpoint_every == 0 or updates_done == stop_at:
                checkpointer.save(
                    updates_done,
                    runner_state,
                    {
                        "updates_done": updates_done,
                        "env_steps": updates_done * steps_per_update,
                        "config": config_to_dict(config),
                        "rows": rows,
                        "time_s": time_offset + time.perf_counter() - start_time,
                    },
                )
    finally:
        progress.close()
        logger.close()
        checkpointer.close()
    session_s = time.perf_counter() - start_time
    elapsed = time_offset + session_s
    paths = {
        "run directory": run_dir,
        "config": os.path.join(run_dir, CONFIG_JSON),
        "checkpoints": checkpoint_dir,
    }
    if logger.jsonl_path:
        paths["metrics (JSONL)"] = logger.jsonl_path
    if logger.csv_path and run.csv and is_main_process:
        paths["metrics (CSV)"] = logger.csv_path
    if logger.tensorboard_dir:
        paths["TensorBoard"] = logger.tensorboard_dir
    if run.plot and rows and is_main_process:
        curve_path = _write_curve(run_dir, rows, config, run.seed)
        if curve_path is not None:
            paths["learning curve"] = curve_path
    finished = updates_done >= num_updates
    status = "finished" if finished else f"stopped at update {updates_done}/{num_updates}"
    this_session = f", {session_s:.1f} s in this session" if time_offset > 0 else ""
    log(
        f"{status}: {updates_done * steps_per_update:,} env steps in {elapsed:.1f} s of "
        f"training (compile included{this_session})"
    )
    for name, path in paths.items():
        log(f"  {name + ':':<18} {path}")
    if not finished:
        log(
            f"  continue with: python -m experiments.train --resume --out-dir {run.out_dir} "
            f"--name {os.path.basename(run_dir)}"
        )
    return RunResult(
        run_dir=run_dir,
        config=config,
        runner_state=runner_state,
        rows=rows,
        updates_done=updates_done,
        finished=finished,
        paths=paths,
        elapsed_s=elapsed,
        run=run,
    )
