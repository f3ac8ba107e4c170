"""Baseline memory cores, implementing :class:`~hcmrl_jax.memory.core.MemoryCore` like
``HierarchicalMemory``.

Each core is a linen Module written for ONE environment with

* ``initial_state(batch_shape=())`` -> state pytree (no parameters needed),
* ``step(state, embedding, query, is_first) -> (readout [D], state, info)``: reset on the
  first-step flag of a new episode, then read / update,
* ``replay_context`` / ``read_sequence``: the reads of a recorded sequence at once,
* ``capabilities``: what the core offers beyond that (:class:`CoreCapabilities`),

so :class:`hcmrl_jax.models.policy.MemoryAugmentedPolicy` runs any of them unchanged:

* :class:`MLPCore` — memoryless: the read-out is an MLP of the current embedding only.
* :class:`GRUCore` — flax ``GRUCell`` over the embeddings, reset at episode start.
* :class:`WindowTransformerCore` — a sliding-window transformer over the last ``window``
  embeddings with GTrXL-style gating; a fixed-size cache of each layer's inputs lives in the
  state, so a step costs the same at t = 10 and t = 10,000.

The MLP and the transformer read a recorded sequence in parallel over time, so the trainer
replays them that way; the GRU's ``read_sequence`` is a scan of its cell, and the trainer
replays it step by step.

Their width (hidden units / feed-forward width) is a field;
:func:`hcmrl_jax.models.budget.size_core` picks the width whose parameter count is closest to a
target, which is how the trainer gives every baseline the parameter budget of HCMRL.
"""

from __future__ import annotations

from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from hcmrl_jax.memory.core import CoreCapabilities
from hcmrl_jax.nn.time import sinusoidal_time_encoding
from hcmrl_jax.nn.windows import ring_history, sliding_windows

# ---------------------------------------------------------------------------------------------
# Memoryless MLP
# ---------------------------------------------------------------------------------------------


@struct.dataclass
class MLPState:
    """The memoryless core has no state; the empty pytree keeps the interface uniform."""


class MLPCore(nn.Module):
    """Memoryless baseline: read-out = MLP(current embedding).

    Attributes:
        embed_dim: D, width of the embedding and of the read-out.
        hidden: width of the hidden layer (sized to the parameter budget).
    """

    embed_dim: int = 64
    hidden: int = 64

    #: Reads a sequence in parallel (each read depends on its own step only); nothing else.
    capabilities: ClassVar[CoreCapabilities] = CoreCapabilities(parallel_replay=True)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> MLPState:
        """The (empty) state; ``batch_shape`` is accepted for interface uniformity."""
        del batch_shape
        return MLPState()

    def setup(self) -> None:
        self.hidden_layer = nn.Dense(self.hidden)
        self.out = nn.Dense(self.embed_dim)

    def _readout(self, embedding: jax.Array) -> jax.Array:
        return self.out(nn.relu(self.hidden_layer(embedding)))

    def step(
        self,
        state: MLPState,
        embedding: jax.Array,
        query: jax.Array,
        is_first: jax.Array,
        salience_input: jax.Array | None = None,
    ) -> tuple[jax.Array, MLPState, dict]:
        """Args: embedding [D] float32; query, is_first and salience_input unused. Returns
        readout [D]."""
        del query, is_first, salience_input
        return self._readout(embedding), state, {}

    def replay_context(self, state: MLPState, is_first: jax.Array) -> dict:
        """Nothing to record: the core has no memory."""
        del state, is_first
        return {}

    def read_sequence(
        self,
        state: MLPState,
        embeddings: jax.Array,
        queries: jax.Array,
        is_first: jax.Array,
        context: dict,
    ) -> jax.Array:
        """The read-outs [T, D] of T steps at once (each depends on its own embedding only)."""
        del state, queries, is_first, context
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(
                f"embeddings must have shape [T, {self.embed_dim}], got {embeddings.shape}"
            )
        return self._readout(embeddings)


# ---------------------------------------------------------------------------------------------
# GRU
# ---------------------------------------------------------------------------------------------


@struct.dataclass
class GRUState:
    """Recurrent state of :class:`GRUCore`."""

    hidden: jax.Array  # [H] float32


class GRUCore(nn.Module):
    """GRU baseline: h_t = GRUCell(h_{t-1} reset at episode start, embedding_t).

    Attributes:
        embed_dim: D, width of the embedding and of the read-out (a projection of h).
        hidden: H, GRU width (sized to the parameter budget).
    """

    embed_dim: int = 64
    hidden: int = 64

    #: Nothing beyond the interface: its ``read_sequence`` is a scan over the steps.
    capabilities: ClassVar[CoreCapabilities] = CoreCapabilities()

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> GRUState:
        """Zero hidden state with leading ``batch_shape``."""
        return GRUState(hidden=jnp.zeros((*batch_shape, self.hidden), jnp.float32))

    def setup(self) -> None:
        self.cell = nn.GRUCell(self.hidden)
        self.readout = nn.Dense(self.embed_dim)

    def _advance(self, hidden: jax.Array, embedding: jax.Array, is_first: jax.Array):
        """(h [H], readout [D]) after one step from h [H] (reset first where ``is_first``)."""
        hidden = jnp.where(is_first, jnp.zeros_like(hidden), hidden)
        hidden, _ = self.cell(hidden, embedding)
        return hidden, self.readout(hidden)

    def step(
        self,
        state: GRUState,
        embedding: jax.Array,
        query: jax.Array,
        is_first: jax.Array,
        salience_input: jax.Array | None = None,
    ) -> tuple[jax.Array, GRUState, dict]:
        """One GRU step for one environment.

        Args:
            state: GRUState with hidden [H].
            embedding: [D] float32.
            query: unused (the GRU reads its whole state).
            is_first: [] bool, True on the first step of an episode (resets h before the step).
            salience_input: unused.

        Returns:
            readout [D] float32, the new state, an empty info dict.
        """
        del query, salience_input
        hidden, readout = self._advance(state.hidden, embedding, is_first)
        return readout, GRUState(hidden=hidden), {}

    def replay_context(self, state: GRUState, is_first: jax.Array) -> dict:
        """Nothing to record: the replay re-runs the cell from the state before the sequence."""
        del state, is_first
        return {}

    def read_sequence(
        self,
        state: GRUState,
        embeddings: jax.Array,
        queries: jax.Array,
        is_first: jax.Array,
        context: dict,
    ) -> jax.Array:
        """The read-outs [T, D] of T consecutive :meth:`step` calls: a scan of the cell over
        ``embeddings`` [T, D] from ``state``, reset where ``is_first`` [T] (queries and
        context unused)."""
        del queries, context
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(
                f"embeddings must have shape [T, {self.embed_dim}], got {embeddings.shape}"
            )
        scan = nn.scan(
            lambda core, hidden, inputs: core._advance(hidden, *inputs),
            variable_broadcast="params",
            split_rngs={"params": False},
        )
        _, readouts = scan(self, state.hidden, (embeddings.astype(jnp.float32), is_first))
        return readouts


# ---------------------------------------------------------------------------------------------
# Sliding-window transformer (GTrXL-style gating)
# ---------------------------------------------------------------------------------------------


@struct.dataclass
class WindowState:
    """Fixed-size cache of :class:`WindowTransformerCore` (a ring buffer over steps)."""

    cache: jax.Array  # [Y, W, D] float32: input of each layer at each cached step
    valid: jax.Array  # [W] bool: slot holds a step of the current episode
    time: jax.Array  # [W] int32: episode step index of the cached step
    t: jax.Array  # [] int32: episode step index of the next step


class GRUGate(nn.Module):
    """GTrXL gate g(x, y) = (1 - z) * x + z * h, biased towards the identity at init.

    Attributes:
        features: width of x and y.
        gate_bias: initial bias subtracted from the update gate (GTrXL uses 2).
    """

    features: int
    gate_bias: float = 2.0

    @nn.compact
    def __call__(self, x: jax.Array, y: jax.Array) -> jax.Array:
        """Args: x residual stream [..., D], y sub-layer output [..., D]. Returns [..., D]."""
        dense = lambda name, bias: nn.Dense(self.features, use_bias=bias, name=name)  # noqa: E731
        r = nn.sigmoid(dense("wr", True)(y) + dense("ur", False)(x))
        z = nn.sigmoid(dense("wz", True)(y) + dense("uz", False)(x) - self.gate_bias)
        h = nn.tanh(dense("wg", True)(y) + dense("ug", False)(r * x))
        return (1.0 - z) * x + z * h


class WindowTransformerLayer(nn.Module):
    """One gated transformer layer: the current step attends to the cached window and itself.

    Attributes:
        features: D.
        num_heads: attention heads (D must divide by it).
        ff_dim: width of the feed-forward sub-layer.
        max_period: longest period of the age encoding.
    """

    features: int
    num_heads: int
    ff_dim: int
    max_period: float

    @nn.compact
    def __call__(
        self, x: jax.Array, memory: jax.Array, valid: jax.Array, age: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """Args (any leading dims ``...``, e.g. none for one step or [T] for a sequence):
            x: [..., D] layer input at the current step.
            memory: [..., W, D] this layer's inputs at the cached steps.
            valid: [..., W] bool.
            age: [..., W] int32 steps since each cached step.

        Returns:
            The layer output [..., D] and the attention weights [..., heads, W + 1] (last: the
            step itself).
        """
        d, heads = self.features, self.num_heads
        head_dim = d // heads
        lead = x.shape[:-1]
        norm_q, norm_kv = nn.LayerNorm(name="norm_q"), nn.LayerNorm(name="norm_kv")
        keys_in = jnp.concatenate([memory, x[..., None, :]], axis=-2)  # [..., W+1, D]
        ages = jnp.concatenate([age, jnp.zeros((*lead, 1), age.dtype)], axis=-1)
        mask = jnp.concatenate([valid, jnp.ones((*lead, 1), jnp.bool_)], axis=-1)
        keys_in = norm_kv(keys_in) + sinusoidal_time_encoding(ages, d, self.max_period)
        q = nn.Dense(d, name="q")(norm_q(x)).reshape(*lead, heads, head_dim)
        k = nn.Dense(d, name="k")(keys_in).reshape(*lead, -1, heads, head_dim)
        v = nn.Dense(d, name="v")(keys_in).reshape(*lead, -1, heads, head_dim)
        scores = jnp.einsum("...hc,...whc->...hw", q, k) / jnp.sqrt(jnp.float32(head_dim))
        # The current step is always a valid key, so the softmax never runs over nothing.
        scores = jnp.where(mask[..., None, :], scores, jnp.finfo(jnp.float32).min)
        weights = jax.nn.softmax(scores, axis=-1)
        attended = jnp.einsum("...hw,...whc->...hc", weights, v).reshape(*lead, d)
        attended = nn.Dense(d, name="o")(attended)
        x = GRUGate(d, name="gate_attn")(x, nn.relu(attended))
        y = nn.Dense(self.ff_dim, name="ff_in")(nn.LayerNorm(name="norm_ff")(x))
        y = nn.Dense(d, name="ff_out")(nn.relu(y))
        return GRUGate(d, name="gate_ff")(x, nn.relu(y)), weights


class WindowTransformerCore(nn.Module):
    """Attention baseline over the last ``window`` step embeddings (GTrXL-style gating).

    Attributes:
        embed_dim: D.
        window: W, number of past steps kept in the cache.
        num_layers: Y, transformer layers.
        num_heads: attention heads.
        ff_dim: feed-forward width (sized to the parameter budget).
        max_period: longest period of the age encoding, in steps.
    """

    embed_dim: int = 64
    window: int = 32
    num_layers: int = 1
    num_heads: int = 4
    ff_dim: int = 64
    max_period: float = 10_000.0

    #: Reads a sequence in parallel over time and scores novelty against its cache.
    capabilities: ClassVar[CoreCapabilities] = CoreCapabilities(novelty=True, parallel_replay=True)

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> WindowState:
        """Empty cache with leading ``batch_shape``."""
        y, w, d = self.num_layers, self.window, self.embed_dim
        return WindowState(
            cache=jnp.zeros((*batch_shape, y, w, d), jnp.float32),
            valid=jnp.zeros((*batch_shape, w), jnp.bool_),
            time=jnp.zeros((*batch_shape, w), jnp.int32),
            t=jnp.zeros(batch_shape, jnp.int32),
        )

    def setup(self) -> None:
        if self.embed_dim % self.num_heads:
            raise ValueError(
                f"WindowTransformerCore: embed_dim {self.embed_dim} must divide by num_heads "
                f"{self.num_heads}"
            )
        self.layers = [
            WindowTransformerLayer(self.embed_dim, self.num_heads, self.ff_dim, self.max_period)
            for _ in range(self.num_layers)
        ]

    def _reset(self, state: WindowState, is_first: jax.Array) -> WindowState:
        return WindowState(
            cache=state.cache,
            valid=jnp.where(is_first, False, state.valid),
            time=state.time,
            t=jnp.where(is_first, 0, state.t),
        )

    def step(
        self,
        state: WindowState,
        embedding: jax.Array,
        query: jax.Array,
        is_first: jax.Array,
        salience_input: jax.Array | None = None,
    ) -> tuple[jax.Array, WindowState, dict]:
        """One step for one environment: reset -> attend over the window -> write the step.

        Args:
            state: WindowState (one environment).
            embedding: [D] float32.
            query: unused (the current embedding is the layer-0 input and query).
            is_first: [] bool.
            salience_input: unused.

        Returns:
            readout [D] float32, the new state, info {"attention": [Y, heads, W + 1] float32}.
        """
        del query, salience_input
        state = self._reset(state, is_first)
        age = state.t - state.time
        x = embedding
        inputs, weights = [], []
        for index, layer in enumerate(self.layers):
            inputs.append(x)
            x, w = layer(x, state.cache[index], state.valid, age)
            weights.append(w)
        slot = state.t % self.window
        new_state = WindowState(
            cache=state.cache.at[:, slot].set(jnp.stack(inputs)),
            valid=state.valid.at[slot].set(True),
            time=state.time.at[slot].set(state.t),
            t=state.t + 1,
        )
        return x, new_state, {"attention": jnp.stack(weights)}

    def replay_context(self, state: WindowState, is_first: jax.Array) -> dict:
        """Nothing to record for a parallel replay: the cache is rebuilt from the sequence."""
        del state, is_first
        return {}

    def read_sequence(
        self,
        state: WindowState,
        embeddings: jax.Array,
        queries: jax.Array,
        is_first: jax.Array,
        context: dict,
    ) -> jax.Array:
        """The read-outs of T consecutive :meth:`step` calls at once, in parallel over time.

        Layer by layer, each step attends to the ``window`` inputs before it (from the cache in
        ``state`` or from the sequence itself, masked to the step's episode) and to itself, as
        ``step`` does; every step of a layer runs at once.

        Args:
            state: the cache before the first step.
            embeddings: [T, D] float32.
            queries: unused (as in ``step``).
            is_first: [T] bool.
            context: :meth:`replay_context` per step (empty).

        Returns:
            readouts [T, D] float32, equal to the steps' up to float rounding.
        """
        del queries, context
        if embeddings.ndim != 2 or embeddings.shape[1] != self.embed_dim:
            raise ValueError(
                f"embeddings must have shape [T, {self.embed_dim}], got {embeddings.shape}"
            )
        if is_first.shape != embeddings.shape[:1]:
            raise ValueError(f"is_first must have shape [T], got {is_first.shape}")
        # Cached steps before step 0, oldest first: entry j holds episode step t0 - W + j.
        slots, held_valid = ring_history(state.time, state.valid, state.t, self.window)
        # Step t attends to the W entries before it (and to itself, inside the layer).
        index, valid, age = sliding_windows(held_valid, is_first)  # [T, W] each
        x = embeddings.astype(jnp.float32)
        for position, layer in enumerate(self.layers):
            sequence = jnp.concatenate([state.cache[position][slots], x])  # [W + T, D]
            x, _ = layer(x, sequence[index], valid, age)
        return x

    def novelty(self, state: WindowState, embedding: jax.Array) -> jax.Array:
        """Distance from ``embedding`` [D] to the nearest cached step embedding; 0 when empty."""
        dist = jnp.sqrt(jnp.sum(jnp.square(state.cache[0] - embedding), axis=-1) + 1e-12)
        nearest = jnp.min(jnp.where(state.valid, dist, jnp.inf))
        return jnp.where(jnp.any(state.valid), nearest, 0.0)
