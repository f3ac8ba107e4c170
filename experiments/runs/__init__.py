"""Training runs on disk: the run folder and its resume rules (:mod:`.folder`), the compiled
chunk functions (:mod:`.chunks`), and the loop that trains or resumes a run (:mod:`.training`).

``experiments.train`` is the command line over :func:`train`; ``evaluate``, ``multiseed`` and
``demo`` use the same folder layout and compiled functions.
"""

from experiments.runs.chunks import (
    TRAINERS,
    ChunkedTrainer,
    TrainerCache,
    chunk_schedule,
    get_trainer,
)
from experiments.runs.folder import (
    CHECKPOINT_DIR,
    CONFIG_JSON,
    CURVE_PNG,
    DAMAGED_PREFIX,
    RUN_ARTIFACTS,
    RUN_LEVEL_OPTIONS,
    RunOptions,
    RunSetup,
    RunSetupError,
    clear_run_directory,
    default_run_name,
    ensure_writable_directory,
    load_entries_made_alike,
    load_run_config,
    resume_run_options,
    run_directory,
    set_up_run,
)
from experiments.runs.training import (
    CURVE_KEYS,
    RETURN_KEY,
    RunResult,
    TrainingDivergedError,
    train,
)

__all__ = [
    "CHECKPOINT_DIR",
    "CONFIG_JSON",
    "CURVE_KEYS",
    "CURVE_PNG",
    "DAMAGED_PREFIX",
    "RETURN_KEY",
    "RUN_ARTIFACTS",
    "RUN_LEVEL_OPTIONS",
    "TRAINERS",
    "ChunkedTrainer",
    "RunOptions",
    "RunResult",
    "RunSetup",
    "RunSetupError",
    "TrainerCache",
    "TrainingDivergedError",
    "chunk_schedule",
    "clear_run_directory",
    "default_run_name",
    "ensure_writable_directory",
    "get_trainer",
    "load_entries_made_alike",
    "load_run_config",
    "resume_run_options",
    "run_directory",
    "set_up_run",
    "train",
]
