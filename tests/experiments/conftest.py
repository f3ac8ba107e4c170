"""Shared tiny training runs for the experiment-script tests (compiled once per session)."""

import pytest

from experiments.evaluate import main as evaluate_main
from experiments.train import main as train_main

#: A tiny HCMRL run on a small navigation building: 4 updates of 4 envs x 16 steps.
TINY_CONFIG_ARGS: list[str] = [
    "--env",
    "navigation",
    "--env-overrides",
    "rooms_high",
    "2",
    "rooms_wide",
    "2",
    "room_size",
    "3",
    "view_size",
    "3",
    "num_colours",
    "1",
    "num_locked_doors",
    "1",
    "num_extra_doors",
    "0",
    "num_landmarks",
    "2",
    "max_steps_in_episode",
    "24",
    "--reset-pool-size",
    "4",
    "--memory",
    "hcmrl",
    "--num-envs",
    "4",
    "--num-steps",
    "16",
    "--total-steps",
    "256",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--embed-dim",
    "16",
    "--immediate-size",
    "8",
    "--short-term-size",
    "4",
    "--long-term-size",
    "2",
    "--latent-dim",
    "4",
    "--segment-length",
    "8",
    "--num-heads",
    "2",
    "--head-hidden",
    "16",
]
#: Run options of every tiny run: chunks of 2 updates, no progress bar.
TINY_RUN_ARGS: list[str] = ["--chunk-updates", "2", "--no-progress"]


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory):
    """An uninterrupted run, and one stopped after 2 updates then resumed (fresh restore)."""
    out_dir = str(tmp_path_factory.mktemp("runs"))
    common = ["--out-dir", out_dir, *TINY_RUN_ARGS]
    full = train_main([*TINY_CONFIG_ARGS, *common, "--name", "full"])
    stopped = train_main(
        [*TINY_CONFIG_ARGS, *common, "--name", "part", "--stop-after-updates", "2"]
    )
    stopped_rows = list(stopped.rows)
    # The resume names only the run: the config comes from the run directory.
    resumed = train_main([*common, "--name", "part", "--resume"])
    return {
        "out_dir": out_dir,
        "full": full,
        "stopped": stopped,
        "stopped_rows": stopped_rows,
        "resumed": resumed,
    }


@pytest.fixture(scope="session")
def tiny_evaluation(tiny_runs):
    """Evaluation of the uninterrupted tiny run, written to its default ``<run dir>/eval``."""
    run_dir = tiny_runs["full"].run_dir
    result = evaluate_main(
        ["--checkpoint", run_dir, "--num-episodes", "3", "--gif-max-frames", "24"]
    )
    return run_dir, result


#: A comparison of HCMRL and the memoryless agent on the tiny preset: two seeds, 4 updates each.
TINY_COMPARE_ARGS: list[str] = [
    *("--env", "navigation", "--preset", "tiny", "--memories", "hcmrl", "mlp"),
    *("--seeds", "2", "--chunk-updates", "2", "--no-progress"),
]


@pytest.fixture(scope="session")
def tiny_comparison(tmp_path_factory):
    """A comparison of HCMRL and the memoryless agent on the tiny preset, two seeds each, with
    HCMRL's evaluated episode (attention picture and GIF)."""
    from experiments.compare import main as compare_main

    out_dir = str(tmp_path_factory.mktemp("comparison"))
    result = compare_main([*TINY_COMPARE_ARGS, "--out", out_dir])
    return out_dir, result
