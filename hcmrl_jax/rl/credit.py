"""Credit assignment: GAE(lambda), and an optional long-horizon credit option using the memory.

All arrays are time-major: ``[T, N]`` is T rollout steps of N environments.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def gae(
    rewards: jax.Array,
    values: jax.Array,
    terminated: jax.Array,
    truncated: jax.Array,
    last_value: jax.Array,
    gamma: jax.Array | float,
    gae_lambda: jax.Array | float,
    bootstrap_truncated: bool = True,
) -> tuple[jax.Array, jax.Array]:
    """Generalised advantage estimation over a rollout with auto-reset environments.

    Step t (reward r_t, value v_t) is followed in the rollout by step t + 1 of the same env;
    when step t ends an episode (terminated or truncated) step t + 1 is the first of a new
    episode, so the recursion is cut there:

        next_t = 0                  if terminated_t,
                 v_t (see below)     if truncated_t and bootstrap_truncated (else 0),
                 v_{t+1}             otherwise (v_T = last_value);
        delta_t = r_t + gamma * next_t - v_t
        A_t = delta_t + gamma * lambda * (1 - done_t) * A_{t+1}
        returns_t = A_t + v_t.

    At a time-limit truncation the next state's value is not available (the env auto-reset), so
    ``v_t`` stands in for it: the value of a state that is cut off for a reason the agent
    cannot see is closer to v_t than to 0.

    Args:
        rewards: [T, N] float32.
        values: [T, N] float32 values at rollout time.
        terminated: [T, N] bool, the episode ended in a terminal state at step t.
        truncated: [T, N] bool, the episode was cut by the time limit at step t.
        last_value: [N] float32 value of the observation after the last step.
        gamma: discount.
        gae_lambda: GAE lambda.
        bootstrap_truncated: bootstrap truncated steps with v_t (static).

    Returns:
        (advantages [T, N] float32, returns [T, N] float32).
    """
    terminated = terminated.astype(jnp.bool_)
    truncated = jnp.logical_and(truncated.astype(jnp.bool_), jnp.logical_not(terminated))
    done = jnp.logical_or(terminated, truncated)
    boot = jnp.where(truncated, values, 0.0) if bootstrap_truncated else jnp.zeros_like(values)

    def backward(carry, step):
        advantage_next, value_next = carry
        reward, value, done_t, boot_t = step
        next_value = jnp.where(done_t, boot_t, value_next)
        delta = reward + gamma * next_value - value
        advantage = delta + gamma * gae_lambda * jnp.where(done_t, 0.0, advantage_next)
        return (advantage, value), advantage

    init = (jnp.zeros_like(last_value), last_value)
    _, advantages = jax.lax.scan(backward, init, (rewards, values, done, boot), reverse=True)
    return advantages, advantages + values


def memory_credit(
    rewards: jax.Array,
    weights: jax.Array,
    span_start: jax.Array,
    span_end: jax.Array,
    episode_step: jax.Array,
    fraction: jax.Array | float,
) -> tuple[jax.Array, jax.Array]:
    """Moves a fraction of each reward back to the past steps the memory attended to.

    What it does, exactly: at step t the policy read the short-term tier; summary s covers the
    half-open range of episode steps ``[span_start[t, s], span_end[t, s])`` (the memory's
    convention) and received the effective attention weight ``weights[t, s]`` (the tier-mix
    weight of the short-term tier times the head-averaged attention on s; 0 for invalid
    summaries, so the weights of a step sum to at most 1). Of the reward r_t, the amount
    ``fraction * r_t * weights[t, s]`` is spread uniformly over the steps of that span, i.e.
    ``fraction * r_t * weights[t, s] / (span_end - span_start)`` goes to each step of the span.
    Only steps that lie in this rollout and before t can receive it (episode step e maps to
    rollout index ``t - episode_step[t] + e``); the part that falls before the rollout's first
    step (already trained on) stays at t. Hence each environment's rewards sum to the same total
    before and after, reward never moves forward in time or across episodes (the short-term
    tier is cleared at episode start, so spans lie in t's episode), and ``fraction = 0`` is the
    identity. The moved rewards then feed GAE as ordinary rewards, so an action long before a
    payoff can get credit that the lambda-return would have discounted away.

    Args:
        rewards: [T, N] float32.
        weights: [T, N, S] float32 >= 0, effective attention on each summary at step t.
        span_start: [T, N, S] int32 first episode step covered by summary s as read at t.
        span_end: [T, N, S] int32 one past the last episode step covered.
        episode_step: [T, N] int32 episode step index of rollout step t (0 at episode start).
        fraction: in [0, 1], share of each reward that may move.

    Returns:
        (new rewards [T, N] float32, moved [T, N] float32: amount moved away from each step).
    """

    def one_env(r, w, start, end, e):
        num_steps = r.shape[0]
        t = jnp.arange(num_steps, dtype=jnp.int32)[:, None]  # [T, 1]
        offset = t - e[:, None]  # rollout index of episode step 0 for row t
        lo = jnp.maximum(offset + start, 0)
        hi = jnp.minimum(offset + end - 1, t - 1)  # last receiving index (inclusive)
        count = jnp.maximum(hi - lo + 1, 0)  # in-rollout steps of the span before t
        length = jnp.maximum(end - start, 1)
        per_step = fraction * r[:, None] * w / length  # [T, S]
        per_step = jnp.where(count > 0, per_step, 0.0)
        moved = jnp.sum(per_step * count, axis=1)  # [T]
        # Difference array: +per_step at lo, -per_step after hi, then a cumulative sum.
        lo_idx = jnp.clip(lo, 0, num_steps).reshape(-1)
        hi_idx = jnp.clip(hi + 1, 0, num_steps).reshape(-1)
        diff = jnp.zeros((num_steps + 1,), r.dtype)
        diff = diff.at[lo_idx].add(per_step.reshape(-1))
        diff = diff.at[hi_idx].add(-per_step.reshape(-1))
        received = jnp.cumsum(diff)[:num_steps]
        return r - moved + received, moved

    return jax.vmap(one_env, in_axes=(1, 1, 1, 1, 1), out_axes=1)(
        rewards, weights, span_start, span_end, episode_step
    )
