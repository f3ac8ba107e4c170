"""Environment throughput: `python -m experiments.benchmark envs [--envs ...] [--num-envs ...]`.

For each env: `num_envs` environments x `num_steps` uniformly random actions in one jitted
`lax.scan` of a vmapped step, the observation summed into the carry (so XLA cannot drop it).
Each benchmark is measured on two paths (`--paths`): `pooled`, behind `PooledResetWrapper`
(world generation off the hot path, as the trainer runs it; the `recall` probe, with `--envs
recall`, on this path only), and `gymnax`, the path a gymnax user takes (`envs_jax.make(id)`,
gymnax's `LogWrapper`, vmapped `reset`/`step`: the env's own auto-resetting `step`, which
generates worlds only for the environments whose episode ended, see
`envs_jax.core.reset_where_done`). The `episodes` column counts the episodes that ended (and so
the worlds generated on the gymnax path) in the timed rollout; a `num_steps` longer than the
default episode makes every environment reset at least once. The baseline runs with gymnax's own
auto-reset, in the same process, so the ratio column compares like with like on the same
(possibly busy) machine.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import jax
import jax.numpy as jnp
from gymnax.wrappers.purerl import LogWrapper

import envs_jax
from envs_jax.registry import BENCHMARK_IDS
from envs_jax.wrappers import PooledResetWrapper

PATHS = ("pooled", "gymnax")


def _obs_checksum(obs: Any) -> jax.Array:
    return sum(jnp.sum(jnp.asarray(leaf, jnp.float32)) for leaf in jax.tree.leaves(obs))


def build(env_id: str, pool_size: int, key: jax.Array, path: str = "pooled") -> tuple[Any, Any]:
    """The env as measured on ``path``: ``"pooled"`` or ``"gymnax"`` (see the module)."""
    env, params = envs_jax.make(env_id)
    if path == "gymnax":
        return LogWrapper(env), params
    if isinstance(env, envs_jax.MemoryEnv):  # the benchmarks and the recall probe
        env = PooledResetWrapper(env, pool_size=pool_size)
        params = env.with_pool(key, params)
    return env, params


def make_rollout(env: Any, params: Any, num_envs: int, num_steps: int):
    num_actions = env.action_space(params).n

    def rollout(key: jax.Array) -> tuple[jax.Array, jax.Array]:
        key_reset, key_run = jax.random.split(key)
        obs, state = jax.vmap(env.reset, in_axes=(0, None))(
            jax.random.split(key_reset, num_envs), params
        )

        def body(carry, key_t):
            state, checksum, episodes = carry
            key_act, key_step = jax.random.split(key_t)
            actions = jax.random.randint(key_act, (num_envs,), 0, num_actions)
            obs, state, reward, terminated, truncated, _ = jax.vmap(
                env.step, in_axes=(0, 0, 0, None)
            )(jax.random.split(key_step, num_envs), state, actions, params)
            episodes = episodes + jnp.sum(jnp.logical_or(terminated, truncated))
            return (state, checksum + _obs_checksum(obs) + jnp.sum(reward), episodes), None

        (_, checksum, episodes), _ = jax.lax.scan(
            body,
            (state, _obs_checksum(obs), jnp.zeros((), jnp.int32)),
            jax.random.split(key_run, num_steps),
        )
        return checksum, episodes

    return rollout


def measure(
    env_id: str, num_envs: int, num_steps: int, pool_size: int, repeats: int, path: str = "pooled"
) -> dict:
    key = jax.random.PRNGKey(0)
    env, params = build(env_id, pool_size, key, path)
    rollout = jax.jit(make_rollout(env, params, num_envs, num_steps))
    start = time.perf_counter()
    compiled = rollout.lower(key).compile()
    compile_s = time.perf_counter() - start
    jax.block_until_ready(compiled(key))  # warm-up
    times, episodes = [], []
    for i in range(repeats):
        start = time.perf_counter()
        _, ended = jax.block_until_ready(compiled(jax.random.PRNGKey(i + 1)))
        times.append(time.perf_counter() - start)
        episodes.append(int(ended))
    best = int(jnp.argmin(jnp.asarray(times)))
    return {
        "env": env_id if path == "pooled" or env_id not in BENCHMARK_IDS else f"{env_id} ({path})",
        "num_envs": num_envs,
        "steps_per_s": num_envs * num_steps / times[best],
        "episodes": episodes[best],
        "compile_s": compile_s,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.benchmark envs")
    parser.add_argument("--envs", nargs="+", default=list(BENCHMARK_IDS))
    parser.add_argument("--baseline", default="Breakout-MinAtar", help="gymnax id for the ratio")
    parser.add_argument("--num-envs", nargs="+", type=int, default=[64, 1024])
    parser.add_argument("--num-steps", type=int, default=1000)
    parser.add_argument("--pool-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--paths", nargs="+", default=["pooled", "gymnax"], choices=PATHS)
    args = parser.parse_args(argv)
    unknown = [e for e in [*args.envs, args.baseline] if e not in envs_jax.registered_envs]
    if unknown:
        raise SystemExit(f"unknown env ids {unknown}; known: {envs_jax.registered_envs}")

    print(f"devices: {jax.devices()}  steps per env: {args.num_steps}  (best of {args.repeats})")
    header = (
        f"{'env':<22}{'envs':>7}{'steps/s':>14}{'x baseline':>12}{'compile s':>11}{'episodes':>10}"
    )
    print(header)
    print("-" * len(header))
    for num_envs in args.num_envs:
        base = measure(args.baseline, num_envs, args.num_steps, args.pool_size, args.repeats)
        print(_row(base, base), flush=True)
        for env_id in args.envs:
            for path in args.paths if env_id in BENCHMARK_IDS else ["pooled"]:
                row = measure(env_id, num_envs, args.num_steps, args.pool_size, args.repeats, path)
                print(_row(row, base), flush=True)


def _row(row: dict, base: dict) -> str:
    ratio = row["steps_per_s"] / base["steps_per_s"]
    return (
        f"{row['env']:<22}{row['num_envs']:>7}{row['steps_per_s']:>14,.0f}"
        f"{ratio:>12.2f}{row['compile_s']:>11.1f}{row['episodes']:>10,}"
    )


if __name__ == "__main__":
    main()
