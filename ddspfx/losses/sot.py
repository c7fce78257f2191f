"""Spectral optimal transport (SOT): 1-D Wasserstein distance between per-frame spectra.

Each STFT frame's magnitude spectrum is read as a probability mass function over the normalized
frequency axis f_k = k / n_fft (k = 0 … n_fft/2, cycles per sample, 0 … 0.5), and the two
signals are compared frame by frame with the Wasserstein-p distance computed through quantile
functions (Peladeau et al., reference note A.7; after Torres et al., ICASSP 2024).
The loss is invariant to each frame's gain; pair it with a magnitude loss (see conf/loss/sot.yaml).
"""

from __future__ import annotations

import torch

from ddspfx.dsp.spectral import get_window, stft
from ddspfx.losses.base import PairLoss, check_pair


def quantile_wasserstein(
    pmf_a: torch.Tensor, pmf_b: torch.Tensor, support: torch.Tensor, p: float = 2.0
) -> torch.Tensor:
    """p-th power of the 1-D Wasserstein-p distance between two pmfs on one sorted support.

        W_p^p(a, b) = ∫_0^1 |F_a⁻¹(u) − F_b⁻¹(u)|^p du
                    = Σ_j |F_a⁻¹(ℓ_j) − F_b⁻¹(ℓ_j)|^p · (ℓ_j − ℓ_{j−1}),   ℓ_0 = 0,

    where ℓ_1 ≤ … ≤ ℓ_2n are the merged, sorted values of both CDFs and
    F⁻¹(u) = support[min{i : F(i) ≥ u}] (searchsorted, side left, index clamped to the last bin
    so that rounding in the last CDF value cannot index past the support). The quantiles are
    piecewise constant between consecutive levels, so the sum is exact. Gradients flow through
    the level differences ℓ_j − ℓ_{j−1}; the indices are locally constant.

    Args:
        pmf_a, pmf_b: `(..., n)` non-negative weights, each summing to 1 along the last axis.
        support: `(n,)` increasing positions of the n bins (units of the result^(1/p)).
        p: exponent ≥ 1.

    Returns:
        `(...)` W_p^p (for p = 1, the earth mover's distance in support units).
    """
    n = pmf_a.shape[-1]
    if pmf_b.shape != pmf_a.shape or support.shape != (n,):
        raise ValueError(
            f"quantile_wasserstein: pmfs {tuple(pmf_a.shape)}, {tuple(pmf_b.shape)} and "
            f"support {tuple(support.shape)} must share the last size"
        )
    cdf_a = torch.cumsum(pmf_a, dim=-1)
    cdf_b = torch.cumsum(pmf_b, dim=-1)
    levels, _ = torch.sort(torch.cat([cdf_a, cdf_b], dim=-1), dim=-1)
    level_steps = torch.diff(levels, dim=-1, prepend=torch.zeros_like(levels[..., :1]))
    quantiles_a = _inverse_cdf(cdf_a, levels, support)
    quantiles_b = _inverse_cdf(cdf_b, levels, support)
    return torch.sum((quantiles_a - quantiles_b).abs().pow(p) * level_steps, dim=-1)


def _inverse_cdf(cdf: torch.Tensor, levels: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """support[first i with cdf[i] ≥ level], index clamped to n − 1.

    Shapes: cdf `(..., n)`, levels `(..., m)`, support `(n,)` → `(..., m)`.
    """
    index = torch.searchsorted(cdf.detach().contiguous(), levels.detach().contiguous(), side="left")
    return support[index.clamp(max=cdf.shape[-1] - 1)]


class SpectralOT(PairLoss):
    """Spectral optimal transport loss.

        SOT(ŷ, y) = scale · mean_m W_p^p( P_ŷ[m], P_y[m] ),
        P[m, k] = |X[k, m]| / Σ_k' |X[k', m]|,   support f_k = k / n_fft,

    with X the Hann STFT (centred, reflect padding) and |X| the exact magnitude, as in the
    reference. A silent frame (Σ_k |X[k, m]| ≤ eps) has no pmf (0/0: the reference returns NaN or
    crashes there); only such frames get the guard P[m, k] = (|X[k, m]| + eps) / Σ_k' (|X[k', m]| + eps),
    close to uniform, so non-silent frames are exactly the reference's and silent ones stay finite.

    Gradient at silence: the pmf of a frame is unchanged by any gain t > 0 (SOT(t·ŷ, y) =
    SOT(ŷ, y)), so SOT has no gradient pointing out of silence (its value at ŷ = 0 depends on the
    direction one leaves it); the gradient there is 0, and the magnitude term it is paired with
    (conf/loss/sot.yaml) is the one that can bring a silent estimate back.

    Args:
        n_fft: FFT size in samples (64 in the reference).
        hop: hop size in samples (256 in TASLP, 32 in SPL).
        p: Wasserstein exponent (2: squared W2, as in the reference).
        scale: multiplies the loss (100 in the reference).
        eps: a frame whose magnitudes sum to at most eps (units of |X|) is silent and gets eps
            added to each magnitude (a near-uniform pmf); other frames are untouched.
        window: window name for `ddspfx.dsp.spectral.get_window`.

    Shapes: estimate, target `(batch, samples)` → scalar (forward) or `(batch,)` (per_example).
    Units: W_p^p in (cycles/sample)^p, times `scale`.
    """

    domain = "audio"

    def __init__(
        self,
        n_fft: int = 64,
        hop: int = 256,
        p: float = 2.0,
        scale: float = 100.0,
        eps: float = 1e-8,
        window: str = "hann",
    ):
        super().__init__()
        self.n_fft, self.hop, self.p, self.scale, self.eps = n_fft, hop, p, scale, eps
        # float64 so that float64 inputs get the exact window (float32 inputs get it rounded once)
        self.register_buffer("window", get_window(window, n_fft, dtype=torch.float64), persistent=False)
        support = torch.arange(n_fft // 2 + 1, dtype=torch.float32) / n_fft
        self.register_buffer("support", support, persistent=False)

    def frame_pmfs(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, samples)` audio → `(batch, frames, bins)` per-frame spectral pmfs."""
        spectrum = stft(x, self.n_fft, self.hop, window=self.window.to(x.dtype))
        # exact |X| (its gradient is 0, not NaN, where X = 0)
        weights = spectrum.abs().transpose(-1, -2)
        silent = weights.sum(dim=-1, keepdim=True) <= self.eps
        weights = weights + self.eps * silent.to(weights.dtype)
        return weights / weights.sum(dim=-1, keepdim=True)

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(estimate, target, type(self).__name__)
        distances = quantile_wasserstein(
            self.frame_pmfs(estimate),
            self.frame_pmfs(target),
            self.support.to(estimate.dtype),
            self.p,
        )
        return self.scale * distances.mean(dim=-1)
