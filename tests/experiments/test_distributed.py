"""--distributed starts JAX's multi-process runtime before anything else (one process here, in a
subprocess, since it must happen before any JAX computation); too late, it is one line."""

import os
import socket
import subprocess
import sys

import jax.numpy as jnp
import pytest

from experiments.train import main as train_main


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("localhost", 0))
        return sock.getsockname()[1]


def test_distributed_flag_initialises_one_process():
    env = {
        **os.environ,
        "JAX_PLATFORMS": "cpu",
        "JAX_COORDINATOR_ADDRESS": f"localhost:{_free_port()}",
        "JAX_NUM_PROCESSES": "1",
        "JAX_PROCESS_ID": "0",
    }
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # `--help` exits right after the flag started the runtime and the module imported the rest.
    done = subprocess.run(
        [sys.executable, "-m", "experiments.train", "--distributed", "--help"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "jax.distributed: process 0 of 1, 1 local / 1 global devices" in done.stderr
    assert "--distributed" in done.stdout  # the help text followed


def test_distributed_after_jax_started_is_one_line(capsys):
    jnp.zeros(1).block_until_ready()  # JAX's backend is up in this process
    with pytest.raises(SystemExit) as exit_info:
        train_main(["--distributed", "--help"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --distributed must start before JAX does; launch the run as ")
    assert "\n" not in err
