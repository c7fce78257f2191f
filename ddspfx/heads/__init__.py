"""Heads: embedding `(batch, dim)` → controls `(batch, n_params)` in [0, 1] (or a distribution over them)."""

from ddspfx.heads.base import (
    BaseDistribution,
    BaseParams,
    GaussianBase,
    GaussianLogBase,
    MixtureFullBase,
    MixtureUnifBase,
    make_base,
)
from ddspfx.heads.beta import BetaSchedule
from ddspfx.heads.deterministic import SigmoidHead
from ddspfx.heads.entropy import (
    gaussian_entropy,
    mixture_log_prob,
    normal_log_prob,
    pairwise_entropy_bound,
    sigmoid_log_det,
)
from ddspfx.heads.flows import DSFFlow, DSFStep, ZukoFlow, make_flow
from ddspfx.heads.head import HeadOutput, ParameterHead
from ddspfx.heads.mapping import DirectModulation, LinearMapping, MLPMapping, build_mapping, modulate
from ddspfx.heads.probabilistic import ProbabilisticHead

__all__ = [
    "BaseDistribution",
    "BaseParams",
    "BetaSchedule",
    "DirectModulation",
    "DSFFlow",
    "DSFStep",
    "GaussianBase",
    "GaussianLogBase",
    "HeadOutput",
    "LinearMapping",
    "MLPMapping",
    "MixtureFullBase",
    "MixtureUnifBase",
    "ParameterHead",
    "ProbabilisticHead",
    "SigmoidHead",
    "ZukoFlow",
    "build_mapping",
    "gaussian_entropy",
    "modulate",
    "make_base",
    "make_flow",
    "mixture_log_prob",
    "normal_log_prob",
    "pairwise_entropy_bound",
    "sigmoid_log_det",
]
