import pytest

from ddspfx.heads import BetaSchedule


def test_endpoints_and_half_way():
    beta = BetaSchedule(0.5, 0.005, warmup=400)
    assert beta(0) == pytest.approx(0.5)
    assert beta(200) == pytest.approx((0.5 * 0.005) ** 0.5)
    assert beta(400) == pytest.approx(0.005)
    assert beta(10_000) == pytest.approx(0.005)


def test_published_values():
    fm = BetaSchedule(0.5, 0.005, warmup=100)
    assert [round(fm(r * 100), 4) for r in (0.25, 0.5, 0.75)] == [0.1581, 0.05, 0.0158]
    assert BetaSchedule(0.5, 0.02, warmup=175)(87.5) == pytest.approx(0.1)


def test_no_warmup_and_bad_values():
    assert BetaSchedule(0.5, 0.005, warmup=0)(0) == pytest.approx(0.005)
    with pytest.raises(ValueError):
        BetaSchedule(0.0, 0.005, 10)
