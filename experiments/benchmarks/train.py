"""Training speed and memory: ``python -m experiments.benchmark train [options]``.

Two parts, every measurement in a fresh subprocess so that compile memory and peaks of one
measurement never leak into the next:

1. **Throughput** — training env steps per second of HCMRL, GRU and MLP (``--memories``) at one
   shared configuration (``--env``, ``--num-envs``, ``--num-steps``, the preset's agent sizes),
   with compile time and the process's peak memory; the ratio column divides by the GRU's speed
   (target: HCMRL >= 0.5 x GRU). Row ``hcmrl-seq`` is HCMRL with ``parallel_replay=False``
   (the update re-runs the memory step by step instead of in parallel over time).
2. **Budget** — peak memory of training and of inference at the *default* configuration
   (``PPOConfig(env_id=--env)``: 64 envs x 128 steps, memory sizes 32 / 16 / 8) against the
   budget of < 12 GB for training and < 2 GB for inference. Inference is the trained policy
   acting alone (``--inference-envs`` environments, greedy, no gradients).

Memory is the process's peak resident set (``ru_maxrss``; on the CPU it holds the arrays, the
compiled program and the compiler's working memory) and, where the device reports it, the
device's peak bytes in use (``jax.devices()[0].memory_stats()``, e.g. on a GPU).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import fcntl
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import jax

RESULT_PREFIX = "BENCHMARK_RESULT "
TRAIN_BUDGET_GB = 12.0
INFERENCE_BUDGET_GB = 2.0
BYTES_PER_MB = 1024.0**2
#: Row of HCMRL with ``parallel_replay=False`` (the update re-runs the memory step by step).
SEQUENTIAL_ROW = "hcmrl-seq"


def _peak_rss_mb() -> float:
    # ru_maxrss is in KiB on Linux (bytes on macOS).
    scale = 1.0 if sys.platform == "darwin" else 1024.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / BYTES_PER_MB


def _device_peak_mb() -> float | None:
    stats = jax.devices()[0].memory_stats()
    if not stats or "peak_bytes_in_use" not in stats:
        return None
    return stats["peak_bytes_in_use"] / BYTES_PER_MB


@contextlib.contextmanager
def _timing_lock(path: str | None):
    """Holds an exclusive file lock while timing, so workers that compiled in parallel still
    take their timings one at a time (no lock: no waiting)."""
    if not path:
        yield
        return
    with open(path, "a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _config(config_json: str):
    from hcmrl_jax.rl.config import PPOConfig
    from hcmrl_jax.utils.serialization import config_from_dict

    return config_from_dict(PPOConfig, json.loads(config_json))


def worker_train(
    config_json: str, updates: int, repeats: int, lock: str | None = None
) -> dict[str, Any]:
    """Compiles a chunk of ``updates`` updates, runs it ``repeats`` times, reports the best."""
    from hcmrl_jax.rl.train import make_train_chunks

    config = _config(config_json)
    rss_start = _peak_rss_mb()
    init_fn, update_fn = make_train_chunks(config, updates)
    state = jax.block_until_ready(jax.jit(init_fn)(jax.random.key(0)))
    start = time.perf_counter()
    compiled = jax.jit(update_fn, donate_argnums=0).lower(state).compile()
    compile_s = time.perf_counter() - start
    times = []
    with _timing_lock(lock):
        state, metrics = compiled(state)  # warm-up
        jax.block_until_ready(metrics)
        for _ in range(repeats):
            start = time.perf_counter()
            state, metrics = compiled(state)
            jax.block_until_ready(metrics)
            times.append(time.perf_counter() - start)
    steps = updates * config.steps_per_update
    return {
        "memory": config.memory.kind,
        "num_envs": config.num_envs,
        "num_steps": config.num_steps,
        "steps_per_s": steps / min(times),
        "compile_s": compile_s,
        "peak_rss_mb": _peak_rss_mb(),
        "start_rss_mb": rss_start,
        "device_peak_mb": _device_peak_mb(),
    }


def worker_inference(
    config_json: str, num_envs: int, steps: int, repeats: int, lock: str | None = None
) -> dict[str, Any]:
    """The policy acting alone (greedy) for ``steps`` steps in ``num_envs`` environments."""
    import jax.numpy as jnp

    from experiments.evaluate import make_evaluator

    config = _config(config_json)
    rss_start = _peak_rss_mb()
    evaluate, policy, bundle = make_evaluator(config, num_envs, steps, 1, greedy=True)
    key = jax.random.key(0)
    obs_shape = jax.eval_shape(lambda k: bundle.env.reset(k, bundle.make_params(k))[0], key)
    obs = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), obs_shape)
    params = jax.jit(policy.init)(key, policy.initial_carry(), obs, jnp.bool_(True))
    start = time.perf_counter()
    compiled = evaluate.lower(params, key).compile()
    compile_s = time.perf_counter() - start
    times = []
    with _timing_lock(lock):
        jax.block_until_ready(compiled(params, key))
        for i in range(repeats):
            start = time.perf_counter()
            jax.block_until_ready(compiled(params, jax.random.key(i + 1)))
            times.append(time.perf_counter() - start)
    return {
        "memory": config.memory.kind,
        "num_envs": num_envs,
        "steps_per_s": num_envs * steps / min(times),
        "compile_s": compile_s,
        "peak_rss_mb": _peak_rss_mb(),
        "start_rss_mb": rss_start,
        "device_peak_mb": _device_peak_mb(),
    }


def _start_worker(args: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "experiments.benchmarks.train", "--worker", *args]
    # Allocate device memory on demand, so the device's peak is what the run needs.
    env = {**os.environ, "XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
    return subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )


def _collect(process: subprocess.Popen, timeout_s: float) -> dict[str, Any]:
    try:
        stdout, stderr = process.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return {"error": f"timed out after {timeout_s:.0f} s"}
    for line in stdout.splitlines():
        if line.startswith(RESULT_PREFIX):
            return json.loads(line[len(RESULT_PREFIX) :])
    tail = (stderr or stdout).strip().splitlines()[-3:]
    return {"error": f"exit {process.returncode}: " + " | ".join(tail)}


def _run_workers(jobs: dict[str, list[str]], parallel: bool, timeout_s: float) -> dict:
    """Runs one fresh process per job; in parallel, timings still go one at a time."""
    if not parallel:
        return {name: _collect(_start_worker(args), timeout_s) for name, args in jobs.items()}
    with tempfile.TemporaryDirectory() as folder:
        lock = os.path.join(folder, "timing.lock")
        processes = {name: _start_worker([*args, lock]) for name, args in jobs.items()}
        return {name: _collect(process, timeout_s) for name, process in processes.items()}


def _fmt(value: float | None, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m experiments.benchmark train")
    parser.add_argument("--env", default="navigation", help="env id of every measurement")
    parser.add_argument("--memories", nargs="+", default=["hcmrl", "gru", "mlp"])
    parser.add_argument("--preset", default="demo", help="agent sizes for the throughput part")
    parser.add_argument("--num-envs", type=int, default=32, help="throughput part: envs")
    parser.add_argument("--num-steps", type=int, default=64, help="throughput part: rollout T")
    parser.add_argument("--updates", type=int, default=2, help="updates per timed chunk")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs (best is kept)")
    parser.add_argument(
        "--no-sequential-row",
        action="store_true",
        help="skip the row of HCMRL replaying its rollouts step by step (parallel_replay=False)",
    )
    parser.add_argument("--skip-budget", action="store_true", help="skip the budget part")
    parser.add_argument("--budget-updates", type=int, default=1, help="budget part: updates")
    parser.add_argument("--inference-envs", type=int, default=1, help="envs acting at once")
    parser.add_argument("--inference-steps", type=int, default=1000, help="steps acted")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per subprocess")
    parser.add_argument(
        "--parallel",
        action="store_true",
        help="compile in parallel processes (timings still one at a time): for many-core hosts",
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        kind, config_json, *rest = args.worker
        numbers = [int(n) for n in rest if n.isdigit()]
        lock = next((n for n in rest if not n.isdigit()), None)
        if kind == "train":
            result = worker_train(config_json, *numbers, lock=lock)
        elif kind == "inference":
            result = worker_inference(config_json, *numbers, lock=lock)
        else:
            raise SystemExit(f"unknown worker {kind!r}")
        print(RESULT_PREFIX + json.dumps(result), flush=True)
        return

    from experiments.configs import get_preset
    from hcmrl_jax.memory import MEMORY_KINDS
    from hcmrl_jax.rl.config import PPOConfig
    from hcmrl_jax.utils.serialization import config_to_dict

    unknown = [m for m in args.memories if m not in MEMORY_KINDS]
    if unknown:
        raise SystemExit(f"unknown memories {unknown}; known: {list(MEMORY_KINDS)}")
    preset = get_preset(args.preset)
    shared = dataclasses.replace(
        preset,
        env_id=args.env,
        env_overrides=preset.env_overrides if args.env == preset.env_id else {},
        num_envs=args.num_envs,
        num_steps=args.num_steps,
        total_timesteps=args.num_envs * args.num_steps * args.updates,
    )
    print(
        f"devices: {jax.devices()}\nthroughput: {args.env}, {args.num_envs} envs x "
        f"{args.num_steps} steps, {args.updates} updates per chunk, best of {args.repeats}, "
        f"agent sizes of preset {args.preset!r}"
    )
    header = (
        f"{'memory':<12}{'steps/s':>11}{'x GRU':>8}{'compile s':>11}"
        f"{'peak RSS MB':>13}{'device MB':>11}"
    )
    print(header + "\n" + "-" * len(header), flush=True)

    def of_kind(config: PPOConfig, kind: str) -> PPOConfig:
        return dataclasses.replace(config, memory=config.memory.with_kind(kind))

    jobs = {
        memory: [
            "train",
            json.dumps(config_to_dict(of_kind(shared, memory))),
            str(args.updates),
            str(args.repeats),
        ]
        for memory in args.memories
    }
    if "hcmrl" in args.memories and not args.no_sequential_row:
        stepwise = dataclasses.replace(of_kind(shared, "hcmrl"), parallel_replay=False)
        jobs[SEQUENTIAL_ROW] = [
            "train",
            json.dumps(config_to_dict(stepwise)),
            str(args.updates),
            str(args.repeats),
        ]
    default = PPOConfig(env_id=args.env)
    budget_train = dataclasses.replace(
        default, total_timesteps=default.steps_per_update * args.budget_updates
    )
    if not args.skip_budget:
        # The training budget row reuses the HCMRL throughput run when it is the same config.
        if "hcmrl" not in jobs or of_kind(shared, "hcmrl") != budget_train:
            jobs["budget training"] = [
                "train",
                json.dumps(config_to_dict(budget_train)),
                str(args.budget_updates),
                "1",
            ]
        jobs["budget inference"] = [
            "inference",
            json.dumps(config_to_dict(default)),
            str(args.inference_envs),
            str(args.inference_steps),
            "1",
        ]
    results = _run_workers(jobs, args.parallel, args.timeout)
    names = [*args.memories, *([SEQUENTIAL_ROW] if SEQUENTIAL_ROW in results else [])]
    rows = {name: results[name] for name in names}
    gru_speed = rows.get("gru", {}).get("steps_per_s")
    for memory, row in rows.items():
        if "error" in row:
            print(f"{memory:<12}failed: {row['error']}")
            continue
        ratio = row["steps_per_s"] / gru_speed if gru_speed else None
        print(
            f"{memory:<12}{row['steps_per_s']:>11,.0f}{_fmt(ratio, '.2f'):>8}"
            f"{row['compile_s']:>11.1f}{row['peak_rss_mb']:>13,.0f}"
            f"{_fmt(row['device_peak_mb'], ',.0f'):>11}"
        )
    if "hcmrl" in rows and gru_speed and "steps_per_s" in rows["hcmrl"]:
        ratio = rows["hcmrl"]["steps_per_s"] / gru_speed
        verdict = "meets" if ratio >= 0.5 else "misses"
        print(f"HCMRL / GRU training speed: {ratio:.2f} ({verdict} the >= 0.5 target)")

    if args.skip_budget:
        return
    print(
        f"\nbudget at the default configuration ({args.env}, hcmrl, {default.num_envs} envs x "
        f"{default.num_steps} steps, memory {default.memory.immediate_size}/"
        f"{default.memory.short_term_size}/{default.memory.long_term_size}, "
        f"D={default.memory.embed_dim}):",
        flush=True,
    )
    train_row = results.get("budget training", results.get("hcmrl"))
    inference_row = results["budget inference"]
    header = (
        f"{'phase':<11}{'peak RSS MB':>13}{'device MB':>11}{'budget':>9}{'steps/s':>11}  verdict"
    )
    print(header + "\n" + "-" * len(header))
    for phase, row, budget_gb in (
        ("training", train_row, TRAIN_BUDGET_GB),
        ("inference", inference_row, INFERENCE_BUDGET_GB),
    ):
        if "error" in row:
            print(f"{phase:<11}failed: {row['error']}")
            continue
        # On an accelerator the budget is the device's memory; on the CPU, the process's.
        peak_mb = row["device_peak_mb"] or row["peak_rss_mb"]
        verdict = "within" if peak_mb < budget_gb * 1024 else "OVER"
        print(
            f"{phase:<11}{row['peak_rss_mb']:>13,.0f}{_fmt(row['device_peak_mb'], ',.0f'):>11}"
            f"{budget_gb:>7.0f}GB{row['steps_per_s']:>11,.0f}  {verdict} budget"
        )


if __name__ == "__main__":
    main()
