"""How the command-line tools end on bad input: one line ``error: <message>`` on stderr and an
exit code (2 by default), never a traceback."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator


def error_message(error: BaseException) -> str:
    """The one-line text of ``error``: ``str(error)``, but a ``KeyError``'s message without the
    quotes ``str`` adds to it."""
    if isinstance(error, KeyError) and error.args:
        return str(error.args[0])
    return str(error)


@contextlib.contextmanager
def exit_on(*errors: type[BaseException], code: int = 2) -> Iterator[None]:
    """Inside the block, an exception of one of ``errors`` prints ``error: <message>`` to stderr
    and exits with ``code`` (``SystemExit``, chained to the error); others pass through.

    Example::

        with exit_on(KeyError, ValueError):
            args = parse_args(argv)
    """
    try:
        yield
    except errors as error:
        print(f"error: {error_message(error)}", file=sys.stderr)
        raise SystemExit(code) from error
