"""Evaluate a trained agent: ``python -m experiments.evaluate --checkpoint <run dir>``.

Inference only: loads the run's config and checkpoint, runs ``--num-episodes`` environments in
parallel with the trained policy (greedy by default, ``--no-greedy`` samples) on worlds drawn
from a fresh key, and reports episode return, length, success and success binned by memory lag
(the ``EpisodeStatsWrapper`` fields). It writes, under ``<run dir>/eval`` (or ``--out-dir``):

* ``report.json`` — the numbers printed;
* ``episode.gif`` — the first environment's first episode, rendered with the env's
  ``render_rgb`` (gymnax envs without a renderer: skipped with a message); for HCMRL policies
  each frame has the memory read-out beside it: per tier, its weight in the read (bar) and its
  slots in use (pale bar under it), immediate / short-term / long-term from the top;
* ``attention.png`` and ``attention.npz`` — for HCMRL policies, what the memory attended to at
  every step of that episode: per-tier attention weights over slots (heads averaged), the tier
  mix, and each tier's occupancy with the steps at which segments were summarised, summaries
  merged and the long-term tier consolidated;
* ``lag_success.png`` — success rate per lag bin.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
import tyro

import envs_jax
from envs_jax import LAG_BIN_EDGES
from experiments.errors import exit_on
from experiments.multiseed import make_seed_chunks, seed_keys
from experiments.runs import (
    CHECKPOINT_DIR,
    ChunkedTrainer,
    RunSetupError,
    ensure_writable_directory,
    get_trainer,
    load_run_config,
)
from hcmrl_jax.memory import MemoryReadInfo, MemoryState
from hcmrl_jax.memory.inspect import memory_events, tier_occupancy
from hcmrl_jax.rl import acting
from hcmrl_jax.rl.agent import make_policy
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.rl.environment import make_env
from hcmrl_jax.utils.checkpoint import CheckpointError, RunCheckpointer
from hcmrl_jax.utils.metrics import lag_bin_labels, lag_success_rate
from hcmrl_jax.utils.visualization import plot_lag_success, plot_memory_attention

REPORT_JSON = "report.json"
EPISODE_GIF = "episode.gif"
ATTENTION_PNG = "attention.png"
ATTENTION_NPZ = "attention.npz"
LAG_PNG = "lag_success.png"
#: GIF frames smaller than this (pixels, shorter side) are scaled up by a whole factor.
GIF_MIN_SIDE = 240
#: Colours of the immediate, short-term and long-term tiers in the GIF's read-out panel.
READOUT_COLOURS: tuple[tuple[int, int, int], ...] = ((31, 119, 180), (255, 127, 14), (44, 160, 44))
#: MemoryReadInfo fields drawn as per-tier attention, with their panel names.
TIER_WEIGHT_FIELDS: dict[str, str] = {
    "immediate": "immediate_weights",
    "short-term": "short_term_weights",
    "long-term": "long_term_weights",
}


@dataclasses.dataclass(frozen=True)
class EvalOptions:
    """Evaluate a checkpoint: episodes with the trained policy, a GIF and a memory picture."""

    checkpoint: str  # run directory of experiments.train or .multiseed (or its checkpoints/)
    step: int | None = None  # checkpoint to load (its update count); default: the latest
    num_episodes: int = 8  # environments run in parallel; each reports its first episode
    max_steps: int | None = None  # steps to run; default: the env's max_steps_in_episode
    greedy: bool = True  # act with the most likely action (--no-greedy: sample)
    seed: int = 0  # PRNG seed of the evaluation worlds and of sampled actions
    seed_index: int = 0  # in a multi-seed run folder, which of its seeds to evaluate
    gif: bool = True  # write episode.gif of the first environment's first episode
    gif_max_frames: int = 400  # frames (steps) recorded for the GIF and the attention picture
    gif_fps: int = 10  # GIF frames per second
    out_dir: str | None = None  # where outputs go; default: <run dir>/eval

    def __post_init__(self) -> None:
        for name in ("num_episodes", "gif_max_frames", "gif_fps"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"EvalOptions.{name} must be a positive integer, got {value!r}")
        if self.seed_index < 0:
            raise ValueError(f"EvalOptions.seed_index must be >= 0, got {self.seed_index!r}")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError(f"EvalOptions.max_steps must be >= 1, got {self.max_steps!r}")


@dataclasses.dataclass
class EvalResult:
    """Numbers and files of one evaluation."""

    report: dict[str, Any]  # what report.json holds
    paths: dict[str, str]  # name -> file written
    trace: dict[str, np.ndarray]  # the first env's recorded steps (host arrays)


def resolve_run_dir(path: str) -> str:
    """The run directory of ``path`` (the run directory itself or its checkpoints folder)."""
    path = os.path.abspath(path)
    if os.path.basename(path) == CHECKPOINT_DIR:
        path = os.path.dirname(path)
    if not os.path.isdir(os.path.join(path, CHECKPOINT_DIR)):
        raise FileNotFoundError(f"{path} has no {CHECKPOINT_DIR}/ folder: not a training run")
    return path


def max_episode_steps(env_params: Any) -> int | None:
    """``max_steps_in_episode`` of env params, if they have one."""
    value = getattr(env_params, "max_steps_in_episode", None)
    return None if value is None else int(value)


def raw_env_state(state: Any) -> Any:
    """Unwraps wrapper states (``EpisodeStatsState``) down to the env's own state."""
    while hasattr(state, "env_state"):
        state = state.env_state
    return state


class _EvalLoop(NamedTuple):
    """The evaluation scan's carry."""

    acting: acting.ActingState  # where the environments stand
    first: dict  # per env: the first finished episode's statistics, ``finished`` [N] bool


#: First-episode statistics the evaluation keeps -> EpisodeStatsWrapper info fields.
EPISODE_STAT_FIELDS: dict[str, str] = {
    "return": "returned_episode_returns",
    "length": "returned_episode_lengths",
    "success": "returned_episode_success",
    "lag_counts": "returned_lag_counts",
    "lag_successes": "returned_lag_successes",
}


def make_evaluator(
    config: PPOConfig,
    num_envs: int,
    num_steps: int,
    trace_steps: int,
    greedy: bool,
    num_decision_kinds: int = 0,
) -> tuple[Callable[[Any, jax.Array], tuple[dict, dict]], Any, Any]:
    """Builds the jitted evaluation rollout of ``config``'s agent.

    The environments reset and step exactly as in training (:func:`hcmrl_jax.rl.acting.reset`
    and :func:`hcmrl_jax.rl.acting.step`).

    Args:
        config: the run's config (env and agent).
        num_envs: environments in parallel (N).
        num_steps: steps to run (T).
        trace_steps: first steps whose env-0 state and memory reads are recorded (R <= T).
        greedy: argmax actions, else sampled.
        num_decision_kinds: K, the env's ``decision_kinds`` (0: the env has none); with K > 0
            ``stats`` also counts each env's first-episode decisions per kind.

    Returns:
        ``(evaluate, policy, bundle)``: ``evaluate(params, key) -> (stats, trace)`` where
        ``stats`` has, per env, the first finished episode's ``finished`` [N] bool,
        ``return`` [N] float32, ``length`` [N] int32, ``success`` [N] float32,
        ``lag_counts``/``lag_successes`` [N, 4] int32 (with K > 0 also ``kind_counts`` /
        ``kind_successes`` [N, K] int32, from ``info["decision_kind"]``), and ``trace`` the
        first env's ``env_state`` (leaves [R, ...]), ``memory_info`` (leaves [R, ...]),
        ``action`` [R], ``reward`` [R], ``done`` [R] bool and, for HCMRL memories,
        ``occupancy`` (the :func:`~hcmrl_jax.memory.inspect.tier_occupancy` counters after
        each step, [R]).
    """
    if not 1 <= trace_steps <= num_steps:
        raise ValueError(f"trace_steps must lie in [1, num_steps={num_steps}], got {trace_steps}")
    bundle = make_env(config)
    policy = make_policy(config, bundle.observation_space, bundle.num_actions)
    env = bundle.env

    def evaluate(params: Any, key: jax.Array) -> tuple[dict, dict]:
        key_pool, key_reset, key_run = jax.random.split(key, 3)
        env_params = bundle.make_params(key_pool)
        state = acting.reset(policy, env, env_params, key_reset, num_envs)
        info_shapes = jax.eval_shape(
            lambda k, s, a: acting.step_envs(env, env_params, k, s, a),
            key_run,
            state.env_state,
            jnp.zeros((num_envs,), jnp.int32),
        )[5]
        first = {
            name: jnp.zeros(info_shapes[field].shape, info_shapes[field].dtype)
            for name, field in EPISODE_STAT_FIELDS.items()
        }
        first["finished"] = jnp.zeros((num_envs,), jnp.bool_)
        if num_decision_kinds:
            first["kind_counts"] = jnp.zeros((num_envs, num_decision_kinds), jnp.int32)
            first["kind_successes"] = jnp.zeros((num_envs, num_decision_kinds), jnp.int32)

        def step(loop: _EvalLoop, key_t: jax.Array, record: bool):
            out = acting.step(policy, env, params, env_params, loop.acting, key_t, greedy)
            done = out.state.is_first
            newly = jnp.logical_and(done, jnp.logical_not(loop.first["finished"]))
            first = {
                name: jnp.where(
                    newly.reshape(newly.shape + (1,) * (loop.first[name].ndim - 1)),
                    jnp.asarray(out.info[field], loop.first[name].dtype),
                    loop.first[name],
                )
                for name, field in EPISODE_STAT_FIELDS.items()
            } | {"finished": jnp.logical_or(loop.first["finished"], done)}
            if num_decision_kinds:
                # This step belongs to the first episode unless that one ended earlier.
                counted = jnp.logical_and(
                    out.info["lag"] >= 0, jnp.logical_not(loop.first["finished"])
                )
                kind = jax.nn.one_hot(
                    out.info["decision_kind"], num_decision_kinds, dtype=jnp.int32
                ) * counted[:, None].astype(jnp.int32)
                right = out.info["recall"][:, None].astype(jnp.int32)
                first["kind_counts"] = loop.first["kind_counts"] + kind
                first["kind_successes"] = loop.first["kind_successes"] + kind * right
            trace = None
            if record:
                trace = {
                    "env_state": jax.tree.map(lambda x: x[0], raw_env_state(loop.acting.env_state)),
                    "memory_info": jax.tree.map(lambda x: x[0], out.aux["memory_info"]),
                    "occupancy": (
                        tier_occupancy(jax.tree.map(lambda x: x[0], out.state.carry))
                        if isinstance(out.state.carry, MemoryState)
                        else {}
                    ),
                    "action": out.action[0],
                    "reward": jnp.asarray(out.reward[0], jnp.float32),
                    "done": done[0],
                }
            return _EvalLoop(out.state, first), trace

        keys = jax.random.split(key_run, num_steps)
        loop = _EvalLoop(state, first)
        loop, trace = jax.lax.scan(lambda s, k: step(s, k, True), loop, keys[:trace_steps])
        if num_steps > trace_steps:
            loop, _ = jax.lax.scan(lambda s, k: step(s, k, False), loop, keys[trace_steps:])
        return loop.first, trace

    return jax.jit(evaluate), policy, bundle


def summarize(
    stats: dict[str, np.ndarray],
    greedy: bool,
    step: int | None,
    decision_kinds: tuple[str, ...] = (),
) -> dict[str, Any]:
    """The evaluation report from the per-env first-episode statistics (with
    ``decision_kinds``, the names of ``stats["kind_counts"]``' columns, also success per kind
    of memory decision)."""
    finished = np.asarray(stats["finished"], bool)

    def success_table(names: Sequence[str], counts: str, successes: str) -> dict[str, Any]:
        """Decisions, right ones and their rate per column of ``stats[counts]`` (finished
        episodes only), one entry per name."""
        count = np.asarray(stats[counts])[finished].sum(axis=0)
        hits = np.asarray(stats[successes])[finished].sum(axis=0)
        rates = lag_success_rate(count, hits)
        return {
            name: {
                "decisions": int(n),
                "correct": int(hit),
                "success_rate": None if not np.isfinite(rate) else float(rate),
            }
            for name, n, hit, rate in zip(names, count, hits, rates, strict=True)
        }

    def mean_std(name: str) -> tuple[float | None, float | None]:
        values = np.asarray(stats[name], np.float64)[finished]
        if values.size == 0:
            return None, None
        return float(values.mean()), float(values.std())

    return_mean, return_std = mean_std("return")
    length_mean, _ = mean_std("length")
    success_mean, _ = mean_std("success")
    report = {
        "checkpoint_update": step,
        "policy": "greedy" if greedy else "sampled",
        "episodes": int(finished.size),
        "episodes_finished": int(finished.sum()),
        "return_mean": return_mean,
        "return_std": return_std,
        "length_mean": length_mean,
        "success_mean": success_mean,
        "lag_bins": success_table(lag_bin_labels(LAG_BIN_EDGES), "lag_counts", "lag_successes"),
    }
    if decision_kinds:
        report["decision_kinds"] = success_table(decision_kinds, "kind_counts", "kind_successes")
    return report


def format_report(report: dict[str, Any]) -> str:
    def fmt(value: Any) -> str:
        return "n/a" if value is None else f"{value:.3f}"

    lines = [
        f"episodes finished: {report['episodes_finished']}/{report['episodes']} "
        f"({report['policy']} policy, checkpoint at update {report['checkpoint_update']})",
        f"return: {fmt(report['return_mean'])} ± {fmt(report['return_std'])}   "
        f"length: {fmt(report['length_mean'])}   success: {fmt(report['success_mean'])}",
    ]

    def add_table(title: str, entries: dict[str, Any]) -> None:
        width = max(10, *(len(name) + 2 for name in entries))
        lines.append(f"{title:<{width}}{'decisions':>10}{'correct':>9}{'success':>9}")
        for name, entry in entries.items():
            lines.append(
                f"{name:<{width}}{entry['decisions']:>10}{entry['correct']:>9}"
                f"{fmt(entry['success_rate']):>9}"
            )

    add_table("lag bin", report["lag_bins"])
    if report.get("decision_kinds"):
        add_table("decision", report["decision_kinds"])
    return "\n".join(lines)


def first_episode_length(done: np.ndarray) -> int:
    """Steps of the recorded first episode: up to and including its first done."""
    done = np.asarray(done, bool)
    hits = np.flatnonzero(done)
    return int(hits[0]) + 1 if hits.size else int(done.size)


def write_episode_gif(
    trace: dict[str, Any],
    env: Any,
    env_params: Any,
    path: str,
    fps: int,
    memory_arrays: dict[str, np.ndarray] | None = None,
    tier_sizes: tuple[int, int, int] | None = None,
) -> str | None:
    """Renders the recorded first episode to a GIF with ``env.render_rgb``.

    With an HCMRL memory's ``memory_arrays`` (:func:`attention_arrays` of the trace: tier mixes
    and ``occupancy``) and ``tier_sizes`` (M, S, K), each frame has the memory read-out beside it
    (:func:`readout_panel`).

    Returns:
        The path, or None when the env has no RGB renderer.
    """
    render = getattr(env, "render_rgb", None)
    if render is None:
        return None
    length = first_episode_length(trace["done"])
    frames = []
    for t in range(length):
        state = jax.tree.map(lambda x, t=t: jnp.asarray(x[t]), trace["env_state"])
        try:
            frames.append(np.asarray(render(state, env_params), np.uint8))
        except NotImplementedError:
            return None
    # Small renders are scaled up (nearest neighbour) so the GIF is readable.
    scale = max(1, GIF_MIN_SIDE // max(1, min(frames[0].shape[:2])))
    frames = [frame.repeat(scale, axis=0).repeat(scale, axis=1) for frame in frames]
    arrays = memory_arrays
    if arrays is not None and tier_sizes is not None and "occupancy_immediate" in arrays:
        mix = arrays["tier_mix"]
        used = np.stack(
            [arrays[f"occupancy_{name}"] for name in ("immediate", "short_term", "long_term")],
            axis=-1,
        ) / np.maximum(np.asarray(tier_sizes, np.float64), 1.0)
        frames = [
            np.concatenate([frame, readout_panel(mix[t], used[t], frame.shape[0])], axis=1)
            for t, frame in enumerate(frames)
        ]
    return envs_jax.write_gif(frames, path, fps=fps)


def attention_arrays(trace: dict[str, Any]) -> dict[str, np.ndarray] | None:
    """Per-tier weights [T, H, N], tier mix [T, 3] and occupancy counters [T] of the first
    episode, if the policy reads a hierarchical memory (its read info has them)."""
    info = trace["memory_info"]
    if not isinstance(info, MemoryReadInfo):
        return None
    length = first_episode_length(trace["done"])
    arrays = {
        name: np.asarray(getattr(info, field))[:length]
        for name, field in TIER_WEIGHT_FIELDS.items()
    }
    arrays["tier_mix"] = np.asarray(info.tier_mix)[:length]
    for name, values in trace.get("occupancy", {}).items():
        arrays[f"occupancy_{name}"] = np.asarray(values)[:length]
    return arrays


def split_attention_arrays(
    arrays: dict[str, np.ndarray],
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, np.ndarray]]:
    """``(tier weights, tier mix, occupancy)`` out of :func:`attention_arrays`' flat dict (or
    the ``attention.npz`` it is saved as)."""
    tiers = {}
    for name in TIER_WEIGHT_FIELDS:  # the npz spells short-term as short_term
        for key in (name, name.replace("-", "_")):
            if key in arrays:
                tiers[name] = arrays[key]
    occupancy = {
        key[len("occupancy_") :]: arrays[key] for key in arrays if key.startswith("occupancy_")
    }
    return tiers, arrays["tier_mix"], occupancy


def readout_panel(
    tier_mix: np.ndarray, occupancy: np.ndarray, height: int, width: int = 96
) -> np.ndarray:
    """A small picture of one step's memory read-out, drawn beside a GIF frame.

    Args:
        tier_mix: [3] float weights of the immediate, short-term and long-term read-outs.
        occupancy: [3] float in [0, 1], each tier's share of slots in use.
        height: rows of the frame it goes beside.
        width: columns of the panel.

    Returns:
        uint8 [height, width, 3]: per tier, a bar of its weight in the read (full colour) and a
        thin bar of its occupancy (pale) under it.
    """
    panel = np.full((height, width, 3), 255, np.uint8)
    rows = height // 3
    for i, colour in enumerate(READOUT_COLOURS):
        top = i * rows + rows // 6
        bar = max(1, rows // 3)
        mix = int(round(float(np.clip(tier_mix[i], 0.0, 1.0)) * (width - 4)))
        used = int(round(float(np.clip(occupancy[i], 0.0, 1.0)) * (width - 4)))
        panel[top : top + bar, 2 : 2 + mix] = colour
        pale = (255 - (255 - np.asarray(colour)) // 3).astype(np.uint8)
        panel[top + bar + 1 : top + bar + 1 + max(1, bar // 2), 2 : 2 + used] = pale
    return panel


def evaluate_run(options: EvalOptions, log: Callable[[str], None] = print) -> EvalResult:
    """Loads a run's checkpoint, evaluates it and writes the report and pictures."""
    run_dir = resolve_run_dir(options.checkpoint)
    config, saved = load_run_config(run_dir)
    seeds = saved.get("seeds")  # a multi-seed run folder (experiments.multiseed / compare)
    if seeds is not None and not 0 <= options.seed_index < len(seeds):
        raise RunSetupError(
            f"--seed-index {options.seed_index}: {run_dir} holds seeds {seeds} "
            f"(indices 0..{len(seeds) - 1})"
        )
    out_dir = options.out_dir or os.path.join(run_dir, "eval")
    ensure_writable_directory(out_dir)

    if seeds is None:
        template = get_trainer(config).state_template(jax.random.key(0))
    else:
        template = ChunkedTrainer(config, make_chunks=make_seed_chunks).state_template(
            seed_keys(seeds[0], len(seeds))
        )
    with RunCheckpointer(os.path.join(run_dir, CHECKPOINT_DIR)) as checkpointer:
        try:
            runner_state, metadata = checkpointer.restore(template, step=options.step)
        except CheckpointError as error:
            raise RunSetupError(str(error)) from error
        for skipped, reason in checkpointer.skipped:
            log(f"skipped checkpoint {skipped}, it does not restore ({reason})")
    step = int(metadata.get("updates_done", -1))
    if checkpointer.skipped:
        log(f"evaluating checkpoint {step}, the newest that restores")
    params = runner_state.params
    if seeds is not None:  # the chosen seed's parameters out of the [N, ...] leaves
        params = jax.tree.map(lambda leaf: leaf[options.seed_index], params)

    # The unwrapped env: its params give the episode cap, its renderer the GIF frames.
    raw_env, raw_params = envs_jax.make(
        config.env_id, privileged=config.privileged, **dict(config.env_overrides)
    )
    num_steps = options.max_steps or max_episode_steps(raw_params)
    if num_steps is None:
        raise RunSetupError(f"env {config.env_id!r} has no max_steps_in_episode: pass --max-steps")
    trace_steps = min(options.gif_max_frames, num_steps)
    decision_kinds = tuple(getattr(raw_env, "decision_kinds", ()))
    evaluate, _, _ = make_evaluator(
        config, options.num_episodes, num_steps, trace_steps, options.greedy, len(decision_kinds)
    )
    key_eval = jax.random.key(options.seed)
    start = time.perf_counter()
    stats, trace = jax.device_get(evaluate(params, key_eval))
    elapsed = time.perf_counter() - start
    report = summarize(stats, options.greedy, step, decision_kinds)
    report["env_id"] = config.env_id
    report["memory"] = config.memory.kind
    report["steps_run"] = int(num_steps)
    report["seconds"] = round(elapsed, 2)
    paths = {"report": os.path.join(out_dir, REPORT_JSON)}
    log(format_report(report))

    arrays = attention_arrays(trace)
    if options.gif:
        gif_path = write_episode_gif(
            trace,
            raw_env,
            raw_params,
            os.path.join(out_dir, EPISODE_GIF),
            options.gif_fps,
            arrays,
            (
                config.memory.immediate_size,
                config.memory.short_term_size,
                config.memory.long_term_size,
            ),
        )
        if gif_path is None:
            log(f"no GIF: env {config.env_id!r} has no RGB renderer (render_rgb)")
        else:
            paths["episode GIF"] = gif_path
    if arrays is None:
        log(f"no attention picture: memory {config.memory.kind!r} is not a hierarchical memory")
    else:
        npz_path = os.path.join(out_dir, ATTENTION_NPZ)
        np.savez_compressed(npz_path, **{k.replace("-", "_"): v for k, v in arrays.items()})
        tiers, mix, occupancy = split_attention_arrays(arrays)
        plot_memory_attention(
            tiers,
            mix,
            os.path.join(out_dir, ATTENTION_PNG),
            title=f"{config.env_id} / {config.memory.kind}: memory reads over one episode",
            occupancy=occupancy or None,
            events=(memory_events(occupancy, config.memory.short_term_size) if occupancy else None),
        )
        paths["attention picture"] = os.path.join(out_dir, ATTENTION_PNG)
        paths["attention arrays"] = npz_path
    bins = report["lag_bins"]
    rates = [np.nan if b["success_rate"] is None else b["success_rate"] for b in bins.values()]
    plot_lag_success(
        list(bins),
        np.array(rates),
        np.array([b["decisions"] for b in bins.values()]),
        os.path.join(out_dir, LAG_PNG),
        title=f"{config.env_id} / {config.memory.kind}: success by lag",
    )
    paths["lag success"] = os.path.join(out_dir, LAG_PNG)
    report["files"] = dict(paths)
    with open(paths["report"], "w", encoding="utf-8") as handle:
        json.dump(report, handle, indent=2)
    for name, path in paths.items():
        log(f"  {name + ':':<18} {path}")
    return EvalResult(report=report, paths=paths, trace=trace)


def parse_args(argv: Sequence[str] | None = None) -> EvalOptions:
    return tyro.cli(
        EvalOptions,
        args=list(sys.argv[1:] if argv is None else argv),
        prog="python -m experiments.evaluate",
        description=__doc__,
    )


def main(argv: Sequence[str] | None = None) -> EvalResult:
    options = parse_args(argv)
    with exit_on(FileNotFoundError, RunSetupError):
        return evaluate_run(options)


if __name__ == "__main__":
    main()
