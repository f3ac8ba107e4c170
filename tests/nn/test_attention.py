"""Masked and hierarchical attention against a plain reference implementation."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from hcmrl_jax.nn.attention import HierarchicalAttention, MaskedMultiHeadAttention, masked_softmax


def key(seed: int = 0) -> jax.Array:
    """A PRNG key of the ``rbg`` implementation (cheaper to compile than threefry)."""
    return jax.random.key(seed, impl="rbg")


def reference_attention(params, query, inputs, mask, num_heads, head_dim):
    """Textbook multi-head attention: project every slot to keys and values, then attend."""
    p = params["params"]
    w_key, w_value, b_value = p["key_kernel"], p["value_kernel"], p["value_bias"]
    if "input_kernel" in p:
        inputs = inputs @ p["input_kernel"] + p["input_bias"]
    q = np.einsum("d,dhk->hk", query, p["query_kernel"]) + p["query_bias"]
    keys = np.einsum("nf,fhk->nhk", inputs, w_key)
    values = np.einsum("nf,fhk->nhk", inputs, w_value) + b_value
    logits = np.einsum("hk,nhk->hn", q, keys) / math.sqrt(head_dim)
    logits = np.where(mask[None], logits, -np.inf)
    weights = np.exp(logits - logits.max(-1, keepdims=True))
    weights = weights / weights.sum(-1, keepdims=True)
    out = np.einsum("hn,nhk->hk", weights, values)
    return np.einsum("hk,hko->o", out, p["out_kernel"]), weights


def test_masked_softmax_valid_entries_sum_to_one_and_empty_rows_are_zero():
    logits = jnp.array([[1.0, 2.0, 3.0], [5.0, -1.0, 0.5]])
    mask = jnp.array([[True, False, True], [False, False, False]])
    weights = jax.jit(masked_softmax)(logits, mask)
    expected_first = np.exp([1.0, 3.0]) / np.exp([1.0, 3.0]).sum()
    np.testing.assert_allclose(weights[0], [expected_first[0], 0.0, expected_first[1]], rtol=1e-6)
    np.testing.assert_array_equal(weights[1], np.zeros(3))
    grads = jax.jit(jax.grad(lambda x: jnp.sum(masked_softmax(x, mask) * jnp.arange(3.0))))(logits)
    assert np.all(np.isfinite(grads))
    np.testing.assert_array_equal(grads[1], np.zeros(3))


@pytest.mark.parametrize("input_features", [None, 12])
def test_attention_matches_reference_and_ignores_masked_slots(input_features):
    heads, head_dim, out, slots, features = 2, 4, 6, 5, 7
    module = MaskedMultiHeadAttention(heads, head_dim, out, input_features)
    rng = np.random.default_rng(1)
    query = jnp.asarray(rng.standard_normal(10), jnp.float32)
    inputs = jnp.asarray(rng.standard_normal((slots, features)), jnp.float32)
    mask = jnp.array([True, False, True, True, False])
    params = jax.jit(module.init)(key(1), query, inputs, mask)
    apply = jax.jit(module.apply)
    got, weights = apply(params, query, inputs, mask)
    np_params = jax.tree.map(np.asarray, params)
    want, want_weights = reference_attention(
        np_params, np.asarray(query), np.asarray(inputs), np.asarray(mask), heads, head_dim
    )
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(weights, want_weights, rtol=1e-4, atol=1e-6)
    # Changing a masked slot changes nothing.
    changed = inputs.at[1].set(100.0)
    np.testing.assert_allclose(apply(params, query, changed, mask)[0], got, atol=1e-6)
    # Inputs given in parts read as their concatenation.
    in_parts = apply(params, query, (inputs[:, :3], inputs[:, 3:]), mask)
    np.testing.assert_allclose(in_parts[0], got, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(in_parts[1], weights, rtol=1e-5, atol=1e-6)


def test_attention_over_an_empty_set_is_exactly_zero_with_finite_gradients():
    module = MaskedMultiHeadAttention(2, 4, 6)
    query, inputs = jnp.ones((10,)), jnp.ones((3, 7))
    mask = jnp.zeros((3,), bool)
    params = jax.jit(module.init)(key(0), query, inputs, mask)
    out, weights = jax.jit(module.apply)(params, query, inputs, mask)
    np.testing.assert_array_equal(out, np.zeros(6))
    np.testing.assert_array_equal(weights, np.zeros((2, 3)))
    grads = jax.jit(jax.grad(lambda p: jnp.sum(module.apply(p, query, inputs, mask)[0])))(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree.leaves(grads))


def test_hierarchical_attention_mixes_only_nonempty_tiers():
    module = HierarchicalAttention(("a", "b", "c"), num_heads=2, head_dim=3, out_features=6)
    query = jnp.asarray(np.random.default_rng(2).standard_normal(6), jnp.float32)
    tiers = [
        (jnp.ones((4, 5)), jnp.array([True, True, False, False])),
        (jnp.ones((3, 2)), jnp.zeros((3,), bool)),
        (jnp.full((2, 3), 2.0), jnp.array([True, True])),
    ]
    params = jax.jit(module.init)(key(3), query, tiers)
    apply = jax.jit(module.apply)
    readout, weights, mix = apply(params, query, tiers)
    assert mix[1] == 0.0
    np.testing.assert_allclose(jnp.sum(mix), 1.0, rtol=1e-6)
    np.testing.assert_array_equal(weights[1], np.zeros((2, 3)))
    np.testing.assert_allclose(jnp.sum(weights[0], -1), np.ones(2), rtol=1e-6)
    empty = [(inputs, jnp.zeros_like(mask)) for inputs, mask in tiers]
    readout, _, mix = apply(params, query, empty)
    np.testing.assert_array_equal(readout, np.zeros(6))
    np.testing.assert_array_equal(mix, np.zeros(3))
