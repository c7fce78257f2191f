"""Audio encoders: audio `(batch, samples)` → embedding `(batch, out_dim)`."""

from ddspfx.encoders.encoder import MLPEncoder
from ddspfx.encoders.frontends import MeanSTFT
from ddspfx.encoders.mlp import FCBlock, ResBlock, ResMLP, Swish

__all__ = ["MLPEncoder", "MeanSTFT", "FCBlock", "ResBlock", "ResMLP", "Swish"]
