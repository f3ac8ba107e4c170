"""Scripted players: a remembering one and the best reactive one, for every benchmark.

A benchmark needs memory when the best player that acts only on what it sees *now* loses
clearly to one that remembers. Each benchmark module gives both as :class:`ScriptedPlayer`
objects (``envs_jax.crafting.players``, ``envs_jax.navigation.players``,
``envs_jax.games.players``, ``envs_jax.story.players``), built from one policy with a static
``remember`` switch, so the two differ in memory and in nothing else.

A player is a pair of pure functions over a small carry (what it remembers):

* ``init(key, obs, state, params) -> carry``
* ``act(key, carry, obs, state, params) -> (action, carry)``

``obs`` is the plain observation. ``state`` is the true env state; a player may read from it
only what its docstring names (e.g. the map, as a path-finding oracle shared by both players),
never the hidden information the benchmark asks to remember. A reactive player's ``act``
rebuilds its carry from the current observation every step, so nothing it saw before reaches
its decisions.

:func:`evaluate` plays the first episode of ``num_envs`` fresh worlds with a player (one
``lax.scan`` under ``vmap``) and reports mean return, success, recall rate and lags.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np


class ScriptedPlayer(NamedTuple):
    """A scripted policy: ``init`` builds its carry, ``act`` picks an action and updates it."""

    name: str
    init: Callable[..., Any]
    act: Callable[..., tuple[jax.Array, Any]]


def evaluate(
    env: Any,
    params: Any,
    player: ScriptedPlayer,
    key: jax.Array,
    num_envs: int,
    num_steps: int | None = None,
) -> dict[str, float]:
    """Plays the first episode of ``num_envs`` worlds and averages its statistics.

    Args:
        env: a benchmark env (gymnax API, ``info`` with ``lag``, ``recall``, ``success``).
        params: its ``EnvParams``.
        player: the scripted player.
        key: PRNG key; worlds and the player's draws come from it.
        num_envs: episodes played side by side.
        num_steps: steps to run (default ``params.max_steps_in_episode``); an episode that
            has not ended by then is cut there.

    Returns:
        ``return`` (mean first-episode return), ``success`` (mean success at its end),
        ``length`` (mean episode length),
        ``recall`` (fraction of memory decisions that were right), ``decisions`` (per episode),
        ``lag_median``, ``lag_p10`` / ``lag_p90`` (percentiles; -1 without decisions) and
        ``lag_ge_100`` / ``lag_ge_300`` / ``lag_ge_1000`` (fractions of decisions).
    """
    steps = int(params.max_steps_in_episode if num_steps is None else num_steps)
    stats = jax.jit(_play, static_argnames=("env", "player", "num_envs", "num_steps"))(
        env, params, player, key, num_envs, steps
    )
    stats = jax.device_get(stats)
    lags = stats["lag"][stats["decided"]]
    decisions = max(int(stats["decided"].sum()), 1)
    return {
        "return": float(stats["return"].mean()),
        "success": float(stats["success"].mean()),
        "length": float(stats["length"].mean()),
        "recall": float(stats["recall"][stats["decided"]].sum() / decisions),
        "decisions": float(stats["decided"].sum() / num_envs),
        "lag_median": float(np.median(lags)) if lags.size else -1.0,
        "lag_p10": float(np.percentile(lags, 10)) if lags.size else -1.0,
        "lag_p90": float(np.percentile(lags, 90)) if lags.size else -1.0,
        "lag_ge_100": float(np.mean(lags >= 100)) if lags.size else 0.0,
        "lag_ge_300": float(np.mean(lags >= 300)) if lags.size else 0.0,
        "lag_ge_1000": float(np.mean(lags >= 1000)) if lags.size else 0.0,
    }


def _play(env, params, player, key, num_envs, num_steps):
    key_reset, key_init, key_run = jax.random.split(key, 3)
    obs, state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key_reset, num_envs), params
    )
    carry = jax.vmap(player.init, in_axes=(0, 0, 0, None))(
        jax.random.split(key_init, num_envs), obs, state, params
    )

    def one_step(loop, key_t):
        obs, state, carry, live, total, success, length = loop
        key_act, key_step = jax.random.split(key_t)
        action, carry = jax.vmap(player.act, in_axes=(0, 0, 0, 0, None))(
            jax.random.split(key_act, num_envs), carry, obs, state, params
        )
        obs, state, reward, terminated, truncated, info = jax.vmap(
            env.step, in_axes=(0, 0, 0, None)
        )(jax.random.split(key_step, num_envs), state, action, params)
        total = total + jnp.where(live, reward, 0.0)
        length = length + live
        success = jnp.where(live, info["success"], success)
        decided = live & (info["lag"] >= 0)
        live = live & ~(terminated | truncated)
        record = {"lag": info["lag"], "recall": info["recall"] & decided, "decided": decided}
        return (obs, state, carry, live, total, success, length), record

    live = jnp.ones((num_envs,), jnp.bool_)
    zeros = jnp.zeros((num_envs,), jnp.float32)
    length = jnp.zeros((num_envs,), jnp.int32)
    (_, _, _, _, total, success, length), trace = jax.lax.scan(
        one_step,
        (obs, state, carry, live, zeros, zeros, length),
        jax.random.split(key_run, num_steps),
    )
    return {"return": total, "success": success, "length": length, **trace}
