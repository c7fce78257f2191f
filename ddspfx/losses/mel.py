"""Log-mel spectrogram loss."""

from __future__ import annotations

import torch

from ddspfx.dsp.spectral import get_window, mel_filterbank, power, stft
from ddspfx.losses.base import PairLoss, check_pair


class LogMelLoss(PairLoss):
    """MSE between log(mel power + 1) spectrograms (reference note A.7 / A.11 "Mel").

        L(ŷ, y) = mean_{i,m} ( log(M_ŷ[i, m] + 1) − log(M_y[i, m] + 1) )²,
        M[i, m] = Σ_k fb[i, k] |X[k, m]|²,

    with X the Hann STFT (centred, reflect padding) and fb a triangular mel filterbank
    (torchaudio) between f_min and f_max. By default fb is the reference's: the Slaney mel scale
    (linear below 1 kHz, logarithmic above) with area-normalized filters, filter i scaled by
    2 / (f_{i+2} − f_i) (Hz) — nnAudio's `htk=False, norm=1`, librosa's default
    `librosa.filters.mel`, torchaudio's `mel_scale="slaney", norm="slaney"`. `mel_scale="htk",
    norm=None` gives HTK filters of peak 1 instead (ddspfx's filterbank before it matched the
    reference: values 1.6–5× larger, a different weighting of low and high bands).

    Args:
        sample_rate: of the audio, in Hz.
        n_fft: FFT size in samples (window length = n_fft).
        hop: hop size in samples.
        n_mels: number of mel bands.
        f_min, f_max: band edges in Hz (f_max defaults to sample_rate / 2).
        mel_scale: "slaney" (the reference) or "htk".
        norm: "slaney" (area normalization, the reference) or None (peak 1).

    Shapes: estimate, target `(batch, samples)` → scalar (forward) or `(batch,)` (per_example).
    Units: squared natural log of (power + 1), power in (audio units × samples)².
    """

    domain = "audio"

    def __init__(
        self,
        sample_rate: float = 44100,
        n_fft: int = 4096,
        hop: int = 1024,
        n_mels: int = 128,
        f_min: float = 0.0,
        f_max: float | None = None,
        mel_scale: str = "slaney",
        norm: str | None = "slaney",
    ):
        super().__init__()
        if mel_scale not in ("slaney", "htk") or norm not in ("slaney", None):
            raise ValueError(
                f"LogMelLoss: mel_scale must be 'slaney' or 'htk' and norm 'slaney' or None, "
                f"got {mel_scale!r}, {norm!r}"
            )
        self.sample_rate, self.n_fft, self.hop, self.n_mels = sample_rate, n_fft, hop, n_mels
        self.mel_scale, self.norm = mel_scale, norm
        self.register_buffer("window", get_window("hann", n_fft), persistent=False)
        fb = mel_filterbank(
            n_fft // 2 + 1, sample_rate, n_mels, f_min=f_min, f_max=f_max, norm=norm, mel_scale=mel_scale
        )
        self.register_buffer("filterbank", fb, persistent=False)

    def log_mel(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, samples)` audio → `(batch, n_mels, frames)` log(mel power + 1)."""
        spectrum = stft(x, self.n_fft, self.hop, window=self.window.to(x.dtype))
        return torch.log1p(self.filterbank.to(x.dtype) @ power(spectrum))

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        check_pair(estimate, target, type(self).__name__)
        return (self.log_mel(estimate) - self.log_mel(target)).square().mean(dim=(-2, -1))


class MelSTFTLoss(PairLoss):
    """auraloss's `MelSTFTLoss`, the ICASSP 2024 training loss and "Mel" test metric (reference B.5),
    rebuilt on torchaudio's filterbank (auraloss builds its filterbank with librosa, which ddspfx
    does not install).

        M[i, m] = Σ_k fb[i, k] · sqrt(max(|X[k, m]|², eps))          (mel of the *magnitude*)
        L(ŷ, y) = w_sc · ‖M_y − M_ŷ‖_F / ‖M_y‖_F  +  w_log_mag · mean_{i,m} |log M_ŷ − log M_y|

    X is `torch.stft` with a periodic Hann window of `win_length` samples (centred on n_fft),
    centred frames with reflect padding; fb is librosa's default `librosa.filters.mel(sr, n_fft,
    n_mels)`: the Slaney mel scale from 0 Hz to sample_rate/2 with area-normalized filters, equal
    to torchaudio's `melscale_fbanks(..., norm="slaney", mel_scale="slaney")` (checked against an
    independent numpy construction in tests/losses/test_mel.py). These are auraloss 0.4.0's
    `STFTLoss.stft` and `STFTLoss.forward` equations with `scale="mel"`; tests/losses/
    test_mel_stft.py runs auraloss's own `STFTLoss` with this filterbank passed in and gets the
    same values to float precision.

    The reference configuration is fs 44100, n_fft 4096, hop 1024, window 4096, 128 mels,
    w_sc = 0 (log-magnitude L1 only): the defaults here.

    Batch reduction: auraloss's spectral convergence is one ratio of Frobenius norms over the whole
    batch. `forward` reproduces that batch value; `per_example` computes it per example (they agree
    when w_sc = 0, the reference setting, since the L1 term is a plain mean).

    Silence: the clamp at eps (auraloss's) makes M ≥ sqrt(eps)·Σ_k fb[i, k] > 0, so the loss is
    finite on silence, but its gradient is 0 wherever |X|² < eps (a dead zone around silence; see
    `ddspfx.losses` for why no magnitude loss can have a non-zero gradient at exactly zero).

    Args:
        sample_rate: Hz.
        n_fft, hop, win_length: STFT sizes in samples (win_length defaults to n_fft).
        n_mels: number of mel bands.
        w_sc, w_log_mag: weights of the spectral-convergence and log-magnitude terms.
        eps: floor of |X|² (auraloss's 1e-8).
        f_min, f_max: band edges in Hz (f_max defaults to sample_rate / 2, librosa's default).

    Shapes: estimate, target `(batch, samples)` → scalar (forward) or `(batch,)` (per_example).
    """

    domain = "audio"

    def __init__(
        self,
        sample_rate: float = 44100,
        n_fft: int = 4096,
        hop: int = 1024,
        win_length: int | None = None,
        n_mels: int = 128,
        w_sc: float = 0.0,
        w_log_mag: float = 1.0,
        eps: float = 1e-8,
        f_min: float = 0.0,
        f_max: float | None = None,
    ):
        super().__init__()
        win_length = win_length or n_fft
        if not 0 < win_length <= n_fft or n_mels > n_fft:
            raise ValueError(
                f"MelSTFTLoss: need 0 < win_length <= n_fft and n_mels <= n_fft, "
                f"got win_length={win_length}, n_fft={n_fft}, n_mels={n_mels}"
            )
        if not eps > 0:
            raise ValueError(f"MelSTFTLoss: eps must be positive, got {eps}")
        self.sample_rate, self.n_fft, self.hop, self.win_length = sample_rate, n_fft, hop, win_length
        self.n_mels, self.w_sc, self.w_log_mag, self.eps = n_mels, float(w_sc), float(w_log_mag), eps
        self.register_buffer("window", get_window("hann", win_length), persistent=False)
        fb = mel_filterbank(
            n_fft // 2 + 1, sample_rate, n_mels, f_min=f_min, f_max=f_max, norm="slaney", mel_scale="slaney"
        )
        self.register_buffer("filterbank", fb, persistent=False)

    def mel(self, x: torch.Tensor) -> torch.Tensor:
        """`(batch, samples)` audio → `(batch, n_mels, frames)` mel-weighted magnitudes M."""
        spectrum = stft(x, self.n_fft, self.hop, window=self.window.to(x.dtype), win_length=self.win_length)
        return self.filterbank.to(x.dtype) @ torch.sqrt(power(spectrum).clamp_min(self.eps))

    def _terms(self, estimate: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(per-example log-magnitude L1 `(batch,)`, ‖M_y − M_ŷ‖² `(batch,)`, ‖M_y‖² `(batch,)`)."""
        check_pair(estimate, target, type(self).__name__)
        m_est, m_tgt = self.mel(estimate), self.mel(target)
        log_l1 = (torch.log(m_est) - torch.log(m_tgt)).abs().mean(dim=(-2, -1))
        if not self.w_sc:
            zero = torch.zeros_like(log_l1)
            return log_l1, zero, zero
        return log_l1, (m_tgt - m_est).square().sum(dim=(-2, -1)), m_tgt.square().sum(dim=(-2, -1))

    def per_example(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_l1, diff2, ref2 = self._terms(estimate, target)
        loss = self.w_log_mag * log_l1
        if self.w_sc:
            loss = loss + self.w_sc * torch.sqrt(diff2) / torch.sqrt(ref2)
        return loss

    def forward(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_l1, diff2, ref2 = self._terms(estimate, target)
        loss = self.w_log_mag * log_l1.mean()
        if self.w_sc:
            loss = loss + self.w_sc * torch.sqrt(diff2.sum()) / torch.sqrt(ref2.sum())
        return loss
