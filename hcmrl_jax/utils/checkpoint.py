"""Checkpoints of a training run with orbax: the runner state plus JSON metadata.

A run advances in chunks of compiled updates; between chunks :class:`RunCheckpointer` saves the
whole runner state (params, optimizer state, env state, observations, memory carry, PRNG key,
update counter — any pytree of arrays, typed PRNG keys included) as one orbax ``StandardSave``
item, and the run's configuration and metrics so far as a JSON item. Restoring needs a template
of the state's structure (``jax.eval_shape(init_fn, key)`` gives one without computing), so the
restored arrays come back with the exact dtypes, shapes and bits that were saved: a resumed run
continues bit for bit.

Layout on disk: ``<directory>/<step>/{state,metadata}`` where ``step`` is the number of updates
done when the checkpoint was taken.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jax
import orbax.checkpoint as ocp

STATE_ITEM = "state"
METADATA_ITEM = "metadata"


def abstract_tree(tree: Any) -> Any:
    """The ``jax.ShapeDtypeStruct`` skeleton of a pytree of arrays, for restoring into.

    Leaves that already are ``ShapeDtypeStruct`` (e.g. from ``jax.eval_shape``) are kept; a leaf
    without a sharding is placed on the first local device.
    """
    default_sharding = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])

    def to_abstract(leaf: Any) -> jax.ShapeDtypeStruct:
        sharding = getattr(leaf, "sharding", None)
        if not isinstance(sharding, jax.sharding.Sharding):
            sharding = default_sharding
        return jax.ShapeDtypeStruct(leaf.shape, leaf.dtype, sharding=sharding)

    return jax.tree.map(to_abstract, tree)


class RunCheckpointer:
    """Saves and restores ``(runner_state, metadata)`` pairs in a directory, keyed by update.

    Args:
        directory: where the checkpoints live (created if missing).
        max_to_keep: keep only the latest this many checkpoints (>= 1).
        async_save: write in a background thread (call :meth:`wait` or :meth:`close` before
            reading the files); synchronous by default so a finished ``save`` is on disk.
    """

    def __init__(self, directory: str, max_to_keep: int = 2, async_save: bool = False):
        if max_to_keep < 1:
            raise ValueError(f"max_to_keep must be >= 1, got {max_to_keep}")
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(
            preservation_policy=ocp.checkpoint_managers.LatestN(n=max_to_keep),
            enable_async_checkpointing=async_save,
            create=True,
        )
        self._manager = ocp.CheckpointManager(self.directory, options=options)

    def latest_step(self) -> int | None:
        """The update count of the newest checkpoint, or None when there is none."""
        return self._manager.latest_step()

    def all_steps(self) -> list[int]:
        return sorted(self._manager.all_steps())

    def save(self, step: int, state: Any, metadata: Mapping[str, Any]) -> None:
        """Saves a checkpoint.

        Args:
            step: updates done so far (the checkpoint's name).
            state: the runner state, a pytree of arrays (typed PRNG keys allowed).
            metadata: JSON-serialisable dict (config, metrics so far, ...).
        """
        self._manager.save(
            int(step),
            args=ocp.args.Composite(
                **{
                    STATE_ITEM: ocp.args.StandardSave(state),
                    METADATA_ITEM: ocp.args.JsonSave(dict(metadata)),
                }
            ),
        )

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restores a checkpoint into the structure of ``template``.

        Args:
            template: a pytree with the runner state's structure: concrete arrays or
                ``jax.ShapeDtypeStruct`` leaves (``jax.eval_shape(init_fn, key)``).
            step: which checkpoint; the latest when None.

        Returns:
            ``(state, metadata)``.

        Raises:
            FileNotFoundError: there is no checkpoint (or not that step) in the directory.
        """
        step = self._resolve_step(step)
        restored = self._manager.restore(
            step,
            args=ocp.args.Composite(
                **{
                    STATE_ITEM: ocp.args.StandardRestore(abstract_tree(template)),
                    METADATA_ITEM: ocp.args.JsonRestore(),
                }
            ),
        )
        return restored[STATE_ITEM], dict(restored[METADATA_ITEM])

    def restore_metadata(self, step: int | None = None) -> dict[str, Any]:
        """Restores only the JSON metadata of a checkpoint (no template needed)."""
        step = self._resolve_step(step)
        restored = self._manager.restore(
            step, args=ocp.args.Composite(**{METADATA_ITEM: ocp.args.JsonRestore()})
        )
        return dict(restored[METADATA_ITEM])

    def _resolve_step(self, step: int | None) -> int:
        steps = self.all_steps()
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        if step is None:
            return steps[-1]
        if step not in steps:
            raise FileNotFoundError(f"no checkpoint for step {step} in {self.directory}: {steps}")
        return int(step)

    def wait(self) -> None:
        """Blocks until pending (async) saves are on disk."""
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.wait_until_finished()
        self._manager.close()

    def __enter__(self) -> RunCheckpointer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()
