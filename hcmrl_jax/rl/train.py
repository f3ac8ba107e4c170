"""PPO with a memory-augmented policy: the whole training run as one jittable function.

``train = make_train(config)`` returns ``train(key, hparams=None) -> (RunnerState, metrics)``:
a ``lax.scan`` over updates; each update (:func:`update`)

1. rolls the vectorised envs out for ``num_steps`` steps (:func:`acting.rollout`; the policy's
   memory step — reset on the first-step flag, read, write, compress / consolidate — runs
   inside);
2. optionally adds the memory's novelty bonus and moves reward along the memory's attention
   (``credit="memory"``), then computes GAE (:func:`compute_returns`);
3. runs ``update_epochs`` epochs of ``num_minibatches`` minibatches. Minibatches split
   environments, never time: each re-runs its environments' sequences from the memory state
   stored at the start of the rollout (:mod:`hcmrl_jax.rl.replay`) and takes one optimiser
   step on :func:`losses.minibatch_loss` (:func:`minibatch_step`);
4. reduces metrics to scalars inside the graph (:mod:`hcmrl_jax.rl.metrics`).

``make_train_chunks(config, updates_per_chunk)`` exposes the same update as
``init_fn(key) -> RunnerState`` and ``update_fn(RunnerState) -> (RunnerState, metrics)``;
:class:`RunnerState` holds everything needed to resume exactly. ``make_train`` is built from
the same two functions, so a chunked run and a one-shot run agree.

When several devices are visible (and ``config.shard_envs``), the environment axis of the
runner state and of the rollout is sharded over a 1-D device mesh
(:mod:`hcmrl_jax.rl.sharding`).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl import acting, exploration
from hcmrl_jax.rl import credit as credit_lib
from hcmrl_jax.rl.agent import apply_policy
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.rl.losses import minibatch_loss
from hcmrl_jax.rl.metrics import count_nonfinite, explained_variance, loss_metrics, reduce_metrics
from hcmrl_jax.rl.setup import TrainSetup, make_setup
from hcmrl_jax.rl.types import (
    ActingState,
    HyperParams,
    LearnerState,
    Minibatch,
    RunnerState,
    Transition,
    default_hparams,
)

#: Folded into the runner key to draw the worlds that refresh the reset pool (fold_in leaves
#: every other key stream of the run unchanged).
REFRESH_KEY_TAG = 0x5EED
#: Tag folded into the init key for the desynchronising steps (the other init keys unchanged).
DESYNC_KEY_TAG = 0xDE5C


class Returns(NamedTuple):
    """What the update learns from besides the trajectory ([T, N] float32 each)."""

    rewards: jax.Array  # reward after the novelty bonus and the credit option
    moved: jax.Array  # reward the credit option moved (zeros without it)
    advantages: jax.Array  # GAE advantages
    targets: jax.Array  # value targets


class Schedule(NamedTuple):
    """What changes over the run's updates ([] float32 each)."""

    lr: jax.Array  # learning rate (annealed if config.anneal_lr)
    ent_coef: jax.Array  # entropy coefficient (config.ent_schedule)


def _tree_index(tree: Any, index: int | jax.Array) -> Any:
    return jax.tree.map(lambda x: x[index], tree)


def init(setup: TrainSetup, key: jax.Array, hparams: HyperParams | None = None) -> RunnerState:
    """The run's start: env params (reset pool), reset envs, fresh memories and parameters."""
    config, policy, bundle = setup.config, setup.policy, setup.env
    hparams = default_hparams(config) if hparams is None else hparams
    key, key_pool, key_reset, key_params, key_vae = jax.random.split(key, 5)
    env_params = bundle.make_params(key_pool)
    state = acting.reset(policy, bundle.env, env_params, key_reset, config.num_envs)
    if config.desync_steps > 0:
        key_desync = jax.random.fold_in(key_reset, DESYNC_KEY_TAG)
        state = acting.desynchronize(
            bundle.env, env_params, state, key_desync, bundle.num_actions, config.desync_steps
        )
    params = policy.init(
        key_params,
        _tree_index(state.carry, 0),
        _tree_index(state.obs, 0),
        state.is_first[0],
        key_vae,
        method="init_all",
    )
    state = setup.sharding.constrain(state, 0)
    return RunnerState(
        params=params,
        opt_state=setup.optimizer.init(params),
        env_state=state.env_state,
        env_params=env_params,
        obs=state.obs,
        carry=state.carry,
        is_first=state.is_first,
        key=key,
        update_step=jnp.zeros((), jnp.int32),
        hparams=hparams,
    )


def compute_returns(
    setup: TrainSetup, hparams: HyperParams, traj: Transition, last_value: jax.Array
) -> Returns:
    """Shaped rewards (novelty bonus, memory credit) and their GAE advantages and targets.

    ``last_value`` [N] is the value of the observation after the rollout's last step.
    """
    rewards = traj.reward
    if setup.use_novelty:
        rewards = exploration.novelty_bonus(rewards, traj.novelty, hparams.novelty_coef)
    if setup.use_credit:
        rewards, moved = credit_lib.memory_credit(
            rewards,
            traj.credit.weights,
            traj.credit.span_start,
            traj.credit.span_end,
            traj.credit.episode_step,
            hparams.credit_fraction,
        )
    else:
        moved = jnp.zeros_like(rewards)
    advantages, targets = credit_lib.gae(
        rewards,
        traj.value,
        traj.terminated,
        traj.truncated,
        last_value,
        hparams.gamma,
        hparams.gae_lambda,
        bootstrap_truncated=setup.config.bootstrap_truncated,
    )
    return Returns(rewards, moved, advantages, targets)


def split_minibatches(setup: TrainSetup, batch: Minibatch, key: jax.Array) -> Minibatch:
    """The update's environments permuted and split into ``num_minibatches`` minibatches.

    Returns a :class:`Minibatch` with a leading minibatch axis: carry leaves [M, B, ...],
    trajectory leaves [M, T, B, ...] (B = ``config.minibatch_envs``).
    """
    config = setup.config
    perm = jax.random.permutation(key, config.num_envs)

    def split_envs(x: jax.Array, axis: int) -> jax.Array:
        x = jnp.take(x, perm, axis=axis)
        shape = x.shape[:axis] + (config.num_minibatches, config.minibatch_envs)
        return jnp.moveaxis(x.reshape(shape + x.shape[axis + 1 :]), axis, 0)

    return Minibatch(
        initial_carry=jax.tree.map(lambda x: split_envs(x, 0), batch.initial_carry),
        traj=jax.tree.map(lambda x: split_envs(x, 1), batch.traj),
        advantages=split_envs(batch.advantages, 1),
        targets=split_envs(batch.targets, 1),
    )


def minibatch_step(
    setup: TrainSetup,
    hparams: HyperParams,
    schedule: Schedule,
    learner: LearnerState,
    batch: Minibatch,
    key_vae: jax.Array,
) -> tuple[LearnerState, dict[str, jax.Array]]:
    """One optimiser step on one minibatch; returns the new learner state and its metrics."""
    sharding = setup.sharding
    batch = Minibatch(
        initial_carry=sharding.constrain(batch.initial_carry, 0),
        traj=sharding.constrain(batch.traj, 1),
        advantages=sharding.constrain(batch.advantages, 1),
        targets=sharding.constrain(batch.targets, 1),
    )
    grad_fn = jax.value_and_grad(functools.partial(minibatch_loss, setup), has_aux=True)
    (_, aux), grads = grad_fn(learner.params, hparams, schedule.ent_coef, batch, key_vae)
    updates, opt_state = setup.optimizer.update(grads, learner.opt_state, learner.params)
    updates = jax.tree.map(lambda u: -schedule.lr * u, updates)
    params = optax.apply_updates(learner.params, updates)
    return LearnerState(params, opt_state), loss_metrics(aux, grads)


def epoch(
    setup: TrainSetup,
    hparams: HyperParams,
    schedule: Schedule,
    batch: Minibatch,
    learner: LearnerState,
    key: jax.Array,
) -> tuple[LearnerState, dict[str, jax.Array]]:
    """One pass over the update's environments in ``num_minibatches`` minibatch steps.

    Returns the learner state after the pass and the steps' metrics ([M] float32 each).
    """
    key_perm, key_vae = jax.random.split(key)
    minibatches = split_minibatches(setup, batch, key_perm)
    keys_mb = jax.random.split(key_vae, setup.config.num_minibatches)

    def body(learner: LearnerState, inputs: tuple[Minibatch, jax.Array]):
        return minibatch_step(setup, hparams, schedule, learner, *inputs)

    return jax.lax.scan(body, learner, (minibatches, keys_mb))


def schedule_at(setup: TrainSetup, runner: RunnerState) -> Schedule:
    """The learning rate (annealed if ``config.anneal_lr``) and entropy coefficient of the
    runner's next update."""
    config, hp = setup.config, runner.hparams
    num_updates = config.num_updates
    progress = jnp.clip(runner.update_step / max(num_updates - 1, 1), 0.0, 1.0)
    lr = hp.lr * (
        jnp.clip(1.0 - runner.update_step / num_updates, 0.0, 1.0) if config.anneal_lr else 1.0
    )
    ent_coef = exploration.entropy_coefficient(
        config.ent_schedule, hp.ent_coef, hp.ent_coef_final, progress
    )
    return Schedule(lr, ent_coef)


def update(setup: TrainSetup, runner: RunnerState) -> tuple[RunnerState, dict[str, jax.Array]]:
    """One update: rollout, returns, epochs of minibatch steps, metrics, pool refresh.

    Returns the runner state after the update and its metrics ([] float32 each, see
    :data:`hcmrl_jax.rl.metrics.METRIC_KEYS`).
    """
    config, hp = setup.config, runner.hparams
    key, key_rollout, key_epochs = jax.random.split(runner.key, 3)
    schedule = schedule_at(setup, runner)
    start = ActingState(runner.env_state, runner.obs, runner.carry, runner.is_first)
    state, traj = acting.rollout(setup, runner.params, runner.env_params, start, key_rollout)
    _, _, last_value, _ = apply_policy(
        setup.policy, runner.params, state.carry, state.obs, state.is_first
    )
    shaped = compute_returns(setup, hp, traj, last_value)
    # The memory state at the rollout's start: each minibatch re-runs its sequences from here.
    batch = Minibatch(runner.carry, traj, shaped.advantages, shaped.targets)

    learner, losses = jax.lax.scan(
        lambda learner, key_epoch: epoch(setup, hp, schedule, batch, learner, key_epoch),
        LearnerState(runner.params, runner.opt_state),
        jax.random.split(key_epochs, config.update_epochs),
    )
    update_step = runner.update_step + 1
    metrics = reduce_metrics(traj, losses, shaped.moved, shaped.rewards)
    metrics.update(
        learning_rate=schedule.lr,
        ent_coef=schedule.ent_coef,
        update=update_step.astype(jnp.float32),
        env_steps=(update_step * config.steps_per_update).astype(jnp.float32),
        steps_per_update=jnp.float32(config.steps_per_update),
        explained_variance=explained_variance(traj.value, shaped.targets),
        # Divergence shows here, not as NaN losses that read like "nothing measured".
        nonfinite_loss=count_nonfinite(losses),
        nonfinite_params=count_nonfinite(learner.params),
    )
    env_params = runner.env_params
    if setup.env.refresh_params is not None:
        # Fresh worlds: regenerate part of the reset pool for the next update's resets.
        key_refresh = jax.random.fold_in(runner.key, REFRESH_KEY_TAG)
        env_params = setup.env.refresh_params(key_refresh, runner.env_params)
    new_runner = RunnerState(
        params=learner.params,
        opt_state=learner.opt_state,
        env_state=state.env_state,
        env_params=env_params,
        obs=state.obs,
        carry=state.carry,
        is_first=state.is_first,
        key=key,
        update_step=update_step,
        hparams=runner.hparams,
    )
    return new_runner, {k: jnp.asarray(v, jnp.float32) for k, v in metrics.items()}


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
        float32 arrays [updates_per_chunk] (see :data:`hcmrl_jax.rl.metrics.METRIC_KEYS`). Both
        are pure and un-jitted: wrap them in ``jax.jit`` (and ``jax.vmap`` for several seeds).

    Raises:
        ValueError: bad ``updates_per_chunk``, action-count mismatch, num_envs not divisible
            by the device count when sharding.
    """
    if not isinstance(updates_per_chunk, int) or updates_per_chunk < 1:
        raise ValueError(f"updates_per_chunk must be a positive integer, got {updates_per_chunk!r}")
    setup = make_setup(config, policy, env, env_params)

    def init_fn(key: jax.Array, hparams: HyperParams | None = None) -> RunnerState:
        return init(setup, key, hparams)

    def update_fn(runner_state: RunnerState) -> tuple[RunnerState, dict]:
        return jax.lax.scan(lambda rs, _: update(setup, rs), runner_state, None, updates_per_chunk)

    return init_fn, update_fn


def make_train(
    config: PPOConfig,
    *,
    policy: MemoryAugmentedPolicy | None = None,
    env: Any | None = None,
    env_params: Any | None = None,
) -> Callable[..., tuple[RunnerState, dict]]:
    """The whole run as one function ``train(key, hparams=None) -> (RunnerState, metrics)``.

    ``metrics`` is a dict of float32 arrays [config.num_updates] (see
    :data:`hcmrl_jax.rl.metrics.METRIC_KEYS`). ``jax.jit(train)`` compiles the run into one XLA
    program; ``jax.jit(jax.vmap(train))(keys)`` runs several seeds, and
    ``jax.vmap(train)(keys, stack_hparams([...]))`` sweeps hyperparameters too. Arguments as for
    :func:`make_train_chunks`.
    """
    setup = make_setup(config, policy, env, env_params)

    def train(key: jax.Array, hparams: HyperParams | None = None) -> tuple[RunnerState, dict]:
        runner_state = init(setup, key, hparams)
        return jax.lax.scan(lambda rs, _: update(setup, rs), runner_state, None, config.num_updates)

    return train
