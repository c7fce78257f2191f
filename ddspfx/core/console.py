"""What the command-line scripts print: warnings as one plain line each, each message once.

Python's default shows a warning as two lines (the file and line that raised it, then the source
line), and a warning raised once per effect of a chain or once per data split repeats. Scripts
call `plain_warnings()` first; libraries and tests keep Python's defaults.
"""

from __future__ import annotations

import warnings


def format_plain(message, category, filename, lineno, line=None) -> str:
    """`warning: <message>` (a RuntimeWarning or UserWarning name adds nothing for a user)."""
    return f"warning: {message}\n"


def plain_warnings() -> None:
    """Print every warning as one line (`format_plain`), and each distinct message only once."""
    warnings.formatwarning = format_plain
    warnings.simplefilter("once")
