"""Checkpoints of a training run with orbax: the runner state plus JSON metadata.

A run advances in chunks of compiled updates; between chunks :class:`RunCheckpointer` saves the
whole runner state (params, optimizer state, env state, observations, memory carry, PRNG key,
update counter — any pytree of arrays, typed PRNG keys included) as one orbax ``StandardSave``
item, and the run's configuration and metrics so far as a JSON item. Restoring needs a template
of the state's structure (``jax.eval_shape(init_fn, key)`` gives one without computing), so the
restored arrays come back with the exact dtypes, shapes and bits that were saved: a resumed run
continues bit for bit.

Layout on disk: ``<directory>/<step>/{state,metadata,integrity}`` where ``step`` is the number
of updates done when the checkpoint was taken.

Faults: orbax writes a checkpoint into a temporary folder and renames it to ``<step>`` only once
every item is on disk, so a save cut short (a crash, a full disk) never leaves a folder that
looks like a checkpoint. ``integrity`` holds a SHA-256 of the state's bytes, checked on restore,
so a checkpoint damaged afterwards (cut files) is detected even where orbax would read it. When
the newest checkpoint does not restore, :meth:`RunCheckpointer.restore` falls back to the newest
one that does and reports which it skipped and why (:attr:`RunCheckpointer.skipped`).
"""

from __future__ import annotations

import hashlib
import math
import os
import sys
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

STATE_ITEM = "state"
METADATA_ITEM = "metadata"
INTEGRITY_ITEM = "integrity"
#: Longest reason kept for a checkpoint that fails to restore (orbax errors can be pages long).
REASON_CHARS = 160


class CheckpointError(RuntimeError):
    """No checkpoint (or not the one asked for) restores; the message is one line."""


def _quiet_closed_loop_reports() -> None:
    """Installs an unraisable-exception hook that drops one known, harmless report and passes
    the rest on to the hook it replaces.

    When a restore fails, tensorstore reads that orbax had started still finish afterwards and
    post their results to orbax's event loop, which is closed by then; Python would print each
    ``RuntimeError('Event loop is closed')`` as a traceback, although nothing is lost.
    """
    previous = sys.unraisablehook
    if getattr(previous, "drops_closed_loop_reports", False):
        return

    def hook(unraisable: Any) -> None:
        error = unraisable.exc_value
        if isinstance(error, RuntimeError) and str(error) == "Event loop is closed":
            return
        previous(unraisable)

    hook.drops_closed_loop_reports = True
    sys.unraisablehook = hook


def state_digest(state: Any) -> str | None:
    """SHA-256 of a pytree's leaves (shapes, dtypes and bytes, in tree order); typed PRNG keys
    by their key data. None when some leaf is not fully on this process (multi-host)."""
    digest = hashlib.sha256()
    for leaf in jax.tree.leaves(state):
        if isinstance(leaf, jax.Array) and not leaf.is_fully_addressable:
            return None
        if jax.dtypes.issubdtype(getattr(leaf, "dtype", None), jax.dtypes.prng_key):
            leaf = jax.random.key_data(leaf)
        array = np.asarray(jax.device_get(leaf))
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def short_reason(error: BaseException) -> str:
    """The first non-empty line of an error, shortened: why a checkpoint was skipped."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    text = f"{type(error).__name__}: {lines[0] if lines else 'no message'}"
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 3] + "..."


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


def _is_empty(leaf: Any) -> bool:
    """Whether an array (or ``ShapeDtypeStruct``) has no elements, e.g. a [N, 0] state field."""
    return math.prod(leaf.shape) == 0


def _stand_in_for_empty(tree: Any) -> Any:
    """``tree`` with every empty leaf replaced by a one-element one of its dtype (an array, or a
    ``ShapeDtypeStruct`` on the first local device for a restore template): orbax does not save
    arrays of zero size, and an empty leaf has no values to keep (its shape comes back from the
    restore template)."""

    def stand_in(leaf: Any) -> Any:
        if not _is_empty(leaf):
            return leaf
        if isinstance(leaf, jax.ShapeDtypeStruct):
            device = jax.sharding.SingleDeviceSharding(jax.local_devices()[0])
            return jax.ShapeDtypeStruct((1,), leaf.dtype, sharding=device)
        return np.zeros((1,), leaf.dtype)

    return jax.tree.map(stand_in, tree)


def strong_types(tree: Any) -> Any:
    """The same arrays without weak types.

    A checkpoint stores dtypes, not JAX's weak-type flag (e.g. a Python int in the env params
    becomes a weakly typed int32), so a restored state would otherwise differ from a fresh one
    in its abstract types: a function compiled for one would be compiled again, as a different
    program, for the other. Starting every run from strongly typed leaves makes fresh and
    resumed runs share one program.
    """

    def strong(leaf: Any) -> jax.Array:
        leaf = jnp.asarray(leaf)  # Python scalars (e.g. in env params) become weak arrays
        if jax.typeof(leaf).weak_type:
            return jax.lax.convert_element_type(leaf, leaf.dtype)
        return leaf

    return jax.tree.map(strong, tree)


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
        #: ``(step, reason)`` of the checkpoints the last :meth:`restore` skipped, newest first.
        self.skipped: list[tuple[int, str]] = []

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
                    STATE_ITEM: ocp.args.StandardSave(_stand_in_for_empty(state)),
                    METADATA_ITEM: ocp.args.JsonSave(dict(metadata)),
                    INTEGRITY_ITEM: ocp.args.JsonSave({"state_sha256": state_digest(state)}),
                }
            ),
        )

    def restore(self, template: Any, step: int | None = None) -> tuple[Any, dict[str, Any]]:
        """Restores a checkpoint into the structure of ``template``.

        Without ``step``, the newest checkpoint that restores and matches its checksum: newer
        ones that fail are skipped and listed in :attr:`skipped` with the reason.

        Args:
            template: a pytree with the runner state's structure: concrete arrays or
                ``jax.ShapeDtypeStruct`` leaves (``jax.eval_shape(init_fn, key)``).
            step: which checkpoint; the newest that restores when None.

        Returns:
            ``(state, metadata)``.

        Raises:
            FileNotFoundError: there is no checkpoint (or not that step) in the directory.
            CheckpointError: the asked-for checkpoint, or every one, fails to restore (a one-line
                message listing each step and why).
        """
        self.skipped = []
        steps = [self._resolve_step(step)] if step is not None else self.all_steps()[::-1]
        if not steps:
            raise FileNotFoundError(f"no checkpoint in {self.directory}")
        for candidate in steps:
            try:
                return self._restore_checked(template, candidate)
            except Exception as error:  # orbax / tensorstore / JSON errors of a damaged folder
                self.skipped.append((candidate, short_reason(error)))
                _quiet_closed_loop_reports()
        reasons = "; ".join(f"{s}: {reason}" for s, reason in self.skipped)
        which = f"checkpoint {steps[0]}" if step is not None else "no checkpoint"
        raise CheckpointError(f"{which} in {self.directory} restores ({reasons})")

    def _restore_checked(self, template: Any, step: int) -> tuple[Any, dict[str, Any]]:
        abstract = abstract_tree(template)
        items = {
            STATE_ITEM: ocp.args.StandardRestore(_stand_in_for_empty(abstract)),
            METADATA_ITEM: ocp.args.JsonRestore(),
        }
        has_integrity = os.path.isdir(os.path.join(self.directory, str(step), INTEGRITY_ITEM))
        if has_integrity:  # checkpoints written before the checksum existed have none
            items[INTEGRITY_ITEM] = ocp.args.JsonRestore()
        restored = self._manager.restore(step, args=ocp.args.Composite(**items))
        state, metadata = restored[STATE_ITEM], restored[METADATA_ITEM]
        state = jax.tree.map(
            lambda want, got: (
                jax.device_put(jnp.zeros(want.shape, want.dtype), want.sharding)
                if _is_empty(want)
                else got
            ),
            abstract,
            state,
        )
        if not isinstance(metadata, Mapping):
            raise ValueError(f"its metadata is not a JSON object: {type(metadata).__name__}")
        if has_integrity:
            expected = dict(restored[INTEGRITY_ITEM] or {}).get("state_sha256")
            actual = state_digest(state) if expected is not None else None
            if actual is not None and actual != expected:
                raise ValueError("its arrays do not match the SHA-256 saved with them")
        return state, dict(metadata)

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
