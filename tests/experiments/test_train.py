"""The training script: its files, a resumed run bitwise equal to an uninterrupted one, and run
directory mistakes reported before compiling."""

import dataclasses
import json
import os

import jax
import numpy as np
import pytest

from experiments.runs import RunOptions, RunSetupError, get_trainer, train
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.utils.checkpoint import RunCheckpointer
from hcmrl_jax.utils.logging import read_tensorboard_scalars
from hcmrl_jax.utils.metrics import read_jsonl

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _leaf_bytes(leaf) -> np.ndarray:
    if jax.dtypes.issubdtype(leaf.dtype, jax.dtypes.prng_key):
        leaf = jax.random.key_data(leaf)
    return np.atleast_1d(np.asarray(leaf)).view(np.uint8)


def _without_time(rows):
    return [{k: v for k, v in row.items() if k != "time_s"} for row in rows]


def test_resume_is_bitwise_equal_to_uninterrupted(tiny_runs):
    full, stopped, resumed = tiny_runs["full"], tiny_runs["stopped"], tiny_runs["resumed"]
    assert full.finished and full.updates_done == 4
    assert not stopped.finished and stopped.updates_done == 2
    assert resumed.finished and resumed.updates_done == 4
    full_leaves, full_tree = jax.tree.flatten(full.runner_state)
    resumed_leaves, resumed_tree = jax.tree.flatten(resumed.runner_state)
    assert full_tree == resumed_tree
    for a, b in zip(full_leaves, resumed_leaves, strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(_leaf_bytes(a), _leaf_bytes(b))
    # The training actually moved the parameters (the comparison is not of two initial states).
    assert int(full.runner_state.update_step) == 4
    # Metrics: the resumed run's history (checkpointed rows + new ones) and its JSONL file match.
    assert resumed.rows == full.rows
    assert tiny_runs["stopped_rows"] == full.rows[:2]
    full_file = _without_time(read_jsonl(os.path.join(full.run_dir, "metrics.jsonl")))
    part_file = _without_time(read_jsonl(os.path.join(resumed.run_dir, "metrics.jsonl")))
    assert part_file == full_file and len(full_file) == 4


def test_resume_reuses_the_compiled_chunk(tiny_runs):
    # A restored state has the fresh state's exact abstract types (no weak types, committed), so
    # the three runs above (fresh, stopped, resumed) compiled the chunk function once.
    trainer = get_trainer(tiny_runs["full"].config)
    assert list(trainer._update_fns) == [2]
    assert trainer._update_fns[2]._cache_size() == 1


def test_run_directory_contents(tiny_runs):
    full = tiny_runs["full"]
    run_dir = full.run_dir
    with open(os.path.join(run_dir, "config.json")) as handle:
        saved = json.load(handle)
    assert saved["config"]["env_id"] == "navigation" and saved["config"]["num_envs"] == 4
    assert saved["num_updates"] == 4 and saved["steps_per_update"] == 64
    rows = read_jsonl(os.path.join(run_dir, "metrics.jsonl"))
    assert [row["update"] for row in rows] == [1, 2, 3, 4]
    assert [row["env_steps"] for row in rows] == [64, 128, 192, 256]
    expected = {"episode_return", "success", "loss_total", "entropy", "recall_lag_0_100"}
    assert expected <= set(rows[0])
    assert all(np.isfinite(row["loss_total"]) for row in rows)
    with open(os.path.join(run_dir, "metrics.csv")) as handle:
        assert handle.readline().startswith("update,env_steps,")
    scalars = read_tensorboard_scalars(os.path.join(run_dir, "tensorboard"))
    assert [step for step, _ in scalars["loss_total"]] == [64, 128, 192, 256]
    with open(os.path.join(run_dir, "learning_curve.png"), "rb") as handle:
        assert handle.read(8) == PNG_MAGIC
    with RunCheckpointer(os.path.join(run_dir, "checkpoints")) as checkpointer:
        assert checkpointer.all_steps() == [2, 4]  # keep_checkpoints=2, one per chunk
        metadata = checkpointer.restore_metadata()
    assert metadata["updates_done"] == 4 and len(metadata["rows"]) == 4
    assert set(full.paths) >= {"config", "checkpoints", "metrics (JSONL)", "learning curve"}


def test_demo_prints_one_training_time(tiny_runs, tmp_path, monkeypatch, capsys):
    import re

    import experiments.demo as demo

    # The demo's own flow on the tiny runs' config (already compiled), without the evaluation.
    monkeypatch.setattr(demo, "DEMO", tiny_runs["full"].config)
    options = demo.DemoOptions(
        out_dir=str(tmp_path), updates=4, chunk_updates=2, evaluate=False, progress=False,
        compile_cache=None,
    )  # fmt: skip
    demo.run_demo(options)
    out = capsys.readouterr().out
    (trained,) = re.findall(r"env steps in ([\d.]+) s of training", out)
    (summary,) = re.findall(r"demo finished in [\d.]+ s: training ([\d.]+) s", out)
    assert trained == summary


def test_run_directory_mistakes_are_reported_before_compiling(tmp_path, tiny_runs):
    config = PPOConfig(env_id="MemoryChain-bsuite", num_envs=4, num_steps=32, total_timesteps=128)
    with pytest.raises(RunSetupError, match="no checkpoint"):
        train(config, RunOptions(out_dir=str(tmp_path), resume=True))
    existing = RunOptions(out_dir=tiny_runs["out_dir"], name="full")
    with pytest.raises(RunSetupError, match="already holds checkpoints"):
        train(config, existing)
    with pytest.raises(RunSetupError, match="differs from the run's saved config in"):
        train(config, dataclasses.replace(existing, resume=True))
