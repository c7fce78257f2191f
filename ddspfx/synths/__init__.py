"""Differentiable synthesizers: `synth(controls)` → audio `(batch, samples)`."""

from ddspfx.synths.base import Synth
from ddspfx.synths.fm import FMSynth

__all__ = ["FMSynth", "Synth"]
