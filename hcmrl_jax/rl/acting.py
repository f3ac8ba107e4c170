"""Acting: the policy and N environments stepping together (N = environments, T = steps).

:func:`reset` starts every environment, :func:`step` takes one policy step and one env step
(sampled or greedy actions) and is shared by training and evaluation, :func:`rollout` scans it
over the update's ``num_steps`` and records the :class:`Transition` the update learns from,
and :func:`desynchronize` spreads the environments' episode starts before training.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

import envs_jax
from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl import losses as losses_lib
from hcmrl_jax.rl.agent import apply_policy
from hcmrl_jax.rl.setup import TrainSetup
from hcmrl_jax.rl.types import ActingState, CreditInputs, Transition


class StepOutput(NamedTuple):
    """One step of the policy and the environments."""

    state: ActingState  # after the step; its is_first is the step's done flag
    action: jax.Array  # [N] int32 the action taken
    logits: jax.Array  # [N, A] float32 the policy's logits
    value: jax.Array  # [N] float32 the value of the observation acted on
    aux: dict  # the policy's aux (embedding [N, D], novelty [N], memory_info leaves [N, ...])
    reward: jax.Array  # [N] the env reward (the env's dtype)
    terminated: jax.Array  # [N] bool
    truncated: jax.Array  # [N] bool
    info: dict  # the env's info, leaves [N, ...]


def step_envs(env: Any, env_params: Any, key: jax.Array, env_state: Any, action: jax.Array):
    """One env step of N environments (one key each, split from ``key``), gymnax's outputs.

    Returns (obs, env_state, reward [N], terminated [N], truncated [N], info), leaves [N, ...].
    """
    num_envs = action.shape[0]
    return jax.vmap(env.step, in_axes=(0, 0, 0, None))(
        jax.random.split(key, num_envs), env_state, action, env_params
    )


def reset(
    policy: MemoryAugmentedPolicy, env: Any, env_params: Any, key: jax.Array, num_envs: int
) -> ActingState:
    """N fresh episodes (one reset key each, split from ``key``) and empty memories."""
    obs, env_state = jax.vmap(env.reset, in_axes=(0, None))(
        jax.random.split(key, num_envs), env_params
    )
    return ActingState(
        env_state=env_state,
        obs=obs,
        carry=policy.initial_carry((num_envs,)),
        is_first=jnp.ones((num_envs,), jnp.bool_),
    )


def step(
    policy: MemoryAugmentedPolicy,
    env: Any,
    params: Any,
    env_params: Any,
    state: ActingState,
    key: jax.Array,
    greedy: bool = False,
) -> StepOutput:
    """The policy acts on every environment's observation, then every environment steps.

    Args:
        policy: the policy (one environment; vmapped here).
        env: the (wrapped) env.
        params: the policy's parameters.
        env_params: the env's params.
        state: where the environments stand.
        key: this step's key (split into the action's and the envs').
        greedy: act with the most likely action instead of sampling (static).
    """
    key_action, key_env = jax.random.split(key)
    carry, logits, value, aux = apply_policy(policy, params, state.carry, state.obs, state.is_first)
    if greedy:
        action = jnp.argmax(logits, axis=-1).astype(jnp.int32)
    else:
        action = jax.random.categorical(key_action, logits).astype(jnp.int32)
    obs, env_state, reward, terminated, truncated, info = step_envs(
        env, env_params, key_env, state.env_state, action
    )
    done = jnp.logical_or(terminated, truncated)
    return StepOutput(
        state=ActingState(env_state=env_state, obs=obs, carry=carry, is_first=done),
        action=action,
        logits=logits,
        value=value,
        aux=aux,
        reward=reward,
        terminated=terminated,
        truncated=truncated,
        info=info,
    )


def credit_inputs(carry: Any, is_first: jax.Array, info: Any) -> CreditInputs:
    """What the memory credit option needs from one rollout step (batched over envs).

    The weights are the tier-mix weight of the short-term tier times the head-mean attention
    over the summaries read at this step; the episode step is the memory's step counter before
    this step (0 on a first step, where the episodic tiers are cleared before the read).
    """
    short = carry.short_term
    valid = jnp.logical_and(short.valid, jnp.logical_not(is_first)[:, None])
    attention = jnp.mean(info.short_term_weights, axis=1)  # [N, S]
    weights = jnp.where(valid, attention * info.tier_mix[:, 1:2], 0.0)
    episode_step = jnp.where(is_first, 0, carry.t).astype(jnp.int32)
    return CreditInputs(
        weights=weights,
        span_start=short.span_start.astype(jnp.int32),
        span_end=short.span_end.astype(jnp.int32),
        episode_step=episode_step,
    )


def rollout(
    setup: TrainSetup, params: Any, env_params: Any, state: ActingState, key: jax.Array
) -> tuple[ActingState, Transition]:
    """``config.num_steps`` sampled steps of every environment.

    Returns the state after the last step and the trajectory (leaves [T, N, ...]), with the
    credit option's inputs and the memory's replay context recorded where the setup needs them.
    """
    policy, sharding = setup.policy, setup.sharding
    record_context = jax.vmap(policy.memory.replay_context) if setup.parallel_replay else None

    def body(state: ActingState, key_t: jax.Array) -> tuple[ActingState, Transition]:
        out = step(policy, setup.env.env, params, env_params, state, key_t)
        if setup.use_credit:
            credit = credit_inputs(state.carry, state.is_first, out.aux["memory_info"])
        else:
            credit = ()
        transition = Transition(
            obs=state.obs,
            is_first=state.is_first,
            action=out.action,
            log_prob=losses_lib.log_prob(out.logits, out.action),
            value=out.value,
            reward=out.reward.astype(jnp.float32),
            terminated=out.terminated,
            truncated=out.truncated,
            novelty=out.aux["novelty"],
            credit=credit,
            replay=record_context(state.carry, state.is_first) if setup.parallel_replay else (),
            stats={k: out.info[k] for k in envs_jax.EPISODE_STATS_KEYS},
        )
        return sharding.constrain(out.state, 0), transition

    state, traj = jax.lax.scan(body, state, jax.random.split(key, setup.config.num_steps))
    return state, setup.sharding.constrain(traj, 1)


def desynchronize(
    env: Any,
    env_params: Any,
    state: ActingState,
    key: jax.Array,
    num_actions: int,
    max_steps: int,
) -> ActingState:
    """Env i takes ``u_i ~ U{0, ..., max_steps - 1}`` random-action steps (env only, no agent;
    auto-resets as usual), so fixed-length episodes end in different updates.

    Returns ``state`` with the env states and observations after those steps.
    """
    num_envs = state.is_first.shape[0]
    key_offsets, key_steps = jax.random.split(key)
    offsets = jax.random.randint(key_offsets, (num_envs,), 0, max_steps)

    def body(envs, inputs):
        env_state, obs = envs
        t, key_t = inputs
        key_action, key_env = jax.random.split(key_t)
        action = jax.random.randint(key_action, (num_envs,), 0, num_actions)
        next_obs, next_state, *_ = step_envs(env, env_params, key_env, env_state, action)
        moves = t < offsets

        def select(new, old):
            return jnp.where(moves.reshape(moves.shape + (1,) * (new.ndim - 1)), new, old)

        return jax.tree.map(select, (next_state, next_obs), (env_state, obs)), None

    steps = (jnp.arange(max_steps), jax.random.split(key_steps, max_steps))
    (env_state, obs), _ = jax.lax.scan(body, (state.env_state, state.obs), steps)
    return state._replace(env_state=env_state, obs=obs)
