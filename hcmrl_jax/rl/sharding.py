"""The environment axis on a 1-D device mesh.

When several devices are visible (and ``config.shard_envs``), the environment axis of the
runner state, the rollout and the minibatches is sharded over the mesh; XLA inserts the
gradient all-reduce, so the result equals a single-device run of the same global batch.
"""

from __future__ import annotations

from typing import Any

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding, PartitionSpec

from hcmrl_jax.rl.config import PPOConfig


class EnvSharding:
    """Places the environment axis of arrays on a 1-D device mesh (identity without a mesh).

    Raises:
        ValueError: ``config.num_envs`` does not divide by the device count when sharding.
    """

    def __init__(self, config: PPOConfig):
        devices = jax.devices()
        self.mesh = None
        if config.shard_envs and len(devices) > 1:
            if config.num_envs % len(devices):
                raise ValueError(
                    f"PPOConfig.num_envs ({config.num_envs}) must divide by the number of "
                    f"devices ({len(devices)}) to shard environments (or set shard_envs=False)"
                )
            self.mesh = Mesh(np.asarray(devices), ("env",))

    @property
    def num_shards(self) -> int:
        return 1 if self.mesh is None else self.mesh.size

    def constrain(self, tree: Any, axis: int) -> Any:
        """Shards every leaf of ``tree`` along ``axis`` (leaves too small are left alone)."""
        if self.mesh is None:
            return tree

        def place(x: jax.Array) -> jax.Array:
            if x.ndim <= axis or x.shape[axis] % self.num_shards:
                return x
            spec = PartitionSpec(*([None] * axis), "env")
            return jax.lax.with_sharding_constraint(x, NamedSharding(self.mesh, spec))

        return jax.tree.map(place, tree)
