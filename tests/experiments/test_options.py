"""Command-line value parsers of experiments.options."""

import pytest

from experiments.options import parse_env_options, parse_overrides


def test_env_options_parse_numbers_bools_text_and_lists():
    parsed = parse_env_options(
        {"lag_min": "16", "prob": "0.5", "flag": "True", "name": "inn", "rates": "0,0.5,1"}
    )
    assert parsed == {"lag_min": 16, "prob": 0.5, "flag": True, "name": "inn", "rates": (0, 0.5, 1)}
    assert isinstance(parsed["lag_min"], int)


def test_overrides_are_typed_like_the_settings_and_unknown_names_refused():
    assert parse_overrides({"lr": "1e-3", "embed_dim": "32"}) == {"lr": 1e-3, "embed_dim": 32}
    assert parse_overrides({"action_factors": "7,5,5,4", "working_size": "32"}) == {
        "action_factors": (7, 5, 5, 4),
        "working_size": 32,
    }
    assert parse_overrides({"action_factors": ""}) == {"action_factors": ()}
    with pytest.raises(ValueError, match="no such setting"):
        parse_overrides({"learning_rate": "1e-3"})
