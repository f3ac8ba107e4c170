"""The static setup of a training run, built once from the config and read by every stage.

:class:`TrainSetup` holds what the compiled run closes over and never changes while it runs:
the wrapped env, the policy bound to it, the optimiser, the device sharding and the switches
the config and the memory decide (VAE training, memory credit, novelty bonus, parallel replay).
Acting, replay, losses and the update are functions of it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import optax

from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl.agent import bind_policy, make_policy
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.rl.environment import EnvBundle, make_env
from hcmrl_jax.rl.sharding import EnvSharding


@dataclasses.dataclass(frozen=True)
class TrainSetup:
    """The static parts of a training run.

    Attributes:
        config: the run's configuration.
        env: the wrapped env with its params factory and reset-pool refresh.
        policy: the policy, bound to the env (observation spec, salience width).
        sharding: placement of the environment axis on the device mesh.
        optimizer: gradient clipping and Adam (the learning rate is applied by the update).
        use_vae: the memory compresses with a VAE that trains on rollout segments.
        segment_length: steps per VAE segment (0 without VAE training).
        use_credit: rewards move along the memory's attention (``credit="memory"``).
        use_novelty: the memory's novelty bonus is added to the reward.
        parallel_replay: the update replays rollouts in parallel over time, not step by step.
    """

    config: PPOConfig
    env: EnvBundle
    policy: MemoryAugmentedPolicy
    sharding: EnvSharding
    optimizer: optax.GradientTransformation
    use_vae: bool
    segment_length: int
    use_credit: bool
    use_novelty: bool
    parallel_replay: bool


def make_setup(
    config: PPOConfig,
    policy: MemoryAugmentedPolicy | None = None,
    env: Any | None = None,
    env_params: Any | None = None,
) -> TrainSetup:
    """Builds the env and the policy (or binds a given one) and derives the run's switches.

    Raises:
        ValueError: action-count mismatch, num_envs not divisible by the device count when
            sharding, a rollout shorter than the VAE's segment, memory credit with a memory
            that has no short-term tier.
    """
    bundle = make_env(config, env, env_params)
    if policy is None:
        policy = make_policy(config, bundle.observation_space, bundle.num_actions)
    else:
        policy = bind_policy(config, policy, bundle.observation_space, bundle.num_actions)
    sharding = EnvSharding(config)
    capabilities = policy.capabilities
    use_vae = capabilities.vae and config.vae_coef > 0
    segment_length = capabilities.vae_segment_length if use_vae else 0
    if use_vae and config.num_steps < segment_length:
        raise ValueError(
            f"PPOConfig.num_steps ({config.num_steps}) must be >= the memory's segment_length "
            f"({segment_length}) to train the VAE on rollout segments"
        )
    use_credit = config.credit == "memory"
    if use_credit and not capabilities.short_term:
        raise ValueError(
            f"PPOConfig.credit='memory' needs a memory with a short-term tier; "
            f"{type(policy.memory).__name__} has none"
        )
    # Flattened: the optimiser works on one vector instead of one array per parameter leaf,
    # which keeps the compiled program (and its compile time) small.
    optimizer = optax.flatten(
        optax.chain(
            optax.clip_by_global_norm(config.max_grad_norm),
            optax.scale_by_adam(eps=config.adam_eps),
        )
    )
    return TrainSetup(
        config=config,
        env=bundle,
        policy=policy,
        sharding=sharding,
        optimizer=optimizer,
        use_vae=use_vae,
        segment_length=segment_length,
        use_credit=use_credit,
        use_novelty=config.novelty_bonus,
        # HCMRL replays a rollout in parallel over time: its short- and long-term tiers carry
        # no gradient, so the replay reads them as recorded while acting and rebuilds only the
        # immediate tier (from the re-encoded observations, with gradient) — no scan. The MLP
        # and the window transformer (whose cache is rebuilt from the sequence) do the same.
        parallel_replay=config.parallel_replay and capabilities.parallel_replay,
    )
