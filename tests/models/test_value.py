"""The value head."""

import jax
import jax.numpy as jnp
import numpy as np

from hcmrl_jax.models.value import ValueHead


def test_value_head_maps_features_to_one_scalar_per_step():
    head = ValueHead(hidden=8)
    features = jnp.asarray(np.random.default_rng(0).standard_normal((5, 6)), jnp.float32)
    params = jax.jit(head.init)(jax.random.key(0), features[0])
    assert set(params["params"]) == {"hidden_0", "hidden_1", "out"}
    values = jax.jit(jax.vmap(head.apply, in_axes=(None, 0)))(params, features)
    assert values.shape == (5,) and values.dtype == jnp.float32
    np.testing.assert_allclose(values[2], head.apply(params, features[2]), rtol=1e-6)
