"""Scripted players at each benchmark's default configuration: remembering vs reactive.

`python -m experiments.benchmark players [--envs crafting navigation games story] [--num-envs 8]`
plays the first episode of `--num-envs` fresh worlds with each benchmark's remembering and
reactive scripted player (`envs_jax.scripted.evaluate`) and prints return, success, recall and
the lag distribution of the memory decisions. The reactive player is the ratio's baseline.
"""

from __future__ import annotations

import argparse
import importlib
import time

import jax

import envs_jax
from envs_jax.registry import BENCHMARK_IDS
from envs_jax.scripted import evaluate

#: Module holding ``players(env)`` for each benchmark.
PLAYER_MODULES = {env_id: f"envs_jax.{env_id}.players" for env_id in BENCHMARK_IDS}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.benchmark players")
    parser.add_argument("--envs", nargs="+", default=list(PLAYER_MODULES), choices=PLAYER_MODULES)
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    print(
        "| env | player | return | success | recall | decisions | lag median | lag >= 300 "
        "| lag >= 1k | s |"
    )
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for env_id in args.envs:
        env, params = envs_jax.make(env_id)
        players = importlib.import_module(PLAYER_MODULES[env_id]).players(env)
        for name, player in players.items():
            start = time.perf_counter()
            r = evaluate(env, params, player, jax.random.PRNGKey(args.seed), args.num_envs)
            print(
                f"| {env_id} | {name} | {r['return']:.2f} | {r['success']:.3f} | "
                f"{r['recall']:.3f} | {r['decisions']:.1f} | {r['lag_median']:.0f} | "
                f"{r['lag_ge_300']:.2f} | {r['lag_ge_1000']:.3f} | "
                f"{time.perf_counter() - start:.0f} |",
                flush=True,
            )
