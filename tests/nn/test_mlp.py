import torch

from ddspfx.nn.mlp import ResBlock, Swish


def test_swish_closed_form():
    act = Swish(3)
    with torch.no_grad():
        act.slope.copy_(torch.tensor([1.0, 2.0, 0.5]))
    x = torch.tensor([[-1.0, 0.5, 3.0]])
    expected = x / (1 + torch.exp(-torch.tensor([1.0, 2.0, 0.5]) * x))
    torch.testing.assert_close(act(x), expected)


def test_resblock_keeps_width_and_is_residual():
    block = ResBlock(8)
    for p in [block.linear.weight, block.linear.bias]:
        torch.nn.init.zeros_(p)
    x = torch.randn(5, 8)
    torch.testing.assert_close(block(x), block.act(x))  # zero branch → Swish(x)
