"""The seed-swap suite: two seeds trained as they are and with their initial parameters
exchanged, in one program; the swap, the table and the bad options."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tyro

from experiments.benchmarks.seeds import (
    SeedsArgs,
    main,
    run_labels,
    seeds_config,
    swap_params,
)
from experiments.multiseed import make_seed_chunks, seed_keys

#: A tiny MLP run on bsuite's memory chain: 2 updates of 4 envs x 8 steps.
TINY = [
    "--env", "MemoryChain-bsuite", "--scale", "full", "--memory", "mlp", "--seeds", "3", "5",
    "--total-steps", "64", "--overrides", "num_envs", "4", "num_steps", "8", "embed_dim", "8",
    "head_hidden", "8", "num_minibatches", "1", "update_epochs", "1",
    "--env-options", "memory_length", "4",
]  # fmt: skip


def main_args() -> SeedsArgs:
    """The parsed options of TINY."""
    return tyro.cli(SeedsArgs, args=TINY)


def test_the_swapped_runs_start_from_the_other_seeds_parameters():
    config = seeds_config(main_args())
    init, _ = make_seed_chunks(config, 1)
    keys = jnp.concatenate([seed_keys(seed, 1) for seed in (3, 5, 3, 5)])
    states = jax.jit(init)(keys)
    swapped = swap_params(states)
    for run, donor in enumerate((0, 1, 1, 0)):
        for leaf, original in zip(
            jax.tree.leaves(swapped.params), jax.tree.leaves(states.params), strict=True
        ):
            np.testing.assert_array_equal(leaf[run], original[donor])
    # The keys stay with their runs; seeds 3 and 5 start from different parameters.
    assert jnp.array_equal(jax.random.key_data(swapped.key), jax.random.key_data(states.key))
    leaves = jax.tree.leaves(states.params)
    assert any(not np.array_equal(leaf[0], leaf[1]) for leaf in leaves)
    assert run_labels((3, 5)) == ["seed 3", "seed 5", "seed 3 keys, seed 5 params",
                                  "seed 5 keys, seed 3 params"]  # fmt: skip


def test_four_runs_in_one_program_write_a_table(tmp_path, capsys):
    out = str(tmp_path / "seeds")
    result = main([*TINY, "--out", out])
    assert result["runs"][2] == "seed 3 keys, seed 5 params"
    assert result["total_steps"] == 64
    returns = result["final"]["episode_return"]
    assert len(returns) == 4
    with open(os.path.join(out, "results.json"), encoding="utf-8") as handle:
        assert json.load(handle)["final"] == result["final"]
    table = open(os.path.join(out, "results.md"), encoding="utf-8").read()
    assert "| seed 5 keys, seed 3 params |" in table
    assert "| seed 3 |" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--seeds", "2", "2"], "two different seeds"),
        (["--memory", "lstm"], "unknown memory kind 'lstm'"),
        (["--env", "nowhere"], "unknown env 'nowhere'"),
        (["--env", "MemoryChain-bsuite"], "--scale small exists"),
        (["--env-options", "lagg", "3"], "no option 'lagg'"),
        (["--overrides", "lrate", "1"], "lrate"),
    ],
)
def test_bad_options_name_the_problem(argv, message, capsys, tmp_path):
    with pytest.raises(SystemExit) as error:
        main([*argv, "--out", str(tmp_path)])
    assert error.value.code == 2
    assert message in capsys.readouterr().err
