"""Agent assembly: the memory core and the policy a config describes, and their size.

:func:`make_memory` builds HCMRL's ``HierarchicalMemory`` (its ablations are configurations of
it), :func:`make_core` any memory kind (baselines sized to HCMRL's parameter budget),
:func:`make_policy` the whole actor-critic for an env, :func:`bind_policy` checks a
user-built policy against the env, and :func:`apply_policy` runs it on N environments.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from hcmrl_jax.memory import HierarchicalMemory
from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore
from hcmrl_jax.models.budget import core_param_count, count_params, size_core
from hcmrl_jax.models.encoder import observation_size, observation_spec
from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl.config import HCMRL_KINDS, PPOConfig
from hcmrl_jax.rl.environment import make_env


def make_memory(config: PPOConfig, observation_features: int = 0) -> nn.Module:
    """The HierarchicalMemory for an ``hcmrl*`` kind (the ablations are its configurations).

    ``observation_features`` is the flattened observation's width: with
    ``config.salience == "observation"`` the memory scores salience on it (0: on embeddings).
    """
    kind = config.memory if config.memory in HCMRL_KINDS else "hcmrl"
    return HierarchicalMemory(
        immediate_size=config.immediate_size,
        short_term_size=config.short_term_size,
        long_term_size=config.long_term_size,
        embed_dim=config.state_dim,
        latent_dim=config.latent_dim,
        segment_length=config.segment_length,
        num_heads=config.num_heads,
        summary="mean" if kind == "hcmrl_meanpool" else "vae",
        use_short_term=kind != "hcmrl_immediate",
        use_long_term=kind not in ("hcmrl_immediate", "hcmrl_no_longterm"),
        adaptive_compression=kind != "hcmrl_fixed",
        long_term_persists=config.long_term_persists,
        key_steps=kind != "hcmrl_no_keys",
        salience_prior=config.salience_prior,
        key_inputs=config.key_inputs,
        salience_features=observation_features if config.salience == "observation" else 0,
    )


def hcmrl_memory_param_count(config: PPOConfig) -> int:
    """Parameters HCMRL's memory uses to act (its ``step``) at this config's sizes."""
    return _acting_param_count(make_memory(dataclasses.replace(config, memory="hcmrl")))


@functools.lru_cache(maxsize=64)
def _acting_param_count(memory: nn.Module) -> int:
    """Cached per memory configuration (linen modules hash and compare by their fields)."""
    return core_param_count(memory, memory.embed_dim)


def make_core(config: PPOConfig, observation_features: int = 0) -> nn.Module:
    """The memory module of ``config.memory``: HierarchicalMemory or a baseline core.

    ``observation_features``: the flattened observation's width, for HCMRL's salience.

    With ``config.match_param_budget``, a baseline's width (MLP hidden units, GRU units,
    transformer feed-forward width) is chosen so its parameter count is closest to the
    parameters HCMRL's memory uses to act at the same sizes; the encoder and heads are the
    same for every kind, so whole agents then differ by a few percent.
    """
    d = config.state_dim
    if config.memory in HCMRL_KINDS:
        return make_memory(config, observation_features)
    factories: dict[str, Callable[[int], nn.Module]] = {
        "mlp": lambda w: MLPCore(embed_dim=d, hidden=w),
        "gru": lambda w: GRUCore(embed_dim=d, hidden=w),
        "transformer": lambda w: WindowTransformerCore(
            embed_dim=d,
            window=config.transformer_window,
            num_layers=config.transformer_layers,
            num_heads=config.num_heads,
            ff_dim=w,
        ),
    }
    factory = factories[config.memory]
    if not config.match_param_budget:
        return factory(config.baseline_width)
    core, _ = size_core(factory, hcmrl_memory_param_count(config), d)
    return core


def make_policy(
    config: PPOConfig, observation_space: Any, num_actions: int, memory: nn.Module | None = None
) -> MemoryAugmentedPolicy:
    """The policy of ``config`` for an env with this observation space and action count."""
    spec = observation_spec(observation_space)
    return MemoryAugmentedPolicy(
        state_dim=config.state_dim,
        action_dim=num_actions,
        memory=make_core(config, observation_size(spec)) if memory is None else memory,
        obs_spec=spec,
        head_hidden=config.head_hidden,
        id_embed_dim=config.id_embed_dim,
        conv_features=config.conv_features,
        compute_novelty=config.novelty_bonus,
    )


def bind_policy(
    config: PPOConfig, policy: MemoryAugmentedPolicy, observation_space: Any, num_actions: int
) -> MemoryAugmentedPolicy:
    """Checks a user-built policy against the env and fills in what the env decides.

    The env decides the observation spec and, for a HierarchicalMemory with key steps that
    scores salience on embeddings while ``config.salience == "observation"``, the width of
    the flattened observation it then scores instead.

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
    memory = policy.memory
    if (
        config.salience == "observation"
        and getattr(memory, "key_steps", False)
        and getattr(memory, "salience_features", None) == 0
    ):
        spec = updates.get("obs_spec", policy.obs_spec)
        updates["memory"] = memory.clone(salience_features=observation_size(spec))
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
