"""What values an ``EnvParams`` field accepts, and the checks :meth:`MemoryEnv.validate_params`
runs (:class:`envs_jax.core.MemoryEnv` keeps a :class:`Rule` for every field of its params)."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import numpy as np


@dataclasses.dataclass(frozen=True)
class Rule:
    """What values an ``EnvParams`` field accepts (checked by :meth:`MemoryEnv.validate_params`).

    ``kind`` is ``"int"`` (whole numbers), ``"real"`` (finite numbers) or ``"weights"`` (a
    vector of ``size`` finite numbers >= 0 with a positive sum); ``low`` and ``high`` bound the
    value (None: unbounded).
    """

    kind: str
    low: float | None = None
    high: float | None = None
    size: int = 0


def integer(low: float | None = None, high: float | None = None) -> Rule:
    """A whole number in ``[low, high]``."""
    return Rule("int", low, high)


def real(low: float | None = None, high: float | None = None) -> Rule:
    """A finite number in ``[low, high]``."""
    return Rule("real", low, high)


#: A probability.
PROBABILITY = Rule("real", 0.0, 1.0)


def weights(size: int, high: float | None = None) -> Rule:
    """``size`` finite numbers in ``[0, high]`` with a positive sum."""
    return Rule("weights", 0.0, high, size)


def check_rule(owner: str, name: str, value: Any, rule: Rule) -> None:
    """Raises ``ValueError`` naming ``owner.name`` when a concrete ``value`` breaks ``rule``.

    Traced values (inside ``jit``/``vmap``) are not checked. Leading axes are allowed (a batch
    of params for a vmapped sweep); every entry is checked.
    """
    if isinstance(value, jax.core.Tracer):
        return
    if isinstance(value, bool | np.bool_) or (
        isinstance(value, np.ndarray | jax.Array) and value.dtype == bool
    ):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}")
    try:
        array = np.asarray(jax.device_get(value), np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}") from error
    where = f"{owner}.{name}"
    if rule.kind == "weights":
        if array.ndim < 1 or array.shape[-1] != rule.size:
            raise ValueError(f"{where} must have {rule.size} entries, got shape {array.shape}")
        if not np.all(np.isfinite(array)) or np.any(array < 0) or np.any(array.sum(-1) <= 0):
            raise ValueError(f"{where} must be finite, >= 0 and not all 0, got {value!r}")
        if rule.high is not None and np.any(array > rule.high):
            raise ValueError(f"{where} must be <= {rule.high:g}, got {value!r}")
        return
    if not np.all(np.isfinite(array)):
        raise ValueError(f"{where} must be finite, got {value!r}")
    if rule.kind == "int" and not np.all(array == np.round(array)):
        raise ValueError(f"{where} must be a whole number, got {value!r}")
    if rule.low is not None and np.any(array < rule.low):
        raise ValueError(f"{where} must be >= {rule.low:g}, got {value!r}")
    if rule.high is not None and np.any(array > rule.high):
        raise ValueError(f"{where} must be <= {rule.high:g}, got {value!r}")


def check_order(owner: str, params: Any, smaller: str, larger: str) -> None:
    """Raises ``ValueError`` when concrete ``params.smaller > params.larger``."""
    low, high = getattr(params, smaller), getattr(params, larger)
    if isinstance(low, jax.core.Tracer) or isinstance(high, jax.core.Tracer):
        return
    if np.any(np.asarray(jax.device_get(low)) > np.asarray(jax.device_get(high))):
        raise ValueError(f"{owner}.{larger} must be >= {smaller} ({low!r}), got {high!r}")
