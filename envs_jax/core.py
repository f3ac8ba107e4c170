"""The shared base of the long-horizon benchmarks.

Every benchmark subclasses :class:`MemoryEnv`, which is a gymnax 1.0 ``Environment``: ``step``
returns ``(obs, state, reward, terminated, truncated, info)``, auto-resets, and puts the last
observation of a finished episode in ``info["final_observation"]``.

Conventions shared by all benchmarks (wrappers and the trainer rely on them):

* Observations are dicts of small arrays. Integer leaves are ``int32`` with a
  ``Box(0, V - 1, shape, int32)`` space, so a consumer can size an embedding table from
  ``space.high``; float leaves are ``float32``. Where actions can be invalid the dict holds
  ``"action_mask"``: bool ``[A]``, True where the action is allowed.
* ``step_env``'s ``info`` holds three fixed-shape scalars every step (see :func:`memory_info`):
  ``"lag"`` (int32; steps between when the information a decision needed was last visible and
  the decision, -1 when no memory-dependent decision happened this step), ``"recall"`` (bool;
  whether that decision was right) and ``"success"`` (float32 in [0, 1]; the episode's success
  measure so far).
* Out-of-range actions are clipped into ``[0, num_actions - 1]`` (:func:`clip_action`).
* Randomness during an episode comes from the step key, never from a key kept in the state, so
  a pooled reset (:class:`envs_jax.wrappers.PooledResetWrapper`) that hands several
  environments the same world does not hand them the same future.
* ``privileged=True`` builds the twin that adds the hidden information to the observation.
"""

from __future__ import annotations

import dataclasses
from typing import Any, ClassVar

import jax
import jax.numpy as jnp
import numpy as np
from gymnax.environments import environment, spaces

#: Left edges of the lag bins (steps) used for lag-binned success: [0,100), [100,1k), [1k,5k), >=5k.
LAG_BIN_EDGES: tuple[int, ...] = (0, 100, 1_000, 5_000)
LAG_BIN_NAMES: tuple[str, ...] = ("lag<100", "lag100-1k", "lag1k-5k", "lag>=5k")
NO_LAG: int = -1


def memory_info(lag: jax.Array, recall: jax.Array, success: jax.Array) -> dict[str, jax.Array]:
    """Builds the per-step memory statistics every benchmark reports in ``info``.

    Args:
        lag: int [] steps since the needed information was last visible, or -1 (no decision).
        recall: bool [] whether the decision was right; forced False when ``lag < 0``.
        success: float [] the episode's success measure so far, in [0, 1].

    Returns:
        ``{"lag": int32 [], "recall": bool [], "success": float32 []}``.
    """
    lag = jnp.asarray(lag, jnp.int32)
    return {
        "lag": lag,
        "recall": jnp.logical_and(jnp.asarray(recall, jnp.bool_), lag >= 0),
        "success": jnp.asarray(success, jnp.float32),
    }


def lag_bin(lag: jax.Array) -> jax.Array:
    """Index of the lag bin of ``lag`` (int32 []), or -1 when ``lag < 0``."""
    edges = jnp.asarray(LAG_BIN_EDGES, jnp.int32)
    return jnp.sum(jnp.asarray(lag, jnp.int32) >= edges).astype(jnp.int32) - 1


def clip_action(action: jax.Array, num_actions: int) -> jax.Array:
    """Clips an action into the valid range ``[0, num_actions - 1]`` (int32 []).

    Raises:
        ValueError: ``action`` is not one scalar (see :func:`check_action_shape`).
    """
    check_action_shape(action, num_actions)
    return jnp.clip(jnp.asarray(action, jnp.int32).reshape(()), 0, num_actions - 1)


class ObservationDict(spaces.Dict):
    """gymnax's ``Dict`` space for dict observations, with a ``contains`` that works on them.

    gymnax's ``Dict.contains`` reads ``getattr(x, key)``, which fails on the plain dicts every
    benchmark returns, and checks neither keys nor shapes. This one takes a mapping, and is
    True when its keys are the space's and every leaf has its ``Box``'s shape and lies in it.
    """

    def contains(self, x: Any) -> jax.Array:
        if set(x) != set(self.spaces):
            return jnp.bool_(False)
        inside = jnp.bool_(True)
        for name, space in self.spaces.items():
            leaf = jnp.asarray(x[name])
            if hasattr(space, "shape") and tuple(leaf.shape) != tuple(space.shape):
                return jnp.bool_(False)
            inside = inside & jnp.asarray(space.contains(leaf), jnp.bool_)
        return inside


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


def check_action_shape(action: Any, num_actions: int) -> None:
    """Raises ``ValueError`` unless ``action`` is one scalar (shape ``()``, or ``(1,)``).

    A batch of actions must go through ``jax.vmap`` over the env's ``step``; a batch handed to
    one env would otherwise be read as a single action or broadcast into the state.
    """
    shape = np.shape(action)
    if shape not in ((), (1,)):
        raise ValueError(
            f"the action must be one integer in [0, {num_actions - 1}] (shape ()), got shape "
            f"{shape}; for a batch of environments, jax.vmap the env's step"
        )


class MemoryEnv(environment.Environment):
    """Base class of the benchmarks: a gymnax ``Environment`` with a static config.

    Subclasses set ``config_cls`` (a frozen dataclass of shape-defining sizes, static under
    ``jit``), ``params_cls`` (their ``EnvParams`` struct) and ``env_id``, and implement
    ``step_env``, ``reset_env``, ``observation_space``, ``action_space``, ``num_actions``,
    ``render_text`` and ``render_rgb``. Everything a user may sweep lives in the env's
    ``EnvParams`` instead.

    Args:
        config: an instance of ``config_cls``; its defaults when None.
        privileged: build the twin whose observation adds the hidden information.
    """

    config_cls: ClassVar[type] = None  # type: ignore[assignment]
    params_cls: ClassVar[type] = None  # type: ignore[assignment]
    env_id: ClassVar[str] = ""
    #: A :class:`Rule` for every field of ``params_cls`` (a test checks that none is missing).
    param_rules: ClassVar[dict[str, Rule]] = {}

    def __init__(self, config: Any = None, privileged: bool = False):
        if self.config_cls is None or self.params_cls is None:
            raise TypeError(f"{type(self).__name__} must set `config_cls` and `params_cls`")
        if config is None:
            config = self.config_cls()
        if not isinstance(config, self.config_cls):
            raise TypeError(
                f"{type(self).__name__} expects a {self.config_cls.__name__}, got {type(config)}"
            )
        self.config = config
        self.privileged = bool(privileged)

    def __eq__(self, other: object) -> bool:
        # Equal configs build equal envs, so gymnax's jitted ``step`` / ``reset`` (``self`` is a
        # static argument) reuse their compiled code across instances.
        if type(other) is not type(self):
            return NotImplemented
        return (self.config, self.privileged) == (other.config, other.privileged)

    def __hash__(self) -> int:
        return hash((type(self), self.config, self.privileged))

    def validate_params(self, params: Any) -> Any:
        """Checks every field of ``params`` against :attr:`param_rules` and :meth:`check_params`.

        ``envs_jax.make`` calls it; call it on params built by hand. Traced values are skipped.

        Returns:
            ``params`` unchanged.

        Raises:
            TypeError: ``params`` is not this env's ``params_cls``.
            ValueError: a value out of range, naming the field.
        """
        if not isinstance(params, self.params_cls):
            raise TypeError(
                f"{type(self).__name__} expects {self.params_cls.__name__}, got {type(params)}"
            )
        owner = self.params_cls.__name__
        for field in dataclasses.fields(params):
            if field.name not in self.param_rules:
                raise ValueError(f"{owner}.{field.name} has no validation rule")
            check_rule(owner, field.name, getattr(params, field.name), self.param_rules[field.name])
        self.check_params(params)
        return params

    def check_params(self, params: Any) -> None:
        """Checks between fields (e.g. a minimum below its maximum); none by default."""

    @property
    def name(self) -> str:
        return self.env_id + ("-privileged" if self.privileged else "")

    def render_text(self, state: Any, params: Any) -> str:
        """Renders one (unbatched) state as text a person can read."""
        raise NotImplementedError

    def render_rgb(self, state: Any, params: Any) -> np.ndarray:
        """Renders one (unbatched) state as an RGB image, uint8 [H, W, 3]."""
        raise NotImplementedError

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{f.name}={getattr(self.config, f.name)!r}" for f in dataclasses.fields(self.config)
        )
        return f"{type(self).__name__}({fields}, privileged={self.privileged})"
