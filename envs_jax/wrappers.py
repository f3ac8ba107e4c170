"""Wrappers for the gymnax 1.0 API: episode statistics with lag bins, and an amortised reset."""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import struct
from gymnax.environments import environment, spaces
from gymnax.wrappers.purerl import GymnaxWrapper

from envs_jax.core import LAG_BIN_EDGES, lag_bin

NUM_LAG_BINS = len(LAG_BIN_EDGES)
#: What :class:`EpisodeStatsWrapper` adds to every step's ``info`` (gymnax ``LogWrapper``'s
#: names where they exist): whether this step ended an episode, then the return, length, final
#: success, lag-bin decision counts and lag-bin correct counts of the last finished episode.
#: Reducers of the statistics (the trainer's metrics) read exactly these keys.
EPISODE_STATS_KEYS: tuple[str, ...] = (
    "returned_episode",
    "returned_episode_returns",
    "returned_episode_lengths",
    "returned_episode_success",
    "returned_lag_counts",
    "returned_lag_successes",
)


@struct.dataclass
class EpisodeStatsState:
    env_state: Any
    episode_return: jax.Array  # [] float32, running return of the current episode
    episode_length: jax.Array  # [] int32, steps taken in the current episode
    lag_counts: jax.Array  # [4] int32, memory decisions per lag bin in the current episode
    lag_successes: jax.Array  # [4] int32, correct memory decisions per lag bin, current episode
    returned_episode_return: jax.Array  # [] float32, return of the last finished episode
    returned_episode_length: jax.Array  # [] int32, length of the last finished episode
    returned_episode_success: jax.Array  # [] float32, final success of the last finished episode
    returned_lag_counts: jax.Array  # [4] int32, lag-bin decision counts of the last episode
    returned_lag_successes: jax.Array  # [4] int32, lag-bin correct counts of the last episode
    returned_episode_valid: jax.Array  # [] bool, True once any episode has finished


class EpisodeStatsWrapper(GymnaxWrapper):
    """Episode return, length, success and success binned by memory lag.

    Works on any gymnax 1.0 environment; environments that do not report ``lag``, ``recall`` and
    ``success`` in ``info`` (gymnax's own) get zero lag counts and zero success. The ``info`` of
    every step gains :data:`EPISODE_STATS_KEYS` (whether this step ended an episode, and the
    statistics of the last finished episode) and ``returned_episode_valid``, False until a first
    episode has finished.
    """

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any = None) -> tuple[Any, EpisodeStatsState]:
        obs, env_state = self._env.reset(key, params)
        zeros_bins = jnp.zeros((NUM_LAG_BINS,), jnp.int32)
        state = EpisodeStatsState(
            env_state=env_state,
            episode_return=jnp.zeros((), jnp.float32),
            episode_length=jnp.zeros((), jnp.int32),
            lag_counts=zeros_bins,
            lag_successes=zeros_bins,
            returned_episode_return=jnp.zeros((), jnp.float32),
            returned_episode_length=jnp.zeros((), jnp.int32),
            returned_episode_success=jnp.zeros((), jnp.float32),
            returned_lag_counts=zeros_bins,
            returned_lag_successes=zeros_bins,
            returned_episode_valid=jnp.zeros((), jnp.bool_),
        )
        return obs, state

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: EpisodeStatsState, action: Any, params: Any = None
    ) -> tuple[Any, EpisodeStatsState, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        obs, env_state, reward, terminated, truncated, info = self._env.step(
            key, state.env_state, action, params
        )
        done = jnp.logical_or(terminated, truncated)
        lag = info.get("lag", jnp.asarray(-1, jnp.int32))
        recall = info.get("recall", jnp.zeros((), jnp.bool_))
        success = info.get("success", jnp.zeros((), jnp.float32))
        bin_hot = jax.nn.one_hot(lag_bin(lag), NUM_LAG_BINS, dtype=jnp.int32)  # zeros if lag < 0
        lag_counts = state.lag_counts + bin_hot
        lag_successes = state.lag_successes + bin_hot * jnp.asarray(recall, jnp.int32)
        episode_return = state.episode_return + jnp.asarray(reward, jnp.float32)
        episode_length = state.episode_length + 1

        def on_done(finished: jax.Array, running: jax.Array) -> jax.Array:
            return jnp.where(done, finished, running)

        new_state = EpisodeStatsState(
            env_state=env_state,
            episode_return=on_done(jnp.zeros_like(episode_return), episode_return),
            episode_length=on_done(jnp.zeros_like(episode_length), episode_length),
            lag_counts=on_done(jnp.zeros_like(lag_counts), lag_counts),
            lag_successes=on_done(jnp.zeros_like(lag_successes), lag_successes),
            returned_episode_return=on_done(episode_return, state.returned_episode_return),
            returned_episode_length=on_done(episode_length, state.returned_episode_length),
            returned_episode_success=on_done(
                jnp.asarray(success, jnp.float32), state.returned_episode_success
            ),
            returned_lag_counts=on_done(lag_counts, state.returned_lag_counts),
            returned_lag_successes=on_done(lag_successes, state.returned_lag_successes),
            returned_episode_valid=jnp.logical_or(state.returned_episode_valid, done),
        )
        stats = (
            done,
            new_state.returned_episode_return,
            new_state.returned_episode_length,
            new_state.returned_episode_success,
            new_state.returned_lag_counts,
            new_state.returned_lag_successes,
        )
        info = {
            **info,
            **dict(zip(EPISODE_STATS_KEYS, stats, strict=True)),
            "returned_episode_valid": new_state.returned_episode_valid,
        }
        return obs, new_state, reward, terminated, truncated, info


@struct.dataclass
class PooledParams:
    env_params: Any  # the wrapped env's EnvParams
    pool_obs: Any  # observations of the pre-generated worlds, leaves [P, ...]
    pool_state: Any  # initial states of the pre-generated worlds, leaves [P, ...]
    cursor: jax.Array = (
        0  # [] int32 the pool entry :meth:`PooledResetWrapper.refresh` replaces next
    )


class PooledResetWrapper(GymnaxWrapper):
    """Amortised reset: episodes restart from a pool of pre-generated worlds.

    gymnax's own ``step`` generates a fresh world every step and discards it unless the episode
    ended, so a costly generator sits on the hot path (the benchmarks' ``step`` generates worlds
    only where an episode ended, :func:`envs_jax.core.reset_where_done`, but still pays for
    each of them when it happens). This wrapper calls the env's
    ``step_env`` and, where an episode ends, copies a world drawn uniformly (per environment,
    from the step key) out of a pool of ``pool_size`` worlds generated once by
    :meth:`with_pool`. Each environment picks its own pool entry, so the reset is correct when
    any subset of a batch finishes. The pool lives in the params, which a vmapped rollout
    broadcasts (``in_axes=None``), so it costs memory once, not once per environment.

    Fresh worlds: :meth:`refresh` regenerates ``num`` pool entries (the oldest, round robin)
    inside a compiled program; the trainer calls it once per update, so the pool turns over
    every ``pool_size / num`` updates and a policy cannot memorise a fixed set of worlds (see
    ``PPOConfig.reset_refresh``). ``reset`` itself generates a fresh world (it is not on the
    hot path).

    Args:
        env: a gymnax environment (its ``step_env``, ``reset_env`` and ``is_truncated`` are used).
        pool_size: number of pre-generated worlds P (>= 1).
    """

    def __init__(self, env: environment.Environment, pool_size: int = 256):
        if int(pool_size) < 1:
            raise ValueError(f"pool_size must be >= 1, got {pool_size}")
        super().__init__(env)
        self.pool_size = int(pool_size)

    def with_pool(self, key: jax.Array, params: Any = None) -> PooledParams:
        """Generates the pool: ``pool_size`` worlds from ``key`` for the given env params."""
        if isinstance(params, PooledParams):
            params = params.env_params
        if params is None:
            params = self._env.default_params
        keys = jax.random.split(key, self.pool_size)
        pool_obs, pool_state = jax.jit(jax.vmap(self._env.reset_env, in_axes=(0, None)))(
            keys, params
        )
        return PooledParams(
            env_params=params,
            pool_obs=pool_obs,
            pool_state=pool_state,
            cursor=jnp.zeros((), jnp.int32),
        )

    def refresh(self, key: jax.Array, params: PooledParams, num: int) -> PooledParams:
        """Replaces ``num`` pool entries (from ``params.cursor`` on, round robin) with worlds
        generated from ``key``; traceable, so it runs inside a training program.

        Args:
            key: PRNG key for the new worlds.
            params: the pooled params.
            num: static number of worlds to generate (0: unchanged; capped at ``pool_size``).
        """
        params = self._check(params)
        num = min(int(num), self.pool_size)
        if num <= 0:
            return params
        keys = jax.random.split(key, num)
        new_obs, new_state = jax.vmap(self._env.reset_env, in_axes=(0, None))(
            keys, params.env_params
        )
        cursor = jnp.asarray(params.cursor, jnp.int32)
        slots = (cursor + jnp.arange(num, dtype=jnp.int32)) % self.pool_size

        def put(pool, fresh):
            return pool.at[slots].set(fresh)

        return params.replace(
            pool_obs=jax.tree.map(put, params.pool_obs, new_obs),
            pool_state=jax.tree.map(put, params.pool_state, new_state),
            cursor=(cursor + num) % self.pool_size,
        )

    @property
    def default_params(self) -> PooledParams:
        """A pool built from ``PRNGKey(0)`` and the env's default params (cached)."""
        if "_default_pool" not in self.__dict__:
            self.__dict__["_default_pool"] = self.with_pool(
                jax.random.PRNGKey(0), self._env.default_params
            )
        return self.__dict__["_default_pool"]

    def _check(self, params: Any) -> PooledParams:
        if not isinstance(params, PooledParams):
            raise TypeError(
                "PooledResetWrapper needs the params returned by `with_pool(key, params)`, got "
                f"{type(params).__name__}"
            )
        return params

    def observation_space(self, params: Any):
        return self._env.observation_space(self._check(params).env_params)

    def action_space(self, params: Any = None):
        env_params = None if params is None else self._check(params).env_params
        return self._env.action_space(env_params)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: PooledParams | None = None) -> tuple[Any, Any]:
        params = self._check(self.default_params if params is None else params)
        return self._env.reset_env(key, params.env_params)

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: PooledParams | None = None
    ) -> tuple[Any, Any, jax.Array, jax.Array, jax.Array, dict[str, Any]]:
        params = self._check(self.default_params if params is None else params)
        key_step, key_pick = jax.random.split(key)
        obs_st, state_st, reward, terminated, info = self._env.step_env(
            key_step, state, action, params.env_params
        )
        truncated = self._env.is_truncated(state_st, params.env_params)
        done = jnp.logical_or(terminated, truncated)
        index = jax.random.randint(key_pick, (), 0, self.pool_size)
        state_re = jax.tree.map(lambda leaf: leaf[index], params.pool_state)
        obs_re = jax.tree.map(lambda leaf: leaf[index], params.pool_obs)
        state = jax.tree.map(lambda a, b: jax.lax.select(done, a, b), state_re, state_st)
        obs = jax.tree.map(lambda a, b: jax.lax.select(done, a, b), obs_re, obs_st)
        info = {
            **info,
            "terminated": terminated,
            "truncated": truncated,
            "final_observation": obs_st,
        }
        return obs, state, reward, terminated, truncated, info


class FlattenObservationWrapper(GymnaxWrapper):
    """One flat float32 vector per observation: a ``Box`` space for code written for them.

    PureJaxRL-style code sizes its network from ``observation_space(params).shape`` and feeds
    the observation straight in; the benchmarks' dict observations break that. This wrapper
    concatenates the leaves in the order of the observation space, integer ids one-hot
    (``one_hot=True``, the default: ``high - low + 1`` entries per id) or as one float each
    scaled to [0, 1] (``one_hot=False``), float leaves as they are, and puts the
    ``action_mask`` (0/1) last, where :meth:`action_mask` reads it back. Episode resets and
    ``info["final_observation"]`` (flattened too) work as in the wrapped env.

    Args:
        env: a gymnax environment with a ``Dict`` (or ``Box``) observation space of ``Box``
            leaves, e.g. ``envs_jax.make("story")[0]``; ``envs_jax.make(id, flat=True)`` wraps.
        one_hot: integer ids as one-hot blocks (else as scaled floats).
    """

    def __init__(self, env: environment.Environment, one_hot: bool = True):
        super().__init__(env)
        self.one_hot = bool(one_hot)
        space = env.observation_space(env.default_params)
        leaves = dict(space.spaces) if hasattr(space, "spaces") else {"observation": space}
        self._keyed = not isinstance(space, spaces.Box)
        order = [k for k in leaves if k != "action_mask"]
        self._leaves = tuple((k, leaves[k]) for k in order)
        self._mask = leaves.get("action_mask")
        widths = [self._width(box) for _, box in self._leaves]
        self._mask_size = 0 if self._mask is None else int(np.prod(self._mask.shape))
        self.size = int(sum(widths)) + self._mask_size

    def _is_ids(self, box: spaces.Box) -> bool:
        return self.one_hot and jnp.issubdtype(jnp.dtype(box.dtype), jnp.integer)

    def _width(self, box: spaces.Box) -> int:
        count = int(np.prod(box.shape))
        if self._is_ids(box):
            return count * int(np.max(box.high) - np.min(box.low) + 1)
        return count

    def observation_space(self, params: Any = None) -> spaces.Box:
        return spaces.Box(0.0, 1.0, (self.size,), jnp.float32)

    def action_mask(self, flat_obs: jax.Array) -> jax.Array:
        """The wrapped env's action mask (bool ``[..., A]``) from flat observations; all True
        when the env has none."""
        if self._mask is None:
            return jnp.ones(flat_obs.shape[:-1] + (self._env.action_space().n,), jnp.bool_)
        return flat_obs[..., self.size - self._mask_size :] > 0.5

    def flatten(self, obs: Any) -> jax.Array:
        """One observation of the wrapped env as float32 [size]."""
        parts = []
        for name, box in self._leaves:
            leaf = obs[name] if self._keyed else obs
            low = np.min(box.low)
            span = max(float(np.max(box.high) - low), 1.0)
            leaf = jnp.asarray(leaf).reshape(-1)
            if self._is_ids(box):
                ids = (leaf - low).astype(jnp.int32)
                parts.append(jax.nn.one_hot(ids, int(span) + 1, dtype=jnp.float32).reshape(-1))
            elif jnp.issubdtype(jnp.dtype(box.dtype), jnp.floating):
                parts.append(leaf.astype(jnp.float32))
            else:
                parts.append((leaf.astype(jnp.float32) - low) / span)
        if self._mask is not None:
            parts.append(jnp.asarray(obs["action_mask"]).reshape(-1).astype(jnp.float32))
        return jnp.concatenate(parts)

    @partial(jax.jit, static_argnames=("self",))
    def reset(self, key: jax.Array, params: Any = None) -> tuple[jax.Array, Any]:
        obs, state = self._env.reset(key, params)
        return self.flatten(obs), state

    @partial(jax.jit, static_argnames=("self",))
    def step(
        self, key: jax.Array, state: Any, action: Any, params: Any = None
    ) -> tuple[jax.Array, Any, jax.Array, jax.Array, jax.Array, dict]:
        obs, state, reward, terminated, truncated, info = self._env.step(key, state, action, params)
        if "final_observation" in info:
            info = {**info, "final_observation": self.flatten(info["final_observation"])}
        return self.flatten(obs), state, reward, terminated, truncated, info
