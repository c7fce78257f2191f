"""ParamSpec curves (ddspfx/params.py) against closed forms and scipy."""

import math

import pytest
import torch
from scipy.stats import norm

from ddspfx.params import ParamSpec


@pytest.mark.parametrize("scale, lo, hi", [("linear", -2.0, 5.0), ("log", 0.01, 100.0), ("normal", -3.0, 3.0)])
def test_normalize_inverts_denormalize(scale, lo, hi):
    spec = ParamSpec("p", "", lo, hi, scale)
    w = torch.linspace(0.0, 1.0, 101, dtype=torch.float64)
    value = spec.denormalize(w)
    assert value[0].item() == pytest.approx(lo, rel=1e-9, abs=1e-9)
    assert value[-1].item() == pytest.approx(hi, rel=1e-9, abs=1e-9)
    torch.testing.assert_close(spec.normalize(value), w, atol=1e-9, rtol=0)


def test_normal_scale_is_the_truncated_normal_quantile():
    spec = ParamSpec("z", "σ", -3.0, 3.0, "normal")
    w = torch.tensor([0.1, 0.25, 0.5, 0.9], dtype=torch.float64)
    lo, hi = norm.cdf(-3.0), norm.cdf(3.0)
    expected = norm.ppf(lo + w.numpy() * (hi - lo))
    torch.testing.assert_close(spec.denormalize(w), torch.from_numpy(expected), atol=1e-10, rtol=0)
    assert spec.denormalize(torch.tensor(0.5)).item() == pytest.approx(0.0, abs=1e-7)


def test_uniform_controls_give_standard_normal_draws():
    spec = ParamSpec("z", "σ", -4.0, 4.0, "normal")
    z = spec.denormalize(torch.rand(200_000, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    assert abs(z.mean().item()) < 0.01
    assert z.std().item() == pytest.approx(1.0, abs=0.01)


def test_unknown_scale_and_bad_ranges_are_refused():
    with pytest.raises(ValueError, match="scale must be one of"):
        ParamSpec("p", "", 0.0, 1.0, "cubic")
    with pytest.raises(ValueError, match="max"):
        ParamSpec("p", "", 1.0, 1.0)
    with pytest.raises(ValueError, match="log scale needs min > 0"):
        ParamSpec("p", "", 0.0, 1.0, "log")
    assert math.isfinite(ParamSpec("p", "", -1.0, 1.0, "normal").denormalize(torch.tensor(1.0)).item())
