"""P-VAE placement against numpy references (textures §5) and the frozen-decoder / control contract."""

import math
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from ddspfx.core.errors import ConfigError
from ddspfx.synths.pvae import PVAESynth, grain_window, patch_index, place_grains

SR = 8000
L, D = 32, 2  # stub grain length and latent size


class StubGrains(nn.Module):
    """A tiny GrainSynth stand-in: z (..., D) → tanh(Linear(dropout(z))) (..., L)."""

    def __init__(self, latent_dim=D, length=L, sample_rate=SR):
        super().__init__()
        self.latent_dim, self.n_samples, self.sample_rate = latent_dim, length, sample_rate
        self.dropout = nn.Dropout(0.5)
        self.linear = nn.Linear(latent_dim, length)
        self.texenv = SimpleNamespace(n_bands=4, low=20.0, high=None, edge_bands=False)

    def decode(self, z):
        return torch.tanh(self.linear(self.dropout(z)))


def make_synth(n_samples=256, n_grains=4, dtype=torch.float64, **kwargs):
    torch.manual_seed(0)
    return PVAESynth(StubGrains(), n_samples=n_samples, n_grains=n_grains, **kwargs).to(dtype)


def generator(seed):
    return torch.Generator().manual_seed(seed)


def numpy_place(events, grains):
    """Reference: every event at t in patch k adds events[t]·grain_k starting at t, cut at the frame end."""
    n, (k_count, length) = events.shape[-1], grains.shape
    out = np.zeros(n)
    hop = n // k_count
    for t in np.flatnonzero(events):
        k = min(t // hop, k_count - 1)
        stop = min(n, t + length)
        out[t:stop] += events[t] * grains[k, : stop - t]
    return out


def numpy_convolve_patches(events, grains):
    """Reference: np.convolve of each patch (zeros elsewhere) with its grain, summed, first n samples."""
    n, (k_count, _) = events.shape[-1], grains.shape
    bounds = [k * (n // k_count) for k in range(k_count)] + [n]
    total = np.zeros(n)
    for k in range(k_count):
        patch = np.zeros(n)
        patch[bounds[k] : bounds[k + 1]] = events[bounds[k] : bounds[k + 1]]
        total += np.convolve(patch, grains[k])[:n]
    return total


# ------------------------------------------------------------------ place_grains


def test_one_event_reproduces_the_grain_at_its_time():
    rng = np.random.default_rng(0)
    grains = rng.standard_normal((1, 3, 50))
    events = np.zeros((1, 300))
    events[0, 120] = 0.7  # patch 1 of 3 (100 … 199)
    out = place_grains(torch.from_numpy(events), torch.from_numpy(grains)).numpy()
    np.testing.assert_allclose(out[0], numpy_place(events[0], grains[0]), atol=1e-12)
    np.testing.assert_allclose(out[0, 120:170], 0.7 * grains[0, 1], atol=1e-12)
    assert np.abs(out[0, :120]).max() < 1e-12 and np.abs(out[0, 170:]).max() < 1e-12


@pytest.mark.parametrize("n", [400, 403])  # divisible by K = 4 and not
def test_distinct_grains_land_at_their_events(n):
    rng = np.random.default_rng(1)
    grains = rng.standard_normal((2, 4, 37))
    events = np.zeros((2, n))
    for b in range(2):
        events[b, rng.choice(n, 12, replace=False)] = rng.uniform(0.1, 1.0, 12)
    events[:, [5, 130, 250, 390]] = 1.0  # one event in every patch
    out = place_grains(torch.from_numpy(events), torch.from_numpy(grains))
    assert out.shape == (2, n)
    for b in range(2):
        np.testing.assert_allclose(out[b].numpy(), numpy_convolve_patches(events[b], grains[b]), atol=1e-12)
        np.testing.assert_allclose(out[b].numpy(), numpy_place(events[b], grains[b]), atol=1e-12)


def test_last_patch_takes_the_remainder():
    assert patch_index(10, 3).tolist() == [0, 0, 0, 1, 1, 1, 2, 2, 2, 2]
    assert patch_index(2, 4).tolist() == [3, 3]


def test_event_near_the_end_is_truncated_not_wrapped():
    grains = torch.ones(1, 2, 64, dtype=torch.float64)
    events = torch.zeros(1, 100, dtype=torch.float64)
    events[0, 90] = 1.0
    out = place_grains(events, grains)
    expected = torch.zeros(1, 100, dtype=torch.float64)
    expected[0, 90:] = 1.0
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=0)


def test_shared_grains_and_float32():
    events = torch.zeros(3, 50)
    events[:, 10] = 1.0
    grains = torch.randn(2, 8)
    out = place_grains(events, grains)
    assert out.shape == (3, 50) and out.dtype == torch.float32
    torch.testing.assert_close(out[:, 10:18], grains[0].expand(3, 8), atol=1e-6, rtol=0)


def test_place_grains_gradcheck():
    events = torch.randn(2, 11, dtype=torch.float64, requires_grad=True)
    grains = torch.randn(2, 3, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(place_grains, (events, grains))


def test_place_grains_bad_shapes():
    with pytest.raises(ValueError, match="place_grains"):
        place_grains(torch.zeros(2, 10), torch.zeros(3, 2, 4))
    with pytest.raises(ValueError, match="place_grains"):
        place_grains(torch.zeros(10), torch.zeros(2, 4))


# ------------------------------------------------------------------ PVAESynth


def test_params_order_and_metadata():
    synth = make_synth(n_grains=3)
    names = synth.param_names
    assert names[:2] == ["rate", "alpha"] and names[2:] == [f"grain{k}.z{j}" for k in range(3) for j in range(D)]
    assert synth.n_params == 2 + 3 * D
    rate, alpha, z = synth.params[0], synth.params[1], synth.params[2]
    assert (rate.unit, rate.scale, rate.min, rate.max) == ("events/s", "log", 1.0, 100.0)
    assert (alpha.scale, alpha.min, alpha.max) == ("log", 0.01, 100.0)
    assert (z.unit, z.scale, z.min, z.max) == ("σ", "normal", -3.0, 3.0)
    assert synth.sample_rate == SR and synth.duration == 256 / SR and synth.n_samples == 256
    assert not synth.time_varying
    assert (synth.n_bands, synth.low, synth.high, synth.edge_bands) == (4, 20.0, None, False)


def test_window_is_hann_to_the_exponent():
    synth = make_synth()
    torch.testing.assert_close(synth.window, torch.hann_window(L, periodic=False, dtype=torch.float64) ** 0.1)
    assert grain_window(5, 0.0).tolist() == [1.0] * 5


def test_latent_controls_are_prior_quantiles():
    synth = make_synth()
    u = torch.tensor([0.5, 0.1, 0.9, 0.0, 1.0, 0.3], dtype=torch.float64)
    controls = torch.full((6, synth.n_params), 0.5, dtype=torch.float64)
    controls[:, 2] = u
    _, _, z = synth.controls_to_physical(controls)
    assert z.shape == (6, 4, D)
    expected = scipy.stats.truncnorm.ppf(u.numpy(), -3.0, 3.0)
    np.testing.assert_allclose(z[:, 0, 0].numpy(), expected, atol=1e-9)
    assert z[0].abs().max().item() < 1e-9  # 0.5 ↦ z = 0
    assert z.abs().max().item() <= 3.0 + 1e-9


def test_grain_bank_is_windowed_decoded_grains():
    synth = make_synth()
    z = torch.randn(2, 4, D, dtype=torch.float64)
    bank = synth.grain_bank(z)
    assert bank.shape == (2, 4, L)
    torch.testing.assert_close(bank, synth.grains.decode(z) * synth.window)
    with pytest.raises(ValueError, match="latents must have shape"):
        synth.grain_bank(torch.zeros(2, 3, D))


def test_forward_is_events_placed_with_grains():
    synth = make_synth(n_samples=301, n_grains=4)
    controls = torch.rand(3, synth.n_params, generator=generator(0), dtype=torch.float64)
    controls[:, 0] = 1.0  # 100 events/s: ≈ 3.8 events a frame at 8 kHz
    audio = synth(controls, generator=generator(1))
    assert audio.shape == (3, 301) and audio.dtype == torch.float64
    events = synth.events(controls, generator=generator(1))
    _, _, z = synth.controls_to_physical(controls)
    bank = synth.grain_bank(z)
    for b in range(3):
        np.testing.assert_allclose(audio[b].numpy(), numpy_place(events[b].numpy(), bank[b].detach().numpy()), atol=1e-12)
    assert torch.equal(audio, synth(controls, generator=generator(1)))


def test_render_by_name_matches_forward():
    synth = make_synth()
    controls = torch.rand(2, synth.n_params, generator=generator(2), dtype=torch.float64)
    physical = synth.denormalize(controls)
    torch.testing.assert_close(synth.render(256, generator=generator(3), **physical), synth(controls, generator=generator(3)))
    torch.testing.assert_close(synth.normalize(**physical), controls)
    with pytest.raises(ValueError, match="missing"):
        synth.render(256, rate=physical["rate"], alpha=physical["alpha"])


def test_denormalize_normalize_round_trip():
    synth = make_synth(n_grains=2)
    controls = torch.rand(5, synth.n_params, generator=generator(4), dtype=torch.float64)
    physical = synth.denormalize(controls)
    assert set(physical) == set(synth.param_names)
    assert ((physical["rate"] >= 1.0) & (physical["rate"] <= 100.0)).all()
    torch.testing.assert_close(synth.normalize(**physical), controls, atol=1e-9, rtol=0)


def silence_uniforms(batch, n, dtype=torch.float64):
    return torch.full((2, batch, n), 0.999999, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_silence_is_exact_zero_with_finite_gradients(dtype):
    synth = make_synth(dtype=dtype)
    controls = torch.full((2, synth.n_params), 0.3, dtype=dtype, requires_grad=True)
    audio = synth(controls, uniforms=silence_uniforms(2, 256, dtype))
    assert torch.equal(audio, torch.zeros_like(audio))
    audio.square().sum().add(audio.sum()).backward()
    assert torch.isfinite(controls.grad).all()
    # no events drawn from a seed at the lowest rate (1 event/s, 256 samples at 8 kHz: p(no event) ≈ 0.97)
    low = torch.zeros(1, synth.n_params, dtype=dtype)
    assert torch.equal(synth(low, generator=generator(0)), torch.zeros(1, 256, dtype=dtype))


def test_single_event_gives_finite_gradients_for_all_controls():
    synth = make_synth()
    controls = torch.rand(1, synth.n_params, generator=generator(5), dtype=torch.float64)
    controls[0, 0] = 1.0  # 100 events/s
    controls.requires_grad_(True)
    uniforms = silence_uniforms(1, 256)
    uniforms[0, 0, 10] = 0.0  # the event: patch 0, at sample 10
    uniforms[1, 0, 10] = 0.5  # V = 0.5
    audio = synth(controls, uniforms=uniforms)
    assert audio[0, :10].abs().max() < 1e-12 and audio[0, 10:42].abs().max() > 0.01
    (audio * torch.linspace(1.0, 2.0, 256, dtype=torch.float64)).sum().backward()
    grad = controls.grad
    assert torch.isfinite(grad).all()
    assert grad[0, 0] != 0 and grad[0, 1] != 0 and grad[0, 2:4].abs().sum() > 0
    assert (grad[0, 4:] == 0).all()  # grains 1 … 3 are not placed anywhere


def test_grain_synth_is_frozen_and_stays_in_eval():
    synth = make_synth()
    synth.train()
    assert synth.training and not synth.grains.training and not synth.grains.dropout.training
    assert all(not p.requires_grad for p in synth.grains.parameters())
    controls = torch.rand(2, synth.n_params, generator=generator(6), dtype=torch.float64, requires_grad=True)
    controls.data[:, 0] = 1.0
    a = synth(controls, generator=generator(7))
    a.sum().backward()
    assert all(p.grad is None for p in synth.grains.parameters())
    assert controls.grad[:, 2:].abs().sum() > 0  # latents still get gradients through decode
    # eval mode ⇒ dropout is off ⇒ deterministic for the same events
    assert torch.equal(a, synth(controls, generator=generator(7)))


def test_bad_controls_raise():
    synth = make_synth()
    with pytest.raises(ValueError, match="controls must have shape"):
        synth(torch.rand(2, synth.n_params + 1, dtype=torch.float64))
    with pytest.raises(ValueError, match="static"):
        synth(torch.rand(2, synth.n_params, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="NaN"):
        synth(torch.full((1, synth.n_params), float("nan"), dtype=torch.float64))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_grains": 0}, "n_grains"),
        ({"n_samples": 0}, "n_samples"),
        ({"rate_range": (10.0, 1.0)}, "rate_range"),
        ({"rate_range": (1.0, 2 * SR)}, "rate_range"),
        ({"alpha_range": (0.0, 1.0)}, "alpha_range"),
        ({"latent_range": -1.0}, "latent_range"),
        ({"window_exponent": -0.1}, "window_exponent"),
    ],
)
def test_bad_config_raises(kwargs, match):
    with pytest.raises(ConfigError, match=match):
        PVAESynth(StubGrains(), **{"n_samples": 256, **kwargs})


def test_grains_without_the_interface_raise():
    with pytest.raises(ConfigError, match="lacks"):
        PVAESynth(nn.Linear(2, 2))


def test_real_texenv_properties():
    from ddspfx.synths.texenv import TexEnvSynth

    grains = StubGrains()
    grains.texenv = TexEnvSynth(SR, 256, n_bands=3, n_coefficients=4, low=40.0)
    synth = PVAESynth(grains, n_samples=512)
    assert (synth.n_bands, synth.low, synth.high, synth.edge_bands) == (3, 40.0, None, False)
    assert math.isclose(synth.duration, 512 / SR)
