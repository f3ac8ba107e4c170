"""The comparison command: kinds trained at equal env steps with seeds vmapped, final values
with 95% intervals, lag bins, timing, pictures; a second call continues instead of retraining,
and bad options fail with a message that names them; the analysis notebook runs on the comparison
(here, so that the comparison folder is built once per test process)."""

import json
import math
import os

import nbformat
import numpy as np
import pytest
from nbclient import NotebookClient

from experiments.compare import (
    CompareArgs,
    interval95,
    kind_config,
    main,
    read_comparison,
    seed_finals,
    settings_of,
)
from experiments.configs.presets import get_preset
from hcmrl_jax.memory import MemoryConfig

from .conftest import TINY_COMPARE_ARGS

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK = os.path.join(ROOT, "experiments", "notebooks", "analysis.ipynb")


def test_every_kind_gets_the_same_steps_and_a_row(tiny_comparison):
    out, result = tiny_comparison
    kinds = result["kinds"]
    assert list(kinds) == ["hcmrl", "mlp"]
    for kind, entry in kinds.items():
        assert entry["env_steps"] == 2 * result["settings"]["total_steps"]  # two seeds, equal
        assert entry["wall_s"] > 0 and entry["env_steps_per_s"] > 0
        assert entry["param_count"] > 0
        for metric in ("episode_return", "success"):
            per_seed = entry[metric]["per_seed"]
            assert len(per_seed) == 2 and all(v is not None for v in per_seed), (kind, metric)
            assert entry[metric]["mean"] == pytest.approx(np.mean(per_seed))
            assert entry[metric]["ci95"] is not None and entry[metric]["ci95"] >= 0
        assert set(entry["recall_by_lag"]) == {"0_100", "100_1k", "1k_5k", "5k_inf"}
    # Equal parameter budget: the baseline is sized to the HCMRL agent's count.
    assert kinds["mlp"]["param_count"] == pytest.approx(kinds["hcmrl"]["param_count"], rel=0.1)
    with open(os.path.join(out, "comparison.json"), encoding="utf-8") as handle:
        assert json.load(handle)["kinds"] == kinds
    table = open(os.path.join(out, "results.md"), encoding="utf-8").read()
    assert "| hcmrl |" in table and "| mlp |" in table
    for picture in ("curves.png", "lag_success.png"):
        with open(os.path.join(out, picture), "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    for kind in ("hcmrl", "mlp"):  # each kind's own multi-seed run folder
        assert os.path.exists(os.path.join(out, kind, "seed0", "metrics.jsonl"))
        assert os.path.exists(os.path.join(out, kind, "seed1", "metrics.jsonl"))


def test_running_again_continues_instead_of_retraining(tiny_comparison):
    out, first = tiny_comparison
    again = main([*TINY_COMPARE_ARGS, "--no-episode-pictures", "--out", out])
    for kind in ("hcmrl", "mlp"):
        # Restored from the last checkpoint: same finals, and no new training time.
        assert again["kinds"][kind]["episode_return"] == first["kinds"][kind]["episode_return"]
        assert again["kinds"][kind]["wall_s"] == pytest.approx(first["kinds"][kind]["wall_s"])


def test_other_settings_in_the_same_folder_are_refused(tiny_comparison, capsys):
    out, _ = tiny_comparison
    with pytest.raises(SystemExit) as error:
        main([*TINY_COMPARE_ARGS, "--seeds", "3", "--out", out])
    assert error.value.code == 2
    assert "other settings" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--memories", "lstm"], "unknown memory kinds ['lstm']"),
        (["--memories", "gru", "gru"], "each kind once"),
        (["--env", "nowhere"], "unknown env 'nowhere'"),
        (["--env", "MemoryChain-bsuite", "--scale", "small"], "--scale small exists"),
        (["--final-fraction", "0"], "--final-fraction"),
        (["--env", "MemoryChain-bsuite", "--scale", "full", "--overrides", "lrate", "1"], "lrate"),
        (["--env", "navigation", "--env-options", "roomz", "3"], "no option 'roomz'"),
        (["--env", "navigation", "--env-options", "rooms_wide", "0"], "rooms_wide must be >= 1"),
    ],
)
def test_bad_options_name_the_problem(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as error:
        main([*argv, "--out", str(tmp_path)])
    assert error.value.code == 2
    assert message in capsys.readouterr().err


def test_interval_is_students_t_by_hand():
    mean, half = interval95([1.0, 2.0, 3.0])  # sd 1, t(0.975, 2 dof) = 4.303
    assert mean == pytest.approx(2.0)
    assert half == pytest.approx(4.303 / math.sqrt(3))
    assert interval95([0.5]) == (0.5, None)
    assert interval95([None, float("nan")]) == (None, None)


def test_finals_average_the_last_measured_updates():
    curves = np.array([[0.0, 1.0, np.nan, 3.0, np.nan], [np.nan] * 5, [1.0, 2.0, 3.0, 4.0, 5.0]])
    assert seed_finals(curves, 2) == [2.0, None, 4.5]


def test_kinds_and_overrides_set_the_memory_by_its_settings_names():
    args = CompareArgs(
        env="MemoryChain-bsuite",
        scale="full",
        memories=("hcmrl_meanpool", "gru"),
        overrides={"embed_dim": "32", "num_heads": "2", "use_long_term": "false", "lr": "1e-3"},
    )
    meanpool, gru = kind_config(args, "hcmrl_meanpool"), kind_config(args, "gru")
    assert meanpool.memory == MemoryConfig.meanpool(embed_dim=32, num_heads=2, use_long_term=False)
    assert gru.memory == MemoryConfig.gru(embed_dim=32, num_heads=2, use_long_term=False)
    assert meanpool.lr == gru.lr == 1e-3
    # The old name of embed_dim still works.
    old = CompareArgs(env="MemoryChain-bsuite", scale="full", overrides={"state_dim": "16"})
    assert kind_config(old, "hcmrl").memory.embed_dim == 16


def test_env_options_go_on_top_of_the_presets_and_into_the_settings():
    args = CompareArgs(
        env="navigation", scale="small", env_options={"rooms_wide": "3", "num_landmarks": "6"}
    )
    preset = get_preset("navigation-small").env_overrides
    for kind in ("hcmrl", "gru"):
        options = kind_config(args, kind).env_overrides
        assert options == {**preset, "rooms_wide": 3, "num_landmarks": 6}
    assert settings_of(args)["env_options"] == {"rooms_wide": 3, "num_landmarks": 6}
    # Settings are kept as comparison.json holds them, so a rerun continues (tuples as lists).
    games = CompareArgs(env="games", scale="small", env_options={"game_rates": "0,0,0,1,0,0"})
    assert kind_config(games, "mlp").env_overrides["game_rates"] == (0, 0, 0, 1, 0, 0)
    assert settings_of(games)["env_options"] == {"game_rates": [0, 0, 0, 1, 0, 0]}
    # Without env options the settings are as before, so older folders still continue.
    assert "env_options" not in settings_of(CompareArgs(env="navigation", scale="small"))


def test_hcmrl_kinds_get_an_episode_picture_and_gif(tiny_comparison):
    out, result = tiny_comparison
    assert result["settings"]["preset"] == "tiny"
    with open(os.path.join(out, "hcmrl-attention.png"), "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    with open(os.path.join(out, "hcmrl-episode.gif"), "rb") as handle:
        assert handle.read(6) in (b"GIF87a", b"GIF89a")
    assert not os.path.exists(os.path.join(out, "mlp-attention.png"))  # no tiers to show
    arrays = np.load(os.path.join(out, "hcmrl", "eval", "attention.npz"))
    assert {"occupancy_short_term", "occupancy_absorbed", "tier_mix"} <= set(arrays)


def test_a_folder_reads_back_as_written(tiny_comparison):
    out, result = tiny_comparison
    read = read_comparison(out)
    assert read["kinds"] == result["kinds"] and read["settings"] == result["settings"]
    for kind in ("hcmrl", "mlp"):
        curves = read["curves"][kind]
        assert curves["episode_return"].shape == (2, result["settings"]["num_updates"])
        assert curves["env_steps"][-1] == result["settings"]["total_steps"]
    with pytest.raises(FileNotFoundError, match="comparison.json"):
        read_comparison(os.path.join(out, "hcmrl"))


def test_notebook_runs_in_a_kernel_on_a_run_and_a_comparison(
    tiny_evaluation, tiny_comparison, monkeypatch
):
    """The analysis notebook opens and runs as a notebook: executed by a Jupyter kernel (nbclient
    and ipykernel, from the dev extra) on a tiny run directory and a tiny comparison folder, as
    ``jupyter lab`` would run it."""
    run_dir, _ = tiny_evaluation
    compare_dir, _ = tiny_comparison
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)  # what Jupyter checks when it opens the file
    # The kernel inherits this environment: the tiny run, this checkout's packages, the CPU.
    monkeypatch.setenv("HCMRL_RUN_DIR", run_dir)
    monkeypatch.setenv("HCMRL_COMPARE_DIR", compare_dir)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([ROOT, os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("JAX_PLATFORMS", "cpu")
    monkeypatch.setenv("MPLBACKEND", "module://matplotlib_inline.backend_inline")
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": os.path.dirname(NOTEBOOK)}},
    )
    client.execute()  # raises CellExecutionError, with the cell and traceback, if a cell fails
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code)
    outputs = [output for cell in code for output in cell.outputs]
    assert not [output for output in outputs if output.output_type == "error"]
    text = "".join(output.get("text", "") for output in outputs)
    assert "4 updates, 256 env steps" in text and "recall_lag_0_100" in text
    assert "| hcmrl |" in text and "| mlp |" in text  # the comparison's table
    assert "Warning" not in text
    # Each figure shows as a picture, not as the text "<Figure size ...>".
    images = [output for output in outputs if "image/png" in output.get("data", {})]
    # The run's learning curves, recall by lag and memory picture; the comparison's curves,
    # lag bars and HCMRL memory picture.
    assert len(images) == 6
