"""Audio encoders: audio `(batch, samples)` → embedding `(batch, out_dim)`."""

from ddspfx.encoders.controller import ControllerEncoder, ControllerMLP
from ddspfx.encoders.cqt_frontend import LogCQT
from ddspfx.encoders.encoder import MLPEncoder
from ddspfx.encoders.frontends import MeanSTFT
from ddspfx.encoders.mee import MusicEffectsEncoder
from ddspfx.encoders.mel_frontend import LogMel
from ddspfx.encoders.melnext import MelNeXt
from ddspfx.nn.mlp import FCBlock, ResBlock, ResMLP, Swish
from ddspfx.encoders.time_frequency import TimeFrequencyEncoder
from ddspfx.encoders.timbre import TimbreEncoder

__all__ = [
    "ControllerEncoder",
    "ControllerMLP",
    "FCBlock",
    "LogCQT",
    "LogMel",
    "MLPEncoder",
    "MeanSTFT",
    "MelNeXt",
    "MusicEffectsEncoder",
    "ResBlock",
    "ResMLP",
    "Swish",
    "TimbreEncoder",
    "TimeFrequencyEncoder",
]
