"""The logger writes valid JSONL, CSV and TensorBoard files with the expected keys."""

import csv
import io

import numpy as np
import pytest

from hcmrl_jax.utils.logging import (
    MetricsLogger,
    TrainingProgress,
    read_tensorboard_scalars,
)
from hcmrl_jax.utils.metrics import lag_bin_labels, read_jsonl

LAG_NAMES = lag_bin_labels((0, 100, 1_000, 5_000))


def _chunk(offset: float, num_updates: int = 3) -> dict:
    updates = np.arange(num_updates, dtype=np.float32) + offset
    lag = np.stack([updates / 10, np.full_like(updates, np.nan), updates, updates], axis=1)
    return {
        "return": updates,
        "success": np.where(updates > offset, 0.5, np.nan).astype(np.float32),
        "loss": {"policy": -updates, "value": updates * 2},
        "lag_success": lag,
    }


def _write(run_dir, start_update, chunks, **kwargs):
    with MetricsLogger(
        str(run_dir),
        steps_per_update=64,
        start_update=start_update,
        vector_names={"lag_success": LAG_NAMES},
        **kwargs,
    ) as logger:
        for first_update, chunk in chunks:
            logger.log_chunk(chunk, first_update)


def test_writes_jsonl_csv_and_tensorboard(tmp_path):
    _write(tmp_path, 0, [(0, _chunk(0.0)), (3, _chunk(3.0))])
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [row["update"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert [row["env_steps"] for row in rows] == [64 * u for u in range(1, 7)]
    expected_keys = {
        "update",
        "env_steps",
        "time_s",
        "return",
        "success",
        "loss/policy",
        "loss/value",
        *(f"lag_success/{name}" for name in LAG_NAMES),
    }
    assert all(set(row) == expected_keys for row in rows)
    assert rows[4]["return"] == 4.0 and rows[4]["loss/value"] == 8.0
    # Non-finite values are null (valid JSON), never NaN tokens.
    assert rows[0]["success"] is None and rows[1]["success"] == 0.5
    assert rows[2]["lag_success/100_1k"] is None
    with open(tmp_path / "metrics.jsonl") as handle:
        assert "NaN" not in handle.read()

    with open(tmp_path / "metrics.csv", newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert len(csv_rows) == 6 and set(csv_rows[0]) == expected_keys
    assert float(csv_rows[5]["return"]) == 5.0 and csv_rows[0]["success"] == ""

    scalars = read_tensorboard_scalars(str(tmp_path / "tensorboard"))
    assert {"return", "loss/policy", "lag_success/0_100"} <= set(scalars)
    assert scalars["return"] == [(64 * u, float(u - 1)) for u in range(1, 7)]
    assert len(scalars["success"]) == 4  # the two NaN updates are skipped


def test_resume_truncates_rows_past_the_checkpoint(tmp_path):
    # First attempt logged 6 updates but its last checkpoint was at update 3.
    _write(tmp_path, 0, [(0, _chunk(0.0)), (3, _chunk(3.0))])
    _write(tmp_path, 3, [(3, _chunk(30.0))])
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [row["update"] for row in rows] == [1, 2, 3, 4, 5, 6]
    assert [row["return"] for row in rows] == [0.0, 1.0, 2.0, 30.0, 31.0, 32.0]
    with open(tmp_path / "metrics.csv", newline="") as handle:
        assert [float(r["return"]) for r in csv.DictReader(handle)][3:] == [30.0, 31.0, 32.0]
    # The resumed writer's purge step hides the first attempt's events past update 3, as
    # TensorBoard reads them: one point per step, the resumed values.
    scalars = read_tensorboard_scalars(str(tmp_path / "tensorboard"))["return"]
    assert scalars == [(64 * u, v) for u, v in zip(range(1, 7), [0, 1, 2, 30, 31, 32], strict=True)]


def _tear(path, extra: bytes):
    """Cuts a file as a kill mid-write would: ``extra`` bytes of a half-written line."""
    with open(path, "ab") as handle:
        handle.write(extra)


def test_resume_repairs_torn_last_lines_and_keeps_the_sinks_consistent(tmp_path):
    import glob

    # Killed while writing update 7: half a JSON row, half a CSV row, half a TensorBoard record.
    _write(tmp_path, 0, [(0, _chunk(0.0)), (3, _chunk(3.0))])
    _tear(tmp_path / "metrics.jsonl", extra=b'{"update": 7, "env_steps": 448, "ret')
    _tear(tmp_path / "metrics.csv", extra=b"7,448,6.")
    (event_file,) = glob.glob(str(tmp_path / "tensorboard" / "events.out.tfevents.*"))
    with open(event_file, "rb") as handle:
        record = handle.read()[:40]  # the file's first record (its length is well over 20)
    _tear(event_file, extra=record[:20])  # a record's header and the start of its payload
    # Resume from the checkpoint at update 6.
    _write(tmp_path, 6, [(6, _chunk(60.0, num_updates=2))])
    rows = read_jsonl(tmp_path / "metrics.jsonl")
    assert [row["update"] for row in rows] == list(range(1, 9))
    returns = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 60.0, 61.0]
    assert [row["return"] for row in rows] == returns
    with open(tmp_path / "metrics.csv", newline="") as handle:
        csv_rows = list(csv.DictReader(handle))
    assert [int(r["update"]) for r in csv_rows] == list(range(1, 9))
    assert [float(r["return"]) for r in csv_rows] == returns
    assert [r["success"] for r in csv_rows][:2] == ["", "0.5"]  # missing stays empty
    scalars = read_tensorboard_scalars(str(tmp_path / "tensorboard"))["return"]
    assert scalars == [(64 * u, v) for u, v in zip(range(1, 9), returns, strict=True)]


def test_a_damaged_row_before_the_last_is_an_error_naming_the_line(tmp_path):
    _write(tmp_path, 0, [(0, _chunk(0.0))], tensorboard=False)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines(keepends=True)
    lines[1] = "garbage\n"
    (tmp_path / "metrics.jsonl").write_text("".join(lines))
    with pytest.raises(ValueError, match=r"metrics.jsonl, line 2: not a JSON row"):
        _write(tmp_path, 3, [], tensorboard=False)


def test_time_counts_the_whole_run_across_a_resume(tmp_path):
    with MetricsLogger(str(tmp_path), 64, start_update=3, time_offset=100.0) as logger:
        rows = logger.log_chunk({"return": np.zeros(2, np.float32)}, 3)
    assert all(100.0 <= row["time_s"] < 200.0 for row in rows)


def test_fresh_run_overwrites_old_files(tmp_path):
    _write(tmp_path, 0, [(0, _chunk(0.0))])
    _write(tmp_path, 0, [(0, _chunk(10.0, num_updates=2))], tensorboard=False)
    assert [row["return"] for row in read_jsonl(tmp_path / "metrics.jsonl")] == [10.0, 11.0]


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="steps_per_update"):
        MetricsLogger(str(tmp_path), steps_per_update=0)
    with pytest.raises(ValueError, match="start_update"):
        MetricsLogger(str(tmp_path), steps_per_update=1, start_update=-1)


def test_wandb_missing_is_a_clear_error(tmp_path, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_wandb(name, *args, **kwargs):
        if name == "wandb":
            raise ImportError("No module named 'wandb'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_wandb)
    with pytest.raises(ImportError, match="hcmrl-jax\\[wandb\\]"):
        MetricsLogger(str(tmp_path), steps_per_update=1, tensorboard=False, wandb_project="p")


def test_progress_bar_counts_env_steps():
    stream = io.StringIO()
    with TrainingProgress(total_env_steps=640, initial_env_steps=128, file=stream) as bar:
        rate = bar.update([{"env_steps": 192, "return": None}, {"env_steps": 256, "return": 1.5}])
        bar.update([{"env_steps": 320, "return": None}])
    assert bar.env_steps == 320 and rate > 0
    assert bar.postfix["return"] == "1.5"  # the latest finite return is kept
    text = stream.getvalue()
    assert "steps/s" in text and "return=1.5" in text and "/640" in text
    # One rate per refresh: the chunk's steps/s, not also tqdm's smoothed step/s.
    last = text.replace("\n", "\r").split("\r")[-2]
    assert last.count("/s") == 1, last
