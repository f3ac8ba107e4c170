"""Every command the README and CONTRIBUTING show stays true.

Each ``python -m experiments.<module> ...`` command (in a bash block or inline) is parsed by its
module's own parser with exactly the written arguments; each ``make <target>`` names a Makefile
target; and the folders commands point at are the folders earlier commands write: an evaluate
``--checkpoint`` is the run directory of a README training command or of ``make demo``, and a
``--resume`` continues a run that a README command starts. The training, resume and evaluation
paths themselves run in ``tests/experiments`` (tiny configs).
"""

import argparse
import contextlib
import io
import os
import re
import shlex

import pytest

from experiments.cli import cli_with_preset
from experiments.configs import DEMO
from experiments.demo import DemoOptions
from experiments.multiseed import MultiSeedArgs
from experiments.runs import run_directory
from experiments.train import parse_args as parse_train

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = ("README.md", "CONTRIBUTING.md")


def _commands(name: str) -> list[str]:
    """Shell commands of a Markdown file: lines of ```bash blocks and inline code spans that
    start with ``python -m`` or ``make``, comments dropped, whitespace collapsed."""
    with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
        text = handle.read()
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        commands += [line.split("#")[0] for line in block.splitlines()]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    commands += re.findall(r"`([^`]*?(?:python -m|make )[^`]*)`", prose, flags=re.S)
    commands = [" ".join(c.split()) for c in commands]
    commands = [re.sub(r"^(JAX_\w+=\S+ )*(taskset -c \S+ )?", "", c) for c in commands]
    commands = [c for c in commands if c.startswith(("python -m experiments.", "make "))]
    # Placeholders (`--distributed ...`, `--envs <id>`) are not commands one can run.
    return [c for c in commands if "..." not in c and "<" not in c]


ALL = [(name, command) for name in DOCS for command in _commands(name)]


def test_the_docs_show_the_commands_this_test_checks():
    readme = [command for name, command in ALL if name == "README.md"]
    assert "make demo" in readme and "make test" in readme
    assert any(c.startswith("python -m experiments.evaluate --checkpoint") for c in readme)
    assert any(c.startswith("python -m experiments.benchmark") for c in readme)
    assert len(readme) >= 15


class _Parsed(Exception):
    """Raised instead of running a script once its arguments parsed."""


def _parse_only(monkeypatch):
    """argparse scripts stop right after parsing (nothing is benchmarked)."""
    original = argparse.ArgumentParser.parse_args

    def parse(self, args=None, namespace=None):
        raise _Parsed(original(self, args, namespace))

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", parse)


def _parse(command: str, monkeypatch):
    """Parses a command with its module's parser; returns what it parsed (None for --help)."""
    words = shlex.split(command)
    module, argv = words[2], words[3:]
    if "--help" in argv:
        with contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as exit_info:
            parse_train(argv)
        assert exit_info.value.code == 0
        return None
    if module == "experiments.train":
        return parse_train(argv)
    if module == "experiments.evaluate":
        from experiments.evaluate import parse_args

        return parse_args(argv)
    if module == "experiments.multiseed":
        return cli_with_preset(MultiSeedArgs, argv, "multiseed", None)
    if module == "experiments.compare":
        import tyro

        from experiments.compare import CompareArgs, kind_config

        args = tyro.cli(CompareArgs, args=argv)
        for kind in args.memories:  # builds (so validates) every kind's config; trains nothing
            kind_config(args, kind)
        return args
    if module == "experiments.demo":
        import tyro

        return tyro.cli(DemoOptions, args=argv)
    if module == "experiments.benchmark" and argv[:1] == ["recall"]:
        from experiments.benchmarks.recall import cell_config, parse_args

        args = parse_args(argv[1:])
        for memory in args.memories:  # builds (so validates) every cell's config; trains nothing
            for lag in args.lags:
                cell_config(args, memory, lag)
        return args
    if module == "experiments.benchmark" and argv[:1] == ["probe"]:
        from experiments.benchmarks.probe import parse_args as parse_probe

        return parse_probe(argv[1:])
    if module == "experiments.benchmark" and argv[:1] == ["seeds"]:
        import tyro

        from experiments.benchmarks.seeds import SeedsArgs, seeds_config

        args = tyro.cli(SeedsArgs, args=argv[1:])
        seeds_config(args)  # builds (so validates) the runs' config; trains nothing
        return args
    if module in ("experiments.benchmark", "experiments.memory_demo"):
        import importlib

        _parse_only(monkeypatch)
        with pytest.raises(_Parsed) as parsed:
            importlib.import_module(module).main(argv)
        return parsed.value.args[0]
    raise AssertionError(f"no parser known for {module} in {command!r}")


@pytest.mark.parametrize(("doc", "command"), ALL, ids=[c for _, c in ALL])
def test_every_command_parses(doc, command, monkeypatch):
    if command.startswith("make "):
        with open(os.path.join(ROOT, "Makefile"), encoding="utf-8") as handle:
            targets = re.findall(r"^([\w-]+):", handle.read(), flags=re.M)
        assert command.split()[1] in targets, f"{doc}: no Makefile target for {command!r}"
        return
    _parse(command, monkeypatch)


def test_evaluate_and_resume_point_at_folders_the_readme_writes(monkeypatch):
    readme = [command for name, command in ALL if name == "README.md"]
    demo_dir = f"{DEMO.env_id}-{DEMO.memory.kind}"
    written = {os.path.join(DemoOptions().out_dir, demo_dir)}  # make demo
    trained = [
        c for c in readme if c.startswith("python -m experiments.train") and "--help" not in c
    ]
    assert trained
    for command in trained:
        args = _parse(command, monkeypatch)
        run_dir = run_directory(args.config, args.run)
        if args.run.resume:
            assert run_dir in written, f"{command!r} resumes {run_dir}, which no command writes"
        elif not args.run.overwrite:  # it would be refused: the folder holds another run
            assert run_dir not in written, f"{command!r}: an earlier command writes {run_dir}"
        written.add(run_dir)
    for command in (c for c in readme if c.startswith("python -m experiments.compare")):
        args = _parse(command, monkeypatch)  # a comparison writes <out>/<kind> per kind
        written.update(os.path.normpath(os.path.join(args.out_dir, k)) for k in args.memories)
    evaluations = [c for c in readme if c.startswith("python -m experiments.evaluate")]
    assert evaluations
    for command in evaluations:
        checkpoint = os.path.normpath(_parse(command, monkeypatch).checkpoint)
        assert checkpoint in written, f"{command!r}: no README command writes {checkpoint}"


def test_the_trainer_example_runs_whole_updates():
    """The README's PPOTrainer example, up to the compile: its num_steps is a whole number of
    updates (a remainder would warn)."""
    import warnings

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        blocks = re.findall(r"```python\n(.*?)```", handle.read(), flags=re.S)
    (example,) = [block for block in blocks if "PPOTrainer(" in block]
    assert "trainer.train(num_steps=" in example
    # Build the training function the call would compile, without compiling or running it.
    example = example.replace("trainer.train(", "trainer.make_train(")
    example = example.replace("runner_state, metrics = ", "train_fn = ")
    namespace: dict = {}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exec(compile(example, "README.md", "exec"), namespace)
    assert callable(namespace["train_fn"])
