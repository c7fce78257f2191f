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
from ddspfx.heads.probabilistic import ProbabilisticHead

__all__ = [
    "BaseDistribution",
    "BaseParams",
    "BetaSchedule",
    "DSFFlow",
    "DSFStep",
    "GaussianBase",
    "GaussianLogBase",
    "HeadOutput",
    "MixtureFullBase",
    "MixtureUnifBase",
    "ParameterHead",
    "ProbabilisticHead",
    "SigmoidHead",
    "ZukoFlow",
    "gaussian_entropy",
    "make_base",
    "make_flow",
    "mixture_log_prob",
    "normal_log_prob",
    "pairwise_entropy_bound",
    "sigmoid_log_det",
]
