"""ddspfx.dsp.envelopes against the reference's construction (a cumulative product) in numpy float64."""

import numpy as np
import pytest
import torch

from ddspfx.dsp.envelopes import LOG_FLOOR, attack_samples, decay_envelope, decay_envelope_sum


def numpy_envelope(decay_ms: float, n_samples: int, sample_rate: int) -> np.ndarray:
    """Linear attack over int(0.001·sr) samples, then the cumulative product of [1, r, r, …]."""
    attack = int(0.001 * sample_rate)
    r = 1 - 6.91 / (decay_ms * sample_rate / 1000)
    ramp = (np.arange(attack) + 1) / attack
    decay = np.cumprod(np.concatenate([[1.0], np.full(n_samples - attack - 1, r)]))
    return np.concatenate([ramp, decay])[:n_samples]


def test_attack_length():
    assert (attack_samples(44100), attack_samples(48000), attack_samples(16000), attack_samples(999)) == (44, 48, 16, 0)


def test_attack_peak_and_minus_60_db_at_the_decay_time():
    sr, decay_ms = 44100, 100.0
    e = decay_envelope(torch.tensor([decay_ms], dtype=torch.float64), 10000, sr)[0].numpy()
    a = 44
    assert e[0] == pytest.approx(1 / a, abs=1e-15)
    assert e[a - 1] == pytest.approx(1.0, abs=1e-15) and e[a] == pytest.approx(1.0, abs=1e-15)
    k = int(decay_ms * sr / 1000)  # 4410 samples after the peak
    assert e[a + k] == pytest.approx((1 - 6.91 / k) ** k, rel=1e-9)
    assert e[a + k] == pytest.approx(10 ** (-60 / 20), rel=0.01)  # ≈ −60 dB (6.91 ≈ ln 1000)


@pytest.mark.parametrize("sample_rate", [44100, 8000])
def test_envelope_matches_the_cumulative_product(sample_rate):
    decays = [10.0, 37.5, 250.0, 2000.0]
    n = sample_rate // 2
    ours = decay_envelope(torch.tensor(decays, dtype=torch.float64), n, sample_rate).numpy()
    for row, decay_ms in zip(ours, decays):
        reference = np.maximum(numpy_envelope(decay_ms, n, sample_rate), np.exp(LOG_FLOOR))
        np.testing.assert_allclose(row, reference, rtol=1e-9, atol=1e-300)


def test_float32_envelope_is_close_and_floored_not_subnormal():
    e = decay_envelope(torch.tensor([10.0]), 44100, 44100)[0]
    reference = numpy_envelope(10.0, 44100, 44100)
    np.testing.assert_allclose(e.double().numpy(), reference, rtol=2e-5, atol=1e-25)
    assert e.min().item() >= np.float32(np.exp(LOG_FLOOR)) > np.finfo(np.float32).tiny


@pytest.mark.parametrize("sample_rate", [44100, 8000, 900])
def test_sum_is_the_exclusive_cumulative_sum(sample_rate):
    decays = [10.0, 120.0, 2000.0]
    n = 3000
    ours = decay_envelope_sum(torch.tensor(decays), n, sample_rate)
    assert ours.dtype == torch.float64
    for row, decay_ms in zip(ours.numpy(), decays):
        if sample_rate < 1000:  # no attack: the decay starts at sample 0
            r = 1 - 6.91 / (decay_ms * sample_rate / 1000)
            envelope = r ** np.arange(n)
        else:
            envelope = numpy_envelope(decay_ms, n, sample_rate)
        reference = np.concatenate([[0.0], np.cumsum(envelope)[:-1]])
        np.testing.assert_allclose(row, reference, rtol=1e-12, atol=1e-12)


def test_shapes_and_renders_shorter_than_the_attack():
    decay = torch.full((2, 3), 50.0)
    assert decay_envelope(decay, 100, 44100).shape == (2, 3, 100)
    short = decay_envelope(decay, 10, 44100)
    torch.testing.assert_close(short[0, 0], (torch.arange(10) + 1) / 44.0)
    assert decay_envelope_sum(decay, 10, 44100).shape == (2, 3, 10)


def test_extreme_decays_stay_finite():
    decay = torch.tensor([0.0, 1e-3, -5.0, 1e9], requires_grad=True)
    e = decay_envelope(decay, 1000, 44100)
    s = decay_envelope_sum(decay, 1000, 44100)
    (e.sum() + s.sum()).backward()
    assert torch.isfinite(e).all() and torch.isfinite(s).all() and torch.isfinite(decay.grad).all()
    assert (e >= 0).all() and (e <= 1).all()


def test_gradients():
    decay = (10 + 40 * torch.rand(2, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))).requires_grad_()
    for sample_rate in (44100, 8000):
        for envelope in (decay_envelope, decay_envelope_sum):
            assert torch.autograd.gradcheck(lambda d: envelope(d, 300, sample_rate), (decay,), fast_mode=True)


def test_bad_length_raises():
    with pytest.raises(ValueError, match="n_samples"):
        decay_envelope(torch.tensor([50.0]), 0, 44100)
