"""The analysis notebook opens and runs as a notebook: executed by a Jupyter kernel (nbclient and
ipykernel, from the dev extra) on a tiny run directory and a tiny comparison folder, as
``jupyter lab`` would run it."""

import os

import nbformat
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOK = os.path.join(ROOT, "experiments", "notebooks", "analysis.ipynb")


def test_notebook_runs_in_a_kernel_on_a_run_and_a_comparison(
    tiny_evaluation, tiny_comparison, monkeypatch
):
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
