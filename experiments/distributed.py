"""``--distributed``: start JAX's multi-process runtime before anything starts JAX's backend.

``jax.distributed.initialize()`` must run before the first JAX computation, and importing the
envs already computes (gymnax builds arrays on import). So this module imports nothing of the
project: a command calls :func:`start_distributed_if_requested` first and imports its run's
modules after it.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import jax

FLAG = "--distributed"
#: Environment variables passed on to ``jax.distributed.initialize`` (JAX itself reads
#: ``JAX_COORDINATOR_ADDRESS``).
ENV_ARGUMENTS: dict[str, str] = {
    "JAX_NUM_PROCESSES": "num_processes",
    "JAX_PROCESS_ID": "process_id",
}


def initialize_distributed_if_requested(argv: Sequence[str]) -> bool:
    """Calls ``jax.distributed.initialize()`` when ``--distributed`` is on the command line.

    It must run before any JAX computation, so it looks at the raw arguments before parsing.
    On SLURM, Open MPI and TPU pods the coordinator, process count and process id are detected;
    elsewhere set ``JAX_COORDINATOR_ADDRESS`` (host:port of process 0, read by JAX) and
    ``JAX_NUM_PROCESSES`` and ``JAX_PROCESS_ID`` (passed on here).

    Returns:
        Whether it initialised (False without the flag or when already initialised).

    Raises:
        RuntimeError: JAX has already computed in this process.
    """
    if FLAG not in argv or jax.distributed.is_initialized():
        return False
    kwargs = {
        argument: int(os.environ[variable])
        for variable, argument in ENV_ARGUMENTS.items()
        if variable in os.environ
    }
    jax.distributed.initialize(**kwargs)
    print(
        f"jax.distributed: process {jax.process_index()} of {jax.process_count()}, "
        f"{jax.local_device_count()} local / {jax.device_count()} global devices",
        file=sys.stderr,
    )
    return True


def start_distributed_if_requested(argv: Sequence[str], prog: str) -> bool:
    """:func:`initialize_distributed_if_requested`, exiting with one line when JAX has already
    started (e.g. ``main([... "--distributed"])`` called from a notebook).

    Args:
        argv: the command line.
        prog: how the command is launched, for the message.

    Returns:
        Whether it initialised.
    """
    try:
        return initialize_distributed_if_requested(argv)
    except RuntimeError as error:
        print(
            f"error: {FLAG} must start before JAX does; launch the run as "
            f"`{prog} {FLAG} ...` ({error})",
            file=sys.stderr,
        )
        raise SystemExit(2) from error
