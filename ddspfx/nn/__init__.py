"""Network layers shared by several families (encoders, heads, neural processors)."""

from ddspfx.nn.blocks import LinearBNPReLU, linear_bn_prelu_stack
from ddspfx.nn.layernorm_mlp import LinearLNLeakyReLU, layernorm_mlp
from ddspfx.nn.mlp import FCBlock, ResBlock, ResMLP, Swish

__all__ = ["FCBlock", "LinearBNPReLU", "LinearLNLeakyReLU", "ResBlock", "ResMLP", "Swish", "layernorm_mlp", "linear_bn_prelu_stack"]
