"""plain_warnings: one plain line per warning, each message once (what the scripts print)."""

import warnings

from ddspfx.core.console import plain_warnings


def test_a_repeated_warning_prints_once_on_one_line(capsys):
    saved = warnings.formatwarning
    try:
        with warnings.catch_warnings():
            plain_warnings()
            for _ in range(2):
                warnings.warn("ParametricEQ: range of 'f0' narrowed", UserWarning)
            warnings.warn("another message", RuntimeWarning)
    finally:
        warnings.formatwarning = saved
    assert capsys.readouterr().err == "warning: ParametricEQ: range of 'f0' narrowed\nwarning: another message\n"
