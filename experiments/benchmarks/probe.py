"""What the memory holds when the question comes: ``python -m experiments.benchmark probe``.

A diagnostic for the recall probe (:mod:`envs_jax.recall`): it runs an *untrained* agent of each
``--memories`` kind (the default configuration plus ``--overrides``, random parameters, random
actions) through ``--warmup-steps`` steps of whole episodes, so that the running salience
statistics settle as they do in training, and then one more, and stops at its query step.
There it asks where the cue is:

* ``kept``     — share of envs whose short-term tier still has a summary whose key step is the
  cue's step (``t = 0``): the key step survived every merge;
* ``top``      — share of envs in which that key is the most salient key of the tier;
* ``attn``     — the short-term read's attention weight on that slot (mean over heads and envs);
* ``mix``      — the tier mix's weight on the short-term tier (mean over envs);
* probe columns — held-out accuracy of a ridge linear probe that decodes the cue from: the
  summary (VAE latent mean) of the segment holding ``t = 0``, the key embedding and the key input
  kept for it, and the read-out the policy gets. Chance is ``1 / num_cues`` (0.5 by default).

So it tells whether the cue is lost at writing (key input / embedding), at compression (summary,
``kept``) or at reading (read-out, ``attn``), before any learning. Prints a Markdown table and
writes it with a JSON copy to ``--out`` (default ``outputs/benchmarks/probe``). Seconds per lag on
a CPU; compiles once per memory kind (the lag is an env-params value).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import tyro

import envs_jax
from experiments.benchmarks.recall import env_overrides
from experiments.errors import exit_on
from experiments.options import parse_env_options, parse_overrides
from hcmrl_jax.rl import PPOConfig
from hcmrl_jax.rl.agent import make_policy
from hcmrl_jax.rl.config import SHORT_TERM_KINDS

#: Probe columns, in the table's order.
PROBES = ("summary", "key", "key_input", "readout")


@dataclasses.dataclass(frozen=True)
class ProbeArgs:
    """Options of ``python -m experiments.benchmark probe``."""

    lags: tuple[int, ...] = (100, 300, 1000, 3000)
    """steps from the cue to the query"""
    memories: tuple[str, ...] = ("hcmrl", "hcmrl_no_keys")
    """memory kinds to probe (kinds with a short-term tier)"""
    episodes: int = 512
    """episodes probed per lag (half fit the probe, half test it)"""
    warmup_steps: int = 10_000
    """steps run before the probed episode (whole episodes, at least this many), so the running
    salience statistics settle (10 / salience_rate at the default rate)"""
    seed: int = 0
    overrides: dict[str, str] = dataclasses.field(default_factory=dict)
    """extra settings (of PPOConfig or its MemoryConfig) as name value pairs, e.g. embed_dim 32"""
    env_options: dict[str, str] = dataclasses.field(default_factory=dict)
    """extra recall env options as name value pairs, e.g. num_cues 4"""
    out: str = "outputs/benchmarks/probe"


def ridge_probe_accuracy(
    features: np.ndarray, labels: np.ndarray, num_classes: int, ridge: float = 1e-2
) -> float:
    """Held-out accuracy of a one-vs-rest ridge regression from ``features`` to ``labels``.

    Args:
      features: [N, F] float; standardised with the first half's statistics.
      labels: [N] int in ``[0, num_classes)``. The first half fits, the second half tests.
      num_classes: C.
      ridge: L2 penalty relative to the mean squared feature.

    Returns:
      the share of right argmax predictions on the second half.
    """
    features = np.asarray(features, np.float64).reshape(len(labels), -1)
    half = len(labels) // 2
    if half < 2:
        raise ValueError(f"the probe needs at least 4 examples, got {len(labels)}")
    mean = features[:half].mean(0)
    std = features[:half].std(0) + 1e-6
    x = np.concatenate([(features - mean) / std, np.ones((len(labels), 1))], axis=1)
    targets = np.eye(num_classes)[labels]
    fit, test = x[:half], x[half:]
    gram = fit.T @ fit + ridge * half * np.eye(x.shape[1])
    weights = np.linalg.solve(gram, fit.T @ targets[:half])
    return float(np.mean(np.argmax(test @ weights, axis=1) == labels[half:]))


def _query_step(module: Any, carry: Any, obs: Any, is_first: jax.Array) -> tuple:
    """The policy's encoder and memory step, returning the read-out and read info (for
    ``apply``; the heads are not needed)."""
    readout, carry, info = module.step_memory(carry, module.embed(obs), obs, is_first)
    return carry, readout, info


def make_probe_run(config: PPOConfig, num_envs: int):
    """A jitted ``run(key, env_params) -> snapshot`` for ``config`` (any lag in the params).

    The snapshot (leading axis: envs) holds the cue, the memory state before the query step's
    write, the read-out and read info at the query step of the last episode.
    """
    env, default_params = envs_jax.make("recall", **dict(config.env_overrides))
    policy = make_policy(
        config, env.observation_space(default_params), env.action_space(default_params).n
    )

    def run(key: jax.Array, params: Any, lag: int, warmup_episodes: int) -> dict[str, Any]:
        key_reset, key_init, key_steps = jax.random.split(key, 3)
        obs, state = jax.vmap(env.reset, (0, None))(jax.random.split(key_reset, num_envs), params)
        carry = policy.initial_carry((num_envs,))
        one = jax.tree.map(lambda x: x[0], (carry, obs))
        variables = policy.init(
            key_init, one[0], one[1], jnp.bool_(True), key_init, method="init_all"
        )
        step_fn = jax.vmap(lambda c, o, f: policy.apply(variables, c, o, f, method=_query_step))
        num_actions = env.action_space(params).n

        def body(loop, key_step):
            carry, obs, state, is_first, snapshot = loop
            cue = jnp.where(is_first, jnp.argmax(obs["cue"], -1), snapshot["cue"])
            new_carry, readout, info = step_fn(carry, obs, is_first)
            at_query = obs["query"][:, 0] > 0
            now = {"cue": cue, "memory": carry, "readout": readout, "info": info}

            def pick(new, old):
                mask = at_query.reshape(at_query.shape + (1,) * (new.ndim - 1))
                return jnp.where(mask, new, old)

            snapshot = {"cue": cue} | jax.tree.map(
                pick,
                {k: v for k, v in now.items() if k != "cue"},
                {k: v for k, v in snapshot.items() if k != "cue"},
            )
            key_action, key_env = jax.random.split(key_step)
            actions = jax.random.randint(key_action, (num_envs,), 0, num_actions)
            obs, state, _, terminated, truncated, _ = jax.vmap(env.step, (0, 0, 0, None))(
                jax.random.split(key_env, num_envs), state, actions, params
            )
            return (new_carry, obs, state, terminated | truncated, snapshot), None

        _, readout0, info0 = step_fn(carry, obs, jnp.ones((num_envs,), bool))
        snapshot = {"cue": jnp.zeros((num_envs,), jnp.int32), "memory": carry}
        snapshot |= {"readout": readout0, "info": info0}
        num_steps = (warmup_episodes + 1) * (lag + 1)
        loop = (carry, obs, state, jnp.ones((num_envs,), bool), snapshot)
        loop, _ = jax.lax.scan(body, loop, jax.random.split(key_steps, num_steps))
        return loop[-1]

    return jax.jit(run, static_argnums=(2, 3)), env, default_params


def probe_snapshot(snapshot: dict[str, Any], num_cues: int) -> dict[str, float]:
    """The table's numbers (see the module docstring) from one lag's snapshot."""
    cue = np.asarray(snapshot["cue"])
    short = snapshot["memory"].short_term
    valid = np.asarray(short.valid)
    start = np.asarray(short.span_start)
    holds_cue = valid & (start <= 0)  # the segment (or merge) that covers t = 0
    slot = np.argmax(holds_cue, axis=1)
    rows = np.arange(len(cue))
    key_step = np.asarray(short.key_step)
    kept = holds_cue[rows, slot] & (key_step[rows, slot] == 0)
    saliences = np.where(valid, np.asarray(short.key_salience), -np.inf)
    top = kept & (np.argmax(saliences, axis=1) == slot)
    weights = np.asarray(snapshot["info"].short_term_weights)  # [N, H, S]
    features = {
        "summary": np.asarray(short.mean)[rows, slot],
        "key": np.asarray(short.key)[rows, slot],
        "key_input": np.asarray(short.key_input)[rows, slot],
        "readout": np.asarray(snapshot["readout"]),
    }
    result = {
        "kept": float(kept.mean()),
        "top": float(top.mean()),
        "attn": float(weights[rows, :, slot].mean()),
        "mix": float(np.asarray(snapshot["info"].tier_mix)[:, 1].mean()),
    }
    for name in PROBES:
        if features[name].shape[-1] == 0:
            result[name] = float("nan")
        else:
            result[name] = ridge_probe_accuracy(features[name], cue, num_cues)
    return result


def markdown(rows: list[dict[str, Any]]) -> str:
    """The probe table in Markdown."""
    head = ["memory", "lag", "kept", "top", "attn", "mix", *(f"probe {p}" for p in PROBES)]
    lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
    for row in rows:
        cells = [row["memory"], f"{row['lag']:,}"]
        cells += [f"{row[k]:.2f}" for k in ("kept", "top", "attn", "mix")]
        cells += ["—" if np.isnan(row[p]) else f"{row[p]:.2f}" for p in PROBES]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_probe(args: ProbeArgs, log: Any = print) -> list[dict[str, Any]]:
    """Probes every (memory, lag) of ``args``; writes ``probe.md`` and ``probe.json``."""
    unknown = [m for m in args.memories if m not in SHORT_TERM_KINDS]
    if unknown:
        raise ValueError(
            f"memory kinds {unknown} have no short-term tier; choose from {SHORT_TERM_KINDS}"
        )
    if args.episodes < 4 or args.warmup_steps < 0:
        raise ValueError("episodes must be >= 4 and warmup_steps >= 0")
    options = parse_env_options(args.env_options)
    rows = []
    for memory in args.memories:
        base = PPOConfig(env_id="recall", env_overrides=options)
        base = dataclasses.replace(base, memory=base.memory.with_kind(memory))
        config = base.with_settings(**parse_overrides(args.overrides))
        run, env, _ = make_probe_run(config, args.episodes)
        for lag in args.lags:
            warmup_episodes = -(-args.warmup_steps // (lag + 1))
            _, params = envs_jax.make("recall", **env_overrides("recall", lag, options))
            snapshot = jax.device_get(
                run(jax.random.PRNGKey(args.seed), params, int(lag), warmup_episodes)
            )
            row = {"memory": memory, "lag": int(lag)}
            row |= probe_snapshot(snapshot, env.config.num_cues)
            log(
                f"{memory} lag {lag}: "
                + ", ".join(f"{k} {v:.2f}" for k, v in row.items() if isinstance(v, float))
            )
            rows.append(row)
    table = markdown(rows)
    log(table)
    os.makedirs(args.out, exist_ok=True)
    with open(os.path.join(args.out, "probe.md"), "w") as f:
        f.write(table + "\n")
    with open(os.path.join(args.out, "probe.json"), "w") as f:
        plain = [{k: None if v != v else v for k, v in row.items()} for row in rows]  # NaN: null
        json.dump({"settings": dataclasses.asdict(args), "rows": plain}, f, indent=1)
    return rows


def parse_args(argv: Sequence[str]) -> ProbeArgs:
    """The probe's options from the command line (``--help`` prints them and exits)."""
    return tyro.cli(
        ProbeArgs,
        args=list(argv),
        prog="python -m experiments.benchmark probe",
        description=__doc__,
    )


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    with exit_on(ValueError):
        return run_probe(args)


if __name__ == "__main__":
    main()
