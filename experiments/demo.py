"""``make demo``: train a small HCMRL agent end to end, then look at what it does.

``python -m experiments.demo`` trains the ``demo`` preset (:mod:`experiments.configs`): an HCMRL
agent (immediate 16 / short-term 8 / long-term 4 slots, D = 32) with PPO on a small navigation
building (2 x 2 rooms, 3 landmarks to reach on demand, 200-step episodes), 32 envs x 32 steps
per update, 400 updates (~410k env steps) — a few minutes on 2 CPU cores. Then it evaluates the
final checkpoint on fresh buildings (actions sampled from the policy). Everything lands in
``outputs/demo/`` (or ``--out-dir``):

* ``navigation-hcmrl/`` — the run: ``config.json``, ``metrics.jsonl``/``.csv``, ``tensorboard/``,
  ``checkpoints/``, ``learning_curve.png``;
* ``navigation-hcmrl/eval/`` — ``report.json``, ``episode.gif`` (one evaluation episode),
  ``attention.png``/``.npz`` (what each memory tier attended to at every step, and the tier
  mix), ``lag_success.png``.

Compiled programs are cached in ``.jax_cache/`` so a second run starts faster.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from collections.abc import Sequence

import jax
import numpy as np
import tyro

from experiments.configs import DEMO
from experiments.errors import exit_on
from experiments.evaluate import EvalOptions, evaluate_run
from experiments.runs import (
    RETURN_KEY,
    RunOptions,
    RunSetupError,
    ensure_writable_directory,
    train,
)
from hcmrl_jax.utils.metrics import rows_to_columns


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """Train a small HCMRL agent on a small navigation building, then evaluate it."""

    out_dir: str = "outputs/demo"  # where the run directory goes
    updates: int = 400  # PPO updates (x 1,024 env steps each)
    chunk_updates: int = 25  # updates per compiled chunk (a checkpoint after each)
    evaluate: bool = True  # evaluate the final checkpoint (report, GIF, attention picture)
    eval_episodes: int = 16  # evaluation episodes (parallel environments)
    compile_cache: str | None = ".jax_cache"  # persistent compilation cache (None: off)
    progress: bool = True  # show the training progress bar
    seed: int = 0  # PRNG seed

    def __post_init__(self) -> None:
        for name in ("updates", "chunk_updates", "eval_episodes"):
            if getattr(self, name) < 1:
                raise ValueError(f"DemoOptions.{name} must be >= 1, got {getattr(self, name)}")


def _mean_return(rows: list[dict], first: bool, count: int = 3) -> float | None:
    """Mean episode return of the first (or last) ``count`` updates in which episodes ended."""
    values = rows_to_columns(rows).get(RETURN_KEY, np.array([]))
    values = values[np.isfinite(values)]
    if values.size == 0:
        return None
    return float(np.mean(values[:count] if first else values[-count:]))


def run_demo(options: DemoOptions) -> dict[str, str]:
    """Trains and evaluates the demo agent; returns the files written."""
    if options.compile_cache:
        jax.config.update("jax_compilation_cache_dir", options.compile_cache)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
    start = time.perf_counter()
    config = dataclasses.replace(DEMO, total_timesteps=DEMO.steps_per_update * options.updates)
    memory = config.memory
    print(
        f"demo: HCMRL (memory {memory.immediate_size}/{memory.short_term_size}/"
        f"{memory.long_term_size}, D={memory.embed_dim}) on a small navigation building, "
        f"{config.num_envs} envs x {config.num_steps} steps x {options.updates} updates "
        f"= {config.num_updates * config.steps_per_update:,} env steps",
        flush=True,
    )
    result = train(
        config,
        RunOptions(
            out_dir=options.out_dir,
            name=f"{config.env_id}-{memory.kind}",
            seed=options.seed,
            chunk_updates=options.chunk_updates,
            overwrite=True,
            progress=options.progress,
        ),
    )
    paths = dict(result.paths)
    train_s = result.elapsed_s  # the same number the training summary line printed
    before, after = _mean_return(result.rows, True), _mean_return(result.rows, False)
    if before is not None and after is not None:
        print(f"episode return: {before:.2f} (first episodes) -> {after:.2f} (last episodes)")
    eval_start = time.perf_counter()
    if options.evaluate:
        evaluation = evaluate_run(
            EvalOptions(
                checkpoint=result.run_dir,
                num_episodes=options.eval_episodes,
                # The policy as trained: sampling. A greedy navigation policy can loop in place.
                greedy=False,
                seed=options.seed + 1,
                gif_max_frames=int(config.env_overrides.get("max_steps_in_episode", 200)),
            )
        )
        paths.update({f"eval: {k}": v for k, v in evaluation.paths.items()})
    eval_s = time.perf_counter() - eval_start
    total_s = time.perf_counter() - start
    print(
        f"demo finished in {total_s:.1f} s: training {train_s:.1f} s (compile included), "
        f"evaluation {eval_s:.1f} s"
    )
    print(f"learning curve: {paths.get('learning curve')}")
    print(f"checkpoint:     {paths.get('checkpoints')}")
    return paths


def main(argv: Sequence[str] | None = None) -> dict[str, str]:
    options = tyro.cli(
        DemoOptions,
        args=list(sys.argv[1:] if argv is None else argv),
        prog="python -m experiments.demo",
        description=__doc__,
    )
    with exit_on(RunSetupError):
        ensure_writable_directory(options.out_dir)
        return run_demo(options)


if __name__ == "__main__":
    main()
