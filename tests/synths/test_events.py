"""The event train against its closed forms (textures §5): counts λT, amplitudes 1/(α+1), gradients."""

import math

import pytest
import torch

from ddspfx.core.errors import NonFiniteError
from ddspfx.synths.events import event_train, expected_amplitude, expected_event_count

SR = 44100


def generator(seed):
    return torch.Generator().manual_seed(seed)


def tensor(*values, dtype=torch.float64, grad=False):
    return torch.tensor(values, dtype=dtype, requires_grad=grad)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_count_matches_poisson_rate(seed):
    rate, seconds = 50.0, 10.0
    train = event_train(tensor(rate), tensor(1.0), int(seconds * SR), SR, generator(seed))
    count = (train > 0).sum().item()
    mean = expected_event_count(rate, seconds)
    assert mean == 500.0
    assert abs(count - mean) < 3 * math.sqrt(mean)


@pytest.mark.parametrize("alpha", [0.0, 0.3, 1.0, 4.0, 30.0])
def test_mean_amplitude_is_one_over_alpha_plus_one(alpha):
    # p = 0.5: ≈ 100 000 events; amplitudes V^α with V ~ U(0, 1].
    train = event_train(tensor(SR / 2.0), tensor(alpha), 200_000, SR, generator(7))
    amplitudes = train[train != 0]
    standard_error = amplitudes.std().item() / math.sqrt(amplitudes.numel())
    expected = expected_amplitude(alpha)
    assert abs(amplitudes.mean().item() - expected) < 4 * standard_error + 1e-12
    # closed-form variance: E[V^2α] − E[V^α]² = 1/(2α+1) − 1/(α+1)²
    assert amplitudes.var().item() == pytest.approx(1 / (2 * alpha + 1) - expected**2, abs=3e-3)


@pytest.mark.parametrize("alpha", [0.0, 1e-8])
def test_alpha_to_zero_gives_unit_impulses(alpha):
    a = tensor(alpha, grad=True)
    rate = tensor(2000.0, grad=True)
    train = event_train(rate, a, 4410, SR, generator(3))
    events = train[train != 0]
    assert events.numel() > 100
    torch.testing.assert_close(events, torch.ones_like(events), atol=1e-6, rtol=0)
    train.sum().backward()
    assert torch.isfinite(a.grad).all() and torch.isfinite(rate.grad).all()
    assert a.grad.item() < 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_signs(dtype):
    rate, alpha = tensor(200.0, 500.0, dtype=dtype, grad=True), tensor(0.5, 3.0, dtype=dtype, grad=True)
    train = event_train(rate, alpha, 8820, SR, generator(11))
    assert (train != 0).sum(dim=-1).min() > 10
    train.sum().backward()
    assert torch.isfinite(rate.grad).all() and torch.isfinite(alpha.grad).all()
    assert (rate.grad > 0).all() and (alpha.grad < 0).all()


def test_rate_gradient_matches_in_value():
    # Straight-through: ∂ΣE/∂λ = Σ b·A / (p·fs) = ΣE / λ exactly for one sample path.
    rate = tensor(300.0, grad=True)
    train = event_train(rate, tensor(2.0), 4410, SR, generator(5))
    train.sum().backward()
    torch.testing.assert_close(rate.grad, (train.sum() / 300.0).detach().reshape(1))


def test_straight_through_gradient_is_unbiased():
    # E[ΣE] = n·p/(α+1) ⇒ ∂/∂λ = n/(fs·(α+1)). Each row is an independent seed.
    n, lam, alpha, rows = 4410, 100.0, 1.5, 1000
    rate = torch.full((rows,), lam, dtype=torch.float64, requires_grad=True)
    train = event_train(rate, torch.full((rows,), alpha, dtype=torch.float64), n, SR, generator(0))
    train.sum().backward()
    grads = rate.grad
    expected = n / (SR * (alpha + 1.0))
    standard_error = grads.std().item() / math.sqrt(rows)
    assert abs(grads.mean().item() - expected) < 4 * standard_error
    assert standard_error < 0.05 * expected  # the test has power


def test_same_seed_same_train_and_uniforms_path():
    rate, alpha = tensor(800.0, 100.0), tensor(0.5, 2.0)
    a = event_train(rate, alpha, 2048, SR, generator(42))
    b = event_train(rate, alpha, 2048, SR, generator(42))
    c = event_train(rate, alpha, 2048, SR, generator(43))
    assert torch.equal(a, b) and not torch.equal(a, c)
    uniforms = torch.rand(2, 2, 2048, generator=generator(42), dtype=torch.float64)
    assert torch.equal(event_train(rate, alpha, 2048, SR, uniforms=uniforms), a)


def test_global_rng_is_used_without_generator():
    torch.manual_seed(9)
    a = event_train(tensor(1000.0), tensor(1.0), 1024, SR)
    torch.manual_seed(9)
    assert torch.equal(a, event_train(tensor(1000.0), tensor(1.0), 1024, SR))


def test_uniforms_rule_occurrence_and_amplitude():
    uniforms = torch.zeros(2, 1, 8, dtype=torch.float64)
    uniforms[0] = 0.999
    uniforms[0, 0, 3] = 0.0  # U < p: an event at sample 3
    uniforms[1, 0, 3] = 0.75  # V = 0.25
    train = event_train(tensor(441.0), tensor(2.0), 8, SR, uniforms=uniforms)
    expected = torch.zeros(1, 8, dtype=torch.float64)
    expected[0, 3] = 0.25**2
    torch.testing.assert_close(train, expected, atol=1e-15, rtol=0)


def test_zero_rate_is_silent_with_finite_gradient():
    rate, alpha = tensor(0.0, grad=True), tensor(1.0, grad=True)
    train = event_train(rate, alpha, 1000, SR, generator(0))
    assert torch.equal(train, torch.zeros_like(train))
    train.sum().backward()
    assert rate.grad.item() == 0 and alpha.grad.item() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_shapes_and_dtype(dtype):
    train = event_train(torch.tensor([10.0, 20.0, 30.0], dtype=dtype), torch.tensor(1.0, dtype=dtype), 100, SR)
    assert train.shape == (3, 100) and train.dtype == dtype
    scalar = event_train(torch.tensor(10.0, dtype=dtype), torch.tensor(1.0, dtype=dtype), 5, SR)
    assert scalar.shape == (1, 5)


@pytest.mark.parametrize(
    "rate, alpha, error, match",
    [
        (-1.0, 1.0, ValueError, "rate must be >= 0"),
        (10.0, -0.5, ValueError, "alpha must be >= 0"),
        (2 * SR, 1.0, ValueError, "p = rate / sample_rate must be <= 1"),
        (float("nan"), 1.0, NonFiniteError, "rate must be finite"),
        (10.0, float("nan"), NonFiniteError, "alpha must be finite"),
        (float("inf"), 1.0, NonFiniteError, "rate must be finite"),
    ],
)
def test_bad_inputs_raise(rate, alpha, error, match):
    with pytest.raises(error, match=match):
        event_train(tensor(rate), tensor(alpha), 100, SR, generator(0))


def test_bad_uniforms_and_lengths_raise():
    with pytest.raises(ValueError, match="uniforms must have shape"):
        event_train(tensor(10.0), tensor(1.0), 100, SR, uniforms=torch.rand(2, 1, 99))
    with pytest.raises(ValueError, match=r"uniforms must lie in \[0, 1\)"):
        event_train(tensor(10.0), tensor(1.0), 4, SR, uniforms=torch.ones(2, 1, 4))
    with pytest.raises(ValueError, match="n_samples"):
        event_train(tensor(10.0), tensor(1.0), 0, SR)
    with pytest.raises(ValueError, match=r"shape \(batch,\)"):
        event_train(torch.ones(2, 2), tensor(1.0), 10, SR)
