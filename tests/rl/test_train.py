"""End-to-end training runs on a short memory task (gymnax MemoryChain-bsuite).

Compiled runs are shared through module-scoped fixtures (each compile costs tens of seconds on
CPU); each test then checks one property of them:

* HCMRL (with the memory credit option and the novelty bonus on) learns the memory task; the
  memoryless MLP of the same parameter budget cannot.
* The probability ratio is exactly 1 on the first minibatch of the first epoch of every update
  (the replay from the stored memory state reproduces the rollout, resets included) for the GRU
  and for HCMRL replaying step by step; HCMRL's default parallel replay (all steps' reads at
  once) reproduces it up to float rounding of the reordered sums (|ratio - 1| < 1e-5, where a
  misaligned reset moves it by orders of magnitude more).
* ``jax.vmap`` over seeds (and hyperparameters) equals separate runs, which in turn equal the
  chunked API's runs.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.memory import HierarchicalMemory
from hcmrl_jax.models.policy import MemoryAugmentedPolicy
from hcmrl_jax.rl import (
    METRIC_KEYS,
    PPOConfig,
    PPOTrainer,
    default_hparams,
    make_train,
    make_train_chunks,
    stack_hparams,
)
from tests.rl.helpers import SMALL_AGENT, of_kind

MEMORY_LENGTH = 4  # the cue is shown at step 0 and must be recalled at step 4
NUM_UPDATES = 30
CONFIG = PPOConfig(
    **SMALL_AGENT,
    env_overrides={"memory_length": MEMORY_LENGTH},
    num_envs=16,
    num_steps=16,
    total_timesteps=16 * 16 * NUM_UPDATES,
)
TAIL = 5  # updates averaged for the final return


def final_return(metrics, axis=-1):
    return float(np.mean(np.take(np.asarray(metrics["episode_return"]), range(-TAIL, 0), axis)))


# The HCMRL run also switches on the memory credit option, the novelty bonus and a recurrent
# working state, so that one compiled program covers them: they must neither break learning nor
# the replay's alignment.
HCMRL_CONFIG = dataclasses.replace(
    CONFIG,
    credit="memory",
    credit_fraction=0.2,
    novelty_bonus=True,
    novelty_coef=0.01,
    memory=dataclasses.replace(CONFIG.memory, working_size=8),
)


@pytest.fixture(scope="module")
def hcmrl_run():
    memory = HierarchicalMemory(config=HCMRL_CONFIG.memory)
    policy = MemoryAugmentedPolicy(state_dim=CONFIG.memory.embed_dim, action_dim=2, memory=memory)
    trainer = PPOTrainer(policy, memory, env="MemoryChain-bsuite", config=HCMRL_CONFIG, seed=0)
    assert trainer.policy.compute_novelty  # the trainer switched it on for the bonus
    # The trainer's compiler_options reach XLA (the suite's flags already ask for the same).
    options = {"xla_backend_optimization_level": 0}
    return trainer.train(num_steps=CONFIG.total_timesteps, compiler_options=options)


@pytest.fixture(scope="module")
def hcmrl_stepwise_run():
    config = dataclasses.replace(CONFIG, parallel_replay=False, total_timesteps=16 * 16 * 4)
    key = jax.random.key(0)
    return jax.jit(make_train(config))(key)


@pytest.fixture(scope="module")
def gru_run():
    config = of_kind(CONFIG, "gru", total_timesteps=16 * 16 * 4)
    key = jax.random.key(0)
    return jax.jit(make_train(config))(key)


MLP_CONFIG = of_kind(CONFIG, "mlp")
MLP_KEYS = jax.random.split(jax.random.key(1), 2)
MLP_HPARAMS = [
    default_hparams(MLP_CONFIG),
    default_hparams(MLP_CONFIG).replace(ent_coef=jnp.float32(0.03)),
]


@pytest.fixture(scope="module")
def mlp_vmapped():
    hparams = stack_hparams(MLP_HPARAMS)
    return jax.jit(jax.vmap(make_train(MLP_CONFIG)))(MLP_KEYS, hparams)


@pytest.fixture(scope="module")
def mlp_chunked():
    init_fn, update_fn = make_train_chunks(MLP_CONFIG, NUM_UPDATES // 2)
    init_fn = jax.jit(init_fn)
    update_fn = jax.jit(update_fn)
    runs = []
    for key, hparams in zip(MLP_KEYS, MLP_HPARAMS, strict=True):
        state = init_fn(key, hparams)
        state, first = update_fn(state)
        state, second = update_fn(state)
        metrics = {k: np.concatenate([first[k], second[k]]) for k in first}
        runs.append((state, metrics))
    return runs


def test_hcmrl_learns_the_memory_task(hcmrl_run):
    _, metrics = hcmrl_run
    assert set(METRIC_KEYS) <= set(metrics)
    assert all(v.shape == (NUM_UPDATES,) for v in metrics.values())
    assert final_return(metrics) > 0.8, metrics["episode_return"]
    assert np.all(np.isfinite(metrics["loss_vae"])) and metrics["loss_vae"][-1] > 0
    assert metrics["loss_aux"][-1] < metrics["loss_aux"][0]  # the reconstruction is learned
    # The bonus and the credit option were active: novelty was measured and reward was moved.
    assert np.all(metrics["novelty"] > 0) and np.all(metrics["credit_moved"] >= 0)
    assert np.any(metrics["credit_moved"] > 0)
    np.testing.assert_allclose(
        metrics["shaped_reward"], metrics["reward"] + 0.01 * metrics["novelty"], rtol=1e-4
    )


def test_memoryless_baseline_cannot_learn_it(mlp_vmapped):
    _, metrics = mlp_vmapped
    for seed in range(2):
        assert abs(final_return({k: v[seed] for k, v in metrics.items()})) < 0.3


# Largest |ratio - 1| on the first minibatch: exactly 0 for step-by-step replays.
RATIO_TOLERANCE = {"hcmrl_run": 1e-5, "hcmrl_stepwise_run": 0.0, "gru_run": 0.0}


@pytest.mark.parametrize("run", list(RATIO_TOLERANCE))
def test_ratio_is_one_on_first_minibatch_across_episode_boundaries(run, request):
    state, metrics = request.getfixturevalue(run)
    # Episodes of MEMORY_LENGTH + 1 = 5 steps in rollouts of 16 steps: every rollout has resets
    # in the middle, and most rollouts start mid-episode (16 * k is rarely a multiple of 5), so
    # the replay starts from a non-empty memory.
    episode_length = MEMORY_LENGTH + 1
    assert CONFIG.num_steps > episode_length and CONFIG.num_steps % episode_length != 0
    assert np.all(np.asarray(metrics["episodes"]) > 0)
    np.testing.assert_allclose(np.asarray(metrics["episode_length"]), episode_length)
    assert int(state.update_step) == len(metrics["episodes"])
    ratio_error = np.asarray(metrics["ratio_error_first_minibatch"])
    assert np.all(ratio_error <= RATIO_TOLERANCE[run]), ratio_error
    assert np.all(np.asarray(metrics["approx_kl"]) >= -1e-6)


#: How far a vmapped run may drift from the same run alone, as the norm of the parameters'
#: difference over the norm of the parameters: batched and unbatched programs sum in different
#: orders (which differ between CPUs), and training carries the difference on.
PARAMS_RTOL = 1e-3


def params_distance(a, b) -> float:
    """||a - b|| / ||a|| over all the leaves of two parameter trees."""
    a = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(a)]).astype(np.float64)
    b = np.concatenate([np.ravel(leaf) for leaf in jax.tree.leaves(b)]).astype(np.float64)
    return float(np.linalg.norm(a - b) / np.linalg.norm(a))


def test_vmap_over_seeds_and_hparams_equals_separate_chunked_runs(mlp_vmapped, mlp_chunked):
    state_v, metrics_v = mlp_vmapped
    for seed, (state, metrics) in enumerate(mlp_chunked):
        for key in ("episode_return", "loss_total", "entropy", "ent_coef", "approx_kl"):
            np.testing.assert_allclose(
                metrics[key], np.asarray(metrics_v[key])[seed], rtol=1e-3, atol=1e-4, err_msg=key
            )
        params_v = jax.tree.map(lambda x, s=seed: x[s], state_v.params)
        assert params_distance(state.params, params_v) < PARAMS_RTOL
        assert int(state.update_step) == NUM_UPDATES
    # Two different runs are far further apart than the tolerance.
    (state_0, _), (state_1, _) = mlp_chunked[:2]
    assert params_distance(state_0.params, state_1.params) > 100 * PARAMS_RTOL
    # The two hyperparameter sets really were different runs.
    np.testing.assert_allclose(np.asarray(metrics_v["ent_coef"])[:, 0], [0.01, 0.03], rtol=1e-6)


@pytest.mark.parametrize("memory", ["hcmrl_immediate", "hcmrl_meanpool", "transformer"])
def test_ablations_and_transformer_replay_in_parallel(memory):
    """The parallel replay also serves the ablations whose recorded tiers differ (none besides
    the immediate one, or mean-pool summaries as wide as the embedding) and the window
    transformer (its cache rebuilt from the sequence)."""
    config = of_kind(CONFIG, memory, num_envs=4, num_minibatches=1, total_timesteps=4 * 16 * 2)
    key = jax.random.key(2)
    state, metrics = jax.jit(make_train(config))(key)
    assert int(state.update_step) == 2
    assert np.all(np.asarray(metrics["ratio_error_first_minibatch"]) <= 1e-5)
    assert np.all(np.isfinite(np.asarray(metrics["loss_total"])))
