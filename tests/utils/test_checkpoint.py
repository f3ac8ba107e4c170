"""Checkpoint round-trips of a runner-state-like pytree, PRNG keys and empty arrays included;
damaged checkpoints are skipped for the newest good one, and a save cut short leaves nothing
behind."""

import gc
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp
import pytest
from flax import struct

from hcmrl_jax.utils.checkpoint import (
    CheckpointError,
    RunCheckpointer,
    abstract_tree,
    strong_types,
)


@struct.dataclass
class ToyRunnerState:
    params: dict  # {"w": [3, 2] float32, "b": [2] bfloat16}
    obs: dict  # {"grid": [4, 5, 5] int32, "action_mask": [4, 3] bool}
    raw_key: jax.Array  # [2] uint32, a raw PRNG key
    typed_key: jax.Array  # [4] key<fry>, typed per-env keys
    update: jax.Array  # [] int32
    empty: jax.Array  # [4, 0] float32, e.g. a memory's unused working state (orbax saves none)
    static_name: str = struct.field(pytree_node=False, default="toy")


def _state(seed: int) -> ToyRunnerState:
    key_w, key_b, key_grid, key_typed = jax.random.split(jax.random.PRNGKey(seed), 4)
    return ToyRunnerState(
        params={
            "w": jax.random.normal(key_w, (3, 2)),
            "b": jax.random.normal(key_b, (2,)).astype(jnp.bfloat16),
        },
        obs={
            "grid": jax.random.randint(key_grid, (4, 5, 5), 0, 9),
            "action_mask": jnp.array([[True, False, True]] * 4),
        },
        raw_key=jax.random.PRNGKey(seed + 100),
        typed_key=jax.random.split(jax.random.key(seed), 4),
        update=jnp.int32(7 * seed),
        empty=jnp.zeros((4, 0), jnp.float32),
    )


def _assert_bitwise_equal(a, b):
    leaves_a, tree_a = jax.tree.flatten(a)
    leaves_b, tree_b = jax.tree.flatten(b)
    assert tree_a == tree_b
    for x, y in zip(leaves_a, leaves_b, strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        np.testing.assert_array_equal(
            np.atleast_1d(np.asarray(x)).view(np.uint8), np.atleast_1d(np.asarray(y)).view(np.uint8)
        )


def test_round_trip_with_keys_and_metadata(tmp_path):
    state = _state(1)
    metadata = {"config": {"lr": 3e-4, "env": "crafting"}, "metrics": {"return": [1.0, None]}}
    with RunCheckpointer(str(tmp_path / "ckpt"), max_to_keep=2) as checkpointer:
        assert checkpointer.latest_step() is None
        checkpointer.save(3, state, metadata)
        checkpointer.save(6, _state(2), {"config": {}, "metrics": {}})
    # A fresh manager (a new process on resume) finds both and restores from an abstract template.
    with RunCheckpointer(str(tmp_path / "ckpt")) as checkpointer:
        assert checkpointer.all_steps() == [3, 6]
        template = jax.eval_shape(lambda: _state(0))
        restored, restored_meta = checkpointer.restore(template, step=3)
        latest, _ = checkpointer.restore(_state(0))
        assert checkpointer.restore_metadata(3) == metadata
    _assert_bitwise_equal(restored, state)
    _assert_bitwise_equal(latest, _state(2))
    assert restored_meta == metadata
    # The restored keys draw the same numbers as the originals.
    np.testing.assert_array_equal(
        jax.random.uniform(restored.raw_key, (3,)), jax.random.uniform(state.raw_key, (3,))
    )
    np.testing.assert_array_equal(
        jax.vmap(lambda k: jax.random.bits(k, (2,)))(restored.typed_key),
        jax.vmap(lambda k: jax.random.bits(k, (2,)))(state.typed_key),
    )


def test_keeps_only_the_latest(tmp_path):
    with RunCheckpointer(str(tmp_path), max_to_keep=2) as checkpointer:
        for step in (1, 2, 3):
            checkpointer.save(step, _state(step), {})
        assert checkpointer.all_steps() == [2, 3]


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with RunCheckpointer(str(tmp_path)) as checkpointer:
        with pytest.raises(FileNotFoundError, match="no checkpoint"):
            checkpointer.restore(_state(0))
        checkpointer.save(1, _state(0), {})
        with pytest.raises(FileNotFoundError, match="step 5"):
            checkpointer.restore(_state(0), step=5)
    with pytest.raises(ValueError, match="max_to_keep"):
        RunCheckpointer(str(tmp_path), max_to_keep=0)


def test_abstract_tree_keeps_dtypes():
    abstract = abstract_tree(_state(0))
    assert abstract.typed_key.dtype == _state(0).typed_key.dtype
    assert abstract.params["b"].dtype == jnp.bfloat16
    assert abstract.obs["grid"].shape == (4, 5, 5)


def test_strong_types_drop_the_weak_flag_and_keep_the_rest():
    key = jax.random.key(3)
    tree = {"count": 0, "scale": jnp.asarray(0.5), "bf": jnp.ones(2, jnp.bfloat16), "key": key}
    assert jax.typeof(jnp.asarray(tree["count"])).weak_type  # what a Python int becomes
    strong = strong_types(tree)
    assert not any(jax.typeof(leaf).weak_type for leaf in jax.tree.leaves(strong))
    assert strong["count"].dtype == jnp.int32 and int(strong["count"]) == 0
    assert strong["scale"].dtype == jnp.float32 and strong["bf"].dtype == jnp.bfloat16
    assert jnp.array_equal(jax.random.key_data(strong["key"]), jax.random.key_data(key))


def _halve_data_files(step_dir):
    for root, _, files in os.walk(os.path.join(step_dir, "state")):
        for name in files:
            if os.path.basename(root) == "d":  # the array data (ocdbt) files
                path = os.path.join(root, name)
                os.truncate(path, os.path.getsize(path) // 2)


def _empty_metadata(step_dir):
    open(os.path.join(step_dir, "metadata", "metadata"), "w").close()


def _garbage_manifest(step_dir):
    with open(os.path.join(step_dir, "state", "manifest.ocdbt"), "wb") as handle:
        handle.write(b"not a manifest" * 8)


def _flipped_bytes(step_dir):
    # Same sizes, other bytes: only the saved checksum tells.
    for root, _, files in os.walk(os.path.join(step_dir, "state")):
        for name in files:
            if os.path.basename(root) == "d":
                path = os.path.join(root, name)
                data = bytearray(open(path, "rb").read())
                data[-8:] = bytes(255 - b for b in data[-8:])
                open(path, "wb").write(bytes(data))


@pytest.mark.parametrize(
    "damage", [_halve_data_files, _empty_metadata, _garbage_manifest], ids=lambda f: f.__name__
)
def test_a_damaged_latest_checkpoint_falls_back_to_the_newest_good_one(tmp_path, damage):
    directory = str(tmp_path / "ckpt")
    with RunCheckpointer(directory, max_to_keep=3) as checkpointer:
        for step in (1, 2, 3):
            checkpointer.save(step, _state(step), {"updates_done": step})
    damage(os.path.join(directory, "3"))
    with RunCheckpointer(directory) as checkpointer:
        state, metadata = checkpointer.restore(jax.eval_shape(lambda: _state(0)))
        assert metadata == {"updates_done": 2}
        assert [step for step, _ in checkpointer.skipped] == [3]
        reason = checkpointer.skipped[0][1]
        assert "\n" not in reason and 0 < len(reason) <= 160
        # Asking for the damaged one by name is a one-line error, not orbax's traceback.
        with pytest.raises(CheckpointError, match=r"^checkpoint 3 in .* restores \(3: ") as info:
            checkpointer.restore(_state(0), step=3)
        assert "\n" not in str(info.value)
    _assert_bitwise_equal(state, _state(2))


def test_a_checksum_catches_bytes_that_orbax_reads_without_complaint(tmp_path):
    directory = str(tmp_path / "ckpt")
    with RunCheckpointer(directory) as checkpointer:
        checkpointer.save(1, _state(1), {})
        checkpointer.save(2, _state(2), {})
    _flipped_bytes(os.path.join(directory, "2"))
    with RunCheckpointer(directory) as checkpointer:
        state, _ = checkpointer.restore(_state(0))
        assert checkpointer.skipped[0][0] == 2
    _assert_bitwise_equal(state, _state(1))


def test_no_checkpoint_restores_is_one_line(tmp_path):
    directory = str(tmp_path / "ckpt")
    with RunCheckpointer(directory) as checkpointer:
        checkpointer.save(1, _state(1), {})
        checkpointer.save(2, _state(2), {})
    _empty_metadata(os.path.join(directory, "2"))
    _garbage_manifest(os.path.join(directory, "1"))
    with RunCheckpointer(directory) as checkpointer:
        with pytest.raises(CheckpointError, match=r"^no checkpoint in .* restores \(2: .*; 1: "):
            checkpointer.restore(_state(0))
        assert "\n" not in str(checkpointer.skipped)


def test_a_save_cut_short_leaves_no_checkpoint_behind(tmp_path, monkeypatch):
    directory = str(tmp_path / "ckpt")
    with RunCheckpointer(directory) as checkpointer:
        checkpointer.save(1, _state(1), {"updates_done": 1})

    def crash(*args, **kwargs):
        raise OSError("disk full (simulated crash while writing the metadata)")

    # The state item is written first; the save dies while writing the JSON metadata.
    monkeypatch.setattr(ocp.handlers.JsonCheckpointHandler, "async_save", crash)
    monkeypatch.setattr(ocp.handlers.JsonCheckpointHandler, "save", crash)
    checkpointer = RunCheckpointer(directory)
    with pytest.raises(OSError, match="disk full"):
        checkpointer.save(2, _state(2), {"updates_done": 2})
    monkeypatch.undo()
    # A reader sees only the complete checkpoint: no folder named 2, nothing to skip.
    assert "2" not in os.listdir(directory)
    with RunCheckpointer(directory) as reader:
        assert reader.all_steps() == [1]
        _, metadata = reader.restore(_state(0))
        assert metadata == {"updates_done": 1} and reader.skipped == []


def test_a_failed_restore_leaves_no_event_loop_tracebacks(tmp_path, monkeypatch):
    import sys
    import types

    # Late reads of the failed restores of earlier tests report here too; let them finish first.
    gc.collect()
    time.sleep(0.5)
    gc.collect()
    passed_on = []
    monkeypatch.setattr(sys, "unraisablehook", passed_on.append)
    directory = str(tmp_path / "ckpt")
    with RunCheckpointer(directory) as checkpointer:
        checkpointer.save(1, _state(1), {})
        checkpointer.save(2, _state(2), {})
    _garbage_manifest(os.path.join(directory, "2"))
    with RunCheckpointer(directory) as checkpointer:
        checkpointer.restore(_state(0))
    # orbax's late reads report "Event loop is closed" after a failed restore: not shown.
    report = types.SimpleNamespace
    sys.unraisablehook(report(exc_value=RuntimeError("Event loop is closed")))
    assert passed_on == []
    other = report(exc_value=RuntimeError("something else"))
    sys.unraisablehook(other)
    assert passed_on == [other]
