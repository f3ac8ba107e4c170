"""What the hierarchical memory holds: a stream of recurring regimes through HierarchicalMemory.

``python -m experiments.memory_demo [--steps 5000] [--out outputs/memory_demo.png]``

A synthetic process switches between a few *regimes*; each regime has its own mean embedding and
its own oscillating motif, with noise, and regimes recur, so consolidation has real clusters to
find. The demo first trains the memory's segment VAE briefly (optax) on segments of the same
process, then streams the steps through ``HierarchicalMemory.step`` (two episodes; long-term
templates persist across the episode boundary), prints what each tier holds and what
consolidation did, and draws the tiers over time.
"""

from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import matplotlib
import numpy as np
import optax

from hcmrl_jax.memory import HierarchicalMemory, MemoryState

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402

REGIME_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b")
MIXED_COLOUR = "#9a9a9a"  # summaries / templates of stretches that mix regimes
TIER_COLOURS = ("#4c72b0", "#dd8452", "#55a868")
# A centroid farther than this fraction of the closest pair of regime means from every regime
# mean is drawn and reported as "mixed".
MIXED_FRACTION = 0.25


@dataclass(frozen=True)
class ProcessConfig:
    """The synthetic stream of recurring regimes."""

    num_regimes: int = 4  # distinct regimes (<= 6, one colour each)
    embed_dim: int = 32  # D, width of a step embedding
    offset_scale: float = 1.5  # std of each regime's mean embedding per dimension
    motif_scale: float = 2.0  # amplitude of each regime's oscillating motif
    noise_scale: float = 0.3  # std of per-step noise
    min_duration: int = 120  # shortest stay in a regime, in steps
    max_duration: int = 400  # longest stay in a regime, in steps
    seed: int = 0  # seed of the regime parameters


@dataclass(frozen=True)
class DemoConfig:
    """Demo settings."""

    steps: int = 5000  # steps streamed through the memory
    second_episode_at: int = 3000  # step at which a new episode starts (0: a single episode)
    vae_steps: int = 300  # optimizer steps of VAE pre-training
    vae_batch: int = 64  # segments per VAE batch
    vae_learning_rate: float = 3e-3  # Adam learning rate for the VAE
    snapshot_every: int = 20  # steps between drawn snapshots of the short-term tier
    out: str = "outputs/memory_demo.png"  # where the picture goes
    seed: int = 0  # seed of the streamed sequence, VAE data and parameters


class RegimeProcess:
    """Regime r emits ``mean_r + a * sin(2 pi tau / period_r + phase) * motif_r + noise``, where
    ``tau`` counts steps since the regime started; stays last ``min..max_duration`` steps and
    the next regime is drawn uniformly among the others."""

    def __init__(self, config: ProcessConfig):
        if not 1 <= config.num_regimes <= len(REGIME_COLOURS):
            raise ValueError(f"num_regimes must be in [1, {len(REGIME_COLOURS)}]")
        self.config = config
        rng = np.random.default_rng(config.seed)
        dim = config.embed_dim
        self.means = config.offset_scale * rng.standard_normal((config.num_regimes, dim))
        motifs = rng.standard_normal((config.num_regimes, dim))
        self.motifs = config.motif_scale * motifs / np.linalg.norm(motifs, axis=1, keepdims=True)
        self.periods = np.array([7, 12, 19, 29, 41, 53][: config.num_regimes], np.float64)

    def sample(self, rng: np.random.Generator, steps: int) -> tuple[np.ndarray, np.ndarray]:
        """Returns embeddings [steps, D] float32 and regime ids [steps] int32."""
        config = self.config
        regimes = np.empty(steps, np.int32)
        phases = np.empty(steps)
        start, regime = 0, int(rng.integers(config.num_regimes))
        while start < steps:
            length = int(rng.integers(config.min_duration, config.max_duration + 1))
            stop = min(start + length, steps)
            regimes[start:stop] = regime
            tau = np.arange(stop - start)
            phases[start:stop] = 2 * np.pi * tau / self.periods[regime] + rng.uniform(0, 2 * np.pi)
            start = stop
            others = [r for r in range(config.num_regimes) if r != regime] or [regime]
            regime = int(rng.choice(others))
        noise = config.noise_scale * rng.standard_normal((steps, config.embed_dim))
        embeddings = (
            self.means[regimes] + np.sin(phases)[:, None] * self.motifs[regimes] + noise
        ).astype(np.float32)
        return embeddings, regimes

    def nearest_regime(self, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Regime whose mean embedding is nearest each centroid [..., D], and the distance."""
        distance = np.linalg.norm(centroids[..., None, :] - self.means, axis=-1)
        return distance.argmin(-1), distance.min(-1)

    def regime_or_mixed(self, centroids: np.ndarray) -> np.ndarray:
        """Like :meth:`nearest_regime`, but -1 where a centroid is not close to any regime's
        mean (a summary or template of a stretch that mixes regimes)."""
        regime, distance = self.nearest_regime(centroids)
        spacing = np.linalg.norm(self.means[:, None] - self.means[None], axis=-1)
        closest_pair = spacing[~np.eye(len(self.means), dtype=bool)].min()
        return np.where(distance < MIXED_FRACTION * closest_pair, regime, -1)


def train_vae(
    memory: HierarchicalMemory, params, segments: np.ndarray, config: DemoConfig
) -> tuple[dict, np.ndarray]:
    """A few hundred Adam steps on ``vae_loss``; returns trained params and the losses."""
    optimizer = optax.adam(config.vae_learning_rate)
    rng = np.random.default_rng(config.seed + 1)
    batches = rng.integers(0, len(segments), (config.vae_steps, config.vae_batch))
    keys = jax.random.split(jax.random.key(config.seed + 2, impl="rbg"), config.vae_steps)
    data = jnp.asarray(segments)

    @jax.jit
    def train(params, batches, keys):
        def update(carry, inputs):
            params, opt_state = carry
            batch, key = inputs
            (loss, _), grads = jax.value_and_grad(
                lambda p: memory.apply(p, data[batch], key, method="vae_loss"), has_aux=True
            )(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            return (optax.apply_updates(params, updates), opt_state), loss

        (params, _), losses = jax.lax.scan(
            update, (params, optimizer.init(params)), (batches, keys)
        )
        return params, losses

    params, losses = train(params, batches, keys)
    return params, np.asarray(losses)


def stream(memory: HierarchicalMemory, params, embeddings: np.ndarray, firsts: np.ndarray):
    """Runs ``step`` over the sequence; records what the picture and report need per step."""

    @jax.jit
    def run(embeddings, firsts):
        def body(state: MemoryState, inputs):
            embedding, first = inputs
            # Novelty against what memory held before this step (episodic tiers reset first).
            reset = memory.apply(params, state, first, method="reset")
            novelty = memory.apply(params, reset, embedding, method="novelty")
            _, state, info = memory.apply(params, state, embedding, embedding, first, method="step")
            record = {
                "novelty": novelty,
                "tier_mix": info.tier_mix,
                "span_start": state.short_term.span_start,
                "span_end": state.short_term.span_end,
                "short_valid": state.short_term.valid,
                "short_centroid": state.short_term.centroid,
                "template_count": state.long_term.count,
                "template_valid": state.long_term.valid,
                "template_centroid": state.long_term.centroid,
                "immediate_valid": state.immediate.valid,
            }
            return state, record

        return jax.lax.scan(body, memory.initial_state(), (embeddings, firsts))

    final, records = run(jnp.asarray(embeddings), jnp.asarray(firsts))
    return final, jax.tree.map(np.asarray, records)


def _regime_name(regime: int) -> str:
    return "mixed regimes" if regime < 0 else f"regime {regime}"


def _colour(regime: int) -> str:
    return MIXED_COLOUR if regime < 0 else REGIME_COLOURS[regime]


def describe_tiers(
    title: str, step: int, records: dict, process: RegimeProcess, episode_start: int
) -> None:
    """Prints the tiers as they were after ``step``."""
    print(f"\n== {title} (after global step {step}, episode step {step - episode_start}) ==")
    used = int(records["immediate_valid"][step].sum())
    print(f"immediate: {used}/{records['immediate_valid'].shape[1]} slots used")
    valid = records["short_valid"][step]
    starts, ends = records["span_start"][step][valid], records["span_end"][step][valid]
    regimes = process.regime_or_mixed(records["short_centroid"][step][valid])
    print(f"short-term: {int(valid.sum())}/{len(valid)} summaries; spans (episode steps):")
    spans = [
        f"[{s:>4}, {e:>4}) {e - s:>4} steps, {_regime_name(r)}"
        for s, e, r in zip(starts, ends, regimes, strict=True)
    ]
    for row in range(0, len(spans), 2):
        print("   " + "   |   ".join(spans[row : row + 2]))
    valid = records["template_valid"][step]
    counts = records["template_count"][step]
    nearest, distances = process.nearest_regime(records["template_centroid"][step])
    regimes = process.regime_or_mixed(records["template_centroid"][step])
    print(f"long-term: {int(valid.sum())}/{len(valid)} templates")
    for slot in np.flatnonzero(valid):
        print(
            f"   template {slot}: {counts[slot]:>6.0f} steps absorbed, "
            f"{_regime_name(regimes[slot])} (centroid {distances[slot]:.2f} from "
            f"regime {nearest[slot]}'s mean)"
        )


def consolidation_events(records: dict) -> dict[str, int]:
    """Counts what consolidation did, from per-step template counts."""
    counts, valid = records["template_count"], records["template_valid"]
    previous_counts = np.concatenate([np.zeros_like(counts[:1]), counts[:-1]])
    previous_valid = np.concatenate([np.zeros_like(valid[:1]), valid[:-1]])
    created = valid & ~previous_valid
    changed = counts != previous_counts
    taken_over = changed & previous_valid & (counts < previous_counts)
    absorbed = changed & previous_valid & (counts > previous_counts)
    return {
        "summaries consolidated": int(changed.any(axis=1).sum()),
        "absorbed by the nearest template": int(absorbed.sum()),
        "new templates in empty slots": int(created.sum()),
        "templates taken over (least used)": int(taken_over.sum()),
    }


def draw(
    path: str,
    records: dict,
    regimes: np.ndarray,
    process: RegimeProcess,
    episode_starts: list[int],
    config: DemoConfig,
    memory: HierarchicalMemory,
) -> None:
    """Four panels over time: input regimes and novelty, short-term spans, templates, tier mix."""
    steps = len(regimes)
    time_axis = np.arange(steps)
    colours = ListedColormap(REGIME_COLOURS[: process.config.num_regimes])
    fig, axes = plt.subplots(
        4, 1, figsize=(14, 13), sharex=True, gridspec_kw={"height_ratios": [1.0, 3.2, 1.6, 1.1]}
    )
    settings = memory.config
    fig.suptitle(
        f"HierarchicalMemory on a stream of {process.config.num_regimes} recurring regimes "
        f"(M={settings.immediate_size}, S={settings.short_term_size}, K={settings.long_term_size}, "
        f"L={settings.segment_length}, summary={settings.summary})",
        fontsize=13,
    )

    ax = axes[0]
    ax.imshow(
        regimes[None], aspect="auto", cmap=colours, extent=(0, steps, 0, 1), vmin=-0.5,
        vmax=process.config.num_regimes - 0.5, alpha=0.45,
    )  # fmt: skip
    ax.set_yticks([])
    ax.set_ylabel("input regime\n(colour) and\nnovelty (line)")
    novelty_axis = ax.twinx()
    novelty = np.maximum(records["novelty"], 1e-2)
    novelty_axis.semilogy(time_axis, novelty, color="black", lw=0.5)
    novelty_axis.set_ylabel("novelty (log)", fontsize=8)
    novelty_axis.tick_params(labelsize=7)

    ax = axes[1]
    ends_of_episode = [*episode_starts[1:], steps]
    for start, stop in zip(episode_starts, ends_of_episode, strict=True):
        # The part of the episode written so far: the region short-term summaries can cover.
        ax.fill_between([start, stop], [start, start], [start, stop], color="0.94", lw=0)
    segments, segment_colours = [], []
    for t in range(config.snapshot_every - 1, steps, config.snapshot_every):
        valid = records["short_valid"][t]
        episode_start = max(s for s in episode_starts if s <= t)
        regimes_now = process.regime_or_mixed(records["short_centroid"][t][valid])
        for start, end, regime in zip(
            records["span_start"][t][valid], records["span_end"][t][valid], regimes_now, strict=True
        ):
            # A small gap at each end makes span boundaries visible.
            gap = min(6.0, 0.15 * (end - start))
            segments.append([(t, episode_start + start + gap), (t, episode_start + end - gap)])
            segment_colours.append(_colour(regime))
    ax.add_collection(LineCollection(segments, colors=segment_colours, linewidths=2.2))
    ax.set_ylim(0, steps)
    ax.set_ylabel("episode steps covered\nby short-term summaries\n(global step)")
    ax.text(
        0.01, 0.97,
        f"each column (every {config.snapshot_every} steps): the short-term tier at that moment\n"
        "each bar: one summary's span of episode steps, coloured by\nthe regime its centroid"
        " matches (grey: mixed); bars grow as neighbours merge",
        transform=ax.transAxes, va="top", fontsize=9,
    )  # fmt: skip

    ax = axes[2]
    counts = np.where(records["template_valid"], records["template_count"], np.nan)
    final_regimes = process.regime_or_mixed(records["template_centroid"][-1])
    for slot in range(counts.shape[1]):
        if np.all(np.isnan(counts[:, slot])):
            continue
        regime = final_regimes[slot]
        ax.plot(
            time_axis, counts[:, slot], color=_colour(regime), lw=1.8,
            ls="-" if regime >= 0 else "--", label=f"template {slot}: {_regime_name(regime)}",
        )  # fmt: skip
    ax.set_yscale("log")
    ax.set_ylabel("long-term templates:\nsteps absorbed")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)

    ax = axes[3]
    mix = records["tier_mix"]
    ax.stackplot(
        time_axis, mix.T, colors=TIER_COLOURS, labels=["immediate", "short-term", "long-term"]
    )
    ax.set_ylim(0, 1)
    ax.set_ylabel("tier mix\n(untrained\nattention)")
    ax.set_xlabel("global step")
    ax.legend(loc="upper left", bbox_to_anchor=(1.005, 1.0), fontsize=8, frameon=False)

    for ax in axes:
        for start in episode_starts[1:]:
            ax.axvline(start, color="black", ls="--", lw=1.0)
    for start in episode_starts[1:]:
        axes[1].text(
            start + 40, 0.3 * start,
            f"new episode at step {start}:\nimmediate and short-term tiers cleared,\n"
            "long-term templates kept",
            fontsize=10,
        )  # fmt: skip
    fig.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.memory_demo", description=__doc__)
    parser.add_argument("--steps", type=int, default=DemoConfig.steps, help="steps streamed")
    parser.add_argument(
        "--second-episode-at",
        type=int,
        default=DemoConfig.second_episode_at,
        help="step at which a new episode starts (0: one episode)",
    )
    parser.add_argument("--vae-steps", type=int, default=DemoConfig.vae_steps, help="VAE steps")
    parser.add_argument("--out", default=DemoConfig.out, help="output PNG")
    parser.add_argument("--seed", type=int, default=DemoConfig.seed, help="seed")
    args = parser.parse_args(argv)
    if args.steps <= 0 or not 0 <= args.second_episode_at < args.steps:
        parser.error("need --steps > 0 and 0 <= --second-episode-at < --steps")
    config = DemoConfig(
        steps=args.steps,
        second_episode_at=args.second_episode_at,
        vae_steps=args.vae_steps,
        out=args.out,
        seed=args.seed,
    )
    started = time.perf_counter()
    process = RegimeProcess(ProcessConfig())
    memory = HierarchicalMemory(embed_dim=process.config.embed_dim, latent_dim=8)
    print(
        f"HierarchicalMemory: M={memory.config.immediate_size} S={memory.config.short_term_size} "
        f"K={memory.config.long_term_size} D={memory.embed_dim} Z={memory.config.latent_dim} "
        f"L={memory.config.segment_length}; state {memory.state_nbytes():,} bytes per environment"
    )

    rng = np.random.default_rng(config.seed)
    params = memory.init_params(jax.random.key(config.seed, impl="rbg"))
    train_stream, _ = process.sample(rng, 20_000)
    length = memory.config.segment_length
    windows = np.lib.stride_tricks.sliding_window_view(train_stream, length, axis=0)
    segments = np.ascontiguousarray(windows[::4].transpose(0, 2, 1))  # [B, L, D]
    params, losses = train_vae(memory, params, segments, config)
    print(
        f"VAE pre-training: {config.vae_steps} Adam steps on {len(segments)} segments of the "
        f"same process; loss {losses[:10].mean():.3f} -> {losses[-10:].mean():.3f}"
    )

    embeddings, regimes = process.sample(rng, config.steps)
    firsts = np.zeros(config.steps, bool)
    episode_starts = [0] + ([config.second_episode_at] if config.second_episode_at else [])
    firsts[episode_starts] = True
    final, records = stream(memory, params, embeddings, firsts)
    print(f"streamed {config.steps} steps (episodes start at {episode_starts})")

    for index, start in enumerate(episode_starts):
        stop = (
            episode_starts[index + 1] - 1 if index + 1 < len(episode_starts) else config.steps - 1
        )
        describe_tiers(f"end of episode {index + 1}", stop, records, process, start)
    print("\nconsolidation over the whole stream:")
    for name, value in consolidation_events(records).items():
        print(f"   {name}: {value}")
    final_regimes = process.regime_or_mixed(records["template_centroid"][-1])
    absorbed = records["template_count"][-1] * records["template_valid"][-1]
    per_regime = {
        _regime_name(r): int(absorbed[final_regimes == r].sum())
        for r in range(-1, process.config.num_regimes)
    }
    print(f"   steps absorbed by templates, by what they match: {per_regime}")

    draw(config.out, records, regimes, process, episode_starts, config, memory)
    print(f"\nwrote {config.out} in {time.perf_counter() - started:.1f} s total")


if __name__ == "__main__":
    main()
