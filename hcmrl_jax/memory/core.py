"""The memory-core interface every memory of an agent implements, and what a core can do.

A *memory core* is what :class:`~hcmrl_jax.models.policy.MemoryAugmentedPolicy` steps once per
environment step: :class:`~hcmrl_jax.memory.hierarchical.HierarchicalMemory` (HCMRL and its
ablations) or a baseline of :mod:`hcmrl_jax.models.baselines` (MLP, GRU, window transformer).
Every core implements :class:`MemoryCore`; the parts only some cores have (a VAE to train, a
novelty score, a salience input, a parallel replay, a short-term tier) are declared in its
:class:`CoreCapabilities`, which the policy and the trainer read instead of probing the module.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Protocol, runtime_checkable

import jax


@dataclasses.dataclass(frozen=True)
class CoreCapabilities:
    """What a memory core offers beyond :class:`MemoryCore`.

    Attributes:
      vae_segment_length: L, the length of the segments of step embeddings its VAE compresses
        (``vae_loss`` takes [B, L, D]); 0: the core has no VAE to train.
      novelty: it scores an embedding against what it holds (``novelty(state, embedding)``).
      parallel_replay: ``read_sequence`` reads a recorded sequence in parallel over time (False:
        it runs a scan, so a trainer may as well re-run the steps).
      salience_features: O, the width of the salience input its ``step`` takes (0: none).
      short_term: its state has a short-term tier of summaries with spans
        (``state.short_term``) and its read info short-term attention weights and a tier mix,
        which the memory credit option reads.
    """

    vae_segment_length: int = 0
    novelty: bool = False
    parallel_replay: bool = False
    salience_features: int = 0
    short_term: bool = False

    @property
    def vae(self) -> bool:
        """Whether the core has a VAE whose loss a trainer adds."""
        return self.vae_segment_length > 0


@runtime_checkable
class MemoryCore(Protocol):
    """A memory core, written for ONE environment (``jax.vmap`` it at the boundary).

    Methods that use parameters run through ``core.apply(params, ..., method="step")``;
    ``initial_state``, ``replay_context`` and the capabilities need none.

    Cores whose :attr:`capabilities` say so also have ``vae_loss(segments [B, L, D], key) ->
    (loss [], metrics)`` (``vae_segment_length`` > 0) and ``novelty(state, embedding [D]) ->
    [] float32`` (``novelty``).
    """

    @property
    def embed_dim(self) -> int:
        """D: width of the embeddings written, of the queries and of the read-out."""
        ...

    @property
    def capabilities(self) -> CoreCapabilities:
        """What this core offers beyond the common interface."""
        ...

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> Any:
        """The empty state (no parameters needed), with leading ``batch_shape``."""
        ...

    def step(
        self,
        state: Any,
        embedding: jax.Array,
        query: jax.Array,
        is_first: jax.Array,
        salience_input: jax.Array | None = None,
    ) -> tuple[jax.Array, Any, Any]:
        """One environment step: reset on ``is_first`` ([] bool), read with ``query`` [D],
        write ``embedding`` [D]; ``salience_input`` [O] only for cores with
        ``capabilities.salience_features`` = O > 0. Returns (readout [D], state, read info)."""
        ...

    def replay_context(self, state: Any, is_first: jax.Array) -> Any:
        """What a step's read needs recorded for :meth:`read_sequence` (a pytree)."""
        ...

    def read_sequence(
        self,
        state: Any,
        embeddings: jax.Array,
        queries: jax.Array,
        is_first: jax.Array,
        context: Any,
    ) -> jax.Array:
        """The read-outs [T, D] of T consecutive steps from ``state``, given the embeddings and
        queries [T, D], the first-step flags [T] and each step's :meth:`replay_context`."""
        ...
