"""Small memory configurations, shared parameters and jitted runners for the memory tests.

Compilation dominates the cost of these tests, so each configuration is initialised and its
scan runner compiled once per session, test data comes from NumPy (no PRNG kernels to compile)
and parameter keys use the ``rbg`` implementation (cheaper to compile than threefry).
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.memory import HierarchicalMemory

# A small configuration with every tier: compiles fast, fills its tiers in a few dozen steps.
SMALL = dict(
    immediate_size=8,
    short_term_size=4,
    long_term_size=3,
    embed_dim=16,
    latent_dim=4,
    segment_length=4,
    num_heads=2,
    vae_hidden_dim=16,
    time_features=4,
)
CONFIGS = {
    "small": SMALL,
    # Mean-pool summaries; long-term cleared at every episode start.
    "mean": {**SMALL, "summary": "mean", "long_term_persists": False},
    # Fixed compression and no long-term tier.
    "fixed": {**SMALL, "adaptive_compression": False, "use_long_term": False},
    # Immediate tier only.
    "immediate": {**SMALL, "use_short_term": False, "use_long_term": False},
    # Every tier and a recurrent working state.
    "working": {**SMALL, "working_size": 8},
    # The immediate tier and a recurrent working state.
    "immediate_working": {
        **SMALL,
        "use_short_term": False,
        "use_long_term": False,
        "working_size": 8,
    },
}


def key(seed: int = 0) -> jax.Array:
    """A PRNG key of the ``rbg`` implementation."""
    return jax.random.key(seed, impl="rbg")


# Runners take inputs padded to this many steps and loop over the first ``steps`` of them, so
# one compiled program serves every run length in the tests.
CAPACITY = 10_000


def make_runner(memory: HierarchicalMemory):
    """``run(params, state, embeddings [T, D], queries [T, D], firsts [T])`` for T <= CAPACITY.

    Runs ``memory.step`` T times (a jitted while loop over padded inputs) and returns the final
    state and the per-step read-outs [T, D] and read infos (as NumPy arrays).
    """

    @jax.jit
    def loop(params, state, embeddings, queries, firsts, steps):
        example = jax.eval_shape(
            lambda: memory.apply(params, state, embeddings[0], queries[0], firsts[0], method="step")
        )
        outputs = jax.tree.map(
            lambda leaf: jnp.zeros((CAPACITY, *leaf.shape), leaf.dtype), (example[0], example[2])
        )

        def body(t, carry):
            state, outputs = carry
            readout, state, info = memory.apply(
                params, state, embeddings[t], queries[t], firsts[t], method="step"
            )
            outputs = jax.tree.map(lambda buf, x: buf.at[t].set(x), outputs, (readout, info))
            return state, outputs

        return jax.lax.fori_loop(0, steps, body, (state, outputs))

    def run(params, state, embeddings, queries, firsts):
        steps = len(embeddings)
        if steps > CAPACITY:
            raise ValueError(f"at most {CAPACITY} steps per run, got {steps}")

        def pad(x):
            x = np.asarray(x)
            return np.concatenate([x, np.zeros((CAPACITY - steps, *x.shape[1:]), x.dtype)])

        final, outputs = loop(
            params, state, pad(embeddings), pad(queries), pad(firsts), np.int32(steps)
        )
        return final, jax.tree.map(lambda buf: np.asarray(buf)[:steps], outputs)

    return run


def random_params(memory: HierarchicalMemory, seed: int) -> dict:
    """Parameters with the structure of ``memory.init_params`` and random values, drawn with
    NumPy (no initialisation program to compile): kernels scaled by 1/sqrt(fan-in), embedding
    tables standard normal, biases zero."""
    rng = np.random.default_rng(seed)
    shapes = jax.eval_shape(memory.init_params, key(seed))

    def fill(path, leaf):
        name = jax.tree_util.keystr(path[-1:])
        if "bias" in name:
            return jnp.zeros(leaf.shape, leaf.dtype)
        if "embedding" in name:
            return jnp.asarray(rng.standard_normal(leaf.shape), leaf.dtype)
        fan_in = leaf.shape[0] * (leaf.shape[1] if "out_kernel" in name else 1)
        return jnp.asarray(rng.standard_normal(leaf.shape) / np.sqrt(fan_in), leaf.dtype)

    return jax.tree_util.tree_map_with_path(fill, shapes)


class Setup(NamedTuple):
    memory: HierarchicalMemory
    params: dict
    run: object


_SETUPS: dict[str, Setup] = {}


def setup(name: str) -> Setup:
    """The memory, parameters and runner of a named configuration (built once).

    The small configuration gets ``init_params``; the others random parameters of the same
    structure (see :func:`random_params`).
    """
    if name not in _SETUPS:
        memory = HierarchicalMemory(**CONFIGS[name])
        params = memory.init_params(key(0)) if name == "small" else random_params(memory, 0)
        _SETUPS[name] = Setup(memory, params, make_runner(memory))
    return _SETUPS[name]


@pytest.fixture(scope="session")
def small() -> Setup:
    return setup("small")


def random_inputs(seed: int, steps: int, dim: int):
    """Standard-normal embeddings and queries [steps, dim] float32 and first-step flags [steps]
    (True at step 0 only)."""
    rng = np.random.default_rng(seed)
    embeddings = jnp.asarray(rng.standard_normal((steps, dim)), jnp.float32)
    queries = jnp.asarray(rng.standard_normal((steps, dim)), jnp.float32)
    firsts = jnp.zeros((steps,), bool).at[0].set(True)
    return embeddings, queries, firsts
