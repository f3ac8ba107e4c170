"""Value network: a separate MLP head on the policy's features."""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp


class ValueHead(nn.Module):
    """State-value estimate for one environment step.

    The head reads the same features as the actor (the step embedding concatenated with the
    memory read-out) but has its own weights, so the critic's scale does not leak into the
    policy's logits.

    Attributes:
        hidden: width of the two hidden layers.
    """

    hidden: int

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        """Args: features: [F] float32. Returns: value [] float32."""
        h = nn.tanh(nn.Dense(self.hidden, name="hidden_0")(features))
        h = nn.tanh(nn.Dense(self.hidden, name="hidden_1")(h))
        value = nn.Dense(1, kernel_init=nn.initializers.orthogonal(1.0), name="out")(h)
        return jnp.squeeze(value, axis=-1)
