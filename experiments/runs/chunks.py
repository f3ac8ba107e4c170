"""A run's compiled functions: init and chunks of PPO updates, compiled once per chunk size.

A run advances in chunks of updates (:func:`chunk_schedule`); between chunks it logs and saves
checkpoints. :class:`ChunkedTrainer` holds the jitted init and chunk functions of one config and
makes a fresh and a restored runner state hit the same compiled program. :data:`TRAINERS` keeps
the trainers of recent configs for the whole process, so training a config again (a resume,
evaluating a run just trained, the tests) compiles nothing new.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import jax

from hcmrl_jax.rl import PPOConfig, make_train_chunks
from hcmrl_jax.utils.checkpoint import strong_types
from hcmrl_jax.utils.serialization import config_to_dict


def chunk_schedule(num_updates: int, chunk_updates: int, start: int = 0) -> list[int]:
    """Chunk sizes that take ``start`` updates to ``num_updates``, aligned to multiples of
    ``chunk_updates`` from 0, so a resumed run cuts its chunks where an uninterrupted one does."""
    sizes = []
    done = start
    while done < num_updates:
        boundary = (done // chunk_updates + 1) * chunk_updates
        sizes.append(min(boundary, num_updates) - done)
        done += sizes[-1]
    return sizes


class ChunkedTrainer:
    """Compiled init and chunk-update functions of one config, compiled once per chunk size.

    Args:
        config: the PPO config.
        make_chunks: ``make_chunks(config, updates_per_chunk) -> (init_fn, update_fn)``.
    """

    def __init__(self, config: PPOConfig, make_chunks: Callable = make_train_chunks):
        self.config = config
        self._make_chunks = make_chunks
        self._init_fn = None
        self._init_jit = None
        self._template = None
        self._update_fns: dict[int, Callable] = {}

    def _fns(self, size: int) -> tuple[Callable, Callable]:
        init_fn, update_fn = self._make_chunks(self.config, size)
        if self._init_fn is None:
            self._init_fn = init_fn
        return init_fn, update_fn

    def _strong_init(self, key: jax.Array) -> Any:
        if self._init_fn is None:
            self._fns(1)
        return strong_types(self._init_fn(key))

    def init(self, key: jax.Array) -> Any:
        """The initial runner state, committed to its devices like a restored one, so a fresh
        and a resumed run hit the same compiled chunk."""
        if self._init_jit is None:
            self._init_jit = jax.jit(self._strong_init)
        state = self._init_jit(key)
        return jax.tree.map(lambda leaf: jax.device_put(leaf, leaf.sharding), state)

    def state_template(self, key: jax.Array) -> Any:
        """The runner state's structure, shapes and dtypes, without computing it."""
        if self._template is None:
            self._template = jax.eval_shape(self._strong_init, key)
        return self._template

    def update(self, runner_state: Any, size: int) -> tuple[Any, dict[str, Any]]:
        """Runs ``size`` updates; the input state's buffers are donated (reused in place)."""
        if size not in self._update_fns:
            _, update_fn = self._fns(size)
            self._update_fns[size] = jax.jit(update_fn, donate_argnums=0)
        return self._update_fns[size](runner_state)


class TrainerCache:
    """The :class:`ChunkedTrainer` of each of the last few configs, built on first use.

    Args:
        max_size: how many configs' trainers are kept; the oldest goes first.
    """

    def __init__(self, max_size: int = 4):
        if max_size < 1:
            raise ValueError(f"TrainerCache.max_size must be >= 1, got {max_size}")
        self.max_size = max_size
        self._trainers: dict[str, ChunkedTrainer] = {}

    def get(self, config: PPOConfig) -> ChunkedTrainer:
        """The trainer of ``config`` (configs are compared by their JSON form)."""
        key = json.dumps(config_to_dict(config), sort_keys=True)
        if key not in self._trainers:
            while len(self._trainers) >= self.max_size:
                self._trainers.pop(next(iter(self._trainers)))
            self._trainers[key] = ChunkedTrainer(config)
        return self._trainers[key]


#: The process's trainers, shared by every run and evaluation in it: compiled functions are
#: what a second run of a config (a resume, a notebook re-run, the tests) would otherwise redo.
TRAINERS = TrainerCache()


def get_trainer(config: PPOConfig) -> ChunkedTrainer:
    """The process-wide cached :class:`ChunkedTrainer` of ``config`` (from :data:`TRAINERS`)."""
    return TRAINERS.get(config)
