"""The trainer's state types (N = environments, T = rollout steps, A = actions, S = summaries).

* :class:`HyperParams` — the sweepable hyperparameters, traced so ``jax.vmap`` can sweep them;
* :class:`RunnerState` — everything a run needs to continue exactly where it stopped;
* :class:`ActingState` — the acting loop's carry: envs, observations, memory, first-step flags;
* :class:`Transition` — one rollout step of all environments (stacked: the trajectory);
* :class:`CreditInputs` — what the memory credit option records at each step;
* :class:`Minibatch` — the environments one optimiser step trains on;
* :class:`LearnerState` — what the minibatch steps of an update carry: parameters, optimiser.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
from flax import struct

from hcmrl_jax.rl.config import PPOConfig


@struct.dataclass
class HyperParams:
    """Sweepable hyperparameters, passed as traced values so ``jax.vmap`` can sweep them.

    Every field is [] float32 (or [B] under a vmap over a sweep).
    """

    lr: jax.Array  # [] float32 learning rate (before annealing)
    ent_coef: jax.Array  # [] float32 entropy coefficient at the start of the schedule
    ent_coef_final: jax.Array  # [] float32 entropy coefficient at the end of the schedule
    clip_eps: jax.Array  # [] float32 PPO clip
    vf_coef: jax.Array  # [] float32 value-loss weight
    vae_coef: jax.Array  # [] float32 VAE-loss weight
    aux_coef: jax.Array  # [] float32 reconstruction-loss weight
    novelty_coef: jax.Array  # [] float32 novelty-bonus scale
    gamma: jax.Array  # [] float32 discount
    gae_lambda: jax.Array  # [] float32 GAE lambda
    credit_fraction: jax.Array  # [] float32 share of reward the memory credit may move


def default_hparams(config: PPOConfig) -> HyperParams:
    """The config's values as :class:`HyperParams` (stack several to sweep with vmap)."""
    return HyperParams(
        **{
            f.name: jnp.asarray(getattr(config, f.name), jnp.float32)
            for f in dataclasses.fields(HyperParams)
        }
    )


def stack_hparams(hparams: list[HyperParams]) -> HyperParams:
    """Stacks hyperparameter sets along a new leading axis for ``jax.vmap(train)``."""
    return jax.tree.map(lambda *xs: jnp.stack(xs), *hparams)


@struct.dataclass
class RunnerState:
    """Everything a run needs to continue exactly where it stopped (N = num_envs)."""

    params: Any  # policy parameters (pytree of float32 arrays)
    opt_state: Any  # optax state of the optimiser
    env_state: Any  # env states (EpisodeStatsWrapper state), leaves [N, ...]
    env_params: Any  # env params (with the reset pool for benchmark envs), not batched
    obs: Any  # current observations, leaves [N, ...]
    carry: Any  # memory state of each env before its next step, leaves [N, ...]
    is_first: jax.Array  # [N] bool: obs is the first observation of an episode
    key: jax.Array  # [] PRNG key for the next update
    update_step: jax.Array  # [] int32 updates done so far
    hparams: HyperParams  # the run's hyperparameters


class ActingState(NamedTuple):
    """The acting loop's carry: where every environment stands before its next step."""

    env_state: Any  # env states, leaves [N, ...]
    obs: Any  # current observations, leaves [N, ...]
    carry: Any  # memory state of each env before its next step, leaves [N, ...]
    is_first: jax.Array  # [N] bool: obs is the first observation of an episode


class CreditInputs(NamedTuple):
    """What the memory credit option needs from one rollout step (stacked: [T, N, ...])."""

    weights: jax.Array  # [N, S] float32 tier-mix weight of the short-term tier x attention
    span_start: jax.Array  # [N, S] int32 first step of each summary read at this step
    span_end: jax.Array  # [N, S] int32 one past its last step (half-open)
    episode_step: jax.Array  # [N] int32 the memory's episode step before this step


@struct.dataclass
class Transition:
    """One rollout step of all environments (leaves [N, ...]; stacked to [T, N, ...])."""

    obs: Any  # observation the action was taken from, leaves [N, ...]
    is_first: jax.Array  # [N] bool: obs starts an episode
    action: jax.Array  # [N] int32
    log_prob: jax.Array  # [N] float32 log-probability of the action at rollout time
    value: jax.Array  # [N] float32 value at rollout time
    reward: jax.Array  # [N] float32 env reward
    terminated: jax.Array  # [N] bool
    truncated: jax.Array  # [N] bool
    novelty: jax.Array  # [N] float32 memory novelty of the step (0 when not computed)
    credit: CreditInputs | tuple  # memory-credit inputs, or () when unused
    replay: Any  # the memory's replay_context (parallel replay) or () when unused
    stats: dict  # EpisodeStatsWrapper info subset, leaves [N, ...]


class Minibatch(NamedTuple):
    """The environments of one optimiser step (B = environments in the minibatch)."""

    initial_carry: Any  # memory state at the rollout's start, leaves [B, ...]
    traj: Transition  # the rollout of these environments, leaves [T, B, ...]
    advantages: jax.Array  # [T, B] float32 GAE advantages
    targets: jax.Array  # [T, B] float32 value targets


class LearnerState(NamedTuple):
    """What the epochs and minibatch steps of one update carry."""

    params: Any  # policy parameters (pytree of float32 arrays)
    opt_state: Any  # optax state of the optimiser
