"""HierarchicalMemory: immediate, short-term and long-term tiers read by hierarchical attention.

One environment at a time; batch with ``jax.vmap`` at the boundary (params broadcast, state and
inputs mapped)::

    memory = HierarchicalMemory(config=MemoryConfig(embed_dim=64))  # or: (embed_dim=64)
    state = memory.initial_state()                  # no params needed
    params = memory.init_params(key)                # attention, tier mix, VAE
    readout, state, info = memory.apply(params, state, embedding, query, is_first, method="step")

A step, in order: clear the episodic tiers if ``is_first`` (the first step of a new episode) ->
read with ``query`` -> write ``embedding`` into the immediate tier -> when a segment of
``segment_length`` steps closes, summarise it (VAE mean, or mean pooling), consolidate the
summary into the long-term tier and push it into the short-term tier (merging neighbours if
full). With ``key_steps`` (the default) each summary also keeps the embedding of its segment's
most *salient* step — the step whose salience input (the observation, given by the caller, or
the embedding itself) was most unusual under a running Gaussian model of that input kept across
episodes — and the read sees that key next to the summary, so a one-step event survives
compression and merging instead of being averaged away. All of it is a fixed amount of work
on fixed-size arrays: a step at t = 10,000 costs what a step at t = 10 costs.

Gradients: the read-out is differentiable in the query, in every attention / tier-mix /
projection parameter and in the embeddings held by the immediate tier (so truncated BPTT through
a rollout trains the embedding). Summaries and templates are stored without gradient; the VAE
learns from :meth:`HierarchicalMemory.vae_loss` on segments of embeddings.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
from flax import struct

from hcmrl_jax.memory.compression import SegmentVAE, mean_pool_summary
from hcmrl_jax.memory.config import SETTING_NAMES, MemoryConfig
from hcmrl_jax.memory.core import CoreCapabilities
from hcmrl_jax.memory.immediate import ImmediateMemory, ImmediateState, immediate_memory
from hcmrl_jax.memory.long_term import LongTermMemory, LongTermState, long_term_memory
from hcmrl_jax.memory.short_term import ShortTermMemory, ShortTermState, short_term_memory
from hcmrl_jax.nn.attention import HierarchicalAttention
from hcmrl_jax.nn.time import log_time_encoding
from hcmrl_jax.nn.windows import sliding_windows

#: Bound on the z-scores of the salience input a key keeps (a rare event can score in the
#: hundreds; the read needs its sign and rough size, not a number that swamps the others).
KEY_INPUT_CLIP = 5.0
TIER_NAMES = ("immediate", "short_term", "long_term")


@struct.dataclass
class MemoryState:
    """State of a hierarchical memory for one environment (leading batch dims when batched).

    Attributes:
      immediate: ring buffer of the last M step embeddings.
      short_term: S summaries of the episode's past segments with their spans.
      long_term: K templates (kept across episodes unless configured otherwise).
      t: [] int32 steps written in the current episode (the episode step of the next write).
      segment_sum: [D] float32 sum of the embeddings of the segment still open.
      segment_features: [A] float32 running sum over the open segment of the encoder's step
        features (VAE: A = vae_hidden_dim) or of squared embeddings (mean pooling: A = D).
      segment_key: [D] float32 embedding of the open segment's most salient step so far.
      segment_key_salience: [] float32 its salience.
      segment_key_step: [] int32 its episode step.
      segment_key_input: [I] float32 its salience input as a clipped z-score (I =
        ``key_input_dim``: O with ``salience_features`` > 0, else 0).
      salience_mean: [O] float32 running mean of the salience input (kept across episodes).
      salience_var: [O] float32 running variance of the salience input (kept across episodes).
      salience_seen: [] float32 steps the running statistics have taken in, counted up to
        ``1 / salience_rate`` (kept across episodes).
      working: [H] float32 the recurrent working state (H = ``working_size``; 0: none).
    """

    immediate: ImmediateState  # [M, D] embeddings, [M] write steps and valid mask
    short_term: ShortTermState  # [S, Z] summaries, [S, D] centroids, [S] spans and masks
    long_term: LongTermState  # [K, Z] templates, [K, D] centroids, [K] counts and mask
    t: jax.Array  # [] int32
    segment_sum: jax.Array  # [D] float32
    segment_features: jax.Array  # [A] float32
    segment_key: jax.Array  # [D] float32
    segment_key_salience: jax.Array  # [] float32
    segment_key_step: jax.Array  # [] int32
    segment_key_input: jax.Array  # [I] float32
    salience_mean: jax.Array  # [O] float32
    salience_var: jax.Array  # [O] float32
    salience_seen: jax.Array  # [] float32
    working: jax.Array  # [H] float32


@struct.dataclass
class MemoryReadInfo:
    """What a read looked at.

    Attributes:
      immediate_weights: [H, M] float32 attention weights over immediate slots.
      short_term_weights: [H, S] float32 attention weights over short-term summaries.
      long_term_weights: [H, K] float32 attention weights over long-term templates.
      tier_mix: [3] float32 weights of the (immediate, short-term, long-term) read-outs.

    Invalid slots, empty tiers and disabled tiers have weight 0.
    """

    immediate_weights: jax.Array  # [H, M] float32
    short_term_weights: jax.Array  # [H, S] float32
    long_term_weights: jax.Array  # [H, K] float32
    tier_mix: jax.Array  # [3] float32


def _select(flag: jax.Array, on_true: Any, on_false: Any) -> Any:
    """Leafwise ``where`` on a scalar flag (a select, so it vmaps and never branches)."""
    return jax.tree.map(lambda a, b: jnp.where(flag, a, b), on_true, on_false)


class _SettingsByName(type):
    """Lets the settings of :class:`MemoryConfig` be passed to the module by name.

    ``HierarchicalMemory(immediate_size=32, short_term_size=16, long_term_size=8)`` is
    ``HierarchicalMemory(config=MemoryConfig(immediate_size=32, ...))``; with ``config`` given
    too, the named settings replace its values (so ``memory.clone(segment_length=8)`` works).
    """

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        settings = {name: kwargs.pop(name) for name in SETTING_NAMES if name in kwargs}
        if settings:
            if args:  # config given positionally
                args = (dataclasses.replace(args[0], **settings), *args[1:])
            else:
                base = kwargs.get("config")
                base = MemoryConfig() if base is None else base
                kwargs["config"] = dataclasses.replace(base, **settings)
        return super().__call__(*args, **kwargs)


class HierarchicalMemory(nn.Module, metaclass=_SettingsByName):
    """Hierarchical compressed memory (immediate -> short-term -> long-term).

    ``HierarchicalMemory(config=MemoryConfig(...))``, or with the settings by name:
    ``HierarchicalMemory(immediate_size=32, short_term_size=16, long_term_size=8)``. The
    settings are validated once, by :class:`MemoryConfig`; a bad value raises ``ValueError``
    naming it. The ablations are configurations (``MemoryConfig.meanpool()``, ...).

    Attributes:
      config: the memory's settings (``config.core`` must be ``"hcmrl"``).
      salience_features: O, width of the salience input given to ``step``/``write`` (e.g. the
        flattened observation: the trainer sets it from the env when ``config.salience`` is
        ``"observation"``); 0 scores the embedding itself.
    """

    config: MemoryConfig = MemoryConfig()
    salience_features: int = 0  # O: width of the salience input (0: the embedding itself)

    def __post_init__(self) -> None:
        if self.config.core != "hcmrl":
            raise ValueError(
                f"HierarchicalMemory needs a config of core 'hcmrl', got {self.config.core!r} "
                "(baseline cores are built by hcmrl_jax.models.make_core)"
            )
        if (
            isinstance(self.salience_features, bool)
            or not isinstance(self.salience_features, int)
            or self.salience_features < 0
        ):
            raise ValueError(
                f"salience_features must be an int >= 0, got {self.salience_features!r}"
            )
        super().__post_init__()

    # ----------------------------------------------------------------------------- configuration

    @property
    def embed_dim(self) -> int:
        """D: width of written embeddings, of queries and of the read-out."""
        return self.config.embed_dim

    @property
    def uses_vae(self) -> bool:
        """Whether summaries come from the VAE (and the VAE has parameters)."""
        return self.config.uses_vae

    @property
    def capabilities(self) -> CoreCapabilities:
        """A VAE (unless ablated), novelty, a parallel replay, a salience input with key steps
        and ``salience_features`` > 0, and a short-term tier (unless ablated)."""
        config = self.config
        return CoreCapabilities(
            vae_segment_length=config.segment_length if self.uses_vae else 0,
            novelty=True,
            parallel_replay=True,
            salience_features=self.salience_features if config.key_steps else 0,
            short_term=config.use_short_term,
        )

    @property
    def summary_dim(self) -> int:
        """Width of a summary / template: Z for the VAE, D for mean pooling."""
        return self.config.latent_dim if self.config.summary == "vae" else self.config.embed_dim

    @property
    def feature_dim(self) -> int:
        """Width A of ``MemoryState.segment_features``."""
        return self.config.vae_hidden_dim if self.config.summary == "vae" else self.config.embed_dim

    @property
    def salience_dim(self) -> int:
        """Width O of the salience input: ``salience_features``, or D for the embedding."""
        return self.salience_features or self.config.embed_dim

    @property
    def key_input_dim(self) -> int:
        """Width of the normalised salience input each key keeps: O with an input of its own
        (``salience_features`` > 0), else 0 (the embedding is kept already)."""
        return self.salience_features if self.config.key_steps and self.config.key_inputs else 0

    @property
    def uses_keys(self) -> bool:
        """Whether short-term summaries carry key steps into the read."""
        return self.config.use_short_term and self.config.key_steps

    @property
    def tier_names(self) -> tuple[str, ...]:
        """The tiers this configuration reads, in order."""
        return TIER_NAMES[: 1 + int(self.config.use_short_term) + int(self.config.use_long_term)]

    def immediate_tier(self) -> ImmediateMemory:
        """The immediate tier's pure functions for this configuration."""
        return immediate_memory(self.config.immediate_size, self.config.embed_dim)

    def short_term_tier(self) -> ShortTermMemory:
        """The short-term tier's pure functions for this configuration."""
        return short_term_memory(
            self.config.short_term_size,
            self.summary_dim,
            self.config.embed_dim,
            adaptive_compression=self.config.adaptive_compression,
            redundancy_floor=self.config.redundancy_floor,
            min_variance=self.config.min_variance,
            key_input_dim=self.key_input_dim,
        )

    def long_term_tier(self) -> LongTermMemory:
        """The long-term tier's pure functions for this configuration."""
        return long_term_memory(
            self.config.long_term_size,
            self.summary_dim,
            self.config.embed_dim,
            template_threshold=self.config.template_threshold,
            template_count_limit=self.config.template_count_limit,
            min_variance=self.config.min_variance,
        )

    # ----------------------------------------------------------------------------------- state

    def initial_state(self, batch_shape: tuple[int, ...] = ()) -> MemoryState:
        """Empty memory; needs no parameters.

        Args:
          batch_shape: leading dims added to every field, e.g. ``(num_envs,)``.

        Returns:
          A :class:`MemoryState` with every tier empty and ``t = 0``.
        """
        state = MemoryState(
            immediate=self.immediate_tier().init(),
            short_term=self.short_term_tier().init(),
            long_term=self.long_term_tier().init(),
            t=jnp.zeros((), jnp.int32),
            segment_sum=jnp.zeros((self.config.embed_dim,), jnp.float32),
            segment_features=jnp.zeros((self.feature_dim,), jnp.float32),
            segment_key=jnp.zeros((self.config.embed_dim,), jnp.float32),
            segment_key_salience=jnp.zeros((), jnp.float32),
            segment_key_step=jnp.zeros((), jnp.int32),
            segment_key_input=jnp.zeros((self.key_input_dim,), jnp.float32),
            salience_mean=jnp.zeros((self.salience_dim,), jnp.float32),
            salience_var=jnp.ones((self.salience_dim,), jnp.float32),
            salience_seen=jnp.zeros((), jnp.float32),
            working=jnp.zeros((self.config.working_size,), jnp.float32),
        )
        return jax.tree.map(lambda leaf: jnp.broadcast_to(leaf, (*batch_shape, *leaf.shape)), state)

    def state_nbytes(self) -> int:
        """Bytes of memory state per environment."""
        return sum(leaf.nbytes for leaf in jax.tree.leaves(self.initial_state()))

    def reset(self, state: MemoryState, is_first: jax.Array) -> MemoryState:
        """Clears the episodic tiers (and long-term unless it persists) where ``is_first``.

        The salience statistics describe the input stream, not the episode, and are kept.

        Args:
          state: one environment's memory.
          is_first: [] bool, True on the first step of a new episode.

        Returns:
          The state, cleared if ``is_first`` (a select, not a branch).
        """
        fresh = self.initial_state().replace(
            salience_mean=state.salience_mean,
            salience_var=state.salience_var,
            salience_seen=state.salience_seen,
        )
        if self.config.long_term_persists:
            fresh = fresh.replace(long_term=state.long_term)
        return _select(jnp.asarray(is_first, bool), fresh, state)

    # ------------------------------------------------------------------------------ parameters

    def setup(self) -> None:
        # Summaries and templates (latent width Z, with their time codes) enter attention
        # through a learned projection to D; immediate slots are already D wide.
        self.attention = HierarchicalAttention(
            tier_names=self.tier_names,
            num_heads=self.config.num_heads,
            head_dim=self.config.embed_dim // self.config.num_heads,
            out_features=self.config.embed_dim,
            input_features=(None,) + (self.config.embed_dim,) * (len(self.tier_names) - 1),
        )
        if self.config.working_size:
            self.working_cell = nn.GRUCell(self.config.working_size)
            self.working_out = nn.Dense(self.config.embed_dim)
        if self.uses_vae:
            self.vae = SegmentVAE(
                segment_length=self.config.segment_length,
                embed_dim=self.config.embed_dim,
                latent_dim=self.config.latent_dim,
                hidden_dim=self.config.vae_hidden_dim,
                beta=self.config.beta,
                log_var_min=self.config.log_var_min,
                log_var_max=self.config.log_var_max,
            )

    def init_params(self, key: jax.Array) -> dict[str, Any]:
        """Creates every parameter (attention, tier mix, projections and the VAE).

        The initialisation is compiled as one program (much faster than running it op by op).

        Args:
          key: PRNG key (any implementation, e.g. ``jax.random.key(0, impl="rbg")``).

        Returns:
          Variables ``{"params": ...}`` for ``memory.apply``.
        """
        return jax.jit(lambda key: self.init(key, method=HierarchicalMemory._create_params))(key)

    def _create_params(self) -> None:
        """Touches every submodule once so that ``init`` creates all parameters."""
        state = self.initial_state()
        zeros = jnp.zeros((self.config.embed_dim,), jnp.float32)
        self._read(state, zeros)
        if self.config.working_size:
            self.working_out(self._advance_working(state.working, zeros, jnp.array(False))[0])
        if self.uses_vae:
            self.vae.decode(
                self.vae.encode(jnp.zeros((self.config.segment_length, self.config.embed_dim)))[0]
            )

    def _ensure_params(self) -> None:
        # Inside a parent's init only the methods it calls would create parameters; create all
        # of them so that a later ``vae_loss`` or ``read`` finds its parameters.
        if self.is_initializing():
            self._create_params()

    # ----------------------------------------------------------------------------------- reads

    def replay_context(self, state: MemoryState, is_first: jax.Array) -> dict[str, Any]:
        """What a step's read sees in the tiers that carry no gradient, for a later replay.

        The short- and long-term tiers hold summaries and templates stored without gradient, so
        a training replay of a recorded sequence can read them as recorded instead of
        recomputing them (see :meth:`read_sequence`). Needs no parameters.

        Args:
          state: one environment's memory before the step.
          is_first: [] bool, the step's first-step flag (the read sees the state after reset).

        Returns:
          ``{"short_term": (mean [S, Zs], age [S], length [S], valid [S]),
          "short_term_keys": (key [S, D], key_age [S], key_salience [S], key_input [S, I]),
          "long_term": (mean [K, Zs], count [K], valid [K])}`` (float32 times, bool masks),
          with only the parts this configuration has (empty for the immediate tier alone).
        """
        return self._context(self.reset(state, is_first))

    def _context(self, state: MemoryState) -> dict[str, Any]:
        """The short- and long-term views of ``state`` (see :meth:`replay_context`)."""
        context: dict[str, Any] = {}
        if self.config.use_short_term:
            context["short_term"] = self.short_term_tier().view(state.short_term, state.t)
        if self.uses_keys:
            context["short_term_keys"] = self.short_term_tier().key_view(state.short_term, state.t)
        if self.config.use_long_term:
            context["long_term"] = self.long_term_tier().view(state.long_term)
        return context

    def _tier_inputs(
        self, immediate: tuple[jax.Array, jax.Array, jax.Array], context: dict[str, Any]
    ) -> list[tuple[tuple[jax.Array, ...], jax.Array]]:
        """Attention inputs per enabled tier: (content [..., N, .], time codes [..., N, .]) and
        the valid mask [..., N], from the immediate view and the other tiers' context."""

        def encode_time(values: jax.Array) -> jax.Array:
            return log_time_encoding(values, self.config.time_features, self.config.time_horizon)

        # Every part of a slot is per environment here, so each tier's parts are joined into one
        # array: one attention contraction per tier instead of one per part.
        def joined(parts: tuple[jax.Array, ...]) -> jax.Array:
            return jnp.concatenate(parts, axis=-1)

        embeddings, ages, valid = immediate
        tiers = [(joined((embeddings, encode_time(ages))), valid)]
        if self.config.use_short_term:
            means, ages, lengths, valid = context["short_term"]
            parts = (means, encode_time(ages), encode_time(lengths))
            if self.uses_keys:
                keys, key_ages, key_saliences, key_inputs = context["short_term_keys"]
                parts = (*parts, keys, encode_time(key_ages))
                if self.key_input_dim:
                    # The key's own input, read through the attention's learned projection: a
                    # decision at t = 1,000 trains how what was seen at t = 0 is read.
                    parts = (*parts, key_inputs)
            short_term = (joined(parts), valid)
            if self.uses_keys and self.config.salience_prior:
                # Salient keys are read first: log(1 + salience) is an additive logit prior
                # (with a learned per-head scale), so the read finds a rare event before its
                # query has learned to look for it.
                short_term = (*short_term, jnp.log1p(key_saliences))
            tiers.append(short_term)
        if self.config.use_long_term:
            means, counts, valid = context["long_term"]
            tiers.append((joined((means, encode_time(counts))), valid))
        return tiers

    def _read(self, state: MemoryState, query: jax.Array) -> tuple[jax.Array, MemoryReadInfo]:
        if query.shape != (self.config.embed_dim,):
            raise ValueError(f"query must have shape ({self.config.embed_dim},), got {query.shape}")
        immediate = self.immediate_tier().view(state.immediate, state.t)
        context = self._context(state)
        tiers = self._tier_inputs(immediate, context)
        readout, weights, mix = self.attention(query.astype(jnp.float32), tiers)
        sizes = (
            self.config.immediate_size,
            self.config.short_term_size,
            self.config.long_term_size,
        )
        full_weights = [
            weights[index] if index < len(weights) else jnp.zeros((self.config.num_heads, size))
            for index, size in enumerate(sizes)
        ]
        tier_mix = jnp.zeros((len(TIER_NAMES),), jnp.float32).at[: mix.shape[-1]].set(mix)
        info = MemoryReadInfo(
            immediate_weights=full_weights[0],
            short_term_weights=full_weights[1],
            long_term_weights=full_weights[2],
            tier_mix=tier_mix,
        )
        return readout, info

    def _advance_working(
        self, hidden: jax.Array, embedding: jax.Array, is_first: jax.Array
    ) -> tuple[jax.Array, jax.Array]:
        """The working state [H] after one step's ``embedding`` [D] from ``hidden`` [H] (zeroed
        first where ``is_first``), twice: (carry, output) for a scan."""
        hidden = jnp.where(is_first, jnp.zeros_like(hidden), hidden)
        hidden, _ = self.working_cell(hidden, embedding.astype(jnp.float32))
        return hidden, hidden

    def _working_sequence(
        self, hidden: jax.Array, embeddings: jax.Array, is_first: jax.Array
    ) -> jax.Array:
        """The working states [T, H] after each of T steps from ``hidden`` [H] (a scan)."""
        scan = nn.scan(
            lambda memory, carry, inputs: memory._advance_working(carry, *inputs),
            variable_broadcast="params",
            split_rngs={"params": False},
        )
        _, hiddens = scan(self, hidden, (embeddings, is_first))
        return hiddens

    def read(self, state: MemoryState, query: jax.Array) -> tuple[jax.Array, MemoryReadInfo]:
        """Reads every tier with hierarchical attention.

        Args:
          state: one environment's memory.
          query: [D] float32.

        Returns:
          readout [D] float32 (0 when memory is empty) and :class:`MemoryReadInfo`.
        """
        self._ensure_params()
        return self._read(state, query)

    def read_sequence(
        self,
        state: MemoryState,
        embeddings: jax.Array,
        queries: jax.Array,
        is_first: jax.Array,
        context: dict[str, Any],
    ) -> jax.Array:
        """The reads of T consecutive :meth:`step` calls at once, in parallel over time.

        Replays a recorded sequence for training: the read-out at step t equals what ``step``
        returned there (up to float rounding) when ``state`` is the memory before step 0,
        ``embeddings`` and ``queries`` are the ones given to the steps and ``context`` is
        :meth:`replay_context` recorded before each step. The immediate tier is rebuilt from
        ``embeddings`` (so gradients reach them, as through a step-by-step replay); the
        short- and long-term tiers are read as recorded (they hold no gradient). There is no
        scan: each step's immediate window is gathered from the initial buffer and the
        sequence, masked to the step's episode, and all T reads run as one batched attention.

        Args:
          state: one environment's memory before the first step.
          embeddings: [T, D] float32 embeddings written at each step.
          queries: [T, D] float32 read queries.
          is_first: [T] bool first-step flags.
          context: :meth:`replay_context` of each step, every leaf with a leading [T] axis.

        Returns:
          readouts [T, D] float32.
        """
        size, dim = self.config.immediate_size, self.config.embed_dim
        if embeddings.ndim != 2 or embeddings.shape[1] != dim:
            raise ValueError(f"embeddings must have shape [T, {dim}], got {embeddings.shape}")
        if queries.shape != embeddings.shape or is_first.shape != embeddings.shape[:1]:
            raise ValueError(
                f"queries {queries.shape} and is_first {is_first.shape} must match embeddings "
                f"{embeddings.shape} as [T, D] and [T]"
            )
        self._ensure_params()
        # The buffer before step 0, oldest first: entry j holds episode step t0 - M + j.
        held, held_valid = self.immediate_tier().latest(state.immediate, state.t, size)
        sequence = jnp.concatenate([held, embeddings.astype(jnp.float32)])  # [M + T, D]
        index, valid, ages = sliding_windows(held_valid, is_first)  # [T, M] each
        ages = jnp.where(valid, ages, 0).astype(jnp.float32)
        immediate = (sequence[index], ages, valid)  # [T, M, D], [T, M], [T, M]
        tiers = self._tier_inputs(immediate, context)
        readouts, _, _ = self.attention(queries.astype(jnp.float32), tiers)
        if self.config.working_size:
            hiddens = self._working_sequence(state.working, embeddings, is_first)
            readouts = readouts + self.working_out(hiddens)
        return readouts

    # ---------------------------------------------------------------------------------- writes

    def summarize(self, segment: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Summary of whole segments, as the memory would store it.

        Args:
          segment: [..., L, D] float32.

        Returns:
          mean [..., summary_dim] float32 and log_var [..., summary_dim] float32 (the VAE's
          posterior mean and log-variance, or the mean-pool summary).
        """
        if segment.shape[-2:] != (self.config.segment_length, self.config.embed_dim):
            raise ValueError(
                f"segment must end in ({self.config.segment_length}, {self.config.embed_dim}), "
                f"got {segment.shape}"
            )
        if self.uses_vae:
            return self.vae.encode(segment)
        return mean_pool_summary(
            jnp.sum(segment, axis=-2),
            jnp.sum(jnp.square(segment), axis=-2),
            self.config.segment_length,
            self.config.min_variance,
        )

    def decode(self, latent: jax.Array) -> jax.Array:
        """Decodes VAE latents into segments: [..., Z] -> [..., L, D] float32."""
        if not self.uses_vae:
            raise ValueError("decode needs summary='vae' and use_short_term=True")
        return self.vae.decode(latent)

    def _salience_input(self, embedding: jax.Array, salience_input: jax.Array | None) -> jax.Array:
        """The [O] float32 vector salience is scored on (checked against ``salience_features``)."""
        if salience_input is None:
            if self.salience_features:
                raise ValueError(
                    f"this memory scores salience on a {self.salience_features}-wide input "
                    "(salience_features); pass salience_input"
                )
            return jax.lax.stop_gradient(embedding)
        salience_input = jnp.asarray(salience_input, jnp.float32)
        if salience_input.shape != (self.salience_dim,):
            raise ValueError(
                f"salience_input must have shape ({self.salience_dim},), got "
                f"{salience_input.shape} (salience_features={self.salience_features})"
            )
        return jax.lax.stop_gradient(salience_input)

    def z_scores(self, state: MemoryState, salience_input: jax.Array) -> jax.Array:
        """The salience input in units of the running Gaussian: [O] float32
        ``(x_o - mean_o) / sqrt(var_o + min_variance)``."""
        deviation = salience_input - state.salience_mean
        return deviation / jnp.sqrt(state.salience_var + self.config.min_variance)

    def salience(self, state: MemoryState, salience_input: jax.Array) -> jax.Array:
        """How unusual a step is: its input's mean squared z-score under the running Gaussian.

        ``mean_o z_o^2`` (see :meth:`z_scores`): about 1 for a typical step, large for a step
        that shows what the stream rarely shows (a cue, a key, a landmark).

        Args:
          state: one environment's memory (its ``salience_mean`` / ``salience_var``).
          salience_input: [O] float32.

        Returns:
          [] float32 >= 0.
        """
        return jnp.mean(jnp.square(self.z_scores(state, salience_input)))

    def _update_salience_stats(self, state: MemoryState, salience_input: jax.Array) -> MemoryState:
        """The running mean and variance of the salience input, one step on.

        The rate is ``max(salience_rate, 1 / (seen + 2))``: over a fresh memory's first
        ``1 / salience_rate`` steps the statistics are the plain mean and variance of what it
        has seen (the initial mean 0 and variance 1 counting as one step), after that an
        exponentially weighted one. A fresh agent (a new run, an evaluation) so scores salience
        against its stream from its first steps, not against the initial guess for thousands
        of steps.
        """
        floor = self.config.salience_rate
        seen = state.salience_seen
        rate = jnp.maximum(floor, 1.0 / (seen + 2.0))
        deviation = salience_input - state.salience_mean
        return state.replace(
            salience_mean=state.salience_mean + rate * deviation,
            salience_var=(1.0 - rate) * (state.salience_var + rate * jnp.square(deviation)),
            salience_seen=jnp.minimum(seen + 1.0, jnp.float32(1.0 / floor)),
        )

    def _write(
        self,
        state: MemoryState,
        embedding: jax.Array,
        consolidate_now: bool,
        salience_input: jax.Array | None = None,
    ) -> MemoryState:
        if embedding.shape != (self.config.embed_dim,):
            raise ValueError(
                f"embedding must have shape ({self.config.embed_dim},), got {embedding.shape}"
            )
        embedding = embedding.astype(jnp.float32)
        step = state.t
        state = state.replace(
            immediate=self.immediate_tier().write(state.immediate, embedding, step), t=step + 1
        )
        if not self.config.use_short_term:
            return state
        if self.config.key_steps:
            scored = self._salience_input(embedding, salience_input)
            # One z-score pass gives both the step's salience and the input its key keeps.
            z = self.z_scores(state, scored)
            salience = jnp.mean(jnp.square(z))
            key_input = jnp.clip(z, -KEY_INPUT_CLIP, KEY_INPUT_CLIP)[: self.key_input_dim]
            state = self._update_salience_stats(state, scored)

        # The segment summary is accumulated step by step (no gradient: the VAE learns from
        # vae_loss), so closing a segment costs one head evaluation, not a re-encoding.
        length = self.config.segment_length
        # ``rem`` rather than ``%``: steps are non-negative, and XLA inlines this into every
        # element of the updates that depend on it, where the sign fix-ups of ``%`` add up.
        position = jax.lax.rem(step, length)
        stored = jax.lax.stop_gradient(embedding)
        if self.uses_vae:
            features = jax.lax.stop_gradient(self.vae.step_features(stored, position))
        else:
            features = jnp.square(stored)
        segment_sum = state.segment_sum + stored
        segment_features = state.segment_features + features
        due = position == length - 1
        if self.config.key_steps:
            # The segment's key: its most salient step so far (the earliest on a tie).
            take = (position == 0) | (salience > state.segment_key_salience)
            state = state.replace(
                segment_key=jnp.where(take, stored, state.segment_key),
                segment_key_salience=jnp.where(take, salience, state.segment_key_salience),
                segment_key_step=jnp.where(take, step, state.segment_key_step),
                segment_key_input=jnp.where(take, key_input, state.segment_key_input),
            )

        if self.uses_vae:
            mean, log_var = self.vae.head(segment_features / length)
            mean, log_var = jax.lax.stop_gradient((mean, log_var))
        else:
            mean, log_var = mean_pool_summary(
                segment_sum, segment_features, length, self.config.min_variance
            )
        centroid = segment_sum / length
        long_term = state.long_term
        pending = length
        if consolidate_now and self.config.use_long_term:
            weight = jnp.where(due, jnp.float32(length), 0.0)
            long_term = self.long_term_tier().consolidate(
                long_term, mean, log_var, centroid, weight
            )
            pending = 0
        short_term = self.short_term_tier().push(
            state.short_term,
            mean,
            log_var,
            centroid,
            step + 1 - length,
            step + 1,
            pending,
            due,
            key=state.segment_key,
            key_salience=state.segment_key_salience,
            key_step=state.segment_key_step,
            key_input=state.segment_key_input,
        )
        return state.replace(
            short_term=short_term,
            long_term=long_term,
            segment_sum=jnp.where(due, 0.0, segment_sum),
            segment_features=jnp.where(due, 0.0, segment_features),
        )

    def write(
        self, state: MemoryState, embedding: jax.Array, salience_input: jax.Array | None = None
    ) -> MemoryState:
        """Writes one step's embedding; compresses the segment into short-term when it closes.

        The new summary is left pending for :meth:`consolidate` (``step`` consolidates at once).

        Args:
          state: one environment's memory.
          embedding: [D] float32.
          salience_input: [O] float32 what the step's salience is scored on (with
            ``salience_features`` = O > 0, e.g. the flattened observation); None scores the
            embedding (``salience_features`` = 0).

        Returns:
          The updated state (``t`` advanced by one).
        """
        self._ensure_params()
        return self._write(state, embedding, consolidate_now=False, salience_input=salience_input)

    def consolidate(self, state: MemoryState) -> MemoryState:
        """Consolidates every pending short-term summary into the long-term templates.

        Summaries are absorbed oldest first, each weighted by its steps not yet consolidated.

        Args:
          state: one environment's memory.

        Returns:
          The state with updated templates and no pending summary.
        """
        if not self.config.use_long_term:
            return state
        short_term = state.short_term
        weights = jnp.where(short_term.valid, short_term.pending, 0).astype(jnp.float32)
        long_term = self.long_term_tier().consolidate_many(
            state.long_term, short_term.mean, short_term.log_var, short_term.centroid, weights
        )
        settled = short_term.replace(pending=jnp.zeros_like(short_term.pending))
        return state.replace(long_term=long_term, short_term=settled)

    def step(
        self,
        state: MemoryState,
        embedding: jax.Array,
        query: jax.Array,
        is_first: jax.Array,
        salience_input: jax.Array | None = None,
    ) -> tuple[jax.Array, MemoryState, MemoryReadInfo]:
        """One environment step: reset if first -> read -> write -> compress/consolidate if due.

        Args:
          state: one environment's memory.
          embedding: [D] float32 embedding of the current step, written after the read.
          query: [D] float32 read query.
          is_first: [] bool, True on the first step of a new episode.
          salience_input: [O] float32 what the step's salience is scored on (see :meth:`write`).

        Returns:
          readout [D] float32 (the tiers' attention read-out, plus a projection of the working
          state after this step's embedding when ``working_size`` > 0), the new state and the
          read's :class:`MemoryReadInfo`.
        """
        for name, value in (("embedding", embedding), ("query", query)):
            if value.shape != (self.config.embed_dim,):
                raise ValueError(
                    f"{name} must have shape ({self.config.embed_dim},), got {value.shape}"
                )
        self._ensure_params()
        state = self.reset(state, is_first)
        readout, info = self._read(state, query)
        if self.config.working_size:
            # The working state integrates every step (the reset above already cleared it).
            working, _ = self._advance_working(state.working, embedding, jnp.array(False))
            readout = readout + self.working_out(working)
            state = state.replace(working=working)
        state = self._write(state, embedding, consolidate_now=True, salience_input=salience_input)
        return readout, state, info

    # ------------------------------------------------------------------------------- auxiliary

    def vae_loss(
        self, segments: jax.Array, key: jax.Array
    ) -> tuple[jax.Array, dict[str, jax.Array]]:
        """VAE loss on segments: reconstruction + beta * KL (the only place that samples).

        With no VAE in this configuration (mean pooling or no short-term tier) the loss is 0,
        so a training loop needs no special case for the ablations.

        Args:
          segments: [B, L, D] float32 segments of step embeddings.
          key: PRNG key for the latent samples.

        Returns:
          loss [] float32 and metrics {"reconstruction", "kl", "loss"} of [] float32.
        """
        length, dim = self.config.segment_length, self.config.embed_dim
        if segments.ndim != 3 or segments.shape[1:] != (length, dim):
            raise ValueError(f"segments must have shape [B, {length}, {dim}], got {segments.shape}")
        if not self.uses_vae:
            zero = jnp.zeros((), jnp.float32)
            return zero, {"reconstruction": zero, "kl": zero, "loss": zero}
        return self.vae.loss(segments.astype(jnp.float32), key)

    def novelty(self, state: MemoryState, embedding: jax.Array) -> jax.Array:
        """How far an embedding is from everything memory holds.

        The smallest mean squared difference between ``embedding`` and the immediate slots, the
        short-term centroids and the long-term centroids that are valid; 0 when memory is empty.

        Args:
          state: one environment's memory.
          embedding: [D] float32.

        Returns:
          [] float32 >= 0.
        """
        if embedding.shape != (self.config.embed_dim,):
            raise ValueError(
                f"embedding must have shape ({self.config.embed_dim},), got {embedding.shape}"
            )
        held = jnp.concatenate(
            [state.immediate.embeddings, state.short_term.centroid, state.long_term.centroid]
        )
        valid = jnp.concatenate(
            [state.immediate.valid, state.short_term.valid, state.long_term.valid]
        )
        distance = jnp.mean(jnp.square(held - embedding.astype(jnp.float32)), axis=-1)
        nearest = jnp.min(jnp.where(valid, distance, jnp.inf))
        return jnp.where(jnp.any(valid), nearest, 0.0)
