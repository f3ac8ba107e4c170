"""PPO loss, GAE, memory credit and exploration schedules against hand-computed numbers."""

import math

import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.models.policy import MASKED_LOGIT
from hcmrl_jax.rl import credit, exploration, losses


def test_ppo_loss_matches_hand_computation():
    new_logp = jnp.log(jnp.array([0.5, 0.3]))
    old_logp = jnp.log(jnp.array([0.4, 0.3]))  # ratios 1.25 and 1.0
    terms = losses.ppo_loss(
        new_logp,
        old_logp,
        advantages=jnp.array([1.0, -2.0]),
        new_value=jnp.array([1.0, 0.0]),
        old_value=jnp.array([0.5, 0.5]),
        returns=jnp.array([2.0, 1.0]),
        entropies=jnp.array([0.5, 0.7]),
        clip_eps=0.2,
        vf_coef=0.5,
        ent_coef=0.01,
    )
    # policy: -mean(min(1.25 * 1, 1.2 * 1), min(1 * -2, 1 * -2)) = -mean(1.2, -2) = 0.4
    np.testing.assert_allclose(terms.policy, 0.4, rtol=1e-6)
    # value: clipped predictions 0.7 and 0.3 -> max((1-2)^2, (0.7-2)^2)=1.69, max(1, 0.49)=1
    np.testing.assert_allclose(terms.value, 0.5 * (1.69 + 1.0) / 2, rtol=1e-6)
    np.testing.assert_allclose(terms.entropy, 0.6, rtol=1e-6)
    np.testing.assert_allclose(terms.total, 0.4 + 0.5 * 0.6725 - 0.01 * 0.6, rtol=1e-6)
    np.testing.assert_allclose(terms.approx_kl, (0.25 - math.log(1.25)) / 2, rtol=1e-5)
    np.testing.assert_allclose(terms.clip_fraction, 0.5)
    np.testing.assert_allclose(terms.ratio_error, 0.25, rtol=1e-6)


def test_ppo_loss_without_value_clipping():
    terms = losses.ppo_loss(
        jnp.zeros(2),
        jnp.zeros(2),
        advantages=jnp.array([1.0, -1.0]),
        new_value=jnp.array([1.0, 0.0]),
        old_value=jnp.array([0.5, 0.5]),
        returns=jnp.array([2.0, 1.0]),
        entropies=jnp.zeros(2),
        clip_eps=0.2,
        vf_coef=1.0,
        ent_coef=0.0,
        clip_value=False,
    )
    np.testing.assert_allclose(terms.value, 0.5 * (1.0 + 1.0) / 2)
    np.testing.assert_allclose(terms.policy, 0.0, atol=1e-7)
    assert float(terms.ratio_error) == 0.0


def test_masked_log_prob_and_entropy():
    logits = jnp.array([0.0, 0.0, MASKED_LOGIT])
    np.testing.assert_allclose(losses.entropy(logits), math.log(2.0), rtol=1e-6)
    np.testing.assert_allclose(losses.log_prob(logits, jnp.array(1)), math.log(0.5), rtol=1e-6)
    assert float(losses.log_prob(logits, jnp.array(2))) < -1e8
    assert np.isfinite(float(losses.entropy(jnp.full((3,), MASKED_LOGIT))))


# GAE: rewards [1, 0, 2], values [0.5, 0.4, 0.3], last value 0.2, gamma 0.9, lambda 0.8.
_R = jnp.array([[1.0], [0.0], [2.0]])
_V = jnp.array([[0.5], [0.4], [0.3]])
_LAST = jnp.array([0.2])
_NONE = jnp.zeros((3, 1), bool)
_AT_1 = jnp.array([[False], [True], [False]])


@pytest.mark.parametrize(
    ("terminated", "truncated", "bootstrap", "expected"),
    [
        # d2 = 2 + .9*.2 - .3 = 1.88; d1 = .9*.3 - .4 = -.13; A1 = -.13 + .72*1.88 = 1.2236;
        # d0 = 1 + .9*.4 - .5 = .86; A0 = .86 + .72*1.2236 = 1.740992
        (_NONE, _NONE, True, [1.740992, 1.2236, 1.88]),
        # terminal at 1: A1 = -.4, A0 = .86 + .72*(-.4) = .572
        (_AT_1, _NONE, True, [0.572, -0.4, 1.88]),
        # truncated at 1, bootstrapped with v1: A1 = .9*.4 - .4 = -.04; A0 = .86 - .72*.04
        (_NONE, _AT_1, True, [0.8312, -0.04, 1.88]),
        # truncated without bootstrap: as terminal
        (_NONE, _AT_1, False, [0.572, -0.4, 1.88]),
    ],
)
def test_gae_matches_hand_computation(terminated, truncated, bootstrap, expected):
    adv, ret = credit.gae(_R, _V, terminated, truncated, _LAST, 0.9, 0.8, bootstrap)
    np.testing.assert_allclose(adv[:, 0], expected, rtol=1e-5)
    np.testing.assert_allclose(ret, adv + _V, rtol=1e-6)


def test_memory_credit_matches_hand_computation():
    # One env, T = 4, two summaries; the episode started 5 steps before the rollout.
    rewards = jnp.array([[0.0], [0.0], [0.0], [10.0]])
    episode_step = jnp.array([[5], [6], [7], [8]])
    weights = jnp.zeros((4, 1, 2)).at[3, 0].set(jnp.array([0.5, 0.25]))
    # At t = 3: summary 0 spans episode steps [3, 6) (rollout -2..0: only index 0 is inside);
    # summary 1 spans [5, 7) (rollout 0..1). Other rows point at the future, which is clipped.
    span_start = jnp.zeros((4, 1, 2), jnp.int32).at[3, 0].set(jnp.array([3, 5]))
    span_end = jnp.full((4, 1, 2), 100, jnp.int32).at[3, 0].set(jnp.array([6, 7]))
    new, moved = credit.memory_credit(rewards, weights, span_start, span_end, episode_step, 0.4)
    s0 = 0.4 * 10 * 0.5 / 3  # per step of summary 0 (span length 3), one step in the rollout
    s1 = 0.4 * 10 * 0.25 / 2  # per step of summary 1
    np.testing.assert_allclose(new[:, 0], [s0 + s1, s1, 0.0, 10 - s0 - 2 * s1], atol=1e-6)
    np.testing.assert_allclose(moved[:, 0], [0, 0, 0, s0 + 2 * s1], rtol=1e-5)
    np.testing.assert_allclose(jnp.sum(new), 10.0, rtol=1e-6)  # reward is conserved


def test_memory_credit_zero_fraction_is_identity_and_no_future_credit():
    rewards = jnp.array([[1.0, 2.0], [3.0, -1.0], [0.5, 4.0]])
    episode_step = jnp.array([[0, 3], [1, 4], [2, 5]])
    weights = jnp.full((3, 2, 1), 0.9)
    span_start = jnp.zeros((3, 2, 1), jnp.int32)
    span_end = jnp.full((3, 2, 1), 50, jnp.int32)  # spans reaching into the future
    same, _ = credit.memory_credit(rewards, weights, span_start, span_end, episode_step, 0.0)
    np.testing.assert_allclose(same, rewards)
    moved_rewards, moved = credit.memory_credit(
        rewards, weights, span_start, span_end, episode_step, 1.0
    )
    np.testing.assert_allclose(jnp.sum(moved_rewards, 0), jnp.sum(rewards, 0), rtol=1e-6)
    assert float(moved[0, 0]) == 0.0  # the first step has no past to credit


def test_entropy_schedules():
    half = jnp.float32(0.5)
    assert float(exploration.entropy_coefficient("constant", 0.1, 0.0, half)) == pytest.approx(0.1)
    assert float(exploration.entropy_coefficient("linear", 0.1, 0.0, half)) == pytest.approx(0.05)
    cosine = [float(exploration.entropy_coefficient("cosine", 0.1, 0.0, p)) for p in (0, 0.5, 1)]
    np.testing.assert_allclose(cosine, [0.1, 0.05, 0.0], atol=1e-7)
    with pytest.raises(ValueError, match="unknown"):
        exploration.entropy_coefficient("step", 0.1, 0.0, half)


def test_novelty_bonus_adds_scaled_novelty():
    out = exploration.novelty_bonus(jnp.ones((2, 3)), jnp.full((2, 3), 2.0), 0.25)
    np.testing.assert_allclose(out, 1.5)
