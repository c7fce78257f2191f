"""Audio and parameter losses. Each is an `nn.Module` called `loss(estimate, target)` that returns
a scalar (mean over the batch), with `per_example(estimate, target) -> (batch,)` and a `domain`
attribute ("audio": `(batch, samples)` inputs; "params": `(batch, n_params)` normalized controls).

Silence. Every audio loss here compares magnitudes or powers (SOT, MR-STFT revisited, auraloss's
MR-STFT and MelSTFTLoss, log-mel, LDR), so each is an even function of the estimate:
L(−ŷ, y) = L(ŷ, y). Where such a function is differentiable at ŷ = 0 its gradient there is 0, and
no choice of floor or epsilon can change that: a silent estimate gets a finite, exactly zero
gradient from all of them (tests/losses/test_silence.py). Near silence they differ:

- log-mel (power) and LDR (x²): the gradient is non-zero and points out of silence, but shrinks in
  proportion to the amplitude (a quadratic in ŷ under a smooth log);
- MR-STFT revisited (log(|X| + 1), smooth magnitude): non-zero, pointing out of silence;
- auraloss MR-STFT and MelSTFTLoss: zero wherever |X|² < 1e-8 (auraloss's clamp, kept for parity),
  i.e. a dead zone up to about −80 dB per bin;
- SOT: scale-invariant per frame (L(t·ŷ) = L(ŷ) for t > 0), so its gradient is orthogonal to ŷ
  and can never grow a quiet estimate; pair it with a magnitude loss (conf/loss/sot.yaml).

A model whose estimate is exactly silent (e.g. every amplitude control at 0) therefore gets no
gradient back from the audio loss: use a parameter loss, non-zero control ranges or a chain that
cannot output exact silence.
"""

from ddspfx.losses.base import PairLoss, check_pair
from ddspfx.losses.combined import WeightedSum
from ddspfx.losses.features import FeatureDifferenceLoss
from ddspfx.losses.ldr import LDRLoss
from ddspfx.losses.mel import LogMelLoss, MelSTFTLoss
from ddspfx.losses.params import ParamMSE
from ddspfx.losses.sot import SpectralOT, quantile_wasserstein
from ddspfx.losses.stft import MRSTFT, MRSTFTRevisited
from ddspfx.losses.texstat import TexStatLoss, texture_statistics

__all__ = [
    "FeatureDifferenceLoss",
    "LDRLoss",
    "LogMelLoss",
    "MRSTFT",
    "MelSTFTLoss",
    "MRSTFTRevisited",
    "PairLoss",
    "ParamMSE",
    "SpectralOT",
    "TexStatLoss",
    "WeightedSum",
    "check_pair",
    "quantile_wasserstein",
    "texture_statistics",
]
