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
from gymnax.environments import environment

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
    """Clips an action into the valid range ``[0, num_actions - 1]`` (int32 [])."""
    return jnp.clip(jnp.asarray(action, jnp.int32), 0, num_actions - 1)


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
