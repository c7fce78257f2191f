"""Audio and parameter losses. Each is an `nn.Module` called `loss(estimate, target)` that returns
a scalar (mean over the batch), with `per_example(estimate, target) -> (batch,)` and a `domain`
attribute ("audio": `(batch, samples)` inputs; "params": `(batch, n_params)` normalized controls).
"""

from ddspfx.losses.base import PairLoss, check_pair
from ddspfx.losses.combined import WeightedSum
from ddspfx.losses.ldr import LDRLoss
from ddspfx.losses.mel import LogMelLoss
from ddspfx.losses.params import ParamMSE
from ddspfx.losses.sot import SpectralOT, quantile_wasserstein
from ddspfx.losses.stft import MRSTFT, MRSTFTRevisited

__all__ = [
    "LDRLoss",
    "LogMelLoss",
    "MRSTFT",
    "MRSTFTRevisited",
    "PairLoss",
    "ParamMSE",
    "SpectralOT",
    "WeightedSum",
    "check_pair",
    "quantile_wasserstein",
]
