"""Several seeds in one vmapped program: per-seed curves, the summary and the mean ± std plot;
a progress bar, checkpoints and resume, no silent replacement, finals that are not null."""

import json
import os
import shutil

import numpy as np
import pytest

from experiments.multiseed import main, summarize_seeds
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
    "--embed-dim",
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
    "--chunk-updates",
    "1",
]


@pytest.fixture(scope="module")
def multiseed_run(tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp("multiseed"))
    return out_dir, main([*ARGS, "--out-dir", out_dir, "--name", "ms"])


def test_multiseed_writes_per_seed_curves_and_plots(multiseed_run):
    tmp_path, result = multiseed_run
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
    # Finals say where they come from, and none is null when some update measured it.
    assert "last update in which an episode finished" in summary["final"]
    for metric in ("episode_return", "success", "entropy"):
        assert None not in summary[metric]["final_per_seed"]
        assert all(1 <= u <= 2 for u in summary[metric]["final_update_per_seed"])


def test_multiseed_checkpoints_resume_and_no_silent_replacement(multiseed_run, capsys):
    out_dir, result = multiseed_run
    run_dir = result.run_dir
    assert sorted(os.listdir(os.path.join(run_dir, "checkpoints"))) == ["1", "2"]
    # A rerun under the same name does not replace the results.
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main([*ARGS, "--out-dir", out_dir, "--name", "ms", "--no-progress"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "already holds multi-seed results" in err and "\n" not in err
    # Interrupted after update 1 (its last checkpoint and the summary never written): resume.
    copy = os.path.join(out_dir, "interrupted")
    shutil.copytree(run_dir, copy)
    shutil.rmtree(os.path.join(copy, "checkpoints", "2"))
    os.remove(os.path.join(copy, "summary.json"))
    seeds = ["--num-seeds", "3", "--seed", "5"]  # no config flags: the run's own config
    resumed = main([*seeds, "--out-dir", out_dir, "--name", "interrupted", "--resume"])
    assert "resuming" in capsys.readouterr().out
    for name, values in result.metrics.items():
        np.testing.assert_array_equal(resumed.metrics[name], values, err_msg=name)
    with open(os.path.join(copy, "summary.json")) as handle:
        assert json.load(handle) == result.summary
    # --overwrite replaces them.
    again = main([*ARGS, "--out-dir", out_dir, "--name", "interrupted", "--overwrite"])
    np.testing.assert_array_equal(again.metrics["loss_total"], result.metrics["loss_total"])


def test_multiseed_shows_a_progress_bar(multiseed_run, capsys):
    out_dir, _ = multiseed_run
    main([*ARGS, "--out-dir", out_dir, "--name", "bar"])
    err = capsys.readouterr().err
    assert "train:" in err and "192/192" in err and "steps/s" in err  # 3 seeds x 2 x 32 steps


def test_finals_come_from_the_last_update_that_measured_them():
    nan = np.nan
    metrics = {
        "episode_return": np.array([[1.0, 2.0, nan], [nan, nan, nan], [3.0, nan, 5.0]]),
        "entropy": np.array([[0.5, 0.4, 0.3]] * 3),
    }
    summary = summarize_seeds(metrics, [0, 1, 2], 3)
    episode = summary["episode_return"]
    assert episode["final_per_seed"] == [2.0, None, 5.0]
    assert episode["final_update_per_seed"] == [2, None, 3]
    assert episode["final_mean"] == 3.5 and episode["final_std"] == 1.5
    assert summary["entropy"]["final_update_per_seed"] == [3, 3, 3]


def test_gru_seeds_initialise_like_single_runs():
    # The GRU's orthogonal initialiser runs LAPACK; vmapped over seeds it hung jaxlib's CPU
    # client. The seeds are initialised one after another, each exactly as a single run.
    import jax

    from experiments.multiseed import make_seed_chunks, seed_keys
    from hcmrl_jax.memory import MemoryConfig
    from hcmrl_jax.rl import PPOConfig, make_train_chunks

    config = PPOConfig(
        env_id="MemoryChain-bsuite",
        memory=MemoryConfig.gru(embed_dim=16, segment_length=8, immediate_size=8),
        num_envs=4,
        num_steps=8,
        total_timesteps=64,
        num_minibatches=2,
        update_epochs=1,
        head_hidden=16,
    )
    keys = seed_keys(3, 2)
    init_seeds, _ = make_seed_chunks(config, 1)
    states = jax.jit(init_seeds)(keys)
    jax.numpy.zeros(3).block_until_ready()  # eager work beside the init must not hang
    single_init, _ = make_train_chunks(config, 1)
    for i in range(2):
        single = jax.jit(single_init)(keys[i])
        seed_i = jax.tree.map(lambda leaf, i=i: leaf[i], states)
        for a, b in zip(jax.tree.leaves(seed_i), jax.tree.leaves(single), strict=True):
            if jax.dtypes.issubdtype(a.dtype, jax.dtypes.prng_key):
                a, b = jax.random.key_data(a), jax.random.key_data(b)
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
