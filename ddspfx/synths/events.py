"""A differentiable, seeded Poisson-like event train: the time distribution of P-VAE atoms (textures §5).

Per sample n of a frame at fs Hz, with rate λ (events/s) and amplitude exponent α ≥ 0:

    p     = λ / fs                       (probability of an event per sample; p ≤ 1)
    b[n]  = 1[U[n] < p]                  U[n] ~ U[0, 1)   (Bernoulli approximation of a Poisson process)
    A[n]  = V[n]^α                       V[n] = 1 − U'[n] ∈ (0, 1]
    E[n]  = b[n] · A[n]

so the expected number of events in T seconds is λT (`expected_event_count`) and an event's mean
amplitude is E[V^α] = 1/(α + 1) (`expected_amplitude`). α = 0 gives unit impulses; large α gives
mostly tiny events with rare loud ones. V = 1 − U' is never 0, so ln V and V^α stay finite for every
α ≥ 0, α → 0 included, and so does the gradient ∂A/∂α = V^α ln V ≤ 0.

Differentiability. A is reparameterized (the noise V is fixed, the gradient flows through α). The
occurrences b are hard Bernoulli draws in the forward pass, with the straight-through estimator

    b̃ = b · p / sg(p)        (value b; ∂b̃/∂p = b / p; sg: stop-gradient)

It is unbiased for any linear functional of the train: for weights g_n independent of b,
E[Σ g_n b_n / p] = Σ g_n = ∂/∂p E[Σ g_n b_n]; so e.g. ∂/∂λ of Σ E has mean n/(fs(α + 1)), the exact
derivative of E[Σ E] = n·p/(α + 1). The reference's relu form E = (relu(U − 1 + p)/p)^α instead passes
gradients to λ only through the amplitudes of events that already occur (never through how many occur),
so a rate that is too low gets no signal to rise.

Randomness: uniforms are drawn from a `torch.Generator` (None = the global RNG) on the CPU in the
output dtype and then moved to the rate's device, so the same generator state gives identical trains on
any device; or the caller passes them, `uniforms (2, batch, n)` in [0, 1) (occurrence U, amplitude U').

Shapes: rate and alpha `(batch,)` (or 0-d, broadcast) → train `(batch, n_samples)` in their dtype.
"""

from __future__ import annotations

import torch

from ddspfx.core.errors import NonFiniteError


def expected_event_count(rate: torch.Tensor | float, seconds: float) -> torch.Tensor | float:
    """λT: the expected number of events in `seconds` at `rate` events/s."""
    return rate * seconds


def expected_amplitude(alpha: torch.Tensor | float) -> torch.Tensor | float:
    """1/(α + 1): the mean event amplitude E[V^α] for V ~ U(0, 1]."""
    return 1.0 / (alpha + 1.0)


def event_train(
    rate: torch.Tensor,
    alpha: torch.Tensor,
    n_samples: int,
    sample_rate: float,
    generator: torch.Generator | None = None,
    uniforms: torch.Tensor | None = None,
) -> torch.Tensor:
    """The event train E[n] = b[n]·V[n]^α (module docstring).

    Args:
        rate: λ in events/s, `(batch,)` or 0-d, ≥ 0 with λ/fs ≤ 1.
        alpha: amplitude exponent α, `(batch,)` or 0-d, ≥ 0.
        n_samples: frame length n in samples (≥ 1).
        sample_rate: fs in Hz.
        generator: CPU `torch.Generator` the uniforms are drawn from (None: the global RNG).
        uniforms: `(2, batch, n_samples)` in [0, 1) to use instead of drawing (occurrence U, amplitude U').

    Returns:
        `(batch, n_samples)` in the floating dtype of rate/alpha, on the rate's device; differentiable in
        rate (straight-through) and alpha (reparameterized).

    Raises:
        ValueError: a negative or non-finite rate or alpha (NonFiniteError for NaN/Inf), λ/fs > 1, bad
            shapes or uniforms out of [0, 1).
    """
    rate, alpha = _check_inputs(rate, alpha, n_samples, sample_rate)
    batch = rate.shape[0]
    u = _uniforms(uniforms, generator, batch, n_samples, rate.dtype, rate.device)
    p = (rate / sample_rate).unsqueeze(-1)
    b = (u[0] < p.detach()).to(rate.dtype)
    occurrences = b * p / p.detach().clamp_min(torch.finfo(rate.dtype).tiny)
    amplitudes = torch.pow(1.0 - u[1], alpha.unsqueeze(-1))
    return occurrences * amplitudes


def _check_inputs(
    rate: torch.Tensor, alpha: torch.Tensor, n_samples: int, sample_rate: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Rate and alpha as `(batch,)` tensors of one floating dtype, validated."""
    rate, alpha = torch.as_tensor(rate), torch.as_tensor(alpha)
    dtype = torch.promote_types(rate.dtype, alpha.dtype)
    if not dtype.is_floating_point:
        dtype = torch.get_default_dtype()
    rate, alpha = rate.to(dtype), alpha.to(device=rate.device, dtype=dtype)
    if rate.dim() > 1 or alpha.dim() > 1:
        raise ValueError(
            f"event_train: rate and alpha must have shape (batch,), got {tuple(rate.shape)} and {tuple(alpha.shape)}"
        )
    rate, alpha = torch.broadcast_tensors(rate.reshape(-1), alpha.reshape(-1))
    if isinstance(n_samples, bool) or int(n_samples) != n_samples or n_samples < 1:
        raise ValueError(f"event_train: n_samples must be an int >= 1, got {n_samples!r}")
    if not sample_rate > 0:
        raise ValueError(f"event_train: sample_rate must be positive, got {sample_rate}")
    for name, value in (("rate", rate), ("alpha", alpha)):
        if not torch.isfinite(value).all():
            raise NonFiniteError(f"event_train: {name} must be finite, got {value.detach().cpu().tolist()}")
        if (value < 0).any():
            raise ValueError(f"event_train: {name} must be >= 0, got {value.detach().cpu().tolist()}")
    if (rate > sample_rate).any():
        raise ValueError(
            f"event_train: the event probability per sample p = rate / sample_rate must be <= 1; got "
            f"rate {rate.max().item():g} events/s at sample_rate {sample_rate:g} Hz (p = {rate.max().item() / sample_rate:g})"
        )
    return rate, alpha


def _uniforms(
    uniforms: torch.Tensor | None,
    generator: torch.Generator | None,
    batch: int,
    n_samples: int,
    dtype: torch.dtype,
    device: torch.device,
) -> torch.Tensor:
    """`(2, batch, n_samples)` uniforms in [0, 1): the caller's (checked) or drawn on the CPU and moved."""
    if uniforms is None:
        drawn = torch.rand(2, batch, n_samples, generator=generator, dtype=dtype)
        return drawn.to(device)
    uniforms = torch.as_tensor(uniforms)
    if uniforms.shape != (2, batch, n_samples):
        raise ValueError(
            f"event_train: uniforms must have shape (2, {batch}, {n_samples}), got {tuple(uniforms.shape)}"
        )
    uniforms = uniforms.to(device=device, dtype=dtype)  # checked after the cast: 1 − 1e-9 rounds to 1 in float32
    if torch.isnan(uniforms).any() or (uniforms < 0).any() or (uniforms >= 1).any():
        raise ValueError(f"event_train: uniforms must lie in [0, 1) in {dtype}")
    return uniforms
