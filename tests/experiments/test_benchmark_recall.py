"""The recall lag sweep: its files, the final-window average, and resuming cell by cell."""

from __future__ import annotations

import json
import math
import os
from types import SimpleNamespace

import numpy as np
import pytest

from experiments import benchmark
from experiments.benchmarks.recall import chunk_sizes, main, window_mean

#: A memoryless tiny agent on the probe: 4 updates of 4 envs x 8 steps per seed.
ARGS = [
    "--env",
    "recall",
    "--lags",
    "4",
    "6",
    "--memories",
    "mlp",
    "--seeds",
    "2",
    "--total-steps",
    "128",
    "--num-envs",
    "4",
    "--num-steps",
    "8",
    "--final-window",
    "2",
    "--no-progress",
    "--overrides",
    "embed_dim",
    "16",
    "head_hidden",
    "16",
    "immediate_size",
    "8",
    "short_term_size",
    "4",
    "long_term_size",
    "2",
    "segment_length",
    "4",
    "num_heads",
    "2",
    "num_minibatches",
    "2",
    "update_epochs",
    "1",
    "reset_pool_size",
    "4",
]


def test_sweep_writes_results_and_a_rerun_skips_done_cells(tmp_path, capsys):
    out = str(tmp_path / "sweep")
    cells = main([*ARGS, "--out", out])
    assert set(cells) == {"mlp/lag4", "mlp/lag6"}
    with open(os.path.join(out, "results.json")) as handle:
        saved = json.load(handle)
    assert saved["settings"]["seeds"] == [0, 1] and saved["settings"]["num_updates"] == 4
    assert saved["settings"]["overrides"]["embed_dim"] == 16
    for name, lag in (("mlp/lag4", 4), ("mlp/lag6", 6)):
        cell = saved["cells"][name]
        assert cell["lag"] == lag and cell["config"]["env_overrides"] == {"lag": lag}
        assert cell["config"]["memory"]["embed_dim"] == 16
        assert cell["config"]["memory"]["core"] == "mlp"
        assert len(cell["final_return"]) == len(cell["final_success"]) == 2
        assert len(cell["return_curve"]) == 2 and len(cell["return_curve"][0]) == 4
        # 4 envs finish an episode every lag + 1 steps: the last 2 updates always finish some.
        for key in ("return_mean", "return_std", "success_mean", "wall_s", "env_steps_per_s"):
            assert math.isfinite(cell[key]), key
        assert -1.0 <= cell["return_mean"] <= 1.0 and 0.0 <= cell["success_mean"] <= 1.0
        assert cell["param_count"] > 0 and cell["env_steps"] == 2 * 4 * 32
    # One compiled update serves both lags (the lag is an env-params value, not in the program).
    assert saved["cells"]["mlp/lag6"]["compile_s"] == 0.0
    table = open(os.path.join(out, "results.md")).read()
    assert "| memory | lag 4 | lag 6 |" in table and "| mlp |" in table
    with open(os.path.join(out, "curves.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "recall.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    printed = capsys.readouterr().out
    assert "mlp lag 4: return" in printed and "| mlp |" in printed

    again = main([*ARGS, "--out", out])
    printed = capsys.readouterr().out
    assert printed.count("skip mlp lag") == 2 and "mlp lag 4: return" not in printed
    assert again == saved["cells"]

    # A folder whose settings spell a setting by its old name (state_dim, before embed_dim)
    # resumes, with either spelling on the command line.
    old = {**saved, "settings": dict(saved["settings"])}
    overrides = dict(old["settings"]["overrides"])
    overrides["state_dim"] = overrides.pop("embed_dim")
    old["settings"]["overrides"] = overrides
    with open(os.path.join(out, "results.json"), "w") as handle:
        json.dump(old, handle)
    old_spelling = ["state_dim" if arg == "embed_dim" else arg for arg in ARGS]
    for argv in (ARGS, old_spelling):
        assert main([*argv, "--out", out]) == saved["cells"]
        assert capsys.readouterr().out.count("skip mlp lag") == 2

    # Other settings in the same folder are refused, naming what differs.
    with pytest.raises(SystemExit):
        main([*ARGS, "--out", out, "--total-steps", "256"])
    assert "total_steps" in capsys.readouterr().err


def test_window_mean_weights_updates_by_their_episodes():
    values = np.array([[0.0, np.nan, 1.0, 0.5], [np.nan, np.nan, np.nan, np.nan]])
    episodes = np.array([[5, 0, 1, 3], [0, 0, 0, 0]], np.float32)
    means = window_mean(values, episodes, window=3)
    np.testing.assert_allclose(means[0], (1.0 * 1 + 0.5 * 3) / 4)
    assert np.isnan(means[1])


def test_chunk_sizes_prefer_one_compiled_chunk():
    assert chunk_sizes(610) == [61] * 10
    assert chunk_sizes(4) == [1, 1, 1, 1]
    sizes = chunk_sizes(9973)  # a prime: equal chunks and a remainder
    assert sum(sizes) == 9973 and len(set(sizes)) == 2


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        (["--lags", "0"], "--lags"),
        (["--overrides", "memory", "gru"], "--memories"),
        (["--overrides", "nope", "1"], "nope"),
        (["--overrides", "lr", "fast"], "lr"),
    ],
)
def test_bad_options_exit_with_a_message(bad, named, capsys):
    with pytest.raises(SystemExit):
        main(bad)
    assert named in capsys.readouterr().err


def test_all_leaves_the_recall_sweep_out(monkeypatch):
    ran = []

    def suite(module_name: str) -> SimpleNamespace:
        name = module_name.rsplit(".", 1)[1]
        return SimpleNamespace(main=lambda argv: ran.append(name))

    monkeypatch.setattr(benchmark.importlib, "import_module", suite)
    benchmark.main(["all"])
    assert ran == ["memory", "envs", "train", "players"]
    benchmark.main(["recall", "--help-is-not-parsed-by-the-stub"])
    assert ran[-1] == "recall"


def test_takeoff_counts_the_plateau_before_recall():
    from experiments.benchmarks.recall_report import takeoff_text, takeoff_update

    plateau = [0.0] * 20 + [1.0] * 10
    # the mean of the last 8 updates first reaches 0.5 with the 4th good update
    assert takeoff_update(plateau) == 24
    assert takeoff_update([None, 0.1, None, -0.2]) is None
    # updates without episodes are left out, but a lucky start before the window is full is not
    # a take-off
    assert takeoff_update([None, 0.9] + [None] * 6) == 8
    assert takeoff_update([1.0, 1.0] + [-0.5] * 30) is None
    # long runs average over 5 % of their updates
    assert takeoff_update([0.0] * 200 + [1.0] * 200) == 210  # window 20: 10 good updates
    cell = {"config": {"num_envs": 64, "num_steps": 128}, "return_curve": [plateau, [0.0] * 30]}
    assert takeoff_text(cell) == "0.20 M, –"
