"""The analysis notebook is valid nbformat-4 JSON and its code runs on a real run directory."""

import json
import os

import matplotlib.figure

NOTEBOOK = os.path.join(
    os.path.dirname(__file__), "..", "..", "experiments", "notebooks", "analysis.ipynb"
)


def test_notebook_runs_on_a_run_directory(tiny_evaluation):
    run_dir, _ = tiny_evaluation
    with open(NOTEBOOK, encoding="utf-8") as handle:
        notebook = json.load(handle)
    assert notebook["nbformat"] == 4
    assert all(cell["cell_type"] in ("code", "markdown") for cell in notebook["cells"])
    namespace: dict = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = "".join(cell["source"])
        # Point the notebook at the tiny run instead of the demo's output folder.
        source = "\n".join(
            f"RUN_DIR = {run_dir!r}" if line.startswith("RUN_DIR = ") else line
            for line in source.splitlines()
        )
        exec(compile(source, "analysis.ipynb", "exec"), namespace)  # raises if a cell fails
    assert namespace["RUN_DIR"] == run_dir
    assert len(namespace["rows"]) == 4
    assert namespace["lag_keys"] == [
        f"recall_lag_{b}" for b in ("0_100", "100_1k", "1k_5k", "5k_inf")
    ]
    assert set(namespace["tiers"]) == {"immediate", "short-term", "long-term"}
    figure = namespace["plot_memory_attention"](namespace["tiers"], namespace["arrays"]["tier_mix"])
    assert isinstance(figure, matplotlib.figure.Figure) and len(figure.axes) >= 4
