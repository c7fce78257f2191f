"""Differentiable synthesizers: `synth(controls)` → audio `(batch, samples)`."""

from ddspfx.synths.base import Synth
from ddspfx.synths.fm import FMSynth
from ddspfx.synths.grains import GrainSynth
from ddspfx.synths.pvae import PVAESynth
from ddspfx.synths.snare808 import Snare808
from ddspfx.synths.texenv import TexEnvSynth

__all__ = ["FMSynth", "GrainSynth", "PVAESynth", "Snare808", "Synth", "TexEnvSynth"]
