"""The run folder: what a training run writes where, its options, and the resume rules.

A run lives in ``<out_dir>/<name>`` (default name ``<env>-<memory>-seed<seed>``) and holds:

* ``config.json`` — the PPO config, the run options (``run``), each resume (``resumes``);
* ``metrics.jsonl`` and ``metrics.csv`` — one row per update;
* ``tensorboard/`` — TensorBoard events;
* ``checkpoints/<update>/`` — orbax checkpoints (runner state + config + metrics so far);
* ``learning_curve.png`` — return and success against environment steps;
* ``eval/`` — what ``experiments.evaluate`` writes by default.

A fresh run starts from an empty folder (what an earlier run wrote is removed; over checkpoints
only with ``overwrite``). A resumed run takes the saved config, and the run's own options
(:data:`RUN_LEVEL_OPTIONS`) unless given again explicitly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Collection
from typing import Any, NamedTuple

import jax

from hcmrl_jax.rl.config import RENAMED_SETTINGS, PPOConfig
from hcmrl_jax.utils.serialization import config_differences, config_from_dict, config_to_dict

CONFIG_JSON = "config.json"
CHECKPOINT_DIR = "checkpoints"
CURVE_PNG = "learning_curve.png"
#: What a run writes in its directory; a fresh start (``--overwrite``, or a directory without
#: checkpoints) removes these, so the directory holds only the new run.
RUN_ARTIFACTS: tuple[str, ...] = (
    CONFIG_JSON,
    CHECKPOINT_DIR,
    CURVE_PNG,
    "metrics.jsonl",
    "metrics.csv",
    "tensorboard",
    "eval",
    "wandb",
)
#: Folder name prefix of a damaged checkpoint that a resume moved out of ``checkpoints/``.
DAMAGED_PREFIX = "damaged-checkpoint-"
#: Run options that belong to the run, restored on resume unless given again explicitly. The
#: others (where the run is, --resume/--overwrite, --stop-after-updates, --progress,
#: --distributed) belong to one invocation.
RUN_LEVEL_OPTIONS: tuple[str, ...] = (
    "seed",
    "chunk_updates",
    "checkpoint_every",
    "keep_checkpoints",
    "tensorboard",
    "csv",
    "wandb_project",
    "plot",
)


class RunSetupError(ValueError):
    """The run directory and the options disagree (resume without a checkpoint, ...)."""


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How one run is driven, logged and stored (not part of the algorithm)."""

    out_dir: str = "outputs/runs"  # parent directory of run directories
    name: str | None = None  # run directory name; default: <env>-<memory>-seed<seed>
    seed: int = 0  # PRNG seed of the run (the key of init and of every update)
    chunk_updates: int = 10  # PPO updates per compiled chunk; logs and checkpoints between chunks
    checkpoint_every: int = 1  # save a checkpoint every this many chunks (and always at the end)
    keep_checkpoints: int = 2  # how many of the latest checkpoints stay on disk
    resume: bool = False  # continue from the run directory's latest checkpoint
    overwrite: bool = False  # start afresh even if the run directory holds checkpoints
    stop_after_updates: int | None = None  # stop once this many updates are done (resumable)
    tensorboard: bool = True  # write TensorBoard events
    csv: bool = True  # write metrics.csv besides metrics.jsonl
    wandb_project: str | None = None  # also log to this W&B project (needs `pip install wandb`)
    progress: bool = True  # show a progress bar (env steps, steps/s, return)
    plot: bool = True  # write learning_curve.png at the end
    distributed: bool = False  # call jax.distributed.initialize() first (multi-host runs)

    def __post_init__(self) -> None:
        for name in ("chunk_updates", "checkpoint_every", "keep_checkpoints"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"RunOptions.{name} must be a positive integer, got {value!r}")
        if self.stop_after_updates is not None and self.stop_after_updates < 1:
            raise ValueError(
                f"RunOptions.stop_after_updates must be >= 1 (or unset), got "
                f"{self.stop_after_updates!r}"
            )
        if self.resume and self.overwrite:
            raise ValueError("RunOptions: --resume and --overwrite contradict each other")
        if self.name is not None and (not self.name or os.sep in self.name):
            raise ValueError(f"RunOptions.name must be a plain directory name, got {self.name!r}")


class RunSetup(NamedTuple):
    """A run's folder, config and options once the command and the folder agree."""

    run_dir: str  # the run directory
    config: PPOConfig  # the config to train (the saved one on resume)
    run: RunOptions  # the options in force (on resume, the run's own ones restored)
    run_section: dict[str, Any]  # the ``run`` section that config.json gets
    resumes: list[dict[str, Any]]  # the earlier resumes listed in config.json
    overridden: dict[str, tuple[Any, Any]]  # run options given again: name -> (saved, new)


def default_run_name(config: PPOConfig, seed: int) -> str:
    return f"{config.env_id}-{config.memory.kind}-seed{seed}"


def run_directory(config: PPOConfig, run: RunOptions) -> str:
    return os.path.join(run.out_dir, run.name or default_run_name(config, run.seed))


def has_checkpoints(checkpoint_dir: str) -> bool:
    """Whether ``checkpoint_dir`` holds a checkpoint folder (named by its update count)."""
    return os.path.isdir(checkpoint_dir) and any(
        name.isdigit() for name in os.listdir(checkpoint_dir)
    )


def ensure_writable_directory(path: str) -> None:
    """Creates ``path`` if needed and checks that a file can be written in it.

    Raises:
        RunSetupError: one line naming the path (a file in the way, a read-only file system,
            no permission, ...).
    """
    blocker = os.path.abspath(path)
    while not os.path.exists(blocker) and os.path.dirname(blocker) != blocker:
        blocker = os.path.dirname(blocker)
    if os.path.exists(blocker) and not os.path.isdir(blocker):
        raise RunSetupError(f"cannot write to {path}: {blocker} is a file, not a folder")
    try:
        os.makedirs(path, exist_ok=True)
        probe = os.path.join(path, f".write-test-{os.getpid()}")
        with open(probe, "w", encoding="utf-8"):
            pass
        os.remove(probe)
    except OSError as error:
        raise RunSetupError(f"cannot write to {path}: {error.strerror or error}") from error


def clear_run_directory(run_dir: str) -> list[str]:
    """Removes what an earlier run wrote in ``run_dir`` (:data:`RUN_ARTIFACTS`); returns the
    names removed. Other files stay."""
    removed = []
    for name in RUN_ARTIFACTS:
        path = os.path.join(run_dir, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
        else:
            continue
        removed.append(name)
    for name in sorted(os.listdir(run_dir)) if os.path.isdir(run_dir) else []:
        if name.startswith(DAMAGED_PREFIX):  # damaged checkpoints a resume set aside
            shutil.rmtree(os.path.join(run_dir, name))
            removed.append(name)
    return removed


def set_aside_damaged_checkpoint(run_dir: str, step: int) -> None:
    """Moves checkpoint ``step`` out of ``checkpoints/`` (not deleted: it may still be of use),
    so the next save can use its name."""
    os.replace(
        os.path.join(run_dir, CHECKPOINT_DIR, str(step)),
        os.path.join(run_dir, f"{DAMAGED_PREFIX}{step}"),
    )


def load_entries_made_alike(
    path: str, settings: dict[str, Any], section: str, overwrite: bool
) -> dict[str, Any]:
    """``section`` of a results file (a sweep's cells, a comparison's kinds) when the file was
    made with the same ``settings``, so a rerun keeps them; none when there is no file or on
    ``overwrite``.

    Raises:
        RunSetupError: the file was made with other settings and ``overwrite`` is False (the
            message names the settings that differ).
    """
    if overwrite or not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    old = dict(saved.get("settings", {}))
    if "overrides" in old:  # settings saved under an older name compare by their name now
        old["overrides"] = {RENAMED_SETTINGS.get(k, k): v for k, v in old["overrides"].items()}
    if old != settings:
        differ = sorted(k for k in {*old, *settings} if old.get(k) != settings.get(k))
        raise RunSetupError(
            f"{path} was made with other settings (they differ in {differ}); pass --overwrite "
            "to discard it, or --out for another folder"
        )
    return dict(saved.get(section, {}))


def load_run_config(run_dir: str) -> tuple[PPOConfig, dict[str, Any]]:
    """The PPO config and the raw ``config.json`` of a run directory."""
    path = os.path.join(run_dir, CONFIG_JSON)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no {CONFIG_JSON}")
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    return config_from_dict(PPOConfig, saved["config"]), saved


def write_config_json(
    run_dir: str, config: PPOConfig, run_section: dict[str, Any], resumes: list[dict[str, Any]]
) -> None:
    """Writes the run's ``config.json`` (atomically: a reader never sees half a config)."""
    record = {
        "config": config_to_dict(config),
        "run": run_section,
        "num_updates": config.num_updates,
        "steps_per_update": config.steps_per_update,
        "jax_version": jax.__version__,
    }
    if resumes:
        record["resumes"] = resumes
    path = os.path.join(run_dir, CONFIG_JSON)
    with open(path + ".tmp", "w", encoding="utf-8") as handle:
        json.dump(record, handle, indent=2)
    os.replace(path + ".tmp", path)


def resolve_resume_config(config: PPOConfig, saved: PPOConfig) -> PPOConfig:
    """On resume the saved config rules; a command line that sets another one is an error.

    Raises:
        RunSetupError: ``config`` is neither the default nor ``saved``.
    """
    if config != saved and config != PPOConfig():
        fields = config_differences(config, saved)
        raise RunSetupError(
            f"--resume: the command line's config differs from the run's saved config in "
            f"{fields}; resume with the same flags (or none) or start a new run"
        )
    return saved


def resume_run_options(
    run: RunOptions, saved: dict[str, Any], explicit: Collection[str] | None
) -> tuple[RunOptions, dict[str, tuple[Any, Any]]]:
    """The options of a resumed run: the run's saved :data:`RUN_LEVEL_OPTIONS`, except those
    set explicitly now.

    Args:
        run: the options of this invocation.
        saved: the ``run`` section of the run's ``config.json``.
        explicit: field names set explicitly (the CLI passes the flags written on the command
            line); None: those that differ from the :class:`RunOptions` defaults.

    Returns:
        The options to use, and ``name -> (saved, new)`` of the explicit ones that differ.
    """
    defaults = RunOptions()
    if explicit is None:
        explicit = {
            f.name
            for f in dataclasses.fields(run)
            if getattr(run, f.name) != getattr(defaults, f.name)
        }
    restored, overridden = {}, {}
    for name in RUN_LEVEL_OPTIONS:
        if name not in saved:
            continue
        if name in explicit:
            if getattr(run, name) != saved[name]:
                overridden[name] = (saved[name], getattr(run, name))
        else:
            restored[name] = saved[name]
    return dataclasses.replace(run, **restored), overridden


def set_up_run(
    config: PPOConfig,
    run: RunOptions,
    explicit: Collection[str] | None = None,
    log: Callable[[str], None] = print,
) -> RunSetup:
    """Checks the command against the run folder, before anything is compiled or written.

    A fresh run needs a folder without checkpoints (or ``overwrite``). A resumed run needs a
    checkpoint; it takes the saved config (a different non-default one is an error), the saved
    ``run`` section and resumes, and the run's own options except those set explicitly (each
    of those that differs is logged).

    Args:
        config: the command's PPO config.
        run: the command's run options.
        explicit: on resume, the run options set explicitly (see :func:`resume_run_options`).
        log: where the lines about replaced options go.

    Raises:
        RunSetupError: resume without a checkpoint or with another config; a fresh start over
            checkpoints without ``overwrite``.
    """
    run_dir = run_directory(config, run)
    checkpoint_dir = os.path.join(run_dir, CHECKPOINT_DIR)
    has_checkpoint = has_checkpoints(checkpoint_dir)
    run_section = config_to_dict(run)
    resumes: list[dict[str, Any]] = []
    overridden: dict[str, tuple[Any, Any]] = {}
    if run.resume:
        if not has_checkpoint:
            raise RunSetupError(f"--resume: no checkpoint in {checkpoint_dir}")
        saved_config, saved_json = load_run_config(run_dir)
        config = resolve_resume_config(config, saved_config)
        run_section = dict(saved_json.get("run", {}))
        resumes = list(saved_json.get("resumes", []))
        run, overridden = resume_run_options(run, run_section, explicit)
        for name, (old, new) in overridden.items():
            log(f"resume: --{name.replace('_', '-')} {new} replaces the run's {old}")
            run_section[name] = config_to_dict(run)[name]
    elif has_checkpoint and not run.overwrite:
        raise RunSetupError(
            f"{run_dir} already holds checkpoints; pass --resume to continue that run, "
            f"--overwrite to start afresh, or --name for another run directory"
        )
    return RunSetup(run_dir, config, run, run_section, resumes, overridden)
