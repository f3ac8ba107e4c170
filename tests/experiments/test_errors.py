"""The command-line tools' bad-input exit (``experiments.errors``)."""

from __future__ import annotations

import pytest

from experiments.errors import error_message, exit_on


def test_a_listed_error_prints_one_line_and_exits_with_the_code(capsys):
    with pytest.raises(SystemExit) as exit_info, exit_on(KeyError, ValueError):
        raise KeyError("unknown env 'nope'; known: crafting, navigation")
    assert exit_info.value.code == 2
    assert isinstance(exit_info.value.__cause__, KeyError)
    # The KeyError's own text, without the quotes str(KeyError) adds.
    assert capsys.readouterr().err == "error: unknown env 'nope'; known: crafting, navigation\n"


def test_the_exit_code_can_be_chosen(capsys):
    with pytest.raises(SystemExit) as exit_info, exit_on(RuntimeError, code=1):
        raise RuntimeError("the run diverged at update 3")
    assert exit_info.value.code == 1
    assert capsys.readouterr().err == "error: the run diverged at update 3\n"


def test_other_errors_and_normal_returns_pass_through():
    with pytest.raises(TypeError), exit_on(KeyError, ValueError):
        raise TypeError("not a bad input")

    def body() -> int:
        with exit_on(ValueError):
            return 7

    assert body() == 7


def test_nested_blocks_route_each_error_to_its_own_code(capsys):
    def run(error: Exception) -> None:
        with exit_on(ValueError), exit_on(RuntimeError, code=1):
            raise error

    for error, code in ((ValueError("bad folder"), 2), (RuntimeError("diverged"), 1)):
        with pytest.raises(SystemExit) as exit_info:
            run(error)
        assert exit_info.value.code == code
    assert capsys.readouterr().err == "error: bad folder\nerror: diverged\n"


def test_error_message_is_the_errors_own_text():
    assert error_message(ValueError("one")) == "one"
    assert error_message(KeyError("key")) == "key"  # str() would give "'key'"
    assert error_message(ValueError()) == ""
    # An OSError made with (errno, strerror, filename) keeps its whole text.
    missing = FileNotFoundError(2, "No such file or directory", "runs/x")
    assert error_message(missing) == "[Errno 2] No such file or directory: 'runs/x'"
