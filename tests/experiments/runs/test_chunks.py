"""Chunk schedules, the compiled chunk functions of one config, and the trainer cache (a toy
chunk function here: the PPO ones run in tests/experiments/test_train.py)."""

import dataclasses

import jax
import jax.numpy as jnp
import pytest

from experiments.runs.chunks import ChunkedTrainer, TrainerCache, chunk_schedule
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.utils.checkpoint import RunCheckpointer


def test_chunk_schedule_aligns_resumed_chunks():
    assert chunk_schedule(10, 4) == [4, 4, 2]
    assert chunk_schedule(10, 4, start=4) == [4, 2]
    assert chunk_schedule(10, 4, start=5) == [3, 2]  # back on the uninterrupted boundaries
    assert chunk_schedule(3, 10) == [3]
    assert chunk_schedule(4, 2, start=4) == []


def _counter_chunks(config, updates_per_chunk):
    """A stand-in for make_train_chunks: the state counts updates, from a weakly typed 0."""

    def init_fn(key):
        return {"count": 0, "key": key}  # a Python int: weakly typed once traced

    def update_fn(state):
        count = state["count"] + jnp.arange(1, updates_per_chunk + 1, dtype=jnp.int32)
        return {**state, "count": count[-1]}, {"count": count}

    return init_fn, update_fn


def test_fresh_and_restored_states_share_one_compiled_chunk(tmp_path):
    trainer = ChunkedTrainer(PPOConfig(), make_chunks=_counter_chunks)
    key = jax.random.key(0)
    template = trainer.state_template(key)
    assert not template["count"].weak_type and template["count"].dtype == jnp.int32
    state = trainer.init(key)
    assert not jax.typeof(state["count"]).weak_type
    state, metrics = trainer.update(state, 3)
    assert metrics["count"].tolist() == [1, 2, 3]
    with RunCheckpointer(str(tmp_path)) as checkpointer:
        checkpointer.save(3, state, {"updates_done": 3})
        restored, _ = checkpointer.restore(template)
    state, metrics = trainer.update(restored, 3)
    assert metrics["count"].tolist() == [4, 5, 6]
    state, _ = trainer.update(state, 2)
    assert int(state["count"]) == 8
    assert sorted(trainer._update_fns) == [2, 3]
    assert trainer._update_fns[3]._cache_size() == 1


def test_trainer_cache_shares_equal_configs_and_drops_the_oldest():
    cache = TrainerCache(max_size=2)
    first = cache.get(PPOConfig(num_envs=8))
    assert cache.get(PPOConfig(num_envs=8)) is first  # equal by value, not by identity
    assert cache.get(dataclasses.replace(PPOConfig(), num_envs=8)) is first
    second = cache.get(PPOConfig(num_envs=16))
    cache.get(PPOConfig(num_envs=32))  # a third config: the oldest (num_envs=8) goes
    assert cache.get(PPOConfig(num_envs=16)) is second
    assert cache.get(PPOConfig(num_envs=8)) is not first
    with pytest.raises(ValueError, match="max_size must be >= 1"):
        TrainerCache(max_size=0)
