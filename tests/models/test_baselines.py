"""The baseline memory cores: recurrence, resets, the window cache, replay and capabilities."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.memory import CoreCapabilities, MemoryCore
from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore
from tests.models.helpers import CORES, D

_STEP_FNS: dict = {}


def core_fns(kind):
    """Jitted init and step of a core, compiled once per module."""
    if kind not in _STEP_FNS:
        core = CORES[kind]
        _STEP_FNS[kind] = (
            jax.jit(functools.partial(core.init, method="step")),
            jax.jit(functools.partial(core.apply, method="step")),
        )
    return _STEP_FNS[kind]


@pytest.mark.parametrize("kind", ["gru", "transformer"])
def test_recurrent_cores_carry_information_and_reset(kind):
    core = CORES[kind]
    state0 = core.initial_state()
    emb = jax.random.normal(jax.random.key(0), (3, D))
    init, apply = core_fns(kind)
    params = init(jax.random.key(1), state0, emb[0], emb[0], jnp.bool_(True))

    def step(state, e, first):
        return apply(params, state, e, e, jnp.bool_(first))

    _, s1, _ = step(state0, emb[0], True)
    r_after, _, _ = step(s1, emb[1], False)
    r_fresh, _, _ = step(state0, emb[1], True)
    r_reset, _, _ = step(s1, emb[1], True)
    assert not np.allclose(r_after, r_fresh)  # the past changes the read-out...
    np.testing.assert_allclose(r_reset, r_fresh, rtol=1e-6, atol=1e-6)  # ...until a reset


def test_window_cache_is_a_fixed_size_ring():
    core = CORES["transformer"]
    state = core.initial_state()
    emb = jax.random.normal(jax.random.key(0), (7, D))
    init, apply = core_fns("transformer")
    params = init(jax.random.key(1), state, emb[0], emb[0], jnp.bool_(True))
    assert float(core.novelty(state, emb[0])) == 0.0  # empty cache
    for t in range(7):
        _, state, info = apply(params, state, emb[t], emb[t], jnp.bool_(t == 0))
    assert state.cache.shape == (1, 4, D)  # [layers, window, D] whatever the episode length
    assert bool(jnp.all(state.valid)) and int(state.t) == 7
    np.testing.assert_array_equal(np.sort(np.asarray(state.time)), [3, 4, 5, 6])
    assert info["attention"].shape == (1, 2, 5)
    np.testing.assert_allclose(jnp.sum(info["attention"], -1), 1.0, rtol=1e-5)
    assert float(core.novelty(state, emb[6])) == pytest.approx(0.0, abs=1e-5)


REPLAY_CORES = {
    "mlp": CORES["mlp"],
    "gru": CORES["gru"],
    "transformer_2_layers": WindowTransformerCore(
        embed_dim=D, window=4, num_layers=2, num_heads=2, ff_dim=8
    ),
}


@pytest.mark.parametrize("kind", sorted(REPLAY_CORES))
def test_parallel_replay_of_baselines_equals_stepping(kind):
    """read_sequence gives the read-outs and embedding gradients of stepping, from a cache that
    already holds steps and across resets (the GRU's is a scan of its cell)."""
    core = REPLAY_CORES[kind]
    warm_up, steps = 6, 12
    emb = jax.random.normal(jax.random.key(0), (warm_up + steps, D))
    firsts = jnp.zeros((warm_up + steps,), bool).at[0].set(True).at[warm_up + 3].set(True)
    firsts = firsts.at[warm_up + 9].set(True)
    params = core.init(jax.random.key(1), core.initial_state(), emb[0], emb[0], True, method="step")

    def stepwise(state, embeddings, flags):
        def body(state, inputs):
            readout, state, _ = core.apply(params, state, *inputs, method="step")
            return state, readout

        return jax.lax.scan(body, state, (embeddings, embeddings, flags))

    start, _ = stepwise(core.initial_state(), emb[:warm_up], firsts[:warm_up])
    sequence, flags = emb[warm_up:], firsts[warm_up:]
    context = jax.vmap(core.replay_context)(jax.tree.map(lambda x: x[None], start), flags[:1])

    def parallel(embeddings):
        return core.apply(params, start, embeddings, embeddings, flags, {}, method="read_sequence")

    def stepped(embeddings):
        return stepwise(start, embeddings, flags)[1]

    assert context == {}
    np.testing.assert_allclose(parallel(sequence), stepped(sequence), atol=1e-5)
    weights = jax.random.normal(jax.random.key(2), (steps, D))
    grads = [
        jax.grad(lambda e, fn=fn: jnp.sum(weights * fn(e)))(sequence) for fn in (parallel, stepped)
    ]
    assert np.abs(grads[1]).sum() > 0
    np.testing.assert_allclose(grads[0], grads[1], atol=1e-5)


def test_every_core_implements_the_memory_core_interface_and_declares_its_capabilities():
    for kind, core in CORES.items():
        assert isinstance(core, MemoryCore), kind
        assert core.embed_dim == D
        assert isinstance(core.capabilities, CoreCapabilities)
    assert MLPCore.capabilities == CoreCapabilities(parallel_replay=True)
    assert GRUCore.capabilities == CoreCapabilities()  # replayed step by step
    assert WindowTransformerCore.capabilities == CoreCapabilities(
        novelty=True, parallel_replay=True
    )
    hcmrl = CORES["hcmrl"].capabilities
    assert hcmrl.vae and hcmrl.vae_segment_length == 2 and hcmrl.novelty and hcmrl.short_term
    assert hcmrl.parallel_replay and hcmrl.salience_features == 0
