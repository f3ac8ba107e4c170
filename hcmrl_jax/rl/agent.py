"""Agent assembly: the memory core and the policy a config describes, and their size.

:func:`make_core` builds the memory core of ``config.memory`` (HCMRL's ``HierarchicalMemory``,
whose ablations are configurations of it, or a baseline sized to HCMRL's parameter budget),
:func:`make_policy` the whole actor-critic for an env, :func:`bind_policy` checks a
user-built policy against the env, and :func:`apply_policy` runs it on N environments.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from hcmrl_jax.memory import MemoryCore
from hcmrl_jax.models.budget import count_params
from hcmrl_jax.models.cores import bind_observation
from hcmrl_jax.models.cores import make_core as models_make_core
from hcmrl_jax.models.encoder import observation_size, observation_spec
from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.rl.environment import make_env


def make_core(config: PPOConfig, observation_features: int = 0) -> MemoryCore:
    """The memory core of ``config.memory`` (:func:`hcmrl_jax.models.make_core`): HCMRL's
    ``HierarchicalMemory`` (its ablations are configurations of it) or a baseline sized to
    HCMRL's parameter budget.

    ``observation_features``: the flattened observation's width, for HCMRL's salience.
    """
    return models_make_core(config.memory, observation_features)


def make_policy(
    config: PPOConfig, observation_space: Any, num_actions: int, memory: MemoryCore | None = None
) -> MemoryAugmentedPolicy:
    """The policy of ``config`` for an env with this observation space and action count."""
    spec = observation_spec(observation_space)
    return MemoryAugmentedPolicy(
        state_dim=config.memory.embed_dim,
        action_dim=num_actions,
        memory=make_core(config, observation_size(spec)) if memory is None else memory,
        obs_spec=spec,
        head_hidden=config.head_hidden,
        id_embed_dim=config.id_embed_dim,
        conv_features=config.conv_features,
        compute_novelty=config.novelty_bonus,
        action_factors=config.action_factors,
    )


def bind_policy(
    config: PPOConfig, policy: MemoryAugmentedPolicy, observation_space: Any, num_actions: int
) -> MemoryAugmentedPolicy:
    """Checks a user-built policy against the env and fills in what the env decides.

    The env decides the observation spec and, for a HierarchicalMemory whose config scores
    salience on the observation, the width of the flattened observation
    (:func:`hcmrl_jax.models.bind_observation`). The policy's memory keeps its own settings:
    ``config.memory`` describes the agents the trainer builds, not a given one.

    Raises:
        ValueError: ``policy.action_dim`` differs from the env's number of actions.
    """
    if policy.action_dim != num_actions:
        raise ValueError(
            f"policy action_dim ({policy.action_dim}) does not match env {config.env_id!r}, "
            f"which has {num_actions} actions"
        )
    updates: dict[str, Any] = {}
    if policy.obs_spec is None:
        updates["obs_spec"] = observation_spec(observation_space)
    if config.novelty_bonus and not policy.compute_novelty:
        updates["compute_novelty"] = True
    spec = updates.get("obs_spec", policy.obs_spec)
    memory = bind_observation(policy.memory, observation_size(spec))
    if memory is not policy.memory:
        updates["memory"] = memory
    return policy.clone(**updates) if updates else policy


def apply_policy(
    policy: MemoryAugmentedPolicy, params: Any, carry: Any, obs: Any, is_first: jax.Array
) -> tuple[Any, jax.Array, jax.Array, dict]:
    """The policy step of N environments: ``policy.apply`` vmapped over the leading axis.

    Returns (carry leaves [N, ...], logits [N, A], value [N], aux leaves [N, ...]).
    """
    return jax.vmap(policy.apply, in_axes=(None, 0, 0, 0))(params, carry, obs, is_first)


def param_count(config: PPOConfig, acting_only: bool = True) -> int:
    """Parameters of the agent ``config`` builds for its env (counted from shapes only).

    Args:
        config: the configuration.
        acting_only: count only what the agent uses to act (encoder, memory, heads); False adds
            the training-only decoders (observation reconstruction, VAE decoder).
    """
    bundle = make_env(config)
    policy = make_policy(config, bundle.observation_space, bundle.num_actions)
    obs = jax.eval_shape(
        lambda key: bundle.env.reset(key, bundle.make_params(key))[0], jax.random.key(0)
    )
    obs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), obs)
    carry, first = policy.initial_carry(), jnp.bool_(True)
    shapes = jax.eval_shape(
        lambda key: policy.init(key, carry, obs, first, key, method="init_all"), jax.random.key(0)
    )
    return count_params(shapes["params"], acting_only=acting_only)
