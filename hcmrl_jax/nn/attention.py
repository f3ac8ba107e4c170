"""Masked multi-head attention and hierarchical (tier-then-mix) attention.

Both modules are written for reading a memory with few queries and many slots, which is how an
agent reads its memory at every environment step. Instead of projecting every slot to keys and
values, the query is mapped into slot-feature space once per head and the attention-weighted
slot features are projected afterwards. This is the same function as ordinary multi-head
attention (keys carry no bias, which a softmax ignores anyway) but costs
``O(heads * slots * features)`` rather than ``O(slots * features * width)`` per query.

Every softmax here is *masked*: invalid slots get weight exactly 0, and a set with no valid slot
gets all-zero weights and reads as exactly 0 (never a softmax over nothing, which is NaN).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp


def masked_softmax(logits: jax.Array, mask: jax.Array, axis: int = -1) -> jax.Array:
    """Softmax over the entries where ``mask`` is True; all-zero where no entry is valid.

    Args:
      logits: [..., N] float32 scores.
      mask: [..., N] bool, broadcastable to ``logits``; True marks a valid entry.
      axis: the axis to normalise over.

    Returns:
      [..., N] float32 weights: 0 on invalid entries, summing to 1 along ``axis`` where at
      least one entry is valid and to 0 where none is. Gradients are finite in both cases.
    """
    mask = jnp.broadcast_to(mask, logits.shape)
    # Shift by the largest *valid* logit for stability; where there is none the shift is unused.
    largest = jnp.max(jnp.where(mask, logits, -jnp.inf), axis=axis, keepdims=True)
    largest = jnp.where(jnp.isfinite(largest), largest, 0.0)
    shifted = jnp.where(mask, logits - jax.lax.stop_gradient(largest), 0.0)
    unnormalised = jnp.where(mask, jnp.exp(shifted), 0.0)
    total = jnp.sum(unnormalised, axis=axis, keepdims=True)
    return unnormalised / jnp.where(total > 0.0, total, 1.0)


class MaskedMultiHeadAttention(nn.Module):
    """Multi-head attention of queries over a masked set of slots.

    With ``input_features`` set, slot features first go through a learned linear projection to
    that width (for example summaries from a latent space into the model width). The projection
    is folded into the key and value kernels, which depends on parameters only, so under
    ``vmap`` it is computed once per batch rather than once per slot and environment.

    Attributes:
      num_heads: number of heads H.
      head_dim: per-head width of queries, keys and values.
      out_features: width of the output.
      input_features: width of the learned input projection, or None for no projection.
    """

    num_heads: int
    head_dim: int
    out_features: int
    input_features: int | None = None

    def __post_init__(self) -> None:
        for field in ("num_heads", "head_dim", "out_features"):
            if getattr(self, field) <= 0:
                raise ValueError(f"{field} must be positive, got {getattr(self, field)}")
        if self.input_features is not None and self.input_features <= 0:
            raise ValueError(f"input_features must be positive or None, got {self.input_features}")
        super().__post_init__()

    @nn.compact
    def __call__(
        self,
        query: jax.Array,
        inputs: jax.Array | Sequence[jax.Array],
        mask: jax.Array,
        prior: jax.Array | None = None,
    ) -> tuple[jax.Array, jax.Array]:
        """Attends from ``query`` to the valid rows of ``inputs``.

        With ``prior``, each slot's logit gets ``prior_scale[h] * prior`` added: a bottom-up
        preference for some slots (e.g. the salient ones) that holds before the query has
        learned anything and that the learned per-head ``prior_scale`` (initially 1) can
        strengthen, weaken or undo.

        ``inputs`` may be given in parts that share the slot axis (for example content and a
        time code), read as if concatenated along the feature axis; a part without the leading
        batch dimensions (a constant shared by every environment) is then never copied per
        environment.

        Args:
          query: [..., Dq] float32.
          inputs: [..., N, F] float32 slot features, or a sequence of parts [..., N, F_i]
            (leading dims broadcast against ``query``).
          mask: [..., N] bool, True for valid slots.
          prior: optional [..., N] float32 additive logit prior per slot.

        Returns:
          out: [..., out_features] float32; exactly 0 where no slot is valid.
          weights: [..., H, N] float32 attention weights; 0 on invalid slots.
        """
        parts = (inputs,) if isinstance(inputs, jax.Array) else tuple(inputs)
        widths = [part.shape[-1] for part in parts]
        features = sum(widths)
        width = features if self.input_features is None else self.input_features
        init = nn.initializers.lecun_normal()
        w_query = self.param("query_kernel", init, (query.shape[-1], self.num_heads, self.head_dim))
        b_query = self.param("query_bias", nn.initializers.zeros, (self.num_heads, self.head_dim))
        w_key = self.param("key_kernel", init, (width, self.num_heads, self.head_dim))
        w_value = self.param("value_kernel", init, (width, self.num_heads, self.head_dim))
        b_value = self.param("value_bias", nn.initializers.zeros, (self.num_heads, self.head_dim))
        w_out = self.param(
            "out_kernel",
            nn.initializers.lecun_normal(in_axis=(0, 1), out_axis=2),
            (self.num_heads, self.head_dim, self.out_features),
        )
        if self.input_features is not None:
            w_in = self.param("input_kernel", init, (features, width))
            b_in = self.param("input_bias", nn.initializers.zeros, (width,))
            # keys  W_k (W_in x + b_in): the bias term is the same for every slot, so the
            # softmax ignores it; values W_v (W_in x + b_in) + b_v: the bias folds into b_v.
            b_value = b_value + jnp.einsum("f,fhk->hk", b_in, w_value)
            w_key = jnp.einsum("if,fhk->ihk", w_in, w_key)
            w_value = jnp.einsum("if,fhk->ihk", w_in, w_value)

        q = jnp.einsum("...d,dhk->...hk", query, w_query) + b_query  # [..., H, dk]
        # Query mapped into slot-feature space: <q, W_k x> = <W_k^T q, x>.
        q_in = jnp.einsum("...hk,fhk->...hf", q, w_key) / math.sqrt(self.head_dim)  # [..., H, F]
        offsets = [sum(widths[:index]) for index in range(len(parts) + 1)]
        logits = sum(
            jnp.einsum("...nf,...hf->...hn", part, q_in[..., start:stop])
            for part, start, stop in zip(parts, offsets[:-1], offsets[1:], strict=True)
        )  # [..., H, N]
        if prior is not None:
            prior_scale = self.param("prior_scale", nn.initializers.ones, (self.num_heads,))
            logits = logits + prior_scale[:, None] * prior[..., None, :]
        weights = masked_softmax(logits, mask[..., None, :])
        # The value bias enters with the total weight, so an empty set reads as exactly 0.
        total = jnp.sum(weights, axis=-1)[..., None]  # [..., H, 1]
        values = total * b_value
        for part, start, stop in zip(parts, offsets[:-1], offsets[1:], strict=True):
            pooled = jnp.einsum("...hn,...nf->...hf", weights, part)  # [..., H, F_i]
            values = values + jnp.einsum("...hf,fhk->...hk", pooled, w_value[start:stop])
        out = jnp.einsum("...hk,hko->...o", values, w_out)
        return out, weights


class HierarchicalAttention(nn.Module):
    """Attention inside each tier, then a learned, query-dependent mix across tiers.

    Each tier has its own :class:`MaskedMultiHeadAttention`. The mix is a masked softmax of a
    linear function of the query over the tiers that hold at least one valid slot, so an empty
    tier gets mix weight 0 and the read-out is 0 when every tier is empty.

    Attributes:
      tier_names: one name per tier (used for parameter names), e.g. ("immediate", "short_term").
      num_heads: heads per tier.
      head_dim: per-head width.
      out_features: width D of the read-out.
      input_features: per tier, the width of a learned input projection of its slot features
        (None: no projection); empty means no projection for any tier.
    """

    tier_names: tuple[str, ...]
    num_heads: int
    head_dim: int
    out_features: int
    input_features: tuple[int | None, ...] = ()

    def __post_init__(self) -> None:
        if not self.tier_names:
            raise ValueError("tier_names must name at least one tier")
        if len(set(self.tier_names)) != len(self.tier_names):
            raise ValueError(f"tier_names must be distinct, got {self.tier_names}")
        if self.input_features and len(self.input_features) != len(self.tier_names):
            raise ValueError(
                f"input_features needs one entry per tier ({len(self.tier_names)}), "
                f"got {self.input_features}"
            )
        super().__post_init__()

    @nn.compact
    def __call__(
        self, query: jax.Array, tiers: Sequence[tuple[jax.Array, jax.Array]]
    ) -> tuple[jax.Array, tuple[jax.Array, ...], jax.Array]:
        """Reads every tier and mixes the tier read-outs.

        Args:
          query: [..., Dq] float32.
          tiers: one ``(inputs, mask [..., N_k] bool)`` or ``(inputs, mask, prior [..., N_k])``
            per tier name, where ``inputs`` is [..., N_k, F_k] float32 or a sequence of parts
            and ``prior`` an additive logit prior (see :class:`MaskedMultiHeadAttention`).

        Returns:
          readout: [..., out_features] float32.
          weights: per tier, [..., H, N_k] float32 attention weights.
          mix: [..., T] float32 tier weights (0 for empty tiers).
        """
        if len(tiers) != len(self.tier_names):
            raise ValueError(f"expected {len(self.tier_names)} tiers, got {len(tiers)}")
        outs, weights, nonempty = [], [], []
        input_features = self.input_features or (None,) * len(self.tier_names)
        for name, width, tier in zip(self.tier_names, input_features, tiers, strict=True):
            inputs, mask = tier[0], tier[1]
            prior = tier[2] if len(tier) > 2 else None
            attend = MaskedMultiHeadAttention(
                self.num_heads, self.head_dim, self.out_features, width, name=f"{name}_attention"
            )
            out, tier_weights = attend(query, inputs, mask, prior)
            outs.append(out)
            weights.append(tier_weights)
            nonempty.append(jnp.any(mask, axis=-1))
        mix_logits = nn.Dense(len(self.tier_names), name="tier_mix")(query)  # [..., T]
        mix = masked_softmax(mix_logits, jnp.stack(nonempty, axis=-1))
        readout = jnp.einsum("...t,...to->...o", mix, jnp.stack(outs, axis=-2))
        return readout, tuple(weights), mix
