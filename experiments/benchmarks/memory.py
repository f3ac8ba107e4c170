"""Memory benchmark: batched HierarchicalMemory steps per second early and late in an episode.

``python -m experiments.benchmark memory [--num-envs 1024] [--steps 100] [--warm-steps 10000]``

A jitted, vmapped ``step`` runs inside ``lax.scan`` over ``--steps`` steps for ``--num-envs``
environments, timed from a state at t ~ 100 and again from a state warmed (by real steps) to
t ~ ``--warm-steps``. The memory is fixed-size, so the ratio of the two rates should be 1 within
noise. A GRU cell stepped the same way is measured in the same run as a reference.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import flax.linen as nn
import jax
import jax.numpy as jnp

from hcmrl_jax.memory import SUMMARY_KINDS, HierarchicalMemory, MemoryState


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m experiments.benchmark memory", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--num-envs", type=int, default=1024, help="environments in the batch")
    parser.add_argument("--steps", type=int, default=100, help="steps per timed scan")
    parser.add_argument("--warm-steps", type=int, default=10_000, help="episode step of late run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--embed-dim", type=int, default=64, help="embedding width D")
    parser.add_argument("--summary", choices=SUMMARY_KINDS, default="vae", help="summary kind")
    parser.add_argument("--gru-hidden", type=int, default=128, help="GRU reference width (0: off)")
    parser.add_argument("--seed", type=int, default=0, help="PRNG seed")
    args = parser.parse_args(argv)
    for field in ("num_envs", "steps", "repeats", "embed_dim"):
        if getattr(args, field) <= 0:
            parser.error(f"--{field.replace('_', '-')} must be positive")
    if args.warm_steps < 2 * args.steps:
        parser.error("--warm-steps must be at least twice --steps")
    return args


def _seconds(run: Callable[[], object]) -> float:
    start = time.perf_counter()
    jax.block_until_ready(run())
    return time.perf_counter() - start


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    return statistics.median(_seconds(run) for _ in range(repeats))


def make_memory_run(memory: HierarchicalMemory) -> Callable:
    """Returns ``run(params, state [N], embeddings [T, N, D], queries [T, N, D])``."""
    batched_step = jax.vmap(
        lambda params, state, embedding, query, first: memory.apply(
            params, state, embedding, query, first, method="step"
        ),
        in_axes=(None, 0, 0, 0, 0),
    )

    def run(params, state: MemoryState, embeddings: jax.Array, queries: jax.Array):
        is_first = jnp.zeros(embeddings.shape[1], bool)

        def body(carry, inputs):
            embedding, query = inputs
            readout, carry, _ = batched_step(params, carry, embedding, query, is_first)
            return carry, jnp.sum(readout)

        state, checksums = jax.lax.scan(body, state, (embeddings, queries))
        return state, jnp.sum(checksums)

    return run


def main(argv: list[str] | None = None) -> None:
    args = _parse(argv)
    key_params, key_inputs, key_gru = jax.random.split(jax.random.PRNGKey(args.seed), 3)
    key_embed, key_query = jax.random.split(key_inputs)
    memory = HierarchicalMemory(embed_dim=args.embed_dim, summary=args.summary)
    params = memory.init_params(key_params)
    shape = (args.steps, args.num_envs, args.embed_dim)
    embeddings = jax.random.normal(key_embed, shape)
    queries = jax.random.normal(key_query, shape)
    state = memory.initial_state((args.num_envs,))

    start = time.perf_counter()
    run = jax.jit(make_memory_run(memory)).lower(params, state, embeddings, queries).compile()
    compile_seconds = time.perf_counter() - start

    early_state, _ = run(params, state, embeddings, queries)  # now t = steps
    early_t = int(early_state.t[0])

    warm_start = time.perf_counter()
    late_state = early_state
    while int(late_state.t[0]) < args.warm_steps:
        late_state, _ = run(params, late_state, embeddings, queries)
    jax.block_until_ready(late_state)
    warm_seconds = time.perf_counter() - warm_start
    late_t = int(late_state.t[0])
    if not all(bool(jnp.all(jnp.isfinite(leaf))) for leaf in jax.tree.leaves(late_state)):
        raise RuntimeError("memory state is not finite after warming")

    # Early and late runs alternate, so a change in machine load affects both alike.
    early_times, late_times = [], []
    for _ in range(args.repeats):
        early_times.append(_seconds(lambda: run(params, early_state, embeddings, queries)))
        late_times.append(_seconds(lambda: run(params, late_state, embeddings, queries)))
    early, late = statistics.median(early_times), statistics.median(late_times)

    batch_steps = args.steps * args.num_envs
    rows = [
        (f"memory step, t ~ {early_t}", batch_steps / early, early / args.steps),
        (f"memory step, t ~ {late_t}", batch_steps / late, late / args.steps),
    ]
    if args.gru_hidden > 0:
        cell = nn.GRUCell(features=args.gru_hidden)
        carry = jnp.zeros((args.num_envs, args.gru_hidden))
        gru_params = cell.init(key_gru, carry[0], embeddings[0, 0])

        batched_cell = jax.vmap(cell.apply, in_axes=(None, 0, 0))

        def gru_run(gru_params, carry, embeddings):
            def body(carry, embedding):
                carry, out = batched_cell(gru_params, carry, embedding)
                return carry, jnp.sum(out)

            return jax.lax.scan(body, carry, embeddings)

        gru = jax.jit(gru_run).lower(gru_params, carry, embeddings).compile()
        jax.block_until_ready(gru(gru_params, carry, embeddings))
        gru_time = _median_seconds(lambda: gru(gru_params, carry, embeddings), args.repeats)
        rows.append(
            (
                f"GRU cell (hidden {args.gru_hidden}), reference",
                batch_steps / gru_time,
                gru_time / args.steps,
            )
        )

    device, settings = jax.devices()[0], memory.config
    print(
        f"\nHierarchicalMemory benchmark on {device.platform} ({device.device_kind}): "
        f"{args.num_envs} envs, {args.steps} steps per timed scan, median of {args.repeats}, "
        f"summary={args.summary}, D={args.embed_dim}, M={settings.immediate_size}, "
        f"S={settings.short_term_size}, K={settings.long_term_size}, L={settings.segment_length}"
    )
    print(f"{'measurement':<40} {'env-steps/s':>14} {'ms / batched step':>18}")
    for name, rate, seconds in rows:
        print(f"{name:<40} {rate:>14,.0f} {1e3 * seconds:>18.3f}")
    print(f"{'late / early rate ratio':<40} {early / late:>14.3f}")
    print(f"{'compile time (s)':<40} {compile_seconds:>14.2f}")
    print(f"{'warm-up to t ~ ' + str(late_t) + ' (s)':<40} {warm_seconds:>14.2f}")
    print(f"{'memory state bytes per env':<40} {memory.state_nbytes():>14,d}")
    if args.gru_hidden > 0:
        print(f"{'memory / GRU step rate':<40} {gru_time / early:>14.3f}")


if __name__ == "__main__":
    main()
