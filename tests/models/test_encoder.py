"""Observation specs and the observation encoder."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from gymnax.environments import spaces

from hcmrl_jax.models.encoder import ObservationEncoder, observation_spec
from tests.models.helpers import ACTIONS, D, dict_obs, dict_space


def test_observation_spec_reads_vocab_and_mask():
    spec = observation_spec(dict_space())
    assert spec.is_dict and spec.num_mask_actions == ACTIONS
    by_key = {leaf.key: leaf for leaf in spec.leaves}
    assert set(by_key) == {"grid", "vec"}  # the mask is not encoded
    assert by_key["grid"].vocab == 5 and by_key["grid"].shape == (3, 3)
    assert by_key["vec"].vocab == 0
    plain = observation_spec(spaces.Box(0.0, 1.0, (4,), jnp.float32))
    assert not plain.is_dict and plain.leaves[0].key is None
    with pytest.raises(ValueError, match="nested"):
        observation_spec(spaces.Dict({"a": spaces.Dict({"b": spaces.Discrete(2)})}))


def test_encoder_embeds_ids_and_checks_shapes():
    encoder = ObservationEncoder(observation_spec(dict_space()), features=D)
    params = jax.jit(encoder.init)(jax.random.key(0), dict_obs())
    apply = jax.jit(encoder.apply)
    a = apply(params, dict_obs(grid_value=1))
    b = apply(params, dict_obs(grid_value=3))
    assert a.shape == (D,) and a.dtype == jnp.float32
    assert not np.allclose(a, b)  # different ids, different embedding
    # Changing only the action mask does not change the embedding.
    np.testing.assert_allclose(a, apply(params, dict_obs(mask=(False, True, True))))
    bad = dict_obs()
    bad["grid"] = jnp.zeros((2, 3, 3), jnp.int32)
    with pytest.raises(ValueError, match="shape"):
        encoder.apply(params, bad)
