"""Config dataclasses to and from JSON-ready dicts (run folders, checkpoint metadata, caches)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any


def config_to_dict(config: Any) -> dict[str, Any]:
    """A JSON-ready dict of a (nested) config dataclass."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=str))


def config_from_dict(cls: type, values: dict[str, Any]) -> Any:
    """Rebuilds a config dataclass from :func:`config_to_dict` output (validating it again).

    Raises:
        ValueError: ``values`` names fields ``cls`` does not have (or a field's check fails).
    """
    known = {field.name for field in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(f"{cls.__name__} has no fields {unknown} (saved by another version?)")
    return cls(**values)


def config_differences(a: Any, b: Any) -> list[str]:
    """Names of the fields in which two config dataclasses differ."""
    return [
        field.name
        for field in dataclasses.fields(a)
        if getattr(a, field.name) != getattr(b, field.name)
    ]
