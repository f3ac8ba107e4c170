"""Several seeds in one program: ``python -m experiments.multiseed --num-seeds 4 --env crafting``.

The whole run of every seed is one XLA program, ``jax.jit(jax.vmap(train))(keys)``: the seeds
share each compiled kernel, so N seeds cost far less than N runs on an accelerator (on a CPU,
they cost about N times one run, without N compilations). Seed ``i`` uses the key of
``--seed + i``, the key ``python -m experiments.train --seed <seed + i>`` uses. Takes every
:class:`hcmrl_jax.rl.PPOConfig` flag, the short forms ``--env``/``--total-steps`` and
``--preset NAME``, like ``experiments.train``. Writes into ``<out-dir>/<name>``:

* ``config.json`` — the PPO config and the seeds;
* ``seed<i>/metrics.jsonl`` — one row per update for each seed;
* ``summary.json`` — final-update mean and std over seeds of the main metrics;
* ``seeds_<metric>.png`` — every seed's curve and the mean ± std band (return, success).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Annotated, Any

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from experiments.train import cli_with_preset, config_to_dict
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.rl.ppo import make_train
from hcmrl_jax.utils.logging import METRICS_JSONL
from hcmrl_jax.utils.metrics import mean_and_std, metrics_to_rows
from hcmrl_jax.utils.visualization import plot_seed_curves

#: Metrics drawn as mean ± std over seeds and summarised at the last update.
PLOT_METRICS: tuple[str, ...] = ("episode_return", "success")
SUMMARY_METRICS: tuple[str, ...] = ("episode_return", "success", "episode_length", "entropy")


@dataclasses.dataclass(frozen=True)
class MultiSeedOptions:
    """How the multi-seed run is named and stored."""

    num_seeds: int = 4  # seeds trained at once (vmapped in one program)
    seed: int = 0  # first seed; seed i uses the key of seed + i
    out_dir: str = "outputs/multiseed"  # parent directory of multi-seed runs
    name: str | None = None  # run directory name; default: <env>-<memory>-<N>seeds

    def __post_init__(self) -> None:
        if not isinstance(self.num_seeds, int) or self.num_seeds < 1:
            raise ValueError(f"MultiSeedOptions.num_seeds must be >= 1, got {self.num_seeds!r}")


@dataclasses.dataclass(frozen=True)
class MultiSeedArgs:
    """Train several seeds of one config in one jitted, vmapped program."""

    config: Annotated[PPOConfig, tyro.conf.OmitArgPrefixes] = dataclasses.field(
        default_factory=PPOConfig
    )
    run: Annotated[MultiSeedOptions, tyro.conf.OmitArgPrefixes] = dataclasses.field(
        default_factory=MultiSeedOptions
    )


@dataclasses.dataclass
class MultiSeedResult:
    run_dir: str  # where the files went
    metrics: dict[str, np.ndarray]  # name -> [num_seeds, num_updates] host arrays
    runner_states: Any  # the final runner states, leaves [num_seeds, ...]
    paths: dict[str, str]  # name -> file written


def seed_keys(seed: int, num_seeds: int) -> jax.Array:
    """Keys [num_seeds] of seeds ``seed .. seed + num_seeds - 1`` (typed PRNG keys)."""
    return jax.vmap(jax.random.key)(jnp.arange(seed, seed + num_seeds))


def train_seeds(config: PPOConfig, keys: jax.Array) -> tuple[Any, dict[str, np.ndarray]]:
    """Trains one run per key in a single jitted, vmapped program.

    Returns:
        ``(runner_states, metrics)``: states with leaves [N, ...] and host metrics [N, U].
    """
    runner_states, metrics = jax.jit(jax.vmap(make_train(config)))(keys)
    return runner_states, jax.device_get(metrics)


def run_multiseed(
    config: PPOConfig, options: MultiSeedOptions, log: Any = print
) -> MultiSeedResult:
    """Trains ``options.num_seeds`` seeds and writes per-seed curves and the mean ± std plot."""
    name = options.name or f"{config.env_id}-{config.memory}-{options.num_seeds}seeds"
    run_dir = os.path.join(options.out_dir, name)
    os.makedirs(run_dir, exist_ok=True)
    seeds = list(range(options.seed, options.seed + options.num_seeds))
    with open(os.path.join(run_dir, "config.json"), "w", encoding="utf-8") as handle:
        json.dump({"config": config_to_dict(config), "seeds": seeds}, handle, indent=2)

    start = time.perf_counter()
    runner_states, metrics = train_seeds(config, seed_keys(options.seed, options.num_seeds))
    elapsed = time.perf_counter() - start
    total_steps = options.num_seeds * config.num_updates * config.steps_per_update
    log(
        f"{options.num_seeds} seeds x {config.num_updates} updates = {total_steps:,} env steps "
        f"in {elapsed:.1f} s (compile included)"
    )

    paths = {"run directory": run_dir}
    for index, seed in enumerate(seeds):
        seed_dir = os.path.join(run_dir, f"seed{seed}")
        os.makedirs(seed_dir, exist_ok=True)
        rows = metrics_to_rows(
            {k: v[index] for k, v in metrics.items()}, 0, config.steps_per_update
        )
        with open(os.path.join(seed_dir, METRICS_JSONL), "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, allow_nan=False) + "\n" for row in rows)
    paths["per-seed metrics"] = os.path.join(run_dir, "seed<i>", METRICS_JSONL)

    env_steps = np.arange(1, config.num_updates + 1) * config.steps_per_update
    summary: dict[str, Any] = {"seeds": seeds, "num_updates": config.num_updates}
    for metric in SUMMARY_METRICS:
        if metric not in metrics:
            continue
        mean, std = mean_and_std(np.asarray(metrics[metric])[:, -1:])
        summary[metric] = {
            "final_mean": None if not np.isfinite(mean[0]) else float(mean[0]),
            "final_std": None if not np.isfinite(std[0]) else float(std[0]),
            "final_per_seed": [
                None if not np.isfinite(v) else float(v) for v in np.asarray(metrics[metric])[:, -1]
            ],
        }
    summary_path = os.path.join(run_dir, "summary.json")
    with open(summary_path, "w", encoding="utf-8") as handle:
        json.dump(summary, handle, indent=2)
    paths["summary"] = summary_path
    for metric in PLOT_METRICS:
        if metric not in metrics:
            continue
        path = os.path.join(run_dir, f"seeds_{metric}.png")
        plot_seed_curves(
            env_steps,
            np.asarray(metrics[metric]),
            path,
            ylabel=metric,
            title=f"{config.env_id} / {config.memory}: {metric}, {options.num_seeds} seeds",
        )
        paths[f"{metric} plot"] = path
    for label, path in paths.items():
        log(f"  {label + ':':<22} {path}")
    return MultiSeedResult(
        run_dir=run_dir, metrics=metrics, runner_states=runner_states, paths=paths
    )


def main(argv: Sequence[str] | None = None) -> MultiSeedResult:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = cli_with_preset(MultiSeedArgs, argv, "python -m experiments.multiseed", __doc__)
    except (KeyError, ValueError) as error:
        print(f"error: {error.args[0] if error.args else error}", file=sys.stderr)
        raise SystemExit(2) from error
    return run_multiseed(args.config, args.run)


if __name__ == "__main__":
    main()
