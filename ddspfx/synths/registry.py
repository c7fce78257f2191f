"""Synth names (config keys such as `synth=fm`) → classes.

| name | synth |
|---|---|
| fm | FMSynth (DX7 algorithms 5/6, "ddx7_56") |
| snare808 | Snare808 (the TR-808-style snare of timbre remapping) |
| texenv | TexEnvSynth (subband-noise texture synth, TexEnv/SubEnv of the texture papers) |
| grains | GrainSynth (the grain VAE's decoder: a latent z → TexEnv controls → a grain) |
| pvae | PVAESynth (Poisson-like events × the grains of a GrainSynth; needs `grains=`) |
"""

from __future__ import annotations

from ddspfx.synths.base import Synth
from ddspfx.synths.fm import FMSynth
from ddspfx.synths.grains import GrainSynth
from ddspfx.synths.pvae import PVAESynth
from ddspfx.synths.snare808 import Snare808
from ddspfx.synths.texenv import TexEnvSynth

SYNTHS: dict[str, type[Synth]] = {
    "fm": FMSynth,
    "snare808": Snare808,
    "texenv": TexEnvSynth,
    "grains": GrainSynth,
    "pvae": PVAESynth,
}


def known_synths() -> list[str]:
    """Every name `build_synth` accepts."""
    return list(SYNTHS)


def build_synth(name: str, **kwargs) -> Synth:
    """Build the synth called `name` with constructor arguments `kwargs` (e.g. `sample_rate=`).

    Raises:
        ValueError: unknown name (the message lists the known ones).
    """
    if name not in SYNTHS:
        raise ValueError(f"unknown synth {name!r}; known synths are {known_synths()}")
    return SYNTHS[name](**kwargs)
