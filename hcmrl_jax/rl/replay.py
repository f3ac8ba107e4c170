"""Replaying a rollout for the update: the policy's outputs again, now with gradient.

Recurrent memory is trained like PureJaxRL's PPO-RNN: the update re-runs each environment's
sequence from the memory state stored at the rollout's start (truncated BPTT over the
rollout). HCMRL, the MLP and the window transformer replay in parallel over time
(:func:`replay_in_parallel`); the GRU re-runs its cell step by step (:func:`replay_in_sequence`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax

from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl.agent import apply_policy
from hcmrl_jax.rl.setup import TrainSetup
from hcmrl_jax.rl.types import Transition


class Replayed(NamedTuple):
    """The policy's outputs over a replayed rollout (B = environments replayed)."""

    logits: jax.Array  # [T, B, A] float32
    values: jax.Array  # [T, B] float32
    embeddings: jax.Array  # [T, B, D] float32 the encoder's step embeddings


def _over_steps_and_envs(fn: Callable) -> Callable:
    """A per-(step, env) function mapped over leading [T, B] axes."""
    return jax.vmap(jax.vmap(fn))


def replay_in_parallel(
    policy: MemoryAugmentedPolicy, params: Any, initial_carry: Any, traj: Transition
) -> Replayed:
    """All steps at once: re-encode, read every step from the recorded context, heads.

    Needs ``traj.replay``, the memory's ``replay_context`` recorded while acting.
    """
    embeddings = _over_steps_and_envs(lambda o: policy.apply(params, o, method="embed"))(traj.obs)
    readouts = jax.vmap(
        lambda c, e, f, ctx: policy.apply(params, c, e, f, ctx, method="replay_reads"),
        in_axes=(0, 1, 1, 1),
        out_axes=1,
    )(initial_carry, embeddings, traj.is_first, traj.replay)
    logits, values = _over_steps_and_envs(
        lambda e, r, o: policy.apply(params, e, r, o, method="heads")
    )(embeddings, readouts, traj.obs)
    return Replayed(logits, values, embeddings)


def replay_in_sequence(
    policy: MemoryAugmentedPolicy,
    params: Any,
    initial_carry: Any,
    traj: Transition,
    remat: bool = False,
) -> Replayed:
    """The same by re-running the policy step by step from ``initial_carry``.

    ``remat`` stores only each step's carry for the backward pass and recomputes the rest:
    less memory for long rollouts, at the price of a second forward pass.
    """

    def policy_step(params, carry, obs, is_first):
        carry, logits, value, aux = apply_policy(policy, params, carry, obs, is_first)
        return carry, logits, value, aux["embedding"]

    if remat:
        policy_step = jax.checkpoint(policy_step)

    def body(carry, inputs):
        obs, is_first = inputs
        carry, logits, value, embedding = policy_step(params, carry, obs, is_first)
        return carry, Replayed(logits, value, embedding)

    _, outputs = jax.lax.scan(body, initial_carry, (traj.obs, traj.is_first))
    return outputs


def replay(setup: TrainSetup, params: Any, initial_carry: Any, traj: Transition) -> Replayed:
    """The rollout replayed the way the setup chose (in parallel or step by step)."""
    if setup.parallel_replay:
        return replay_in_parallel(setup.policy, params, initial_carry, traj)
    return replay_in_sequence(setup.policy, params, initial_carry, traj, setup.config.remat)
