"""Train one agent: ``python -m experiments.train --env crafting --memory hcmrl --total-steps N``.

Every :class:`hcmrl_jax.rl.PPOConfig` field is a flag (``--help`` lists them with their docs),
plus the run options of :class:`RunOptions`. ``--env`` and ``--total-steps`` are short forms of
``--env-id`` and ``--total-timesteps``; ``--preset NAME`` starts from a named config of
``experiments/configs`` (demo, tiny, default, crafting, navigation, games, story), which later
flags override.

The run advances in chunks of ``--chunk-updates`` compiled PPO updates. Only the per-update
scalar metrics cross to the host, once per chunk; between chunks the run logs them and saves the
whole runner state with orbax, so ``--resume`` continues an interrupted run, bit for bit on the
CPU. The run directory ``<out-dir>/<name>`` receives:

* ``config.json`` — the PPO config and run options;
* ``metrics.jsonl`` and ``metrics.csv`` — one row per update;
* ``tensorboard/`` — TensorBoard events (``tensorboard --logdir <run dir>``);
* ``checkpoints/<update>/`` — orbax checkpoints (runner state + config + metrics so far);
* ``learning_curve.png`` — return and success against environment steps.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Collection, Sequence
from typing import Annotated, Any

import jax


def initialize_distributed_if_requested(argv: Sequence[str]) -> bool:
    """Calls ``jax.distributed.initialize()`` when ``--distributed`` is on the command line.

    It must run before any JAX computation, so it looks at the raw arguments before parsing.
    On SLURM, Open MPI and TPU pods the coordinator, process count and process id are detected;
    elsewhere set ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0, read by JAX) and
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (passed on here).

    Returns:
        Whether it initialised (False without the flag or when already initialised).
    """
    if "--distributed" not in argv or jax.distributed.is_initialized():
        return False
    kwargs = {}
    for variable, argument in (
        ("JAX_NUM_PROCESSES", "num_processes"),
        ("JAX_PROCESS_ID", "process_id"),
    ):
        if variable in os.environ:
            kwargs[argument] = int(os.environ[variable])
    jax.distributed.initialize(**kwargs)
    print(
        f"jax.distributed: process {jax.process_index()} of {jax.process_count()}, "
        f"{jax.local_device_count()} local / {jax.device_count()} global devices",
        file=sys.stderr,
    )
    return True


# JAX's multi-process runtime must start before anything touches a backend, and importing the
# env and trainer modules below already does (gymnax builds arrays on import): so a
# `python -m experiments.train --distributed` run starts it here, before those imports.
if __name__ == "__main__":
    initialize_distributed_if_requested(sys.argv[1:])

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import tyro  # noqa: E402

from experiments.configs import PRESETS, get_preset  # noqa: E402
from hcmrl_jax.rl.config import PPOConfig  # noqa: E402
from hcmrl_jax.rl.train import make_train_chunks  # noqa: E402
from hcmrl_jax.utils.checkpoint import CheckpointError, RunCheckpointer  # noqa: E402
from hcmrl_jax.utils.logging import MetricsLogger, TrainingProgress  # noqa: E402
from hcmrl_jax.utils.metrics import TIME_KEY, rows_to_columns  # noqa: E402
from hcmrl_jax.utils.visualization import plot_learning_curves  # noqa: E402

CONFIG_JSON = "config.json"
CHECKPOINT_DIR = "checkpoints"
CURVE_PNG = "learning_curve.png"

#: The per-update metric shown as the return (progress bar) and the learning-curve panels.
RETURN_KEY = "episode_return"
CURVE_KEYS: tuple[str, ...] = (RETURN_KEY, "success", "reward")
#: Short flag forms accepted on the command line -> the generated flag.
FLAG_ALIASES: dict[str, str] = {"--env": "--env-id", "--total-steps": "--total-timesteps"}


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
    import shutil

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


@dataclasses.dataclass(frozen=True)
class TrainArgs:
    """Train a memory-augmented PPO agent; writes logs, checkpoints and a learning curve."""

    config: Annotated[PPOConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(
        default_factory=PPOConfig
    )
    run: Annotated[RunOptions, tyro.conf.OmitArgPrefixes] = dataclasses.field(
        default_factory=RunOptions
    )


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


def expand_aliases(argv: Sequence[str]) -> list[str]:
    """Rewrites the short flag forms (``--env``, ``--total-steps``) to the generated flags."""
    out = []
    for arg in argv:
        flag, sep, value = arg.partition("=")
        out.append(FLAG_ALIASES.get(flag, flag) + sep + value)
    return out


def split_preset(argv: Sequence[str]) -> tuple[PPOConfig, list[str]]:
    """Takes ``--preset NAME`` (or ``--preset=NAME``) out of ``argv``.

    Returns:
        The preset's config (``PPOConfig()`` without one) and the remaining arguments.

    Raises:
        KeyError: unknown preset name.
        ValueError: ``--preset`` without a name.
    """
    rest, name = [], None
    arguments = iter(argv)
    for arg in arguments:
        if arg == "--preset":
            name = next(arguments, None)
            if name is None or name.startswith("--"):
                raise ValueError(f"--preset needs a name; presets: {sorted(PRESETS)}")
        elif arg.startswith("--preset="):
            name = arg.partition("=")[2]
        else:
            rest.append(arg)
    return (PPOConfig() if name is None else get_preset(name)), rest


def given_flags(argv: Sequence[str]) -> frozenset[str]:
    """Field names of the flags written on a command line (``--chunk-updates 5`` and
    ``--chunk-updates=5`` give ``chunk_updates``; ``--no-progress`` gives ``progress``), after
    :func:`expand_aliases`. ``--preset`` counts as every field its config sets."""
    names = set()
    for arg in expand_aliases(argv):
        if not arg.startswith("--"):
            continue
        name = arg[2:].partition("=")[0].replace("-", "_")
        names.add(name)
        if name.startswith("no_"):
            names.add(name[3:])
    return frozenset(names)


def cli_with_preset(cls: type, argv: Sequence[str], prog: str, description: str | None) -> Any:
    """Parses ``argv`` into ``cls`` (a dataclass with ``config`` and ``run`` parts) with tyro,
    starting from ``--preset NAME`` when given.

    ``--env-overrides KEY VALUE ...`` has one spelling with and without a preset: the keys given
    are set on top of the preset's overrides. (Handing tyro a default whose dict is not empty
    would turn it into one flag per key, shown only under ``--preset NAME --help``.)

    Raises:
        KeyError: unknown preset (or env / memory) name.
        ValueError: a bad value.
    """
    preset, argv = split_preset(expand_aliases(argv))
    base = dataclasses.replace(preset, env_overrides={})
    args = tyro.cli(cls, args=argv, prog=prog, description=description, default=cls(config=base))
    overrides = {**preset.env_overrides, **args.config.env_overrides}
    return dataclasses.replace(
        args, config=dataclasses.replace(args.config, env_overrides=overrides)
    )


def parse_args(argv: Sequence[str] | None = None, prog: str = "python -m experiments.train"):
    """Parses the command line into :class:`TrainArgs`; bad values exit with a clear message.

    ``--preset NAME`` starts from a named config of :mod:`experiments.configs` (later flags
    override its fields; ``--env-overrides`` keys are set on top of its overrides); ``--env`` and
    ``--total-steps`` are short for ``--env-id`` and ``--total-timesteps``.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return cli_with_preset(TrainArgs, argv, prog, __doc__)
    except (KeyError, ValueError) as error:
        # tyro reports ValueError itself; KeyError (unknown env / memory names) lands here.
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2) from error


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuilds a config dataclass from :func:`config_to_dict` output (validating it again)."""
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {unknown} (saved by another version?)")
    return cls(**values)


def default_run_name(config: PPOConfig, seed: int) -> str:
    return f"{config.env_id}-{config.memory}-seed{seed}"


def run_directory(config: PPOConfig, run: RunOptions) -> str:
    return os.path.join(run.out_dir, run.name or default_run_name(config, run.seed))


def config_differences(a: Any, b: Any) -> list[str]:
    """Names of the fields in which two config dataclasses differ."""
    return [
        field.name
        for field in dataclasses.fields(a)
        if getattr(a, field.name) != getattr(b, field.name)
    ]


def load_run_config(run_dir: str) -> tuple[PPOConfig, dict[str, Any]]:
    """The PPO config and the raw ``config.json`` of a run directory."""
    path = os.path.join(run_dir, CONFIG_JSON)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{run_dir} is not a run directory: it has no {CONFIG_JSON}")
    with open(path, encoding="utf-8") as handle:
        saved = json.load(handle)
    return config_from_dict(PPOConfig, saved["config"]), saved


def _resolve_resume_config(config: PPOConfig, run_dir: str) -> PPOConfig:
    """On resume the saved config rules; a command line that sets another one is an error."""
    saved, _ = load_run_config(run_dir)
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


def _write_config_json(
    run_dir: str, config: PPOConfig, run_section: dict[str, Any], resumes: list[dict[str, Any]]
) -> None:
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
    os.replace(path + ".tmp", path)  # a reader never sees half a config


def _first_nonfinite_update(metrics: dict[str, Any], first_update: int) -> int | None:
    """The first update of a chunk whose losses or parameters hold inf/NaN, if any."""
    bad = None
    for name in ("nonfinite_loss", "nonfinite_params"):
        if name in metrics:
            flags = np.asarray(metrics[name]) > 0
            bad = flags if bad is None else bad | flags
    if bad is None or not bad.any():
        return None
    return first_update + int(np.argmax(bad)) + 1


def chunk_schedule(num_updates: int, chunk_updates: int, start: int = 0) -> list[int]:
    """Chunk sizes that take ``start`` updates to ``num_updates``, aligned to multiples of
    ``chunk_updates`` from 0, so a resumed run cuts its chunks where an uninterrupted one does."""
    sizes = []
    done = start
    while done < num_updates:
        boundary = (done // chunk_updates + 1) * chunk_updates
        sizes.append(min(boundary, num_updates) - done)
        done += sizes[-1]
    return sizes


def strong_types(tree: Any) -> Any:
    """The same arrays without weak types.

    A checkpoint stores dtypes, not JAX's weak-type flag (e.g. a Python int in the env params
    becomes a weakly typed int32), so a restored state would otherwise differ from a fresh one
    in its abstract types: the chunk function would be compiled again, as a different program.
    Starting every run from strongly typed leaves makes fresh and resumed runs share one program.
    """

    def strong(leaf: Any) -> jax.Array:
        leaf = jnp.asarray(leaf)  # Python scalars (e.g. in env params) become weak arrays
        if jax.typeof(leaf).weak_type:
            return jax.lax.convert_element_type(leaf, leaf.dtype)
        return leaf

    return jax.tree.map(strong, tree)


class ChunkedTrainer:
    """Compiled init and chunk-update functions of one config, compiled once per chunk size.

    Args:
        config: the PPO config.
        make_chunks: ``make_chunks(config, updates_per_chunk) -> (init_fn, update_fn)``.
    """

    def __init__(self, config: PPOConfig, make_chunks: Callable = make_train_chunks):
        self.config = config
        self._make_chunks = make_chunks
        self._init_fn = None
        self._init_jit = None
        self._template = None
        self._update_fns: dict[int, Callable] = {}

    def _fns(self, size: int) -> tuple[Callable, Callable]:
        init_fn, update_fn = self._make_chunks(self.config, size)
        if self._init_fn is None:
            self._init_fn = init_fn
        return init_fn, update_fn

    def _strong_init(self, key: jax.Array) -> Any:
        if self._init_fn is None:
            self._fns(1)
        return strong_types(self._init_fn(key))

    def init(self, key: jax.Array) -> Any:
        """The initial runner state, committed to its devices like a restored one, so a fresh
        and a resumed run hit the same compiled chunk."""
        if self._init_jit is None:
            self._init_jit = jax.jit(self._strong_init)
        state = self._init_jit(key)
        return jax.tree.map(lambda leaf: jax.device_put(leaf, leaf.sharding), state)

    def state_template(self, key: jax.Array) -> Any:
        """The runner state's structure, shapes and dtypes, without computing it."""
        if self._template is None:
            self._template = jax.eval_shape(self._strong_init, key)
        return self._template

    def update(self, runner_state: Any, size: int) -> tuple[Any, dict[str, Any]]:
        """Runs ``size`` updates; the input state's buffers are donated (reused in place)."""
        if size not in self._update_fns:
            _, update_fn = self._fns(size)
            self._update_fns[size] = jax.jit(update_fn, donate_argnums=0)
        return self._update_fns[size](runner_state)


#: Trainers of recent configs, so a process that trains the same config again (a resume, a
#: notebook re-run, the tests) reuses the compiled functions.
_TRAINERS: dict[str, ChunkedTrainer] = {}
_TRAINER_CACHE_SIZE = 4


def get_trainer(config: PPOConfig) -> ChunkedTrainer:
    """The cached :class:`ChunkedTrainer` of ``config`` (built on first use)."""
    key = json.dumps(config_to_dict(config), sort_keys=True)
    if key not in _TRAINERS:
        while len(_TRAINERS) >= _TRAINER_CACHE_SIZE:
            _TRAINERS.pop(next(iter(_TRAINERS)))
        _TRAINERS[key] = ChunkedTrainer(config)
    return _TRAINERS[key]


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
    run: the saved config, the run's own options (:data:`RUN_LEVEL_OPTIONS`; one set explicitly
    wins, and the log says so), the metrics history and the training time so far; it restores
    the newest checkpoint that restores, saying which newer ones it skipped and why.

    Args:
        config: the PPO config (on resume, the run directory's saved config is used; a different
            non-default one is an error).
        run: run options.
        trainer: compiled functions to use; the process-wide cached ones of the config when
            None (see :func:`get_trainer`).
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
    run_dir = run_directory(config, run)
    checkpoint_dir = os.path.join(run_dir, CHECKPOINT_DIR)
    has_checkpoint = os.path.isdir(checkpoint_dir) and any(
        name.isdigit() for name in os.listdir(checkpoint_dir)
    )
    run_section = config_to_dict(run)
    resumes: list[dict[str, Any]] = []
    if run.resume:
        if not has_checkpoint:
            raise RunSetupError(f"--resume: no checkpoint in {checkpoint_dir}")
        config = _resolve_resume_config(config, run_dir)
        _, saved_json = load_run_config(run_dir)
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
    key = jax.random.key(run.seed)
    checkpointer = RunCheckpointer(checkpoint_dir, max_to_keep=run.keep_checkpoints)
    rows: list[dict[str, Any]] = []
    time_offset = 0.0
    if run.resume:
        try:
            runner_state, metadata = checkpointer.restore(trainer.state_template(key))
        except CheckpointError as error:
            checkpointer.close()
            raise RunSetupError(f"--resume: {error}") from error
        updates_done = int(metadata["updates_done"])
        for step, reason in checkpointer.skipped:
            log(f"resume: skipped checkpoint {step}, it does not restore ({reason})")
            if is_main_process:  # set aside (not deleted), so the next save can use its name
                os.replace(
                    os.path.join(checkpoint_dir, str(step)),
                    os.path.join(run_dir, f"{DAMAGED_PREFIX}{step}"),
                )
        if checkpointer.skipped:  # a fresh manager, that knows those names are free again
            checkpointer.close()
            checkpointer = RunCheckpointer(checkpoint_dir, max_to_keep=run.keep_checkpoints)
        rows = list(metadata["rows"])
        time_offset = float(metadata.get("time_s", 0.0))
        resumes.append({"from_update": updates_done, "overrides": sorted(overridden)})
        log(
            f"resuming {run_dir} from checkpoint {updates_done}/{num_updates} "
            f"({time_offset:.1f} s of training so far)"
        )
    else:
        runner_state = trainer.init(key)
        updates_done = 0
    if is_main_process:
        _write_config_json(run_dir, config, run_section, resumes)
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
            bad_update = _first_nonfinite_update(metrics, updates_done)
            if bad_update is not None:
                last = checkpointer.latest_step()
                row = chunk_rows[bad_update - updates_done - 1]
                kept = (
                    f"the last good checkpoint is update {last} in {checkpoint_dir}"
                    if last is not None
                    else "no checkpoint was saved before it"
                )
                raise TrainingDivergedError(
                    f"update {bad_update} produced non-finite values "
                    f"({int(row.get('nonfinite_loss') or 0)} loss entries, "
                    f"{int(row.get('nonfinite_params') or 0)} parameters); training stopped "
                    f"without saving it; {kept} (a smaller --lr or --max-grad-norm may help)",
                    update=bad_update,
                    last_checkpoint=last,
                )
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
        curve_path = os.path.join(run_dir, CURVE_PNG)
        columns = rows_to_columns(rows)
        keys = [k for k in CURVE_KEYS if k in columns]
        if keys:
            plot_learning_curves(
                columns,
                curve_path,
                keys=keys,
                title=f"{config.env_id} / {config.memory} / seed {run.seed}",
            )
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


def main(argv: Sequence[str] | None = None) -> RunResult:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        initialize_distributed_if_requested(argv)
    except RuntimeError as error:
        # Called from Python after JAX already started (e.g. in a notebook).
        print(
            f"error: --distributed must start before JAX does; launch the run as "
            f"`python -m experiments.train --distributed ...` ({error})",
            file=sys.stderr,
        )
        raise SystemExit(2) from error
    args = parse_args(argv)
    try:
        return train(args.config, args.run, explicit=given_flags(argv))
    except RunSetupError as error:
        # Problems with the run directory or a resume: a message, not a traceback.
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from error
    except TrainingDivergedError as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(1) from error
    except OSError as error:
        # A write that failed mid-run (disk full, the folder removed, ...): name the path.
        path = error.filename or "an output file"
        print(f"error: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        raise SystemExit(1) from error


if __name__ == "__main__":
    main()
