"""Metric declarations and the one higher-is-better rule."""

import pytest

from ddspfx.core.metrics import MetricSpec, base_name, higher_is_better, spec_table

SPECS = [MetricSpec("mel"), MetricSpec("si_sdr", True, unit="dB"), MetricSpec("h_kl", None, "posterior"), MetricSpec("best_of_2/mel", True)]


def test_derived_names_follow_their_base_unless_declared():
    assert higher_is_better("si_sdr", SPECS) is True
    assert higher_is_better("best_of_5/si_sdr", SPECS) is True
    assert higher_is_better("map/mel", SPECS) is False
    assert higher_is_better("best_of_2/mel", SPECS) is True  # an exact declaration wins
    assert higher_is_better("h_kl", spec_table(SPECS)) is None
    assert base_name("consistency/si_sdr") == "si_sdr"


def test_undeclared_metric_is_an_error():
    with pytest.raises(KeyError, match="'lsd' is not declared"):
        higher_is_better("lsd", SPECS)


def test_derive_and_round_trip():
    spec = MetricSpec("si_sdr", True, unit="dB").derive("best_of_3", "posterior")
    assert spec == MetricSpec("best_of_3/si_sdr", True, "posterior", "dB")
    assert MetricSpec.from_dict({**spec.to_dict(), "extra": 1}) == spec


def test_a_name_declared_twice_is_an_error():
    with pytest.raises(ValueError, match="declared twice"):
        spec_table([MetricSpec("mel"), MetricSpec("mel", True)])
