"""What the command-line scripts print: warnings as one plain line each, each message once, and
progress bars only on a terminal.

Python's default shows a warning as two lines (the file and line that raised it, then the source
line), and a warning raised once per effect of a chain or once per data split repeats. Scripts
call `plain_warnings()` first; libraries and tests keep Python's defaults.
"""

from __future__ import annotations

import sys
import warnings
from typing import Callable

from ddspfx.core.errors import DataError, find_error


def format_plain(message, category, filename, lineno, line=None) -> str:
    """`warning: <message>` (a RuntimeWarning or UserWarning name adds nothing for a user)."""
    return f"warning: {message}\n"


def plain_warnings() -> None:
    """Print every warning as one line (`format_plain`), and each distinct message only once."""
    warnings.formatwarning = format_plain
    warnings.simplefilter("once")


def stderr_is_terminal() -> bool:
    """True if stderr is an interactive terminal (tqdm bars only there, not in piped logs)."""
    try:
        return sys.stderr is not None and sys.stderr.isatty()
    except (AttributeError, ValueError):  # replaced or closed stream
        return False


def script_status(prog: str, body: Callable[[], object], expected: tuple[type[BaseException], ...]) -> int:
    """Run a script's `body`: exit status 0, or 2 with one line `<prog>: <message>` on stderr for
    the `expected` errors and for a `DataError` anywhere in the exception's chain (Hydra wraps
    the errors raised while building a task). Anything else propagates (a bug: keep the traceback)."""
    try:
        body()
    except expected as error:
        print(f"{prog}: {error}", file=sys.stderr)
        return 2
    except Exception as error:
        data_error = find_error(error, DataError)
        if data_error is None:
            raise
        print(f"{prog}: {data_error}", file=sys.stderr)
        return 2
    return 0
