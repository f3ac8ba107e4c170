"""Parameter counting and parameter-budget sizing of memory cores.

:func:`count_params` counts the scalars of a parameter tree (optionally without the
training-only decoders); :func:`core_param_count` counts what a core uses to act, from shapes
only; :func:`size_core` picks the width whose core comes closest to a parameter budget, which is
how the trainer gives every baseline the parameter budget of HCMRL.
"""

from __future__ import annotations

from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

#: Parameter scopes whose name starts with this are training-only decoders (the observation
#: reconstruction decoder, the VAE decoder); they are not part of the acting network.
DECODER_PREFIX = "decoder"


def count_params(params, acting_only: bool = False) -> int:
    """Number of scalar parameters in a pytree of arrays (or ShapeDtypeStructs).

    Args:
        params: the parameter pytree.
        acting_only: leave out training-only decoders (any path entry named ``decoder*``).
    """
    total = 0
    for path, leaf in jax.tree_util.tree_leaves_with_path(params):
        names = [str(getattr(entry, "key", "")) for entry in path]
        if acting_only and any(name.startswith(DECODER_PREFIX) for name in names):
            continue
        total += int(leaf.size)
    return total


def core_param_count(core: nn.Module, embed_dim: int) -> int:
    """Parameters a core uses to act (training-only decoders excluded), from shapes only."""
    state = core.initial_state()
    emb = jnp.zeros((embed_dim,), jnp.float32)
    shapes = jax.eval_shape(
        lambda key: core.init(key, state, emb, emb, jnp.bool_(False), method="step"),
        jax.random.key(0),
    )
    return count_params(shapes.get("params", {}), acting_only=True)


def size_core(
    make_core: Callable[[int], nn.Module],
    target: int,
    embed_dim: int,
    max_width: int = 8192,
) -> tuple[nn.Module, int]:
    """Picks the width whose core has the parameter count closest to ``target``.

    Args:
        make_core: width -> core (parameter count must grow with the width).
        target: the parameter count to match.
        embed_dim: D, used to trace the core.
        max_width: the largest width tried.

    Returns:
        (core, its parameter count).
    """
    lo, hi = 1, max_width
    while lo < hi:  # smallest width whose count reaches the target
        mid = (lo + hi) // 2
        if core_param_count(make_core(mid), embed_dim) < target:
            lo = mid + 1
        else:
            hi = mid
    candidates = [w for w in (lo - 1, lo) if w >= 1]
    counts = {w: core_param_count(make_core(w), embed_dim) for w in candidates}
    best = min(candidates, key=lambda w: abs(counts[w] - target))
    return make_core(best), counts[best]
