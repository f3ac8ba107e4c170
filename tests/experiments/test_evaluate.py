"""Evaluation of a tiny checkpoint: the report, the episode GIF and the memory picture."""

import json
import os

import imageio.v2 as imageio
import numpy as np
import pytest

from experiments.evaluate import first_episode_length, summarize

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def evaluation(tiny_evaluation):
    run_dir, result = tiny_evaluation
    return os.path.join(run_dir, "eval"), result


def test_report(evaluation):
    out_dir, result = evaluation
    with open(os.path.join(out_dir, "report.json")) as handle:
        report = json.load(handle)
    assert report == json.loads(json.dumps(result.report))
    assert report["checkpoint_update"] == 4 and report["policy"] == "greedy"
    # The tiny building truncates episodes at 24 steps, and the evaluation runs 24 steps.
    assert report["steps_run"] == 24
    assert report["episodes"] == 3 and report["episodes_finished"] == 3
    assert report["length_mean"] <= 24 and report["return_mean"] is not None
    assert list(report["lag_bins"]) == ["0_100", "100_1k", "1k_5k", "5k_inf"]
    for entry in report["lag_bins"].values():
        assert 0 <= entry["correct"] <= entry["decisions"]


def test_gif_and_attention_picture(evaluation):
    out_dir, result = evaluation
    length = first_episode_length(result.trace["done"])
    frames = imageio.mimread(os.path.join(out_dir, "episode.gif"))
    assert len(frames) == length >= 2
    assert frames[0].ndim == 3 and frames[0].shape[-1] in (3, 4)
    with open(os.path.join(out_dir, "attention.png"), "rb") as handle:
        assert handle.read(8) == PNG_MAGIC
    arrays = np.load(os.path.join(out_dir, "attention.npz"))
    # heads=2, immediate 8 slots, short-term 4, long-term 2 (the tiny config's sizes).
    assert arrays["immediate"].shape == (length, 2, 8)
    assert arrays["short_term"].shape == (length, 2, 4)
    assert arrays["long_term"].shape == (length, 2, 2)
    assert arrays["tier_mix"].shape == (length, 3)
    # Weights are distributions over valid slots (or all zero for an empty tier).
    sums = arrays["immediate"].sum(-1)
    assert np.all(np.isclose(sums, 1.0, atol=1e-4) | np.isclose(sums, 0.0))
    assert np.all(arrays["immediate"][0] == 0.0)  # nothing stored before the first read


def test_summarize_counts_only_finished_episodes():
    stats = {
        "finished": np.array([True, False, True]),
        "return": np.array([1.0, 50.0, 3.0]),
        "length": np.array([10, 24, 20]),
        "success": np.array([1.0, 0.0, 0.0]),
        "lag_counts": np.array([[2, 0, 0, 0], [9, 9, 9, 9], [2, 1, 0, 0]]),
        "lag_successes": np.array([[1, 0, 0, 0], [9, 9, 9, 9], [2, 0, 0, 0]]),
    }
    report = summarize(stats, greedy=False, step=7)
    assert report["episodes_finished"] == 2 and report["return_mean"] == 2.0
    assert report["return_std"] == 1.0 and report["length_mean"] == 15.0
    assert report["lag_bins"]["0_100"] == {"decisions": 4, "correct": 3, "success_rate": 0.75}
    assert report["lag_bins"]["100_1k"]["success_rate"] == 0.0
    assert report["lag_bins"]["1k_5k"]["success_rate"] is None


def test_gymnax_env_without_renderer_skips_the_gif(tmp_path):
    import envs_jax
    from experiments.evaluate import write_episode_gif

    env, params = envs_jax.make("MemoryChain-bsuite")
    trace = {"done": np.array([False, True]), "env_state": None}
    path = str(tmp_path / "episode.gif")
    assert write_episode_gif(trace, env, params, path, fps=10) is None
    assert not os.path.exists(path)
