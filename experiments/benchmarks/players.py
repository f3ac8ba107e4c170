"""Scripted players on each benchmark: remembering vs reactive.

`python -m experiments.benchmark players [--envs crafting navigation games story] [--num-envs 8]
[--scale full|small] [--env-options NAME VALUE ...]` plays the first episode of `--num-envs`
fresh worlds with each benchmark's remembering and reactive scripted player
(`envs_jax.scripted.evaluate`) and prints return, success, recall and the lag distribution of
the memory decisions. `--scale small` plays the small configurations of
:mod:`experiments.configs.scales` (default: `full`, each env's defaults); `--env-options` sets
env options on top (config or `EnvParams` fields, for every env played). The reactive player
is the ratio's baseline.
"""

from __future__ import annotations

import argparse
import importlib
import time

import jax

import envs_jax
from envs_jax.registry import BENCHMARK_IDS
from envs_jax.scripted import evaluate
from experiments.configs.scales import SCALES, env_options
from experiments.options import parse_env_options

#: Module holding ``players(env)`` for each benchmark.
PLAYER_MODULES = {env_id: f"envs_jax.{env_id}.players" for env_id in BENCHMARK_IDS}


def _name_value_pairs(words: list[str]) -> dict[str, str]:
    if len(words) % 2:
        raise SystemExit(f"--env-options takes NAME VALUE pairs, got {words}")
    return dict(zip(words[::2], words[1::2], strict=True))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.benchmark players")
    parser.add_argument("--envs", nargs="+", default=list(PLAYER_MODULES), choices=PLAYER_MODULES)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", default="full", choices=SCALES)
    parser.add_argument("--env-options", nargs="+", default=[], metavar="NAME VALUE")
    args = parser.parse_args(argv)
    extra = parse_env_options(_name_value_pairs(args.env_options))
    print(
        "| env | player | return | success | length | recall | decisions | lag p10 / median / p90 "
        "| lag >= 100 | lag >= 300 | lag >= 1k | s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for env_id in args.envs:
        env, params = envs_jax.make(env_id, **{**env_options(env_id, args.scale), **extra})
        players = importlib.import_module(PLAYER_MODULES[env_id]).players(env)
        for name, player in players.items():
            start = time.perf_counter()
            r = evaluate(env, params, player, jax.random.PRNGKey(args.seed), args.num_envs)
            print(
                f"| {env_id} | {name} | {r['return']:.2f} | {r['success']:.3f} | "
                f"{r['length']:.0f} | {r['recall']:.3f} | {r['decisions']:.1f} | "
                f"{r['lag_p10']:.0f} / {r['lag_median']:.0f} / {r['lag_p90']:.0f} | "
                f"{r['lag_ge_100']:.2f} | {r['lag_ge_300']:.2f} | {r['lag_ge_1000']:.3f} | "
                f"{time.perf_counter() - start:.0f} |",
                flush=True,
            )
