"""Observation encoder and the observation decoder used by the self-supervised objective.

Observations are either a single array (gymnax's own envs) or a dict of small arrays (the
benchmark envs). An :class:`ObservationSpec`, read from the env's gymnax observation space,
says for every leaf whether it holds integer ids (embedded with a table whose vocabulary comes
from the space's ``high``) or floats (flattened and fed to a dense layer). A leaf named
``action_mask`` is not encoded: the policy uses it to mask invalid actions.

Every module here is written for ONE environment (no batch axis); the trainer vmaps it.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

ACTION_MASK_KEY = "action_mask"


@dataclasses.dataclass(frozen=True)
class LeafSpec:
    """How one observation leaf is encoded.

    Attributes:
        key: the leaf's key in the observation dict; ``None`` for a plain-array observation.
        shape: the leaf's shape for one environment.
        vocab: number of integer ids (``high - low + 1``) for an id leaf; 0 for a float leaf.
        offset: subtracted from an id leaf before the table lookup (the space's ``low``).
    """

    key: str | None
    shape: tuple[int, ...]
    vocab: int
    offset: int = 0

    @property
    def is_ids(self) -> bool:
        """Whether the leaf holds integer ids (embedded) rather than floats (dense)."""
        return self.vocab > 0

    @property
    def size(self) -> int:
        """Number of elements of the leaf."""
        return math.prod(self.shape)


@dataclasses.dataclass(frozen=True)
class ObservationSpec:
    """Static description of an observation: its leaves and whether it has an action mask.

    Attributes:
        leaves: the encoded leaves, in a fixed (sorted-key) order.
        is_dict: whether observations are dicts (else a single array).
        num_mask_actions: width of the ``action_mask`` leaf, 0 when there is none.
    """

    leaves: tuple[LeafSpec, ...]
    is_dict: bool
    num_mask_actions: int = 0

    @property
    def has_action_mask(self) -> bool:
        """Whether observations carry an ``action_mask`` leaf."""
        return self.num_mask_actions > 0


def _leaf_spec_from_space(key: str | None, space: Any) -> LeafSpec:
    """Builds a :class:`LeafSpec` from a gymnax ``Box`` or ``Discrete`` space."""
    shape = tuple(int(d) for d in getattr(space, "shape", ()))
    dtype = np.dtype(getattr(space, "dtype", np.float32))
    if hasattr(space, "n") and not hasattr(space, "high"):
        return LeafSpec(key=key, shape=shape, vocab=int(space.n), offset=0)
    if np.issubdtype(dtype, np.integer):
        low = int(np.min(np.asarray(space.low)))
        high = int(np.max(np.asarray(space.high)))
        if high < low:
            raise ValueError(f"observation leaf {key!r}: space high {high} < low {low}")
        return LeafSpec(key=key, shape=shape, vocab=high - low + 1, offset=low)
    return LeafSpec(key=key, shape=shape, vocab=0)


def observation_spec(space: Any) -> ObservationSpec:
    """Reads an :class:`ObservationSpec` from a gymnax observation space.

    Args:
        space: a gymnax ``Box``/``Discrete`` space, or a ``Dict`` of them.

    Returns:
        The spec. Integer leaves become id leaves with vocabulary ``high - low + 1``; float and
        bool leaves become float leaves; a dict leaf named ``action_mask`` becomes the mask.

    Raises:
        ValueError: for a nested dict or an empty dict space.
    """
    subspaces = getattr(space, "spaces", None)
    if subspaces is None:
        return ObservationSpec(leaves=(_leaf_spec_from_space(None, space),), is_dict=False)
    if not isinstance(subspaces, Mapping):
        raise ValueError(f"observation space {space!r}: only Box, Discrete or Dict are supported")
    leaves = []
    num_mask_actions = 0
    for key in sorted(subspaces):
        sub = subspaces[key]
        if getattr(sub, "spaces", None) is not None:
            raise ValueError(f"observation leaf {key!r}: nested observation spaces are unsupported")
        if key == ACTION_MASK_KEY:
            num_mask_actions = int(math.prod(sub.shape))
            continue
        leaves.append(_leaf_spec_from_space(key, sub))
    if not leaves:
        raise ValueError("observation space has no leaf to encode besides the action mask")
    return ObservationSpec(leaves=tuple(leaves), is_dict=True, num_mask_actions=num_mask_actions)


def spec_from_example(obs: Any) -> ObservationSpec:
    """Infers a spec for float observations from one example (no id vocabulary is knowable).

    Raises:
        ValueError: if a leaf holds integers, whose vocabulary needs the observation space.
    """
    if isinstance(obs, Mapping):
        items = [(k, obs[k]) for k in sorted(obs) if k != ACTION_MASK_KEY]
        num_mask = int(np.size(obs[ACTION_MASK_KEY])) if ACTION_MASK_KEY in obs else 0
    else:
        items, num_mask = [(None, obs)], 0
    leaves = []
    for key, leaf in items:
        if jnp.issubdtype(jnp.asarray(leaf).dtype, jnp.integer):
            raise ValueError(
                f"observation leaf {key!r} holds integers: pass obs_spec=observation_spec(space) "
                "so the encoder knows the id vocabulary"
            )
        leaves.append(LeafSpec(key=key, shape=tuple(np.shape(leaf)), vocab=0))
    return ObservationSpec(
        leaves=tuple(leaves), is_dict=isinstance(obs, Mapping), num_mask_actions=num_mask
    )


def get_leaf(obs: Any, leaf: LeafSpec) -> jax.Array:
    """Returns the array of ``leaf`` from an observation (dict or plain array)."""
    return obs if leaf.key is None else obs[leaf.key]


def observation_size(spec: ObservationSpec) -> int:
    """Number of numbers in an observation's encoded leaves (the action mask excluded)."""
    return sum(leaf.size for leaf in spec.leaves)


def flatten_observation(obs: Any, spec: ObservationSpec) -> jax.Array:
    """The encoded leaves of one observation as one float vector [observation_size] float32.

    Id leaves enter as their id values (a rare id stands out as a rare value), in the spec's
    leaf order. It is what the memory scores a step's salience on.
    """
    return jnp.concatenate(
        [jnp.asarray(get_leaf(obs, leaf), jnp.float32).reshape(-1) for leaf in spec.leaves]
    )


def action_mask(obs: Any, spec: ObservationSpec) -> jax.Array | None:
    """The observation's ``action_mask`` leaf as bool ``[A]`` (True = allowed), or None."""
    if not spec.has_action_mask:
        return None
    return jnp.asarray(obs[ACTION_MASK_KEY]).reshape(-1).astype(jnp.bool_)


class ObservationEncoder(nn.Module):
    """Encodes one environment's observation into an embedding ``[features]`` float32.

    Id leaves go through an embedding table (``id_embed_dim`` per id, optionally a 3x3 conv
    over grids of rank >= 2), float leaves are flattened; all leaves are concatenated and
    passed through a two-layer MLP with a final LayerNorm, which keeps the scale of what the
    memory stores fixed.

    Attributes:
        spec: the observation spec; ``None`` infers a float-only spec from the input.
        features: output width D.
        id_embed_dim: embedding width per integer id.
        conv_features: channels of a 3x3 conv applied to id grids (rank >= 2); 0 disables it.
    """

    spec: ObservationSpec | None
    features: int
    id_embed_dim: int = 8
    conv_features: int = 0

    @nn.compact
    def __call__(self, obs: Any) -> jax.Array:
        """Args: obs: one environment's observation. Returns: embedding [D] float32."""
        spec = self.spec if self.spec is not None else spec_from_example(obs)
        parts = []
        for leaf in spec.leaves:
            x = jnp.asarray(get_leaf(obs, leaf))
            if x.shape != leaf.shape:
                raise ValueError(
                    f"observation leaf {leaf.key!r} has shape {x.shape}, expected {leaf.shape} "
                    "(the encoder is written for one environment; vmap it over a batch)"
                )
            name = "obs" if leaf.key is None else leaf.key
            if leaf.is_ids:
                ids = jnp.clip(x.astype(jnp.int32) - leaf.offset, 0, leaf.vocab - 1)
                emb = nn.Embed(leaf.vocab, self.id_embed_dim, name=f"embed_{name}")(ids)
                if self.conv_features > 0 and len(leaf.shape) >= 2:
                    emb = nn.relu(
                        nn.Conv(self.conv_features, (3, 3), padding="SAME", name=f"conv_{name}")(
                            emb
                        )
                    )
                parts.append(emb.reshape(-1))
            else:
                parts.append(x.astype(jnp.float32).reshape(-1))
        h = jnp.concatenate(parts, axis=-1)
        h = nn.relu(nn.Dense(self.features, name="hidden")(h))
        h = nn.Dense(self.features, name="out")(h)
        return nn.LayerNorm(name="norm")(h)


class ObservationDecoder(nn.Module):
    """Reconstructs the observation from an embedding: the encoder's self-supervised objective.

    The loss is, per leaf, the mean cross-entropy over the ids of an id leaf or the mean squared
    error of a float leaf, summed over leaves. It gives every step embedding a reason to hold
    what was observed, so information written to memory long before it is needed survives even
    where truncated BPTT cannot reach.

    Attributes:
        spec: the observation spec; ``None`` infers a float-only spec from the input.
        hidden: width of the decoder's hidden layer.
    """

    spec: ObservationSpec | None
    hidden: int

    @nn.compact
    def __call__(self, embedding: jax.Array, obs: Any) -> jax.Array:
        """Reconstruction loss for one environment step.

        Args:
            embedding: [D] float32.
            obs: the observation the embedding was computed from.

        Returns:
            [] float32 loss (>= 0).
        """
        spec = self.spec if self.spec is not None else spec_from_example(obs)
        h = nn.relu(nn.Dense(self.hidden, name="hidden")(embedding))
        total = jnp.zeros((), jnp.float32)
        for leaf in spec.leaves:
            target = jnp.asarray(get_leaf(obs, leaf))
            name = "obs" if leaf.key is None else leaf.key
            if leaf.is_ids:
                logits = nn.Dense(leaf.size * leaf.vocab, name=f"logits_{name}")(h)
                logits = logits.reshape(leaf.size, leaf.vocab)
                ids = jnp.clip(
                    target.reshape(-1).astype(jnp.int32) - leaf.offset, 0, leaf.vocab - 1
                )
                logp = jax.nn.log_softmax(logits, axis=-1)
                total = total - jnp.mean(jnp.take_along_axis(logp, ids[:, None], axis=-1))
            else:
                pred = nn.Dense(leaf.size, name=f"pred_{name}")(h)
                total = total + jnp.mean(jnp.square(pred - target.reshape(-1).astype(jnp.float32)))
        return total
