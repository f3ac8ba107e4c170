"""Settings and env options given on the command line as ``name value`` pairs.

``--overrides lr 1e-3 embed_dim 32`` (any setting of :class:`hcmrl_jax.rl.PPOConfig` or of its
memory, typed like its default; old names such as ``state_dim`` are accepted) and
``--env-options lag 300 privileged true`` (env options, typed by their text) are parsed here for
the recall sweep, the probe, the comparison and the players benchmark alike.
"""

from __future__ import annotations

from typing import Any

from hcmrl_jax.rl.config import RENAMED_SETTINGS, setting_defaults

#: Every setting of a run (PPOConfig's and its MemoryConfig's, flat) by its one name -> default.
SETTING_DEFAULTS: dict[str, Any] = setting_defaults()


def parse_value(text: str, like: Any) -> Any:
    """Converts a command-line string to the type of ``like`` (bool, int, float or str; a
    tuple: comma-separated values typed like its items, ints for an empty one, "" for ()).

    Raises:
        ValueError: the text is not a value of that type.
    """
    if isinstance(like, tuple):
        item = like[0] if like else 0
        return tuple(parse_value(part.strip(), item) for part in text.split(",") if part.strip())
    if isinstance(like, bool):
        lowered = text.lower()
        if lowered not in ("true", "false", "1", "0", "yes", "no"):
            raise ValueError(f"{text!r} is not a bool")
        return lowered in ("true", "1", "yes")
    if isinstance(like, int):
        return int(text)
    if isinstance(like, float):
        return float(text)
    return text


def parse_overrides(overrides: dict[str, str]) -> dict[str, Any]:
    """Setting values by their one name (old names, ``state_dim``, renamed) from their
    command-line strings, typed like the settings' defaults.

    Raises:
        ValueError: a name that is no setting, or a value that does not parse.
    """
    parsed = {}
    for name, text in overrides.items():
        name = RENAMED_SETTINGS.get(name, name)
        if name not in SETTING_DEFAULTS:
            raise ValueError(
                f"--overrides {name}: no such setting; settings: {sorted(SETTING_DEFAULTS)}"
            )
        try:
            parsed[name] = parse_value(text, SETTING_DEFAULTS[name])
        except ValueError as error:
            raise ValueError(f"--overrides {name}: {error}") from error
    return parsed


def _parse_scalar(text: str) -> int | float | bool | str:
    """An env option's one value: int, else float, else true/false, else the text."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            continue
    lowered = text.lower()
    return lowered == "true" if lowered in ("true", "false") else text


def parse_env_options(options: dict[str, str]) -> dict[str, Any]:
    """Env option values from strings: int, else float, else true/false, else the text; a
    comma-separated text (``game_rates 0,0,0,1,0,0``) is a tuple of such values."""
    return {
        name: tuple(_parse_scalar(part) for part in text.split(","))
        if "," in text
        else _parse_scalar(text)
        for name, text in options.items()
    }
