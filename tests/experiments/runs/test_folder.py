"""The run folder: what a fresh start clears, and the resume rules (config, options), checked
before anything is compiled."""

import dataclasses
import json
import os

import pytest

from experiments.runs.folder import (
    CONFIG_JSON,
    DAMAGED_PREFIX,
    RunOptions,
    RunSetupError,
    clear_run_directory,
    load_run_config,
    resume_run_options,
    run_directory,
    set_up_run,
    write_config_json,
)
from hcmrl_jax.memory import MemoryConfig
from hcmrl_jax.rl.config import PPOConfig
from hcmrl_jax.utils.serialization import config_to_dict

CONFIG = PPOConfig(env_id="MemoryChain-bsuite", num_envs=4, num_steps=32, total_timesteps=256)


def _saved_run(tmp_path, run: RunOptions) -> str:
    """A run folder as a stopped run leaves it: config.json and a checkpoint folder."""
    run_dir = run_directory(CONFIG, run)
    os.makedirs(os.path.join(run_dir, "checkpoints", "2"))
    write_config_json(run_dir, CONFIG, config_to_dict(run), [])
    return run_dir


def test_resume_run_options_rules():
    saved = {**RunOptions(chunk_updates=5, csv=False).__dict__, "stop_after_updates": 2}
    run = RunOptions(resume=True, name="x")
    restored, overridden = resume_run_options(run, saved, explicit={"resume", "name"})
    assert restored.chunk_updates == 5 and not restored.csv and overridden == {}
    assert restored.stop_after_updates is None  # one invocation's option, not restored
    explicit = RunOptions(resume=True, name="x", chunk_updates=3)
    restored, overridden = resume_run_options(explicit, saved, explicit=None)
    assert restored.chunk_updates == 3 and overridden == {"chunk_updates": (5, 3)}


def test_config_json_round_trips(tmp_path):
    run = RunOptions(out_dir=str(tmp_path), chunk_updates=3)
    run_dir = _saved_run(tmp_path, run)
    config, saved = load_run_config(run_dir)
    assert config == CONFIG
    assert saved["run"]["chunk_updates"] == 3 and "resumes" not in saved
    assert saved["num_updates"] == CONFIG.num_updates == 2
    assert saved["steps_per_update"] == 128
    with pytest.raises(FileNotFoundError, match="is not a run directory"):
        load_run_config(str(tmp_path))


def test_a_resume_takes_the_saved_config_and_options(tmp_path):
    run = RunOptions(out_dir=str(tmp_path), chunk_updates=3, csv=False)
    run_dir = _saved_run(tmp_path, run)
    lines = []
    again = RunOptions(out_dir=str(tmp_path), name=os.path.basename(run_dir), resume=True)
    setup = set_up_run(PPOConfig(), dataclasses.replace(again, csv=True), {"csv"}, lines.append)
    assert setup.run_dir == run_dir and setup.config == CONFIG
    assert setup.run.chunk_updates == 3 and setup.run.csv and setup.run.resume
    assert setup.overridden == {"csv": (False, True)}
    assert setup.run_section["csv"] is True and setup.run_section["resume"] is False
    assert lines == ["resume: --csv True replaces the run's False"]
    with pytest.raises(RunSetupError, match=r"differs from the run's saved config in \['num_envs'"):
        set_up_run(dataclasses.replace(CONFIG, num_envs=8, num_minibatches=2), again)


def test_a_run_folder_saved_with_a_flat_config_still_loads_and_resumes(tmp_path):
    """config.json of runs made before the memory's settings moved into MemoryConfig (flat,
    the kind by name, state_dim for embed_dim) loads as the same config, and resumes."""
    config = dataclasses.replace(CONFIG, memory=MemoryConfig.meanpool(embed_dim=32, num_heads=2))
    run = RunOptions(out_dir=str(tmp_path), resume=True)
    run_dir = run_directory(config, run)
    assert os.path.basename(run_dir) == "MemoryChain-bsuite-hcmrl_meanpool-seed0"
    os.makedirs(os.path.join(run_dir, "checkpoints", "2"))
    write_config_json(run_dir, config, config_to_dict(run), [])
    with open(os.path.join(run_dir, CONFIG_JSON), encoding="utf-8") as handle:
        saved = json.load(handle)
    memory = saved["config"].pop("memory")
    flat = {**saved["config"], **memory, "memory": "hcmrl_meanpool", "state_dim": 32}
    for name in ("core", "embed_dim"):
        del flat[name]
    with open(os.path.join(run_dir, CONFIG_JSON), "w", encoding="utf-8") as handle:
        json.dump({**saved, "config": flat}, handle)
    assert load_run_config(run_dir)[0] == config
    assert set_up_run(config, run).config == config  # the same flags resume it
    named = dataclasses.replace(run, name=os.path.basename(run_dir))
    assert set_up_run(PPOConfig(), named).config == config  # no flags: the saved config


def test_set_up_refuses_what_would_lose_or_lack_a_run(tmp_path):
    run = RunOptions(out_dir=str(tmp_path))
    with pytest.raises(RunSetupError, match="--resume: no checkpoint in"):
        set_up_run(CONFIG, dataclasses.replace(run, resume=True))
    assert set_up_run(CONFIG, run).run_dir == run_directory(CONFIG, run)  # a fresh folder
    _saved_run(tmp_path, run)
    with pytest.raises(RunSetupError, match="already holds checkpoints; pass --resume"):
        set_up_run(CONFIG, run)
    assert set_up_run(CONFIG, dataclasses.replace(run, overwrite=True)).config == CONFIG


def test_clearing_removes_only_the_runs_files(tmp_path):
    run_dir = _saved_run(tmp_path, RunOptions(out_dir=str(tmp_path)))
    os.makedirs(os.path.join(run_dir, f"{DAMAGED_PREFIX}4"))
    with open(os.path.join(run_dir, "notes.txt"), "w") as handle:
        json.dump({}, handle)
    removed = clear_run_directory(run_dir)
    assert removed == [CONFIG_JSON, "checkpoints", f"{DAMAGED_PREFIX}4"]
    assert os.listdir(run_dir) == ["notes.txt"]
