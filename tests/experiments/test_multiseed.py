"""Several seeds in one vmapped program: per-seed curves, the summary and the mean ± std plot."""

import json
import os

import numpy as np

from experiments.multiseed import main
from hcmrl_jax.utils.metrics import read_jsonl

#: A memoryless agent on bsuite's MemoryChain: the cheapest program to compile.
ARGS = [
    "--env",
    "MemoryChain-bsuite",
    "--memory",
    "mlp",
    "--num-envs",
    "4",
    "--num-steps",
    "8",
    "--total-steps",
    "64",
    "--num-minibatches",
    "2",
    "--update-epochs",
    "1",
    "--state-dim",
    "16",
    "--head-hidden",
    "16",
    "--segment-length",
    "8",
    "--immediate-size",
    "8",
    "--num-seeds",
    "3",
    "--seed",
    "5",
]


def test_multiseed_writes_per_seed_curves_and_plots(tmp_path):
    result = main([*ARGS, "--out-dir", str(tmp_path), "--name", "ms"])
    run_dir = os.path.join(str(tmp_path), "ms")
    assert result.run_dir == run_dir
    assert result.metrics["episode_return"].shape == (3, 2)  # [seeds, updates]
    assert result.runner_states.update_step.tolist() == [2, 2, 2]
    # Different seeds are different runs.
    losses = result.metrics["loss_total"]
    assert not np.array_equal(losses[0], losses[1])
    for index, seed in enumerate((5, 6, 7)):
        rows = read_jsonl(os.path.join(run_dir, f"seed{seed}", "metrics.jsonl"))
        assert [row["update"] for row in rows] == [1, 2]
        assert [row["env_steps"] for row in rows] == [32, 64]
        np.testing.assert_allclose([row["loss_total"] for row in rows], losses[index], rtol=1e-6)
    with open(os.path.join(run_dir, "summary.json")) as handle:
        summary = json.load(handle)
    assert summary["seeds"] == [5, 6, 7]
    per_seed = summary["entropy"]["final_per_seed"]
    assert np.isclose(summary["entropy"]["final_mean"], np.mean(per_seed))
    for name in ("seeds_episode_return.png", "seeds_success.png"):
        with open(os.path.join(run_dir, name), "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
