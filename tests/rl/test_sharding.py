"""The env batch sharded over 4 (forced host) devices gives the single-device result.

The device count must be set before JAX initialises, so the runs happen in a subprocess.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["XLA_FLAGS"] = "--xla_force_host_platform_device_count=4"
    os.environ["JAX_PLATFORMS"] = "cpu"
    import jax
    import numpy as np
    from hcmrl_jax.memory import MemoryConfig
    from hcmrl_jax.rl import PPOConfig, make_train

    memory = MemoryConfig.gru(
        match_param_budget=False, baseline_width=16, embed_dim=16, num_heads=2
    )
    config = PPOConfig(
        env_id="MemoryChain-bsuite", env_overrides={"memory_length": 3}, memory=memory,
        head_hidden=16, num_envs=8, num_steps=8, total_timesteps=8 * 8 * 2,
        num_minibatches=2, update_epochs=2,
    )
    fast = {"xla_backend_optimization_level": 0, "xla_llvm_disable_expensive_passes": True}
    key = jax.random.key(3)
    run = lambda cfg: jax.jit(make_train(cfg)).lower(key).compile(fast)(key)
    sharded_state, sharded = run(config)
    single_state, single = run(PPOConfig(**{**config.__dict__, "shard_envs": False}))
    diffs = [
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(jax.tree.leaves(sharded_state.params), jax.tree.leaves(single_state.params))
    ]
    print(json.dumps({
        "devices": jax.device_count(),
        "obs_devices": len(sharded_state.obs.sharding.device_set),
        "carry_devices": len(sharded_state.carry.hidden.sharding.device_set),
        "single_devices": len(single_state.obs.sharding.device_set),
        "max_param_diff": max(diffs),
        "loss_sharded": np.asarray(sharded["loss_total"]).tolist(),
        "loss_single": np.asarray(single["loss_total"]).tolist(),
        "return_sharded": np.asarray(sharded["episode_return"]).tolist(),
        "return_single": np.asarray(single["episode_return"]).tolist(),
    }))
    """
)


def test_sharded_run_matches_single_device_run():
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        capture_output=True,
        text=True,
        env=env,
        cwd=root,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["devices"] == 4
    assert result["obs_devices"] == 4 and result["carry_devices"] == 4  # really sharded
    assert result["single_devices"] == 1
    assert result["max_param_diff"] < 1e-5
    assert result["loss_sharded"] == pytest.approx(result["loss_single"], rel=1e-4)
    assert result["return_sharded"] == result["return_single"]
