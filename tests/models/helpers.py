"""Shared pieces of the model tests: a dict observation space and one small core per kind."""

import jax.numpy as jnp
from gymnax.environments import spaces

from hcmrl_jax.memory import HierarchicalMemory
from hcmrl_jax.models.baselines import GRUCore, MLPCore, WindowTransformerCore

D = 16
ACTIONS = 3


def dict_space():
    return spaces.Dict(
        {
            "grid": spaces.Box(0, 4, (3, 3), jnp.int32),
            "vec": spaces.Box(-1.0, 1.0, (2,), jnp.float32),
            "action_mask": spaces.Box(0, 1, (ACTIONS,), jnp.bool_),
        }
    )


def dict_obs(grid_value=1, mask=(True, False, True)):
    return {
        "grid": jnp.full((3, 3), grid_value, jnp.int32),
        "vec": jnp.array([0.5, -0.5], jnp.float32),
        "action_mask": jnp.array(mask),
    }


CORES = {
    "mlp": MLPCore(embed_dim=D, hidden=8),
    "gru": GRUCore(embed_dim=D, hidden=8),
    "transformer": WindowTransformerCore(embed_dim=D, window=4, num_heads=2, ff_dim=8),
    "hcmrl": HierarchicalMemory(
        immediate_size=4,
        short_term_size=2,
        long_term_size=2,
        embed_dim=D,
        latent_dim=4,
        segment_length=2,
        num_heads=2,
        vae_hidden_dim=8,
        time_features=4,
    ),
}
