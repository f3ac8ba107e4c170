"""Parameter counting and sizing a core to a parameter budget."""

import jax.numpy as jnp

from hcmrl_jax.models.baselines import GRUCore
from hcmrl_jax.models.budget import core_param_count, count_params, size_core
from tests.models.helpers import D


def test_size_core_hits_the_target_and_counts_exclude_decoders():
    core, count = size_core(lambda w: GRUCore(embed_dim=D, hidden=w), 5_000, D)
    assert abs(count - 5_000) / 5_000 < 0.05
    assert count == core_param_count(core, D)
    params = {"decoder": {"w": jnp.zeros((3, 3))}, "vae": {"decoder_out": jnp.zeros(4)}, "x": 1.0}
    params["x"] = jnp.zeros(2)
    assert count_params(params) == 15 and count_params(params, acting_only=True) == 2
