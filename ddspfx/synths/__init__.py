"""Differentiable synthesizers: `synth(controls)` → audio `(batch, samples)`."""

from ddspfx.synths.fm import FMSynth

__all__ = ["FMSynth"]
