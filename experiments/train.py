"""Train one agent: ``python -m experiments.train --env crafting --memory hcmrl --total-steps N``.

Every setting of :class:`hcmrl_jax.rl.PPOConfig` and of its memory
(:class:`hcmrl_jax.memory.MemoryConfig`) is a flag under its one name (``--help`` lists them
with their docs), plus the run options of :class:`experiments.runs.RunOptions`. ``--env`` and
``--total-steps`` are short forms of ``--env-id`` and ``--total-timesteps``; ``--preset NAME``
starts from a named config of ``experiments/configs`` (demo, tiny, default, crafting,
navigation, games, story, and each benchmark's small scale: crafting-small, navigation-small,
games-small, story-small), and ``--memory KIND`` from a named memory kind (hcmrl,
hcmrl_immediate, hcmrl_meanpool, hcmrl_no_longterm, hcmrl_fixed, hcmrl_no_keys, mlp, gru,
transformer: the core and HCMRL's switches, keeping the sizes); later flags override both.

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

import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from experiments.distributed import start_distributed_if_requested
from experiments.errors import exit_on

if TYPE_CHECKING:
    from experiments.cli import TrainArgs
    from experiments.runs import RunResult

PROG = "python -m experiments.train"

# The run's modules (configs, envs, trainer) are imported inside the functions below: importing
# the envs computes (gymnax builds arrays on import), which starts JAX's backend, and
# `--distributed` must start JAX's multi-process runtime before that.


def parse_args(argv: Sequence[str] | None = None, prog: str = PROG) -> TrainArgs:
    """Parses the command line into :class:`experiments.cli.TrainArgs`; bad values exit with a
    clear message.

    ``--preset NAME`` starts from a named config of :mod:`experiments.configs` (later flags
    override its fields; ``--env-overrides`` keys are set on top of its overrides); ``--memory
    KIND`` switches to a named memory kind; ``--env`` and ``--total-steps`` are short for
    ``--env-id`` and ``--total-timesteps``.
    """
    from experiments.cli import TrainArgs, parse_or_exit

    return parse_or_exit(TrainArgs, list(sys.argv[1:] if argv is None else argv), prog, __doc__)


def main(argv: Sequence[str] | None = None) -> RunResult:
    """Trains (or resumes) the run of the command line; a problem ends with one line on stderr
    (exit code 2: the command or the run folder; 1: the run failed)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    start_distributed_if_requested(argv, PROG)
    from experiments.cli import given_flags
    from experiments.runs import RunSetupError, TrainingDivergedError, train

    args = parse_args(argv)
    try:
        # Problems with the run directory or a resume: a message (code 2), not a traceback;
        # a diverged run: code 1.
        with exit_on(RunSetupError), exit_on(TrainingDivergedError, code=1):
            return train(args.config, args.run, explicit=given_flags(argv))
    except OSError as error:
        # A write that failed mid-run (disk full, the folder removed, ...): name the path.
        path = error.filename or "an output file"
        print(f"error: cannot write {path}: {error.strerror or error}", file=sys.stderr)
        raise SystemExit(1) from error


if __name__ == "__main__":
    main()
