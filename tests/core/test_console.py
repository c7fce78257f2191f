"""plain_warnings: one plain line per warning, each message once (what the scripts print)."""

import warnings

from ddspfx.core.console import format_plain, plain_warnings


def test_a_repeated_warning_is_shown_once_as_one_plain_line():
    saved = warnings.formatwarning
    try:
        with warnings.catch_warnings(record=True) as record:
            plain_warnings()
            for _ in range(2):
                warnings.warn("ParametricEQ: range of 'f0' narrowed", UserWarning)
            warnings.warn("another message", RuntimeWarning)
            shown = [warnings.formatwarning(w.message, w.category, w.filename, w.lineno) for w in record]
    finally:
        warnings.formatwarning = saved
    assert shown == ["warning: ParametricEQ: range of 'f0' narrowed\n", "warning: another message\n"]
    assert format_plain("x", UserWarning, "file.py", 3, "source line") == "warning: x\n"
