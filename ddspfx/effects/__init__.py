"""Differentiable audio effects: `effect(audio, controls)` → audio `(batch, samples)`.

Chains are built from keys (`build_chain("peq_comp_dist", sample_rate)`, see `registry`).
"""

from ddspfx.effects.base import Effect, with_ranges
from ddspfx.effects.chain import FXChain
from ddspfx.effects.distortion import ChebyshevDistortion, HardnessClipper, TaylorDistortion
from ddspfx.effects.dynamics import Compressor, SimpleCompressor, SoftClipper
from ddspfx.effects.eq import GraphicEQ, ParametricEQ
from ddspfx.effects.gain import Gain
from ddspfx.effects.proxy import HybridCompressor, ProxyCompressor
from ddspfx.effects.registry import build_chain, build_effect, known_keys

__all__ = [
    "ChebyshevDistortion",
    "Compressor",
    "Effect",
    "FXChain",
    "Gain",
    "GraphicEQ",
    "HardnessClipper",
    "HybridCompressor",
    "ParametricEQ",
    "ProxyCompressor",
    "SimpleCompressor",
    "SoftClipper",
    "TaylorDistortion",
    "build_chain",
    "build_effect",
    "known_keys",
    "with_ranges",
]
