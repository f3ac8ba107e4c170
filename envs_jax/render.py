"""Host-side rendering helpers: tile grids to RGB, and write GIFs of rollouts."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import imageio.v2 as imageio
import jax
import jax.numpy as jnp
import numpy as np


def tile_grid(ids: np.ndarray, palette: np.ndarray, tile: int = 8) -> np.ndarray:
    """Paints an integer grid with one colour per id.

    Args:
        ids: int [H, W] cell ids in ``[0, V)``.
        palette: uint8 [V, 3] colour of each id.
        tile: side of one cell in pixels.

    Returns:
        uint8 [H * tile, W * tile, 3].
    """
    ids = np.asarray(ids)
    palette = np.asarray(palette, np.uint8)
    if ids.ndim != 2:
        raise ValueError(f"ids must be [H, W], got shape {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= len(palette)):
        raise ValueError(f"ids must lie in [0, {len(palette)}), got [{ids.min()}, {ids.max()}]")
    image = palette[ids]
    return np.repeat(np.repeat(image, tile, axis=0), tile, axis=1)


def write_gif(frames: Sequence[np.ndarray], path: str, fps: int = 10) -> str:
    """Writes uint8 [H, W, 3] frames to an animated GIF and returns the path."""
    if len(frames) == 0:
        raise ValueError("write_gif needs at least one frame")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    imageio.mimsave(path, [np.asarray(f, np.uint8) for f in frames], duration=1.0 / fps, loop=0)
    return path


def rollout_states(
    env: Any,
    params: Any,
    key: jax.Array,
    num_steps: int,
    policy: Callable[[jax.Array, Any], jax.Array] | None = None,
) -> list[Any]:
    """Runs one environment for ``num_steps`` steps (jitted) and returns its states on the host.

    Args:
        env: a gymnax environment.
        params: its params.
        key: PRNG key.
        num_steps: number of steps.
        policy: ``policy(key, obs) -> action``; uniform random actions when None.

    Returns:
        ``num_steps + 1`` unbatched states (the reset state first), as numpy pytrees.
    """
    action_space = env.action_space(params)

    def act(key_act: jax.Array, obs: Any) -> jax.Array:
        if policy is None:
            return action_space.sample(key_act)
        return policy(key_act, obs)

    def body(carry, key_t):
        obs, state = carry
        key_act, key_step = jax.random.split(key_t)
        obs, state, *_ = env.step(key_step, state, act(key_act, obs), params)
        return (obs, state), state

    key_reset, key_run = jax.random.split(key)
    obs0, state0 = env.reset(key_reset, params)
    _, states = jax.jit(lambda c, k: jax.lax.scan(body, c, k))(
        (obs0, state0), jax.random.split(key_run, num_steps)
    )
    states = jax.device_get(states)
    first = jax.device_get(state0)
    return [first] + [jax.tree.map(lambda leaf, i=i: leaf[i], states) for i in range(num_steps)]


def rollout_gif(
    env: Any,
    params: Any,
    key: jax.Array,
    path: str,
    num_steps: int = 100,
    policy: Callable[[jax.Array, Any], jax.Array] | None = None,
    fps: int = 10,
) -> str:
    """Renders a rollout with ``env.render_rgb`` and writes it as a GIF; returns the path."""
    states = rollout_states(env, params, key, num_steps, policy)
    frames = [env.render_rgb(jax.tree.map(jnp.asarray, s), params) for s in states]
    return write_gif(frames, path, fps=fps)
