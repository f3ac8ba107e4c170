"""The query-step probe: where the cue is when the recall question comes, before training."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from experiments.benchmarks.probe import main, ridge_probe_accuracy

#: A tiny agent: 4-step segments, 4 summaries, so a lag of 24 merges the cue's segment.
TINY = [
    "--overrides",
    "embed_dim",
    "16",
    "head_hidden",
    "16",
    "immediate_size",
    "4",
    "short_term_size",
    "4",
    "long_term_size",
    "2",
    "latent_dim",
    "4",
    "segment_length",
    "4",
    "num_heads",
    "2",
    "--env-options",
    "num_distractors",
    "4",
]


def test_ridge_probe_reads_a_linear_code_and_not_noise():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, size=400)
    noise = rng.normal(size=(400, 6))
    coded = noise.copy()
    coded[np.arange(400), labels] += 3.0  # the label, linearly: a feature per class
    assert ridge_probe_accuracy(coded, labels, 3) > 0.95
    assert abs(ridge_probe_accuracy(noise, labels, 3) - 1 / 3) < 0.12
    with pytest.raises(ValueError, match="at least 4"):
        ridge_probe_accuracy(noise[:2], labels[:2], 3)


def test_probe_finds_the_cue_in_key_steps_and_only_there(tmp_path):
    out = str(tmp_path / "probe")
    rows = main(
        ["--lags", "24", "--memories", "hcmrl", "hcmrl_no_keys", "--episodes", "64"]
        + ["--warmup-steps", "400", "--out", out]
        + TINY
    )
    by_kind = {row["memory"]: row for row in rows}
    keys, no_keys = by_kind["hcmrl"], by_kind["hcmrl_no_keys"]
    # The cue's step stays the key of the summary covering t = 0 through every merge, it is the
    # tier's most salient key, and its kept input decodes the cue exactly.
    assert keys["kept"] == 1.0 and keys["top"] == 1.0
    assert keys["key_input"] == 1.0
    assert keys["attn"] > 1 / 4  # the salience prior points the read at it before training
    # Without key steps there is no key input, and the untrained summary averages the cue away.
    assert math.isnan(no_keys["key_input"])
    assert no_keys["summary"] < 0.8
    with open(os.path.join(out, "probe.json")) as f:
        saved = json.load(f)
    assert [r["memory"] for r in saved["rows"]] == ["hcmrl", "hcmrl_no_keys"]
    with open(os.path.join(out, "probe.md")) as f:
        assert "| hcmrl | 24 |" in f.read()


def test_probe_rejects_a_kind_without_a_short_term_tier(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["--memories", "gru", "--lags", "8", "--out", str(tmp_path)])
    assert "no short-term tier" in capsys.readouterr().err
