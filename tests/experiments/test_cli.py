"""The training CLI: --help documents every config field; bad values exit with a clear message."""

import ast
import dataclasses
import inspect
import io
import re
import tokenize

import pytest

from experiments.cli import expand_aliases
from experiments.runs import RunOptions
from experiments.train import parse_args
from hcmrl_jax.memory import MemoryConfig
from hcmrl_jax.rl.config import PPOConfig


def _field_docs(cls) -> dict[str, str]:
    """Each dataclass field's documentation as written in the source: the comment on the
    field's line(s), or the string literal right below it."""
    source = inspect.getsource(cls)
    comments: dict[int, str] = {}
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            comments[token.start[0]] = token.string.lstrip("#").strip()
    body = ast.parse(source).body[0].body
    docs = {}
    for index, node in enumerate(body):
        if not isinstance(node, ast.AnnAssign):
            continue
        name = node.target.id
        following = body[index + 1] if index + 1 < len(body) else None
        if (
            isinstance(following, ast.Expr)
            and isinstance(following.value, ast.Constant)
            and isinstance(following.value.value, str)
        ):
            docs[name] = following.value.value
        else:
            lines = range(node.lineno, node.end_lineno + 1)
            docs[name] = " ".join(comments[line] for line in lines if line in comments)
    return docs


def _collapse(text: str) -> str:
    return " ".join(re.sub(r"[│╭╮╰╯─]", " ", text).split())


@pytest.fixture(scope="module")
def help_text():
    with pytest.MonkeyPatch.context() as patch:
        # One column of option groups (tyro sets groups side by side from 130 columns, which
        # would interleave their lines); docs that wrap are joined again by _collapse.
        patch.setenv("COLUMNS", "129")
        stream = io.StringIO()
        with pytest.raises(SystemExit) as exit_info:
            import contextlib

            with contextlib.redirect_stdout(stream):
                parse_args(["--help"])
    assert exit_info.value.code == 0
    return _collapse(stream.getvalue())


@pytest.mark.parametrize("cls", [PPOConfig, MemoryConfig, RunOptions])
def test_help_lists_every_field_with_its_doc(help_text, cls):
    docs = _field_docs(cls)
    assert set(docs) == {field.name for field in dataclasses.fields(cls)}
    for name, doc in docs.items():
        flag = "--" + name.replace("_", "-")
        assert re.search(re.escape(flag) + r"\b", help_text), f"{flag} missing from --help"
        assert doc, f"{cls.__name__}.{name} has no doc comment"
        assert _collapse(doc) in help_text, f"the doc of {flag} is missing from --help: {doc!r}"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--num-envs", "0"], "num_envs must be a positive integer"),
        (["--gamma", "1.5"], "gamma must lie in [0, 1]"),
        (["--num-minibatches", "3"], "num_minibatches (3) must divide num_envs"),
        (["--total-steps", "10"], "total_timesteps (10) is less than one update"),
        (["--env", "no-such-env"], "unknown env 'no-such-env'"),
        (["--memory", "lstm"], "unknown memory kind 'lstm'"),
        (["--memory"], "--memory needs a memory kind"),
        (["--core", "lstm"], "invalid choice 'lstm'"),
        (["--immediate-size", "0"], "MemoryConfig.immediate_size must be a positive integer"),
        (["--segment-length", "64"], "segment_length (64) must be <= immediate_size (32)"),
        (["--beta", "inf"], "MemoryConfig.beta must be a finite number, got inf"),
        (["--lr", "fast"], "could not convert string to float"),
        (["--lr", "inf"], "PPOConfig.lr must be a finite number, got inf"),
        (["--lr", "nan"], "PPOConfig.lr must be a finite number, got nan"),
        (["--clip-eps", "inf"], "PPOConfig.clip_eps must be a finite number, got inf"),
        (["--chunk-updates", "0"], "chunk_updates must be a positive integer"),
        (["--resume", "--overwrite"], "--resume and --overwrite contradict"),
    ],
)
def test_bad_values_exit_with_a_clear_message(capsys, monkeypatch, argv, message):
    monkeypatch.setenv("COLUMNS", "400")
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    err = _collapse(capsys.readouterr().err)
    assert message in err
    assert "Traceback" not in err


def test_short_flags_and_good_values_parse():
    assert expand_aliases(["--env=story", "--total-steps", "5"]) == [
        "--env-id=story",
        "--total-timesteps",
        "5",
    ]
    args = parse_args(
        ["--env", "crafting", "--total-steps", "9000", "--memory", "gru", "--seed", "3", "--resume"]
    )
    assert args.config == PPOConfig(
        env_id="crafting", total_timesteps=9000, memory=MemoryConfig.gru()
    )
    assert args.run.seed == 3 and args.run.resume


def test_memory_settings_by_their_one_name_and_a_kind_by_name():
    # A kind sets the core and HCMRL's switches; the sizes given (before or after) stay.
    args = parse_args(["--embed-dim", "32", "--memory=hcmrl_meanpool", "--num-heads", "2"])
    assert args.config.memory == MemoryConfig.meanpool(embed_dim=32, num_heads=2)
    # A switch given with the kind wins over the kind's own.
    args = parse_args(["--memory", "hcmrl_meanpool", "--no-use-long-term"])
    assert args.config.memory == MemoryConfig.meanpool(use_long_term=False)
    # The kind after a preset keeps the preset's sizes.
    tiny = parse_args(["--preset", "tiny", "--memory", "gru"]).config
    from experiments.configs import get_preset

    assert tiny.memory == get_preset("tiny").memory.with_kind("gru")
    # The old name of embed_dim still works.
    assert parse_args(["--state-dim", "32"]).config.memory.embed_dim == 32


@pytest.mark.parametrize("preset", ["tiny", "demo"])
def test_env_overrides_after_a_preset(preset):
    from experiments.cli import cli_with_preset
    from experiments.configs import get_preset
    from experiments.multiseed import MultiSeedArgs

    argv = ["--preset", preset, "--env-overrides", "max_steps_in_episode", "30", "view_size", "3"]
    expected = {**get_preset(preset).env_overrides, "max_steps_in_episode": 30, "view_size": 3}
    assert parse_args(argv).config.env_overrides == expected
    multiseed = cli_with_preset(MultiSeedArgs, argv, "multiseed", None)
    assert multiseed.config.env_overrides == expected
    # The same spelling before the preset, and without one.
    assert parse_args([*argv[2:], *argv[:2]]).config.env_overrides == expected
    assert parse_args(argv[2:]).config.env_overrides == {"max_steps_in_episode": 30, "view_size": 3}
    # A preset alone keeps its overrides.
    assert parse_args(argv[:2]).config == get_preset(preset)
