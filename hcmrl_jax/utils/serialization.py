"""Config dataclasses to and from JSON-ready dicts (run folders, checkpoint metadata, caches)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuilds a config dataclass from :func:`config_to_dict` output (validating it again);
    a class with a ``from_dict`` of its own (``PPOConfig``: the nested memory, configs saved in
    the older flat layout) uses it.

    Raises:
        ValueError: ``values`` names fields ``cls`` does not have (or a field's check fails).
    """
    if hasattr(cls, "from_dict"):
        return cls.from_dict(values)
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {unknown} (saved by another version?)")
    return cls(**values)


def config_differences(a: Any, b: Any) -> list[str]:
    """Names of the fields in which two config dataclasses differ (those of nested configs,
    such as the memory's settings, by their own names)."""
    names = []
    for field in dataclasses.fields(a):
        mine, theirs = getattr(a, field.name), getattr(b, field.name)
        if mine == theirs:
            continue
        if dataclasses.is_dataclass(mine) and type(mine) is type(theirs):
            names.extend(config_differences(mine, theirs))
        else:
            names.append(field.name)
    return names
