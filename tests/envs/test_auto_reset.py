"""The auto-reset inside every benchmark's ``step``: gymnax's semantics, worlds generated only
for the environments that finished, under no vmap, one vmap and nested vmaps.

``MemoryEnv.step`` must give exactly what gymnax's own ``Environment.step`` gives (same keys,
same outputs: a finished environment's next state is ``reset_env`` of its reset key), whatever
number of environments finish at once. The unit tests use a toy env whose world is a function
of its key, the benchmark tests compare against gymnax's step on small configs.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import chex
import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
from flax import struct
from gymnax.environments import environment

import envs_jax
from envs_jax.core import reset_sizes, reset_where_done
from tests.envs import configs


@struct.dataclass
class ToyState:
    world: jax.Array  # [3] uint32, a function of the reset key
    time: jax.Array


class Toy:
    """A stand-in env: ``reset_env`` derives the world from the key and the params."""

    def reset_env(self, key: jax.Array, params: Any) -> tuple[jax.Array, ToyState]:
        world = jax.random.bits(key, (3,)) + params
        return world[0], ToyState(world=world, time=jnp.zeros((), jnp.int32))


def _old(num: int) -> tuple[jax.Array, ToyState]:
    obs = jnp.full((num,), 7, jnp.uint32)
    return obs, ToyState(world=jnp.full((num, 3), 9, jnp.uint32), time=jnp.arange(num) + 1)


def _expected(keys, done, params, obs, state):
    """The reference: every env's fresh world (params broadcast to one per env), kept where
    ``done``."""
    params = jnp.broadcast_to(params, done.shape)
    fresh = jax.vmap(Toy().reset_env)(keys, params)
    done = np.asarray(done)
    return jax.tree.map(
        lambda new, old: np.where(done.reshape((-1,) + (1,) * (old.ndim - 1)), new, old),
        fresh,
        (obs, state),
    )


def test_reset_sizes():
    assert reset_sizes(1) == (1,)
    assert reset_sizes(8) == (1, 8)
    assert reset_sizes(12) == (1, 8, 12)
    assert reset_sizes(64) == (1, 8, 64)
    assert reset_sizes(1000) == (1, 8, 64, 512, 1000)


@pytest.mark.parametrize("num_done", [0, 1, 3, 8, 9, 20])
def test_vmapped_reset_gives_each_finished_env_the_world_of_its_own_key(num_done):
    num = 20  # sizes 1, 8, 20: every branch is taken by some num_done
    keys = jax.random.split(jax.random.PRNGKey(num_done), num)
    done = jnp.asarray(np.random.default_rng(num_done).permutation(num) < num_done)
    obs, state = _old(num)
    params = jnp.uint32(5)
    out = jax.jit(jax.vmap(partial_reset, in_axes=(0, 0, None, 0, 0)))(
        keys, done, params, obs, state
    )
    chex.assert_trees_all_equal(out, _expected(keys, done, params, obs, state))


def partial_reset(key, done, params, obs, state):
    return reset_where_done(Toy(), key, done, params, obs, state)


def test_unbatched_reset_is_a_cond_with_gymnax_semantics():
    key = jax.random.PRNGKey(3)
    obs, state = jax.tree.map(lambda leaf: leaf[0], _old(1))
    fresh = Toy().reset_env(key, jnp.uint32(1))
    for done in (False, True):
        out = jax.jit(partial_reset)(key, jnp.bool_(done), jnp.uint32(1), obs, state)
        chex.assert_trees_all_equal(out, fresh if done else (obs, state))


def test_nested_vmap_and_per_env_params():
    seeds, num = 3, 5
    keys = jax.random.split(jax.random.PRNGKey(0), seeds * num)
    done = jnp.asarray(np.random.default_rng(0).random(seeds * num) < 0.5)
    obs, state = _old(seeds * num)
    nest = partial(jax.tree.map, lambda leaf: leaf.reshape((seeds, num, *leaf.shape[1:])))
    # Params one per environment.
    params = jnp.arange(seeds * num, dtype=jnp.uint32)
    out = jax.jit(jax.vmap(jax.vmap(partial_reset)))(*nest((keys, done, params, obs, state)))
    chex.assert_trees_all_equal(out, nest(_expected(keys, done, params, obs, state)))
    # Params shared by the environments of a seed, one per seed.
    shared = jnp.arange(seeds, dtype=jnp.uint32)
    inner = jax.vmap(partial_reset, in_axes=(0, 0, None, 0, 0))
    out = jax.jit(jax.vmap(inner))(*nest((keys, done, obs, state))[:2], shared, *nest((obs, state)))
    want = _expected(keys, done, jnp.repeat(shared, num), obs, state)
    chex.assert_trees_all_equal(out, nest(want))
    # Unbatched keys (one key for all): every finished env gets the same world.
    out = jax.jit(jax.vmap(partial_reset, in_axes=(None, 0, None, 0, 0)))(
        keys[0], done, jnp.uint32(2), obs, state
    )
    chex.assert_trees_all_equal(
        out, _expected(jnp.broadcast_to(keys[0], keys.shape), done, jnp.uint32(2), obs, state)
    )


# -- the benchmarks against gymnax's own step ---------------------------------------------------

#: Small configs with short episodes, so that several environments finish within a few steps.
BENCHMARKS = {
    env_id: dict(configs.SMALL[env_id], max_steps_in_episode=4) for env_id in envs_jax.BENCHMARK_IDS
}
SEEDS, NUM_ENVS, NUM_STEPS = 2, 9, 4  # sizes 1, 8, 9


@pytest.mark.parametrize("env_id", list(BENCHMARKS))
def test_benchmark_step_matches_gymnax_step_under_nested_vmap(env_id):
    env, params = envs_jax.make(env_id, **BENCHMARKS[env_id])
    num_actions = env.action_space(params).n

    def gymnax_step(key, state, action, params):
        return environment.Environment.step(env, key, state, action, params)

    def rollout(step, key):
        """Nested vmap (seeds x envs); episodes staggered so 0 to all envs finish per step."""
        keys = jax.random.split(key, SEEDS * NUM_ENVS).reshape(SEEDS, NUM_ENVS, -1)
        obs, state = jax.vmap(jax.vmap(env.reset, in_axes=(0, None)), in_axes=(0, None))(
            keys, params
        )
        offsets = (jnp.arange(SEEDS * NUM_ENVS) * 7 % 5).reshape(SEEDS, NUM_ENVS)
        state = state.replace(time=jnp.minimum(offsets, 3).astype(state.time.dtype))

        def body(state, key_t):
            key_act, key_step = jax.random.split(key_t)
            actions = jax.random.randint(key_act, (SEEDS, NUM_ENVS), 0, num_actions)
            keys = jax.random.split(key_step, SEEDS * NUM_ENVS).reshape(SEEDS, NUM_ENVS, -1)
            out = jax.vmap(jax.vmap(step, in_axes=(0, 0, 0, None)), in_axes=(0, 0, 0, None))(
                keys, state, actions, params
            )
            return out[1], out

        return jax.lax.scan(body, state, jax.random.split(key, NUM_STEPS))[1]

    ours = jax.jit(lambda key: rollout(env.step, key))(jax.random.PRNGKey(0))
    theirs = jax.jit(lambda key: rollout(gymnax_step, key))(jax.random.PRNGKey(0))
    done = np.asarray(ours[3] | ours[4])
    counts = done.reshape(NUM_STEPS, SEEDS * NUM_ENVS).sum(-1)
    assert counts.min() < counts.max() and done.any(), counts  # resets happened, unevenly
    chex.assert_trees_all_equal(ours, theirs)

    # Unbatched: the same step on one environment, through a finished episode.
    obs, state = env.reset(jax.random.PRNGKey(1), params)
    state = state.replace(time=jnp.asarray(3, state.time.dtype))
    for i in range(2):  # done at the first step, not at the second
        key = jax.random.PRNGKey(10 + i)
        ours = env.step(key, state, 0, params)
        theirs = jax.jit(gymnax_step)(key, state, 0, params)
        assert bool(ours[3] | ours[4]) == (i == 0)
        chex.assert_trees_all_equal(ours, theirs)
        state = ours[1]
    assert int(state.time) == 1  # a fresh world after the reset, one step in


def _conds(jaxpr) -> list:
    """Every ``cond`` equation of a jaxpr, nested jaxprs included."""
    found = []
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "cond":
            found.append(eqn)
        for sub in jax.extend.core.jaxprs_in_params(eqn.params):
            found += _conds(sub)
    return found


@pytest.mark.parametrize("shape", [(20,), (3, 5)])
def test_vmapped_reset_is_one_switch_over_generation_sizes(shape):
    """Under (nested) vmap the generation stays a real branch: one ``cond`` whose index is a
    scalar for the whole batch, one branch per size of :func:`reset_sizes` plus "none"; a cond
    with a batched index would be a select that generates every world."""
    num = int(np.prod(shape))
    keys = jax.random.split(jax.random.PRNGKey(0), num).reshape(*shape, 2)
    obs, state = jax.tree.map(lambda leaf: leaf.reshape(shape + leaf.shape[1:]), _old(num))
    step = partial_reset
    for _ in shape:
        step = jax.vmap(step, in_axes=(0, 0, None, 0, 0))
    jaxpr = jax.make_jaxpr(step)(keys, jnp.zeros(shape, bool), jnp.uint32(0), obs, state)
    (cond,) = _conds(jaxpr.jaxpr)
    assert len(cond.params["branches"]) == 1 + len(reset_sizes(num))
    assert cond.invars[0].aval.shape == ()
