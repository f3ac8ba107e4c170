"""What decides a seed's run: ``python -m experiments.benchmark seeds --env games --seeds 0 2``.

A run's seed draws two things: the agent's initial parameters and everything else (the reset
pool's worlds, the env resets, the desynchronising steps, action sampling and minibatch order).
When one seed learns and another does not, this suite tells which of the two decides it. For
the two seeds A and B it trains four runs side by side in one vmapped program, at the same
settings and env steps:

* ``A`` and ``B`` as they are (each the same run as seed A or B of a multi-seed run);
* ``A keys, B params``: seed A's run started from seed B's initial parameters;
* ``B keys, A params``: seed B's run started from seed A's.

If the swapped runs follow their parameters, the initialisation decides; if they follow their
keys, the worlds and sampling do; if neither, the outcome is a chance event of the whole run.
Prints a Markdown table of each run's final return, success and recall per lag bin (each the
mean over its last ``--final-fraction`` of updates that measured it, as the comparison's final
values) and writes it with a JSON copy to ``--out``.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, Literal

import jax
import jax.numpy as jnp
import numpy as np
import tyro

from experiments.compare import check_run_options, configure, final_window, seed_finals
from experiments.configs.scales import small_config
from experiments.errors import exit_on
from experiments.multiseed import make_seed_chunks, seed_keys
from experiments.options import parse_env_options, parse_overrides
from hcmrl_jax.rl import MEMORY_KINDS, PPOConfig
from hcmrl_jax.rl.metrics import LAG_BIN_KEYS

#: The four runs, in table order: (whose keys, whose initial parameters), by seed position.
RUNS: tuple[tuple[int, int], ...] = ((0, 0), (1, 1), (0, 1), (1, 0))
#: Metrics of the table.
TABLE_METRICS: tuple[str, ...] = (
    "episode_return",
    "success",
    *(f"recall_lag_{name}" for name in LAG_BIN_KEYS),
)


@dataclasses.dataclass(frozen=True)
class SeedsArgs:
    """Options of ``python -m experiments.benchmark seeds``."""

    env: str = "games"  # a benchmark (crafting, navigation, games, story) or any registered id
    scale: Literal["small", "full"] = "small"  # the <env>-small preset, or the env's defaults
    seeds: tuple[int, int] = (0, 2)  # the two seeds A and B
    memory: str = "hcmrl"  # the memory kind
    total_steps: int | None = None  # env steps per run; default: the preset's
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    """extra settings (of PPOConfig or its MemoryConfig) as name value pairs, e.g. lr 1e-3"""
    env_options: dict[str, str] = dataclasses.field(default_factory=dict)
    """env options on top of the preset's as name value pairs, e.g. lag_max 400"""
    final_fraction: float = 0.1  # last fraction of updates averaged for the final values
    out: str = "outputs/benchmarks/seeds"

    def __post_init__(self) -> None:
        check_run_options(self.env, self.scale, self.total_steps, self.final_fraction)
        if self.memory not in MEMORY_KINDS:
            raise ValueError(f"unknown memory kind {self.memory!r}; choose from {MEMORY_KINDS}")
        if self.seeds[0] == self.seeds[1]:
            raise ValueError(f"--seeds must name two different seeds, got {list(self.seeds)}")


def seeds_config(args: SeedsArgs) -> PPOConfig:
    """The runs' config: the preset, the memory kind, the env options and the overrides."""
    base = small_config(args.env) if args.scale == "small" else PPOConfig(env_id=args.env)
    return configure(base, args.memory, args.overrides, args.env_options, args.total_steps)


def run_labels(seeds: Sequence[int]) -> list[str]:
    """The four runs' names, in :data:`RUNS` order."""
    names = [f"seed {seed}" for seed in seeds]
    return [
        names[keys] if keys == params else f"{names[keys]} keys, {names[params]} params"
        for keys, params in RUNS
    ]


def swap_params(states: Any) -> Any:
    """Runner states [4, ...] of seeds (A, B, A, B) with the last two runs' initial parameters
    (and optimizer states) exchanged, so that each starts from the other seed's parameters."""
    order = jnp.array([params for _, params in RUNS])
    take = lambda tree: jax.tree.map(lambda leaf: leaf[order], tree)  # noqa: E731
    return states.replace(params=take(states.params), opt_state=take(states.opt_state))


def finals(metrics: dict[str, np.ndarray], window: int) -> dict[str, list[float | None]]:
    """Per table metric, each run's mean over its last ``window`` updates that measured it
    (the comparison's final values)."""
    return {name: seed_finals(metrics[name], window) for name in TABLE_METRICS}


def results_table(labels: Sequence[str], final: dict[str, list[float | None]]) -> str:
    """The Markdown table: one row per run."""
    cell = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    header = "| run | " + " | ".join(TABLE_METRICS) + " |"
    lines = [header, "|" + " --- |" * (1 + len(TABLE_METRICS))]
    for i, label in enumerate(labels):
        lines.append(f"| {label} | " + " | ".join(cell(final[m][i]) for m in TABLE_METRICS) + " |")
    return "\n".join(lines)


def run_seeds(args: SeedsArgs, log=print) -> dict[str, Any]:
    """Trains the four runs and writes ``results.md`` and ``results.json`` to ``--out``."""
    config = seeds_config(args)
    init, update = make_seed_chunks(config, config.num_updates)
    keys = jnp.concatenate([seed_keys(args.seeds[keys], 1) for keys, _ in RUNS])
    start = time.perf_counter()
    states = swap_params(jax.jit(init)(keys))
    _, metrics = jax.jit(update)(states)
    metrics = jax.device_get(metrics)
    wall = time.perf_counter() - start
    window = final_window(config.num_updates, args.final_fraction)
    final = finals(metrics, window)
    labels = run_labels(args.seeds)
    table = results_table(labels, final)
    result = {
        "env": args.env,
        "scale": args.scale,
        "memory": args.memory,
        "seeds": list(args.seeds),
        "total_steps": config.num_updates * config.steps_per_update,
        "overrides": parse_overrides(args.overrides),
        "env_options": parse_env_options(args.env_options),
        "final_window_updates": window,
        "runs": labels,
        "final": final,
        "wall_s": wall,
    }
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "results.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2, default=list)
    with open(os.path.join(args.out, "results.md"), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    log(
        f"{args.memory} on {args.env} ({args.scale}), {result['total_steps']:,} env steps per "
        f"run, four runs in one program, {wall:.0f} s; final: mean over the last {window} updates"
    )
    log(table)
    return result


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    argv = list(sys.argv[1:] if argv is None else argv)
    with exit_on(KeyError, ValueError):
        args = tyro.cli(SeedsArgs, args=argv, prog="python -m experiments.benchmark seeds")
        return run_seeds(args)


if __name__ == "__main__":
    main()
