"""Runs that survive faults and say what is wrong: damaged checkpoints, torn logs, --overwrite,
resumed options and time, non-finite updates and folders that cannot be written.

Each test works on a copy of the session's tiny runs (same config and chunk size, so nothing new
is compiled except where a test says so).
"""

import errno
import json
import os
import shutil

import jax
import numpy as np
import pytest

from experiments.evaluate import main as evaluate_main
from experiments.runs import (
    DAMAGED_PREFIX,
    RunOptions,
    TrainingDivergedError,
    get_trainer,
    train,
)
from experiments.train import main as train_main
from hcmrl_jax.utils.checkpoint import RunCheckpointer
from hcmrl_jax.utils.logging import read_tensorboard_scalars
from hcmrl_jax.utils.metrics import read_jsonl
from tests.experiments.conftest import TINY_CONFIG_ARGS, TINY_RUN_ARGS


def _copy_run(tiny_runs, tmp_path, which="full") -> tuple[str, str]:
    """A copy of one of the session's runs: ``(out_dir, run_dir)``."""
    out_dir = str(tmp_path / "runs")
    run_dir = os.path.join(out_dir, which)
    shutil.copytree(tiny_runs[which].run_dir, run_dir)
    return out_dir, run_dir


def _halve_data_files(checkpoint_dir):
    for root, _, files in os.walk(checkpoint_dir):
        for name in files:
            if os.path.basename(root) == "d":
                path = os.path.join(root, name)
                os.truncate(path, os.path.getsize(path) // 2)


def _same_state(a, b) -> bool:
    def raw(leaf):
        if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        return np.asarray(leaf)

    return all(
        np.array_equal(raw(x), raw(y))
        for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    )


def _without_time(rows):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def test_resume_and_evaluate_skip_a_damaged_latest_checkpoint(tiny_runs, tmp_path, capsys):
    out_dir, run_dir = _copy_run(tiny_runs, tmp_path)
    _halve_data_files(os.path.join(run_dir, "checkpoints", "4"))
    # Evaluate falls back to checkpoint 2 and says so.
    result = evaluate_main(
        ["--checkpoint", run_dir, "--num-episodes", "3", "--gif-max-frames", "24"]
    )
    assert result.report["checkpoint_update"] == 2
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert "skipped checkpoint 4, it does not restore" in out
    assert "evaluating checkpoint 2, the newest that restores" in out
    # Resume falls back too, sets the damaged one aside and ends where the full run did.
    resumed = train_main(["--out-dir", out_dir, "--name", "full", "--resume", "--no-progress"])
    out, err = capsys.readouterr()
    assert "Traceback" not in err, err
    assert "resume: skipped checkpoint 4, it does not restore" in out
    assert "from checkpoint 2/4" in out
    assert resumed.finished and _same_state(resumed.runner_state, tiny_runs["full"].runner_state)
    assert os.path.isdir(os.path.join(run_dir, f"{DAMAGED_PREFIX}4"))
    with RunCheckpointer(os.path.join(run_dir, "checkpoints")) as checkpointer:
        assert checkpointer.all_steps() == [2, 4]
        checkpointer.restore_metadata(4)  # a good checkpoint 4 again


def test_no_restorable_checkpoint_is_one_line(tiny_runs, tmp_path, capsys):
    out_dir, run_dir = _copy_run(tiny_runs, tmp_path)
    for step in ("2", "4"):
        open(os.path.join(run_dir, "checkpoints", step, "metadata", "metadata"), "w").close()
    for command, argv in (
        (train_main, ["--out-dir", out_dir, "--name", "full", "--resume", "--no-progress"]),
        (evaluate_main, ["--checkpoint", run_dir]),
    ):
        with pytest.raises(SystemExit) as exit_info:
            command(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and "no checkpoint in" in err and "restores (4: " in err
        assert "\n" not in err and "Traceback" not in err


def test_resume_repairs_a_torn_metrics_line(tiny_runs, tmp_path):
    # Killed while logging updates 3-4: checkpoint 4 never written, the last row half written.
    out_dir, run_dir = _copy_run(tiny_runs, tmp_path)
    shutil.rmtree(os.path.join(run_dir, "checkpoints", "4"))
    path = os.path.join(run_dir, "metrics.jsonl")
    with open(path, "rb") as handle:
        data = handle.read()
    with open(path, "wb") as handle:
        handle.write(data[: len(data) - 40])
    resumed = train_main(["--out-dir", out_dir, "--name", "full", "--resume", "--no-progress"])
    assert resumed.finished
    rows = read_jsonl(path)
    full_rows = read_jsonl(os.path.join(tiny_runs["full"].run_dir, "metrics.jsonl"))
    assert _without_time(rows) == _without_time(full_rows)
    with open(os.path.join(run_dir, "metrics.csv")) as handle:
        csv_lines = handle.read().splitlines()
    assert [line.split(",")[0] for line in csv_lines] == ["update", "1", "2", "3", "4"]
    scalars = read_tensorboard_scalars(os.path.join(run_dir, "tensorboard"))
    assert [step for step, _ in scalars["loss_total"]] == [64, 128, 192, 256]
    np.testing.assert_allclose(
        [value for _, value in scalars["loss_total"]], [row["loss_total"] for row in rows]
    )


def test_overwrite_leaves_only_the_new_run(tiny_runs, tmp_path):
    out_dir, run_dir = _copy_run(tiny_runs, tmp_path)
    os.makedirs(os.path.join(run_dir, "eval"), exist_ok=True)
    open(os.path.join(run_dir, "eval", "report.json"), "w").close()
    os.makedirs(os.path.join(run_dir, f"{DAMAGED_PREFIX}6"))
    open(os.path.join(run_dir, "notes.txt"), "w").close()  # not the run's: stays
    argv = [*TINY_CONFIG_ARGS, *TINY_RUN_ARGS, "--out-dir", out_dir, "--name", "full"]
    train_main([*argv, "--overwrite", "--stop-after-updates", "2"])
    assert sorted(os.listdir(run_dir)) == sorted(
        [
            "checkpoints",
            "config.json",
            "learning_curve.png",
            "metrics.csv",
            "metrics.jsonl",
            "notes.txt",
            "tensorboard",
        ]
    )
    scalars = read_tensorboard_scalars(os.path.join(run_dir, "tensorboard"))
    assert [step for step, _ in scalars["loss_total"]] == [64, 128]
    assert len(os.listdir(os.path.join(run_dir, "tensorboard"))) == 1


def test_resume_keeps_the_runs_options_time_and_run_section(tiny_runs, tmp_path, capsys):
    out_dir = str(tmp_path / "runs")
    common = ["--out-dir", out_dir, "--name", "opts", "--no-progress"]
    stopped = train_main(
        [*TINY_CONFIG_ARGS, *common, "--chunk-updates", "2", "--no-plot", "--no-csv"]
        + ["--keep-checkpoints", "3", "--stop-after-updates", "2"]
    )
    run_dir = stopped.run_dir
    with open(os.path.join(run_dir, "config.json")) as handle:
        first = json.load(handle)
    checkpoint_time = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))[-1]["time_s"]
    capsys.readouterr()
    resumed = train_main([*common, "--resume", "--plot"])
    out = capsys.readouterr().out
    # The run's own options come back; the one given again is said to replace the run's.
    assert resumed.run.chunk_updates == 2 and resumed.run.keep_checkpoints == 3
    assert not resumed.run.csv and resumed.run.plot
    assert "resume: --plot True replaces the run's False" in out
    assert not os.path.exists(os.path.join(run_dir, "metrics.csv"))
    with RunCheckpointer(os.path.join(run_dir, "checkpoints")) as checkpointer:
        assert checkpointer.all_steps() == [2, 4]
    with open(os.path.join(run_dir, "config.json")) as handle:
        second = json.load(handle)
    assert second["run"] == {**first["run"], "plot": True}  # not rewritten with resume=True
    assert second["resumes"] == [{"from_update": 2, "overrides": ["plot"]}]
    # time_s goes on from the checkpoint's, it does not restart at 0.
    rows = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    assert rows[2]["time_s"] >= checkpoint_time and resumed.elapsed_s >= checkpoint_time


class _DivergingTrainer:
    """The tiny run's compiled trainer, with non-finite parameters reported at update 3."""

    def __init__(self, config):
        self._trainer = get_trainer(config)
        self.config = config

    def __getattr__(self, name):
        return getattr(self._trainer, name)

    def update(self, runner_state, size):
        state, metrics = self._trainer.update(runner_state, size)
        metrics = dict(jax.device_get(metrics))
        update = np.asarray(metrics["update"])
        metrics["nonfinite_params"] = np.where(update >= 3, 7.0, 0.0).astype(np.float32)
        return state, metrics


def test_a_non_finite_update_stops_the_run_and_keeps_the_last_good_checkpoint(tiny_runs, tmp_path):
    config = tiny_runs["full"].config
    run = RunOptions(out_dir=str(tmp_path), name="nan", chunk_updates=2, progress=False)
    with pytest.raises(TrainingDivergedError, match=r"^update 3 produced non-finite values") as e:
        train(config, run, trainer=_DivergingTrainer(config))
    assert "0 loss entries, 7 parameters" in str(e.value)
    assert "the last good checkpoint is update 2 in " in str(e.value)
    assert e.value.update == 3 and e.value.last_checkpoint == 2
    with RunCheckpointer(os.path.join(str(tmp_path), "nan", "checkpoints")) as checkpointer:
        assert checkpointer.all_steps() == [2]


def test_a_huge_learning_rate_is_caught_in_the_compiled_program(tiny_runs, tmp_path, capsys):
    # Same program as the tiny runs (the learning rate is a runtime hyperparameter).
    argv = [*TINY_CONFIG_ARGS, *TINY_RUN_ARGS, "--out-dir", str(tmp_path), "--lr", "1e30"]
    with pytest.raises(SystemExit) as exit_info:
        train_main(argv)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: update ") and "produced non-finite values" in err
    assert "\n" not in err
    rows = read_jsonl(os.path.join(str(tmp_path), "navigation-hcmrl-seed0", "metrics.jsonl"))
    assert rows[-1]["nonfinite_loss"] > 0 or rows[-1]["nonfinite_params"] > 0
    # The tiny runs' healthy updates counted none.
    assert all(
        row["nonfinite_loss"] == row["nonfinite_params"] == 0 for row in tiny_runs["full"].rows
    )


@pytest.mark.parametrize("blocked", ["file", "read-only"])
def test_an_unwritable_output_folder_is_one_line(tmp_path, capsys, monkeypatch, blocked):
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    out_dir = str(a_file / "runs")
    if blocked == "read-only":
        out_dir = str(tmp_path / "ro")

        def read_only(path, *args, **kwargs):
            raise OSError(errno.EROFS, "Read-only file system", path)

        monkeypatch.setattr("experiments.runs.folder.os.makedirs", read_only)
    with pytest.raises(SystemExit) as exit_info:
        train_main([*TINY_CONFIG_ARGS, *TINY_RUN_ARGS, "--out-dir", out_dir])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "Traceback" not in err
    expected = "is a file, not a folder" if blocked == "file" else "Read-only file system"
    assert err.startswith(f"error: cannot write to {out_dir}") and expected in err


@pytest.mark.parametrize("command", ["evaluate", "multiseed", "demo"])
def test_the_other_commands_name_an_unwritable_folder_too(tiny_runs, tmp_path, capsys, command):
    from experiments.demo import main as demo_main
    from experiments.multiseed import main as multiseed_main

    a_file = tmp_path / "a-file"
    a_file.write_text("")
    out_dir = str(a_file / "out")
    argv = {
        "evaluate": ["--checkpoint", tiny_runs["full"].run_dir, "--out-dir", out_dir],
        "multiseed": [*TINY_CONFIG_ARGS, "--out-dir", out_dir],
        "demo": ["--out-dir", out_dir],
    }[command]
    main = {"evaluate": evaluate_main, "multiseed": multiseed_main, "demo": demo_main}[command]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("error: cannot write to ")
    assert f"{a_file} is a file, not a folder" in err
