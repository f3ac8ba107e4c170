"""Evaluation of a tiny checkpoint: the report, the episode GIF and the memory picture."""

import json
import os

import imageio.v2 as imageio
import numpy as np
import pytest

from experiments.evaluate import first_episode_length, format_report, summarize

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
    assert "decision_kinds" not in report  # the env names none


def test_summarize_gives_success_per_decision_kind_of_finished_episodes():
    stats = {
        "finished": np.array([True, False, True]),
        "return": np.zeros(3),
        "length": np.ones(3, np.int32),
        "success": np.zeros(3),
        "lag_counts": np.zeros((3, 4), np.int32),
        "lag_successes": np.zeros((3, 4), np.int32),
        "kind_counts": np.array([[3, 0], [9, 9], [1, 0]]),
        "kind_successes": np.array([[2, 0], [9, 9], [1, 0]]),
    }
    report = summarize(stats, greedy=True, step=1, decision_kinds=("make", "deliver"))
    assert report["decision_kinds"] == {
        "make": {"decisions": 4, "correct": 3, "success_rate": 0.75},
        "deliver": {"decisions": 0, "correct": 0, "success_rate": None},
    }
    assert "deliver" in format_report(report) and "0.750" in format_report(report)


def test_gymnax_env_without_renderer_skips_the_gif(tmp_path):
    import envs_jax
    from experiments.evaluate import write_episode_gif

    env, params = envs_jax.make("MemoryChain-bsuite")
    trace = {"done": np.array([False, True]), "env_state": None}
    path = str(tmp_path / "episode.gif")
    assert write_episode_gif(trace, env, params, path, fps=10) is None
    assert not os.path.exists(path)


def test_the_evaluator_counts_each_first_episode_decision_under_its_kind():
    # A tiny games agent with its initial parameters: every decision of an env's first episode
    # lands in exactly one lag bin and one decision kind (its game).
    import jax
    import jax.numpy as jnp

    import envs_jax
    from experiments.configs import get_preset
    from experiments.evaluate import make_evaluator

    config = get_preset("tiny").with_settings(
        env_id="games",
        env_overrides={
            "episode_length": 48,
            "max_steps_in_episode": 48,
            "num_lanes": 2,
            "num_choices": 4,
            "max_count": 3,
            "battleship_shots": 2,
            "max_events": 48,
            "lag_min": 2,
            "lag_max": 12,
            "item_gap_max": 3,
            "lane_start_max": 4,
        },
        reset_pool_size=4,
    )
    kinds = envs_jax.make("games")[0].decision_kinds
    evaluate, policy, bundle = make_evaluator(config, 4, 60, 1, True, len(kinds))
    key = jax.random.key(0)
    obs_shape = jax.eval_shape(lambda k: bundle.env.reset(k, bundle.make_params(k))[0], key)
    obs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), obs_shape)
    params = policy.init(key, policy.initial_carry(), obs, jnp.bool_(True))
    stats, _ = jax.device_get(evaluate(params, key))
    assert stats["finished"].all()
    counts, hits = stats["kind_counts"], stats["kind_successes"]
    assert counts.shape == (4, len(kinds)) and np.all((0 <= hits) & (hits <= counts))
    np.testing.assert_array_equal(counts.sum(axis=1), stats["lag_counts"].sum(axis=1))
    np.testing.assert_array_equal(hits.sum(axis=1), stats["lag_successes"].sum(axis=1))
    assert counts.sum() > 0 and np.count_nonzero(counts.sum(axis=0)) >= 2
    report = summarize(stats, greedy=True, step=0, decision_kinds=kinds)
    assert list(report["decision_kinds"]) == list(kinds)
