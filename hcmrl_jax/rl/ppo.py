"""PPO with a memory-augmented policy: the whole training run as one jittable function.

``train = make_train(config)`` returns ``train(key, hparams=None) -> (RunnerState, metrics)``:
a ``lax.scan`` over updates; each update

1. rolls the vectorised envs out for ``num_steps`` steps (a ``lax.scan``; the policy's memory
   step — reset on the first-step flag, read, write, compress / consolidate — runs inside);
2. optionally adds the memory's novelty bonus and moves reward along the memory's attention
   (``credit="memory"``), then computes GAE;
3. runs ``update_epochs`` epochs of ``num_minibatches`` minibatches. Minibatches split
   environments, never time: each re-runs its environments' sequences from the memory state
   stored at the start of the rollout (truncated BPTT over the rollout, as in PureJaxRL's
   PPO-RNN) and takes one optimiser step on PPO + value + entropy + the memory's VAE loss (on
   rollout segments of the embeddings) + the encoder's self-supervised reconstruction loss.
   HCMRL's replay runs in parallel over time (``config.parallel_replay``): the short- and
   long-term tiers hold no gradient, so the rollout records what each step read there and the
   replay re-encodes the observations, rebuilds each step's immediate window from them (with
   gradient, resets masked) and reads all steps at once. The MLP and the window transformer
   replay in parallel too; the GRU re-runs its cell in a scan;
4. reduces metrics to scalars inside the graph.

``make_train_chunks(config, updates_per_chunk)`` exposes the same update as
``init_fn(key) -> RunnerState`` and ``update_fn(RunnerState) -> (RunnerState, metrics)``;
:class:`RunnerState` holds everything needed to resume exactly. ``make_train`` is built from
the same two functions, so a chunked run and a one-shot run agree.

When several devices are visible (and ``config.shard_envs``), the environment axis of the
runner state and of the rollout is sharded over a 1-D device mesh; XLA inserts the gradient
all-reduce, so the result equals a single-device run of the same global batch.
"""

from __future__ import annotations

import dataclasses
import functools
import warnings
from collections.abc import Callable
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import struct
from jax.sharding import Mesh, NamedSharding, PartitionSpec

import envs_jax
from hcmrl_jax.memory import HierarchicalMemory
from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore
from hcmrl_jax.models.budget import core_param_count, count_params, size_core
from hcmrl_jax.models.encoder import observation_size, observation_spec
from hcmrl_jax.models.policy import (
    MemoryAugmentedPolicy,
    memory_replays_in_parallel,
    memory_segment_length,
    memory_uses_vae,
)
from hcmrl_jax.rl import credit as credit_lib
from hcmrl_jax.rl import exploration
from hcmrl_jax.rl import losses as losses_lib
from hcmrl_jax.rl.config import HCMRL_KINDS, PPOConfig

#: Lag-bin suffixes of the per-update recall metrics (bins of envs_jax's EpisodeStatsWrapper).
LAG_BIN_KEYS: tuple[str, ...] = ("0_100", "100_1k", "1k_5k", "5k_inf")
#: Folded into the runner key to draw the worlds that refresh the reset pool (fold_in leaves
#: every other key stream of the run unchanged).
REFRESH_KEY_TAG = 0x5EED
#: Tag folded into the init key for the desynchronising steps (the other init keys unchanged).
DESYNC_KEY_TAG = 0xDE5C


# ---------------------------------------------------------------------------------------------
# State types
# ---------------------------------------------------------------------------------------------


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
    credit: Any  # memory-credit inputs (weights, spans, episode step) or () when unused
    replay: Any  # the memory's replay_context (parallel replay) or () when unused
    stats: dict  # EpisodeStatsWrapper info subset, leaves [N, ...]


# ---------------------------------------------------------------------------------------------
# Building the env and the agent
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EnvBundle:
    """A wrapped env ready for the trainer.

    Attributes:
        env: the env wrapped with EpisodeStatsWrapper (and PooledResetWrapper for benchmarks).
        make_params: key -> env params for the wrapped env (builds the reset pool).
        observation_space: the gymnax observation space of the raw env.
        num_actions: number of discrete actions.
        refresh_params: (key, env params) -> env params with part of the reset pool
            regenerated (fresh worlds every update); None for envs without a pool.
    """

    env: Any
    make_params: Callable[[jax.Array], Any]
    observation_space: Any
    num_actions: int
    refresh_params: Callable[[jax.Array, Any], Any] | None = None


def make_env(config: PPOConfig, env: Any | None = None, env_params: Any | None = None) -> EnvBundle:
    """Builds (or wraps a given) env: ``envs_jax.make(config.env_id, ...)`` by default.

    Benchmark envs (``envs_jax.MemoryEnv``) get a pooled reset of ``config.reset_pool_size``
    worlds generated from the run's key; every env gets ``EpisodeStatsWrapper``.

    Raises:
        ValueError: a non-discrete action space.
    """
    if env is None:
        env, default = envs_jax.make(
            config.env_id, privileged=config.privileged, **dict(config.env_overrides)
        )
        env_params = default if env_params is None else env_params
    elif env_params is None:
        env_params = env.default_params
    action_space = env.action_space(env_params)
    if not hasattr(action_space, "n"):
        raise ValueError(
            f"env {config.env_id!r}: the trainer needs a discrete action space, "
            f"got {action_space!r}"
        )
    observation_space = env.observation_space(env_params)
    base_params = env_params
    if isinstance(env, envs_jax.MemoryEnv) and config.reset_pool_size > 0:
        pooled = envs_jax.PooledResetWrapper(env, config.reset_pool_size)
        wrapped = envs_jax.EpisodeStatsWrapper(pooled)

        def make_params(key: jax.Array) -> Any:
            return pooled.with_pool(key, base_params)

        def refresh_params(key: jax.Array, params: Any) -> Any:
            return pooled.refresh(key, params, config.reset_refresh)

    else:
        wrapped = envs_jax.EpisodeStatsWrapper(env)

        def make_params(key: jax.Array) -> Any:
            del key
            return base_params

    if not isinstance(env, envs_jax.MemoryEnv) or config.reset_pool_size <= 0:
        refresh_params = None
    return EnvBundle(wrapped, make_params, observation_space, int(action_space.n), refresh_params)


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


# ---------------------------------------------------------------------------------------------
# Sharding
# ---------------------------------------------------------------------------------------------


class _EnvSharding:
    """Places the environment axis of arrays on a 1-D device mesh (identity without a mesh)."""

    def __init__(self, config: PPOConfig):
        devices = jax.devices()
        self.mesh = None
        if config.shard_envs and len(devices) > 1:
            if config.num_envs % len(devices):
                raise ValueError(
                    f"PPOConfig.num_envs ({config.num_envs}) must divide by the number of "
                    f"devices ({len(devices)}) to shard environments (or set shard_envs=False)"
                )
            self.mesh = Mesh(np.asarray(devices), ("env",))

    @property
    def num_shards(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    def constrain(self, tree: Any, axis: int) -> Any:
        """Shards every leaf of ``tree`` along ``axis`` (leaves too small are left alone)."""
        if self.mesh is None:
            return tree

        def place(x: jax.Array) -> jax.Array:
            if x.ndim <= axis or x.shape[axis] % self.num_shards:
                return x
            spec = PartitionSpec(*([None] * axis), "env")
            return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))

        return jax.tree.map(place, tree)


# ---------------------------------------------------------------------------------------------
# The training run
# ---------------------------------------------------------------------------------------------


def _tree_index(tree: Any, index: int | jax.Array) -> Any:
    return jax.tree.map(lambda x: x[index], tree)


def _masked_mean(values: jax.Array, mask: jax.Array) -> jax.Array:
    """Mean of ``values`` where ``mask``; NaN when the mask is empty (nothing to average)."""
    count = jnp.sum(mask)
    total = jnp.sum(jnp.where(mask, values, 0.0))
    return jnp.where(count > 0, total / jnp.maximum(count, 1), jnp.nan)


def _credit_inputs(carry: Any, is_first: jax.Array, info: Any) -> dict:
    """What the memory credit option needs from one rollout step (batched over envs).

    Returns weights [N, S] (tier-mix weight of the short-term tier x head-mean attention),
    span_start / span_end [N, S] int32 (half-open) of the summaries read at this step and
    episode_step [N] int32 (the memory's episode step counter before this step; 0 on a first
    step, where the episodic tiers are cleared before the read).
    """
    short = carry.short_term
    valid = jnp.logical_and(short.valid, jnp.logical_not(is_first)[:, None])
    attention = jnp.mean(info.short_term_weights, axis=1)  # [N, S]
    weights = jnp.where(valid, attention * info.tier_mix[:, 1:2], 0.0)
    episode_step = jnp.where(is_first, 0, carry.t).astype(jnp.int32)
    return {
        "weights": weights,
        "span_start": short.span_start.astype(jnp.int32),
        "span_end": short.span_end.astype(jnp.int32),
        "episode_step": episode_step,
    }


def _stats(info: dict) -> dict:
    keys = (
        "returned_episode",
        "returned_episode_returns",
        "returned_episode_lengths",
        "returned_episode_success",
        "returned_lag_counts",
        "returned_lag_successes",
    )
    return {k: info[k] for k in keys}


def make_train_chunks(
    config: PPOConfig,
    updates_per_chunk: int,
    *,
    policy: MemoryAugmentedPolicy | None = None,
    env: Any | None = None,
    env_params: Any | None = None,
) -> tuple[Callable[..., RunnerState], Callable[[RunnerState], tuple[RunnerState, dict]]]:
    """The run as ``init_fn`` and a chunk of ``updates_per_chunk`` updates.

    Args:
        config: the run's configuration.
        updates_per_chunk: updates per ``update_fn`` call (>= 1).
        policy: a prebuilt policy (default: built from ``config``); its ``action_dim`` must
            match the env's action count.
        env, env_params: a prebuilt gymnax env (default: ``envs_jax.make(config.env_id)``).

    Returns:
        ``init_fn(key, hparams=None) -> RunnerState`` and
        ``update_fn(runner_state) -> (runner_state, metrics)`` where metrics is a dict of
        float32 arrays [updates_per_chunk] (see :data:`METRIC_KEYS`). Both are pure and
        un-jitted: wrap them in ``jax.jit`` (and ``jax.vmap`` for several seeds).

    Raises:
        ValueError: bad ``updates_per_chunk``, action-count mismatch, num_envs not divisible
            by the device count when sharding.
    """
    if not isinstance(updates_per_chunk, int) or updates_per_chunk < 1:
        raise ValueError(f"updates_per_chunk must be a positive integer, got {updates_per_chunk!r}")
    parts = _build(config, policy, env, env_params)

    def update_fn(runner_state: RunnerState) -> tuple[RunnerState, dict]:
        return jax.lax.scan(lambda rs, _: parts.update(rs), runner_state, None, updates_per_chunk)

    return parts.init, update_fn


def make_train(
    config: PPOConfig,
    *,
    policy: MemoryAugmentedPolicy | None = None,
    env: Any | None = None,
    env_params: Any | None = None,
) -> Callable[..., tuple[RunnerState, dict]]:
    """The whole run as one function ``train(key, hparams=None) -> (RunnerState, metrics)``.

    ``metrics`` is a dict of float32 arrays [config.num_updates] (see :data:`METRIC_KEYS`).
    ``jax.jit(train)`` compiles the run into one XLA program; ``jax.jit(jax.vmap(train))(keys)``
    runs several seeds, and ``jax.vmap(train)(keys, stack_hparams([...]))`` sweeps
    hyperparameters too. Arguments as for :func:`make_train_chunks`.
    """
    parts = _build(config, policy, env, env_params)

    def train(key: jax.Array, hparams: HyperParams | None = None) -> tuple[RunnerState, dict]:
        runner_state = parts.init(key, hparams)
        return jax.lax.scan(lambda rs, _: parts.update(rs), runner_state, None, config.num_updates)

    return train


@dataclasses.dataclass(frozen=True)
class _Parts:
    init: Callable[..., RunnerState]
    update: Callable[[RunnerState], tuple[RunnerState, dict]]
    policy: MemoryAugmentedPolicy
    env: EnvBundle


def _build(
    config: PPOConfig,
    policy: MemoryAugmentedPolicy | None,
    env: Any | None,
    env_params: Any | None,
) -> _Parts:
    bundle = make_env(config, env, env_params)
    if policy is None:
        policy = make_policy(config, bundle.observation_space, bundle.num_actions)
    else:
        policy = bind_policy(config, policy, bundle.observation_space, bundle.num_actions)
    sharding = _EnvSharding(config)
    wrapped_env = bundle.env
    num_envs, num_steps = config.num_envs, config.num_steps
    num_minibatches, minibatch_envs = config.num_minibatches, config.minibatch_envs
    num_updates = config.num_updates
    use_vae = memory_uses_vae(policy.memory) and config.vae_coef > 0
    segment_length = memory_segment_length(policy.memory) if use_vae else 0
    if use_vae and num_steps < segment_length:
        raise ValueError(
            f"PPOConfig.num_steps ({num_steps}) must be >= the memory's segment_length "
            f"({segment_length}) to train the VAE on rollout segments"
        )
    use_credit = config.credit == "memory"
    use_novelty = config.novelty_bonus
    # HCMRL replays a rollout in parallel over time: its short- and long-term tiers carry no
    # gradient, so the replay reads them as recorded while acting and rebuilds only the
    # immediate tier (from the re-encoded observations, with gradient) — no scan. The MLP and
    # the window transformer (whose cache is rebuilt from the sequence) do the same.
    parallel_replay = config.parallel_replay and memory_replays_in_parallel(policy.memory)
    record_context = jax.vmap(policy.memory.replay_context) if parallel_replay else None
    # Flattened: the optimiser works on one vector instead of one array per parameter leaf,
    # which keeps the compiled program (and its compile time) small.
    tx = optax.flatten(
        optax.chain(
            optax.clip_by_global_norm(config.max_grad_norm),
            optax.scale_by_adam(eps=config.adam_eps),
        )
    )

    apply_batch = jax.vmap(policy.apply, in_axes=(None, 0, 0, 0))

    def replay_step(params, carry, obs, is_first):
        carry, logits, value, aux = apply_batch(params, carry, obs, is_first)
        return carry, logits, value, aux["embedding"]

    if config.remat:
        # Stores only each step's carry for the backward pass and recomputes the rest: less
        # memory for long rollouts, at the price of a second forward pass.
        replay_step = jax.checkpoint(replay_step)

    # -- init ----------------------------------------------------------------------------------

    def desynchronize(key: jax.Array, env_state: Any, obs: Any, env_params_run: Any):
        """Env i takes ``u_i ~ U{0, ..., desync_steps - 1}`` random-action steps (env only, no
        agent; auto-resets as usual), so fixed-length episodes end in different updates.

        Returns the env states and observations [num_envs, ...] after those steps.
        """
        key_offsets, key_steps = jax.random.split(key)
        offsets = jax.random.randint(key_offsets, (num_envs,), 0, config.desync_steps)

        def step(state, inputs):
            env_state, obs = state
            t, key_t = inputs
            key_action, key_env = jax.random.split(key_t)
            action = jax.random.randint(key_action, (num_envs,), 0, bundle.num_actions)
            next_obs, next_state, *_ = jax.vmap(wrapped_env.step, in_axes=(0, 0, 0, None))(
                jax.random.split(key_env, num_envs), env_state, action, env_params_run
            )
            moves = t < offsets

            def select(new, old):
                return jnp.where(moves.reshape(moves.shape + (1,) * (new.ndim - 1)), new, old)

            return jax.tree.map(select, (next_state, next_obs), (env_state, obs)), None

        steps = (jnp.arange(config.desync_steps), jax.random.split(key_steps, config.desync_steps))
        (env_state, obs), _ = jax.lax.scan(step, (env_state, obs), steps)
        return env_state, obs

    def init(key: jax.Array, hparams: HyperParams | None = None) -> RunnerState:
        hparams = default_hparams(config) if hparams is None else hparams
        key, key_pool, key_reset, key_params, key_vae = jax.random.split(key, 5)
        env_params_run = bundle.make_params(key_pool)
        obs, env_state = jax.vmap(wrapped_env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, num_envs), env_params_run
        )
        if config.desync_steps > 0:
            key_desync = jax.random.fold_in(key_reset, DESYNC_KEY_TAG)
            env_state, obs = desynchronize(key_desync, env_state, obs, env_params_run)
        carry = policy.initial_carry((num_envs,))
        is_first = jnp.ones((num_envs,), jnp.bool_)
        params = policy.init(
            key_params,
            _tree_index(carry, 0),
            _tree_index(obs, 0),
            is_first[0],
            key_vae,
            method="init_all",
        )
        env_state, obs, carry, is_first = sharding.constrain((env_state, obs, carry, is_first), 0)
        return RunnerState(
            params=params,
            opt_state=tx.init(params),
            env_state=env_state,
            env_params=env_params_run,
            obs=obs,
            carry=carry,
            is_first=is_first,
            key=key,
            update_step=jnp.zeros((), jnp.int32),
            hparams=hparams,
        )

    # -- rollout -------------------------------------------------------------------------------

    def rollout(runner: RunnerState, key: jax.Array):
        params, env_params_run = runner.params, runner.env_params

        def env_step(state, key_t):
            env_state, obs, carry, is_first = state
            key_action, key_env = jax.random.split(key_t)
            new_carry, logits, value, aux = apply_batch(params, carry, obs, is_first)
            action = jax.random.categorical(key_action, logits).astype(jnp.int32)
            log_prob = losses_lib.log_prob(logits, action)
            credit_in = _credit_inputs(carry, is_first, aux["memory_info"]) if use_credit else ()
            replay_in = record_context(carry, is_first) if parallel_replay else ()
            next_obs, env_state, reward, terminated, truncated, info = jax.vmap(
                wrapped_env.step, in_axes=(0, 0, 0, None)
            )(jax.random.split(key_env, num_envs), env_state, action, env_params_run)
            transition = Transition(
                obs=obs,
                is_first=is_first,
                action=action,
                log_prob=log_prob,
                value=value,
                reward=reward.astype(jnp.float32),
                terminated=terminated,
                truncated=truncated,
                novelty=aux["novelty"],
                credit=credit_in,
                replay=replay_in,
                stats=_stats(info),
            )
            done = jnp.logical_or(terminated, truncated)
            state = sharding.constrain((env_state, next_obs, new_carry, done), 0)
            return state, transition

        state = (runner.env_state, runner.obs, runner.carry, runner.is_first)
        state, traj = jax.lax.scan(env_step, state, jax.random.split(key, num_steps))
        return state, sharding.constrain(traj, 1)

    # -- loss ----------------------------------------------------------------------------------

    def over_steps_and_envs(fn: Callable) -> Callable:
        """A per-(step, env) function mapped over leading [T, N] axes."""
        return jax.vmap(jax.vmap(fn))

    def replay_in_parallel(params, init_carry, traj):
        """Logits [T, N, A], values [T, N], embeddings [T, N, D] without a scan."""
        embeddings = over_steps_and_envs(lambda o: policy.apply(params, o, method="embed"))(
            traj.obs
        )
        readouts = jax.vmap(
            lambda c, e, f, ctx: policy.apply(params, c, e, f, ctx, method="replay_reads"),
            in_axes=(0, 1, 1, 1),
            out_axes=1,
        )(init_carry, embeddings, traj.is_first, traj.replay)
        logits, values = over_steps_and_envs(
            lambda e, r, o: policy.apply(params, e, r, o, method="heads")
        )(embeddings, readouts, traj.obs)
        return logits, values, embeddings

    def replay_in_sequence(params, init_carry, traj):
        """The same by re-running the policy step by step from ``init_carry``."""

        def replay(carry, step):
            obs, is_first = step
            carry, logits, value, embedding = replay_step(params, carry, obs, is_first)
            return carry, (logits, value, embedding)

        _, outputs = jax.lax.scan(replay, init_carry, (traj.obs, traj.is_first))
        return outputs

    def loss_fn(params, hparams: HyperParams, ent_coef, batch, key_vae):
        init_carry, traj, advantages, targets = batch
        replay_fn = replay_in_parallel if parallel_replay else replay_in_sequence
        logits, values, embeddings = replay_fn(params, init_carry, traj)
        new_log_prob = losses_lib.log_prob(logits, traj.action)
        if config.normalize_advantages:
            advantages = losses_lib.normalize(advantages)
        terms = losses_lib.ppo_loss(
            new_log_prob,
            traj.log_prob,
            advantages,
            values,
            traj.value,
            targets,
            losses_lib.entropy(logits),
            hparams.clip_eps,
            hparams.vf_coef,
            ent_coef,
            clip_value=config.clip_value,
        )
        recon = jax.vmap(
            jax.vmap(lambda e, o: policy.apply(params, e, o, method="reconstruction_loss"))
        )(embeddings, traj.obs)
        aux_loss = jnp.mean(recon)
        if use_vae:
            # The VAE compresses what the embeddings hold; it does not shape them.
            seq = jnp.swapaxes(jax.lax.stop_gradient(embeddings), 0, 1)  # [Nmb, T, D]
            usable = (num_steps // segment_length) * segment_length
            segments = seq[:, :usable].reshape(-1, segment_length, seq.shape[-1])
            vae_loss, _ = policy.apply(params, segments, key_vae, method="vae_loss")
        else:
            vae_loss = jnp.zeros((), jnp.float32)
        total = terms.total + hparams.vae_coef * vae_loss + hparams.aux_coef * aux_loss
        return total, (terms, vae_loss, aux_loss)

    grad_fn = jax.value_and_grad(loss_fn, has_aux=True)

    # -- update --------------------------------------------------------------------------------

    def update(runner: RunnerState) -> tuple[RunnerState, dict]:
        hp = runner.hparams
        key, key_rollout, key_epochs = jax.random.split(runner.key, 3)
        progress = jnp.clip(runner.update_step / max(num_updates - 1, 1), 0.0, 1.0)
        lr = hp.lr * (
            jnp.clip(1.0 - runner.update_step / num_updates, 0.0, 1.0) if config.anneal_lr else 1.0
        )
        ent_coef = exploration.entropy_coefficient(
            config.ent_schedule, hp.ent_coef, hp.ent_coef_final, progress
        )

        initial_carry = runner.carry  # memory state at the rollout start: the re-run starts here
        (env_state, obs, carry, is_first), traj = rollout(runner, key_rollout)
        _, _, last_value, _ = apply_batch(runner.params, carry, obs, is_first)

        rewards = traj.reward
        if use_novelty:
            rewards = exploration.novelty_bonus(rewards, traj.novelty, hp.novelty_coef)
        if use_credit:
            rewards, moved = credit_lib.memory_credit(
                rewards,
                traj.credit["weights"],
                traj.credit["span_start"],
                traj.credit["span_end"],
                traj.credit["episode_step"],
                hp.credit_fraction,
            )
        else:
            moved = jnp.zeros_like(rewards)
        advantages, targets = credit_lib.gae(
            rewards,
            traj.value,
            traj.terminated,
            traj.truncated,
            last_value,
            hp.gamma,
            hp.gae_lambda,
            bootstrap_truncated=config.bootstrap_truncated,
        )

        def epoch(state, key_epoch):
            key_perm, key_vae = jax.random.split(key_epoch)
            perm = jax.random.permutation(key_perm, num_envs)

            def split_envs(x: jax.Array, axis: int) -> jax.Array:
                x = jnp.take(x, perm, axis=axis)
                shape = x.shape[:axis] + (num_minibatches, minibatch_envs) + x.shape[axis + 1 :]
                return jnp.moveaxis(x.reshape(shape), axis, 0)

            minibatches = (
                jax.tree.map(lambda x: split_envs(x, 0), initial_carry),
                jax.tree.map(lambda x: split_envs(x, 1), traj),
                split_envs(advantages, 1),
                split_envs(targets, 1),
            )

            def minibatch_step(state, inputs):
                params, opt_state = state
                batch, key_mb = inputs
                batch = (
                    sharding.constrain(batch[0], 0),
                    sharding.constrain(batch[1], 1),
                    sharding.constrain(batch[2], 1),
                    sharding.constrain(batch[3], 1),
                )
                (_, (terms, vae_loss, aux_loss)), grads = grad_fn(
                    params, hp, ent_coef, batch, key_mb
                )
                updates, opt_state = tx.update(grads, opt_state, params)
                updates = jax.tree.map(lambda u: -lr * u, updates)
                params = optax.apply_updates(params, updates)
                out = {
                    "loss_total": terms.total,
                    "loss_policy": terms.policy,
                    "loss_value": terms.value,
                    "entropy": terms.entropy,
                    "approx_kl": terms.approx_kl,
                    "clip_fraction": terms.clip_fraction,
                    "ratio_error": terms.ratio_error,
                    "loss_vae": vae_loss,
                    "loss_aux": aux_loss,
                    "grad_norm": optax.tree.norm(grads),
                }
                return (params, opt_state), out

            keys_mb = jax.random.split(key_vae, num_minibatches)
            return jax.lax.scan(minibatch_step, state, (minibatches, keys_mb))

        (params, opt_state), losses = jax.lax.scan(
            epoch,
            (runner.params, runner.opt_state),
            jax.random.split(key_epochs, config.update_epochs),
        )
        update_step = runner.update_step + 1
        metrics = _reduce_metrics(traj, losses, moved, rewards)
        metrics.update(
            learning_rate=lr,
            ent_coef=ent_coef,
            update=update_step.astype(jnp.float32),
            env_steps=(update_step * config.steps_per_update).astype(jnp.float32),
            steps_per_update=jnp.float32(config.steps_per_update),
            explained_variance=_explained_variance(traj.value, targets),
            # Divergence shows here, not as NaN losses that read like "nothing measured".
            nonfinite_loss=_count_nonfinite(losses),
            nonfinite_params=_count_nonfinite(params),
        )
        env_params_next = runner.env_params
        if bundle.refresh_params is not None:
            # Fresh worlds: regenerate part of the reset pool for the next update's resets.
            key_refresh = jax.random.fold_in(runner.key, REFRESH_KEY_TAG)
            env_params_next = bundle.refresh_params(key_refresh, runner.env_params)
        new_runner = RunnerState(
            params=params,
            opt_state=opt_state,
            env_state=env_state,
            env_params=env_params_next,
            obs=obs,
            carry=carry,
            is_first=is_first,
            key=key,
            update_step=update_step,
            hparams=runner.hparams,
        )
        return new_runner, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}

    return _Parts(init=init, update=update, policy=policy, env=bundle)


def _count_nonfinite(tree: Any) -> jax.Array:
    """How many entries of a pytree's floating-point leaves are inf or NaN (float32 scalar)."""
    counts = [
        jnp.sum(~jnp.isfinite(leaf)).astype(jnp.float32)
        for leaf in jax.tree.leaves(tree)
        if jnp.issubdtype(leaf.dtype, jnp.inexact)
    ]
    return sum(counts, jnp.float32(0))


def _explained_variance(values: jax.Array, targets: jax.Array) -> jax.Array:
    """1 - Var(targets - values) / Var(targets): how much of the return the critic explains."""
    var = jnp.var(targets)
    return jnp.where(var > 0, 1.0 - jnp.var(targets - values) / jnp.maximum(var, 1e-12), jnp.nan)


def _reduce_metrics(traj: Transition, losses: dict, moved: jax.Array, rewards: jax.Array) -> dict:
    stats = traj.stats
    finished = stats["returned_episode"]
    metrics = {
        "episode_return": _masked_mean(stats["returned_episode_returns"], finished),
        "episode_length": _masked_mean(
            stats["returned_episode_lengths"].astype(jnp.float32), finished
        ),
        "success": _masked_mean(stats["returned_episode_success"], finished),
        "episodes": jnp.sum(finished).astype(jnp.float32),
        "reward": jnp.mean(traj.reward),
        "novelty": jnp.mean(traj.novelty),
        "credit_moved": jnp.mean(jnp.abs(moved)),
        "shaped_reward": jnp.mean(rewards),
    }
    counts = jnp.sum(jnp.where(finished[..., None], stats["returned_lag_counts"], 0), axis=(0, 1))
    hits = jnp.sum(jnp.where(finished[..., None], stats["returned_lag_successes"], 0), axis=(0, 1))
    for i, name in enumerate(LAG_BIN_KEYS):
        metrics[f"recall_lag_{name}"] = jnp.where(
            counts[i] > 0, hits[i] / jnp.maximum(counts[i], 1), jnp.nan
        )
        metrics[f"decisions_lag_{name}"] = counts[i].astype(jnp.float32)
    for name, value in losses.items():
        if name == "ratio_error":
            # First minibatch of the first epoch: parameters are still the rollout's, so the
            # ratio must be exactly 1 (any error means the re-run does not reproduce the rollout).
            metrics["ratio_error_first_minibatch"] = value[0, 0]
        else:
            metrics[name] = jnp.mean(value)
    return metrics


#: Keys of the per-update metrics dict (float32; NaN where nothing was measured, e.g. no
#: episode finished during the update or no memory decision fell in a lag bin).
METRIC_KEYS: tuple[str, ...] = (
    "episode_return",
    "episode_length",
    "success",
    "episodes",
    "reward",
    "novelty",
    "credit_moved",
    "shaped_reward",
    *(f"recall_lag_{n}" for n in LAG_BIN_KEYS),
    *(f"decisions_lag_{n}" for n in LAG_BIN_KEYS),
    "loss_total",
    "loss_policy",
    "loss_value",
    "entropy",
    "approx_kl",
    "clip_fraction",
    "loss_vae",
    "loss_aux",
    "grad_norm",
    "ratio_error_first_minibatch",
    "learning_rate",
    "ent_coef",
    "update",
    "env_steps",
    "steps_per_update",
    "explained_variance",
    "nonfinite_loss",
    "nonfinite_params",
)


# ---------------------------------------------------------------------------------------------
# User-facing trainer
# ---------------------------------------------------------------------------------------------


class PPOTrainer:
    """PPO on a memory-augmented policy: ``PPOTrainer(policy, memory, env=..., config=...)``.

    Example::

        memory = HierarchicalMemory(immediate_size=32, short_term_size=16, long_term_size=8)
        policy = MemoryAugmentedPolicy(state_dim=64, action_dim=2, memory=memory)
        trainer = PPOTrainer(policy, memory, env="MemoryChain-bsuite", config=PPOConfig())
        runner_state, metrics = trainer.train(num_steps=1_048_576)  # 128 updates of 64 x 128

    Args:
        policy: a :class:`MemoryAugmentedPolicy`; its ``action_dim`` must match the env.
        memory: the memory module the policy reads (must be ``policy.memory``; kept in the
            signature of the original design for readability).
        env: an env id for ``envs_jax.make``, a gymnax env, or an ``(env, env_params)`` pair;
            default ``config.env_id``.
        config: the :class:`PPOConfig` (its agent-size fields are ignored: the policy given
            here defines the agent).
        seed: default seed of :meth:`train`.

    Raises:
        ValueError: ``memory`` is not the policy's memory, or the action counts differ.
    """

    def __init__(
        self,
        policy: MemoryAugmentedPolicy,
        memory: nn.Module | None = None,
        env: Any = None,
        config: PPOConfig | None = None,
        seed: int = 0,
    ):
        config = PPOConfig() if config is None else config
        if memory is not None and memory is not policy.memory:
            raise ValueError("PPOTrainer: `memory` must be the module passed to the policy")
        env_obj, env_params = None, None
        if isinstance(env, str):
            config = dataclasses.replace(config, env_id=env)
        elif isinstance(env, tuple):
            env_obj, env_params = env
        elif env is not None:
            env_obj = env
        self.config = config
        self.seed = seed
        self._env, self._env_params = env_obj, env_params
        bundle = make_env(config, env_obj, env_params)
        self.policy = bind_policy(config, policy, bundle.observation_space, bundle.num_actions)
        self.memory = self.policy.memory

    def make_train(self, num_steps: int | None = None) -> Callable[..., tuple[RunnerState, dict]]:
        """The un-jitted ``train(key, hparams=None)`` for ``num_steps`` env steps."""
        config = self.config
        if num_steps is not None:
            config = dataclasses.replace(config, total_timesteps=int(num_steps))
            trained = config.num_updates * config.steps_per_update
            if trained != int(num_steps):
                warnings.warn(
                    f"PPOTrainer.train: num_steps={int(num_steps):,} is not a multiple of "
                    f"num_envs x num_steps = {config.steps_per_update:,}; training "
                    f"{trained:,} env steps ({config.num_updates} updates)",
                    stacklevel=3,
                )
        return make_train(config, policy=self.policy, env=self._env, env_params=self._env_params)

    def train(
        self,
        num_steps: int | None = None,
        key: jax.Array | None = None,
        compiler_options: dict[str, Any] | None = None,
    ) -> tuple[RunnerState, dict]:
        """Trains for ``num_steps`` env steps (default: ``config.total_timesteps``).

        The run is whole updates of ``num_envs x num_steps`` env steps: a ``num_steps`` that is
        not a multiple is rounded down, with a ``UserWarning`` naming both numbers.

        Args:
            num_steps: environment steps to train for.
            key: PRNG key (default: ``jax.random.key(seed)``).
            compiler_options: XLA options for the compile, e.g.
                ``{"xla_backend_optimization_level": 0}`` trades run speed for a faster compile.

        Returns:
            (final RunnerState, metrics dict of numpy float32 arrays [num_updates]).
        """
        key = jax.random.key(self.seed) if key is None else key
        compiled = jax.jit(self.make_train(num_steps)).lower(key).compile(compiler_options)
        runner_state, metrics = compiled(key)
        return runner_state, {k: np.asarray(v) for k, v in metrics.items()}


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
