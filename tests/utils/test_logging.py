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
    # TensorBoard purges the first attempt's events past the resume step on reload; the raw
    # files still hold both attempts, the latest value per step is the resumed one.
    latest = dict(read_tensorboard_scalars(str(tmp_path / "tensorboard"))["return"])
    assert latest[64 * 4] == 30.0


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
