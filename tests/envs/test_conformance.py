"""The contract every registered env meets, one parametrized run per env id.

gymnax conformity (spaces, wrappers, the six-value step, the info contract), clipping of
out-of-range actions, determinism in the key, auto-reset, the privileged twin, pooled episode
statistics, params validation and clear errors for misshapen input. The checks live in
:mod:`tests.envs.conformance`; this module runs them on a small configuration of each env
(:mod:`tests.envs.configs`), with the sizes below. The env-specific tests stay in the per-env
modules.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import envs_jax
from tests.envs import configs, conformance

#: Every env the registry builds itself: the four benchmarks and the recall probe.
ENV_IDS = (*envs_jax.BENCHMARK_IDS, envs_jax.PROBE_ID)


@dataclasses.dataclass(frozen=True)
class Pooled:
    """The pooled-statistics run of an env and what its finished episodes must show."""

    episode_length: int  # max_steps_in_episode of the run (it lasts two episodes and a step)
    num_envs: int = 4
    overrides: dict | None = None  # the env's configuration for this run (None: the case's)
    filled_bins: tuple[int, ...] = ()  # lag bins that must count decisions
    exact_length: int | None = None  # every finished episode lasts exactly this many steps
    decisions_per_episode: int | None = None  # every finished episode holds this many


@dataclasses.dataclass(frozen=True)
class Case:
    """How the conformance checks run on one env (sizes chosen to keep each compile small)."""

    overrides: dict  # envs_jax.make overrides of the small configuration
    rollout: tuple[int, int] = (4, 32)  # (num_envs, num_steps) of the spaces-and-wrappers check
    out_of_range_steps: int = 8
    determinism_steps: int = 16
    auto_reset_length: int = 6
    #: Params replaced for the out-of-range and auto-reset checks; auto-reset runs once per entry.
    out_of_range_params: dict = dataclasses.field(default_factory=dict)
    auto_reset_params: tuple[dict, ...] = ({},)
    pooled: Pooled = Pooled(episode_length=6)


CASES: dict[str, Case] = {
    # The rollout has check_determinism's shapes, so it compiles once for both.
    "crafting": Case(
        overrides={**configs.CRAFTING, **configs.CRAFTING_PEACEFUL, **configs.CRAFTING_FLAT},
        rollout=(2, 8),
        out_of_range_steps=2,
        determinism_steps=8,
        auto_reset_length=4,
        pooled=Pooled(episode_length=6, num_envs=3),
    ),
    "navigation": Case(
        overrides=configs.NAVIGATION,
        # Random actions reach targets often in the tiny building.
        pooled=Pooled(
            episode_length=40, num_envs=8, overrides=configs.NAVIGATION_TINY, filled_bins=(0,)
        ),
    ),
    "games": Case(
        overrides=configs.GAMES,
        rollout=(4, 40),
        out_of_range_steps=4,
        # Lags of 20 .. 150 steps fill the first two bins.
        pooled=Pooled(episode_length=configs.GAMES["episode_length"], filled_bins=(0, 1)),
    ),
    "story": Case(
        overrides=configs.STORY,
        auto_reset_length=12,
        # Random authors write (and contradict) plenty: the bins count their decisions.
        pooled=Pooled(episode_length=60, filled_bins=(0,)),
    ),
    "recall": Case(
        overrides=configs.RECALL,
        rollout=(4, 2 * configs.RECALL_LAG + 5),
        out_of_range_steps=5,
        out_of_range_params={"lag": 3},
        # Truncated before the query, and terminated at it.
        auto_reset_params=({}, {"lag": 3}),
        # One decision per episode, at the query.
        pooled=Pooled(
            episode_length=configs.RECALL_LAG + 5,
            filled_bins=(0,),
            exact_length=configs.RECALL_LAG + 1,
            decisions_per_episode=1,
        ),
    ),
}


def test_every_registered_env_has_a_case():
    assert set(CASES) == set(ENV_IDS)
    assert envs_jax.registered_envs[: len(ENV_IDS)] == list(ENV_IDS)


@pytest.fixture(scope="module", params=ENV_IDS)
def built(request) -> tuple[str, Case, Any, Any]:
    """``(env_id, case, env, params)``: the env in its small configuration."""
    case = CASES[request.param]
    env, params = envs_jax.make(request.param, **case.overrides)
    return request.param, case, env, params


def test_spaces_and_gymnax_wrappers(built):
    _, case, env, params = built
    num_envs, num_steps = case.rollout
    conformance.check_spaces_and_wrappers(env, params, num_envs=num_envs, num_steps=num_steps)


def test_out_of_range_actions_are_clipped(built):
    _, case, env, params = built
    params = params.replace(**case.out_of_range_params)
    conformance.check_out_of_range_actions(env, params, steps=case.out_of_range_steps)


def test_determinism(built):
    _, case, env, params = built
    conformance.check_determinism(env, params, num_steps=case.determinism_steps)


def test_auto_reset(built):
    _, case, env, params = built
    for replaced in case.auto_reset_params:
        conformance.check_auto_reset(
            env, params.replace(**replaced), episode_length=case.auto_reset_length
        )


def test_privileged_twin(built):
    env_id, case, *_ = built
    conformance.check_privileged_twin(env_id, **case.overrides)


def test_pooled_reset_and_episode_stats(built):
    env_id, case, env, params = built
    pooled = case.pooled
    if pooled.overrides is not None:
        env, params = envs_jax.make(env_id, **pooled.overrides)
    info = conformance.check_pooled_stats(
        env, params, episode_length=pooled.episode_length, num_envs=pooled.num_envs
    )
    done = np.asarray(info["returned_episode"])
    counts = np.asarray(info["returned_lag_counts"])[done]
    for lag_bin in pooled.filled_bins:
        assert counts[:, lag_bin].sum() > 0, f"no decision counted in lag bin {lag_bin}"
    if pooled.exact_length is not None:
        lengths = np.asarray(info["returned_episode_lengths"])[done]
        np.testing.assert_array_equal(lengths, pooled.exact_length)
    if pooled.decisions_per_episode is not None:
        assert len(counts) and np.all(counts.sum(axis=1) == pooled.decisions_per_episode)


# ------------------------------------------------------------------------------------------
# Bad input: every EnvParams field validated in make, one clear error for a misshapen action


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_every_params_field_has_a_rule_and_the_defaults_pass(env_id):
    env, params = envs_jax.make(env_id)
    fields = {field.name for field in dataclasses.fields(params)}
    assert fields == set(env.param_rules), fields ^ set(env.param_rules)
    assert env.validate_params(params) is params
    # A field without a rule is refused rather than silently unchecked.
    rules = dict(env.param_rules)
    rules.pop("max_steps_in_episode")
    env.param_rules = rules  # instance attribute: the class keeps its rules
    with pytest.raises(ValueError, match="max_steps_in_episode has no validation rule"):
        env.validate_params(params)


@pytest.mark.parametrize(
    "env_id, overrides, field",
    [
        ("crafting", dict(day_length=0), "day_length"),
        ("crafting", dict(max_steps_in_episode=-10), "max_steps_in_episode"),
        ("crafting", dict(order_item_weights=(0, 0, 0, 0, 0, 0)), "order_item_weights"),
        ("crafting", dict(cow_spawn_prob=float("nan")), "cow_spawn_prob"),
        ("crafting", dict(spawn_min_distance=9), "spawn_radius"),
        ("navigation", dict(recall_slack=-1), "recall_slack"),
        ("navigation", dict(stale_min_steps=1.5), "stale_min_steps"),
        ("story", dict(chapter_len=-1), "chapter_len"),
        ("story", dict(anywhere_prob=3), "anywhere_prob"),
        ("games", dict(lag_min=jnp.int32(50), lag_max=jnp.int32(10)), "lag_max"),
        ("games", dict(match_same_prob=jnp.float32(1.5)), "match_same_prob"),
        ("games", dict(item_gap_max=True), "item_gap_max"),
    ],
)
def test_make_rejects_bad_params_naming_the_field(env_id, overrides, field):
    with pytest.raises(ValueError, match=f"\\.{field} must"):
        envs_jax.make(env_id, **overrides)


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_privileged_must_be_a_bool(env_id):
    with pytest.raises(ValueError, match="privileged must be True or False"):
        envs_jax.make(env_id, privileged="yes")


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_misshapen_action_raises_naming_the_expected_shape(env_id):
    env, params = envs_jax.make(env_id)
    key = jax.random.PRNGKey(0)
    _, state = jax.eval_shape(env.reset, key, params)  # traced only, nothing compiled
    last = env.num_actions - 1
    for action in (jnp.zeros((4,), jnp.int32), jnp.zeros((2, 3), jnp.int32)):
        with pytest.raises(ValueError, match=rf"one integer in \[0, {last}\] \(shape \(\)\)"):
            jax.eval_shape(env.step, key, state, action, params)
    # A scalar traces fine.
    jax.eval_shape(env.step, key, state, jnp.int32(0), params)
