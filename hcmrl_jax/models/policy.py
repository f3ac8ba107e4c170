"""The memory-augmented actor-critic, written for one environment (vmapped by the trainer).

``MemoryAugmentedPolicy(state_dim=64, action_dim=10, memory=memory)``:

1. ``embedding = encoder(obs)`` — [D] float32 (:class:`ObservationEncoder`);
2. ``readout, carry, info = memory.step(carry, embedding, query=embedding, is_first)``
   (:meth:`MemoryAugmentedPolicy.step_memory`, also usable alone for analysis) — the
   memory resets its episodic state on the first-step flag, reads with the current embedding
   as the query, then writes the embedding (and compresses / consolidates when due); a memory
   with ``salience_features`` > 0 also gets the flattened observation to score the step's
   salience on (which step of a segment its summary keeps as key);
3. ``logits = actor([embedding, readout])`` with invalid actions (``action_mask``) set to a
   large negative number, and ``value = ValueHead([embedding, readout])``.

``memory`` is any memory core (:class:`~hcmrl_jax.memory.core.MemoryCore`):
``HierarchicalMemory`` (HCMRL and its ablations) or a baseline core from
:mod:`hcmrl_jax.models.baselines` (MLP, GRU, window transformer). What a core offers beyond
the common interface (a VAE to train, a novelty score, a salience input, a parallel replay) is
read from its ``capabilities``. Every variant shares ``initial_carry()`` and the per-step call
``(carry, obs, is_first) -> (carry, logits, value, aux)``.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from hcmrl_jax.memory.core import CoreCapabilities, MemoryCore
from hcmrl_jax.models.encoder import (
    ObservationDecoder,
    ObservationEncoder,
    ObservationSpec,
    action_mask,
    flatten_observation,
    spec_from_example,
)
from hcmrl_jax.models.value import ValueHead

# Logit given to a masked action: finite, so that p * log p is exactly 0 (never 0 * -inf = NaN),
# and far below any reachable logit, so that p underflows to exactly 0.
MASKED_LOGIT = -1e9


def factored_logits(component_logits: jax.Array, factors: tuple[int, ...]) -> jax.Array:
    """Flat logits [A] of a product of one categorical per action component.

    Args:
        component_logits: [sum(factors)] float32, the components' logits one after another.
        factors: the components' sizes (F_1, ..., F_k), A = F_1 * ... * F_k; the flat action
            is their row-major index ``((a_1 * F_2 + a_2) * F_3 + ...) + a_k``.

    Returns:
        [A] float32 with ``logits[a] = sum_i component_logits_i[a_i]``.
    """
    offsets = np.cumsum(factors)[:-1]
    parts = jnp.split(component_logits, offsets, axis=-1)
    logits = parts[0]
    for part in parts[1:]:
        logits = (logits[:, None] + part[None, :]).reshape(-1)
    return logits


def check_action_factors(
    factors: tuple[int, ...], action_dim: int | None = None, name: str = "action_factors"
) -> None:
    """Raises ``ValueError`` (naming the setting ``name``) unless ``factors`` is () or positive
    integers, whose product is ``action_dim`` when it is given."""
    if any(isinstance(f, bool) or not isinstance(f, int) or f <= 0 for f in factors):
        raise ValueError(f"{name} must be positive integers, got {tuple(factors)}")
    if factors and action_dim is not None and int(np.prod(factors)) != action_dim:
        raise ValueError(
            f"action_factors {tuple(factors)} multiply to {int(np.prod(factors))}, but the "
            f"env has {action_dim} actions"
        )


class ActorHead(nn.Module):
    """Policy logits from the features [F] float32 -> [A] float32.

    Attributes:
        hidden: width of the two hidden layers.
        action_dim: number of discrete actions A.
        action_factors: () for one logit per action; else the sizes of the action's
            components (their product is A), each with its own logits, the flat action's logit
            being their sum (:func:`factored_logits`).
    """

    hidden: int
    action_dim: int
    action_factors: tuple[int, ...] = ()

    @nn.compact
    def __call__(self, features: jax.Array) -> jax.Array:
        h = nn.tanh(nn.Dense(self.hidden, name="hidden_0")(features))
        h = nn.tanh(nn.Dense(self.hidden, name="hidden_1")(h))
        width = sum(self.action_factors) if self.action_factors else self.action_dim
        # Small output scale: near-uniform initial policy (maximal early entropy).
        out = nn.Dense(width, kernel_init=nn.initializers.orthogonal(0.01), name="out")(h)
        if self.action_factors:
            return factored_logits(out, self.action_factors)
        return out


class MemoryAugmentedPolicy(nn.Module):
    """Encoder -> memory step -> actor and value heads, for one environment.

    Attributes:
        state_dim: D, the encoder width (= the memory's ``embed_dim``).
        action_dim: A, number of discrete actions.
        memory: the memory core (``HierarchicalMemory`` or a baseline core).
        obs_spec: the observation spec (:func:`hcmrl_jax.models.encoder.observation_spec`);
            ``None`` accepts float observations only. The trainer fills it from the env.
        head_hidden: width of the actor, value and reconstruction hidden layers; ``None`` = D.
        id_embed_dim: embedding width per integer observation id.
        conv_features: channels of the encoder's 3x3 conv over id grids; 0 disables it.
        compute_novelty: also score each embedding's novelty against the memory (before the
            step's write) and return it in ``aux["novelty"]`` (0 on an episode's first step).
        action_factors: () for a flat actor head; else the sizes of the action's components
            (product ``action_dim``), whose logits the actor adds up (:class:`ActorHead`).
    """

    state_dim: int = 64
    action_dim: int = 10
    memory: MemoryCore | None = None
    obs_spec: ObservationSpec | None = None
    head_hidden: int | None = None
    id_embed_dim: int = 8
    conv_features: int = 0
    compute_novelty: bool = False
    action_factors: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.state_dim <= 0 or self.action_dim <= 0:
            raise ValueError(
                f"MemoryAugmentedPolicy: state_dim ({self.state_dim}) and action_dim "
                f"({self.action_dim}) must be positive"
            )
        check_action_factors(self.action_factors, self.action_dim)
        if self.memory is None:
            raise ValueError("MemoryAugmentedPolicy: memory is required (a memory module)")
        if not isinstance(self.memory, MemoryCore):
            raise ValueError(
                f"MemoryAugmentedPolicy: memory must be a memory core (hcmrl_jax.memory."
                f"MemoryCore: embed_dim, capabilities, initial_state, step, replay_context, "
                f"read_sequence); {type(self.memory).__name__} is not"
            )
        if self.memory.embed_dim != self.state_dim:
            raise ValueError(
                f"MemoryAugmentedPolicy: state_dim ({self.state_dim}) must equal the memory's "
                f"embed_dim ({self.memory.embed_dim})"
            )
        if self.compute_novelty and not self.memory.capabilities.novelty:
            raise ValueError(
                f"MemoryAugmentedPolicy: compute_novelty needs a memory with novelty(); "
                f"{type(self.memory).__name__} has none"
            )
        super().__post_init__()

    @property
    def hidden(self) -> int:
        return self.head_hidden or self.state_dim

    @property
    def capabilities(self) -> CoreCapabilities:
        """What the memory core offers beyond the common interface."""
        return self.memory.capabilities

    def setup(self) -> None:
        self.encoder = ObservationEncoder(
            spec=self.obs_spec,
            features=self.state_dim,
            id_embed_dim=self.id_embed_dim,
            conv_features=self.conv_features,
        )
        self.actor = ActorHead(self.hidden, self.action_dim, tuple(self.action_factors))
        self.critic = ValueHead(self.hidden)
        self.decoder = ObservationDecoder(self.obs_spec, self.hidden)

    def initial_carry(self, batch_shape: tuple[int, ...] = ()) -> Any:
        """The memory's initial state (no parameters needed), with leading ``batch_shape``."""
        if batch_shape:
            return self.memory.initial_state(batch_shape=batch_shape)
        return self.memory.initial_state()

    def __call__(
        self, carry: Any, obs: Any, is_first: jax.Array
    ) -> tuple[Any, jax.Array, jax.Array, dict]:
        """One step for one environment.

        Args:
            carry: the memory state before this step.
            obs: the observation (array or dict of arrays, one environment).
            is_first: [] bool, True on the first step of an episode.

        Returns:
            (carry, logits [A] float32 (masked actions at ``MASKED_LOGIT``), value [] float32,
            aux) with aux = {"embedding": [D] float32, "novelty": [] float32,
            "memory_info": the memory's read info (MemoryReadInfo or a dict)}.
        """
        embedding = self.encoder(obs)
        if self.compute_novelty:
            novelty = self.memory.novelty(carry, embedding)
            novelty = jnp.where(is_first, 0.0, novelty).astype(jnp.float32)
        else:
            novelty = jnp.zeros((), jnp.float32)
        readout, carry, info = self.step_memory(carry, embedding, obs, is_first)
        logits, value = self.heads(embedding, readout, obs)
        aux = {"embedding": embedding, "novelty": novelty, "memory_info": info}
        return carry, logits, value, aux

    def step_memory(
        self, carry: Any, embedding: jax.Array, obs: Any, is_first: jax.Array
    ) -> tuple[jax.Array, Any, Any]:
        """The memory's step for one environment, the embedding as both entry and query.

        Args:
            carry: the memory state before this step.
            embedding: [D] float32 the step's embedding (:meth:`embed`).
            obs: the observation (a salience-scoring memory scores the flattened observation).
            is_first: [] bool, True on the first step of an episode.

        Returns:
            (readout [D] float32, the memory state after the step, the memory's read info).
        """
        salience_width = self.capabilities.salience_features
        if salience_width:
            spec = self.obs_spec if self.obs_spec is not None else spec_from_example(obs)
            salience_input = flatten_observation(obs, spec)
            if salience_input.shape != (salience_width,):
                raise ValueError(
                    f"the memory scores salience on {salience_width} numbers "
                    f"(salience_features) but observations have {salience_input.shape[0]}"
                )
            return self.memory.step(carry, embedding, embedding, is_first, salience_input)
        return self.memory.step(carry, embedding, embedding, is_first)

    def embed(self, obs: Any) -> jax.Array:
        """The encoder alone: one environment's observation -> embedding [D] float32."""
        return self.encoder(obs)

    def heads(
        self, embedding: jax.Array, readout: jax.Array, obs: Any
    ) -> tuple[jax.Array, jax.Array]:
        """Actor and critic on ``[embedding, readout]`` (both [D] float32) for one step.

        Returns logits [A] float32 (actions masked by ``obs``'s action mask at
        ``MASKED_LOGIT``) and value [] float32.
        """
        features = jnp.concatenate([embedding, readout], axis=-1)
        logits = self.actor(features)
        spec = self.obs_spec if self.obs_spec is not None else spec_from_example(obs)
        mask = action_mask(obs, spec)
        if mask is not None:
            if mask.shape[0] != self.action_dim:
                raise ValueError(
                    f"action_mask has {mask.shape[0]} entries but action_dim is {self.action_dim}"
                )
            logits = jnp.where(mask, logits, MASKED_LOGIT)
        return logits, self.critic(features)

    def replay_reads(
        self, carry: Any, embeddings: jax.Array, is_first: jax.Array, context: Any
    ) -> jax.Array:
        """The memory read-outs [T, D] of a recorded sequence of one environment, in parallel.

        Needs a memory whose ``read_sequence`` runs in parallel (``capabilities.parallel_replay``);
        ``carry`` is the memory state before the sequence, ``embeddings`` [T, D] the steps'
        embeddings (also the queries), ``is_first`` [T] bool and ``context`` the memory's
        ``replay_context`` recorded at each step.
        """
        if not self.capabilities.parallel_replay:
            raise ValueError(f"{type(self.memory).__name__} has no parallel read_sequence")
        return self.memory.read_sequence(carry, embeddings, embeddings, is_first, context)

    def reconstruction_loss(self, embedding: jax.Array, obs: Any) -> jax.Array:
        """Self-supervised loss of one step: reconstruct ``obs`` from ``embedding`` [D].

        Returns [] float32.
        """
        return self.decoder(embedding, obs)

    def vae_loss(self, segments: jax.Array, key: jax.Array) -> tuple[jax.Array, dict]:
        """The memory's VAE loss on segments [B, L, D] float32; (0, {}) without a VAE."""
        if not self.capabilities.vae:
            return jnp.zeros((), jnp.float32), {}
        return self.memory.vae_loss(segments, key)

    def novelty(self, carry: Any, embedding: jax.Array) -> jax.Array:
        """Novelty [] float32 of ``embedding`` [D] against the memory state ``carry``."""
        return self.memory.novelty(carry, embedding)

    def init_all(self, carry: Any, obs: Any, is_first: jax.Array, key: jax.Array) -> jax.Array:
        """Touches every parameter (acting, reconstruction decoder, VAE) so ``init`` makes all.

        Use as ``policy.init(key, carry, obs, is_first, key, method="init_all")``.
        """
        carry, logits, value, aux = self(carry, obs, is_first)
        total = jnp.sum(logits) + value + self.reconstruction_loss(aux["embedding"], obs)
        if self.capabilities.vae:
            length = self.capabilities.vae_segment_length
            segments = jnp.zeros((1, length, self.state_dim), jnp.float32)
            total = total + self.vae_loss(segments, key)[0]
        return total
