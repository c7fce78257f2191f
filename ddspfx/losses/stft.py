"""Multi-resolution STFT losses: the "revisited" log-magnitude MSE and a wrapper of auraloss's."""

from __future__ import annotations

from collections.abc import Sequence

import auraloss
import torch

from ddspfx.dsp.spectral import get_window, magnitude, stft
from ddspfx.losses.base import PairLoss, check_pair

REVISITED_N_FFTS = (67, 127, 257, 509, 1021, 2053)


class MRSTFTRevisited(PairLoss):
    """Multi-resolution log-magnitude STFT MSE with a flat-top window (reference note A.7).

        L(ŷ, y) = scale · (1/R) Σ_r mean_{k,m} ( log(|Ŷ_r[k, m]| + 1) − log(|Y_r[k, m]| + 1) )²

    for each resolution r: n_fft = N_r, window = periodic flat-top of length N_r, hop = N_r // 2,
    centred frames with reflect padding.

    Args:
        n_ffts: FFT sizes in samples (odd sizes are fine).
        scale: multiplies the loss (20 in the reference).
        window: window name for `ddspfx.dsp.spectral.get_window`.

    Shapes: estimate, target `(batch, samples)` → scalar (forward) or `(batch,)` (per_example).
    Units: squared natural log of (magnitude + 1), magnitude in units of the audio × samples.
    """

    domain = "audio"

    def __init__(
        self,
        n_ffts: Sequence[int] = REVISITED_N_FFTS,
        scale: float = 20.0,
        window: str = "flattop",
    ):
        super().__init__()
        self.n_ffts = [int(n) for n in n_ffts]
        if not self.n_ffts:
            raise ValueError("MRSTFTRevisited: n_ffts must not be empty")
        self.scale = scale
        for n_fft in self.n_ffts:
            self.register_buffer(f"window_{n_fft}", get_window(window, n_fft), persistent=False)

    def log_magnitude(self, x: torch.Tensor, n_fft: int) -> torch.Tensor:
        """`(batch, samples)` → `(batch, bins, frames)` log(|X| + 1) at resolution n_fft."""
        window = getattr(self, f"window_{n_fft}").to(x.dtype)
        return torch.log1p(magnitude(stft(x, n_fft, n_fft // 2, window=window)))

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(estimate, target, type(self).__name__)
        per_resolution = [
            (self.log_magnitude(estimate, n) - self.log_magnitude(target, n))
            .square()
            .mean(dim=(-2, -1))
            for n in self.n_ffts
        ]
        return self.scale * torch.stack(per_resolution, dim=-1).mean(dim=-1)


class MRSTFT(PairLoss):
    """Thin wrapper of `auraloss.freq.MultiResolutionSTFTLoss` on `(batch, samples)` audio.

    Keyword arguments go to auraloss unchanged (fft_sizes, hop_sizes, win_lengths, window,
    w_sc, w_log_mag, …). With auraloss's defaults, per resolution:

        L = ‖|Y| − |Ŷ|‖_F / ‖|Y|‖_F  +  mean |log|Y| − log|Ŷ||,   averaged over resolutions.

    auraloss computes the spectral-convergence term as ONE ratio of Frobenius norms over the
    whole batch (its `reduction` option only affects the log-magnitude term), so:
    `forward` is auraloss's batch value (vectorized, for training), while `per_example` calls
    auraloss once per example (a Python loop: for evaluation only). The mean of `per_example`
    therefore differs from `forward` when w_sc ≠ 0.

    Shapes: estimate, target `(batch, samples)` → scalar (forward) or `(batch,)` (per_example).
    """

    domain = "audio"

    def __init__(self, **kwargs):
        super().__init__()
        kwargs = {k: list(v) if _is_list(v) else v for k, v in kwargs.items()}
        self.mrstft = auraloss.freq.MultiResolutionSTFTLoss(**kwargs)

    def _auraloss(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        # auraloss keeps its windows as plain float32 attributes (not buffers); match the input.
        for stft_loss in self.mrstft.stft_losses:
            stft_loss.window = stft_loss.window.to(device=estimate.device, dtype=estimate.dtype)
        return self.mrstft(estimate.unsqueeze(1), target.unsqueeze(1))

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(estimate, target, type(self).__name__)
        return self._auraloss(estimate, target)

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(estimate, target, type(self).__name__)
        examples = range(estimate.shape[0])
        return torch.stack([self._auraloss(estimate[i, None], target[i, None]) for i in examples])


def _is_list(value) -> bool:
    """True for list-like config values (list, tuple, omegaconf ListConfig), not strings."""
    return isinstance(value, Sequence) and not isinstance(value, str)
