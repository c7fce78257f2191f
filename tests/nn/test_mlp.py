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


def test_resmlp_input_block_only_where_the_width_changes():
    import pytest

    from ddspfx.nn.mlp import FCBlock, ResMLP

    n = lambda m: sum(p.numel() for p in m.parameters())
    same = ResMLP(128, 128, depth=3, batch_norm=True)  # the TASLP body after MelNeXt (reference A.13)
    assert not isinstance(same[0], FCBlock) and len(same) == 3
    # 3 ResBlocks of (Linear 16,512 + BN 256 + Swish 128) + Linear 16,512 + BN 256 + Swish 128
    assert n(same) == 3 * (2 * (128 * 128 + 128) + 2 * 256 + 2 * 128)
    forced = ResMLP(128, 128, depth=3, batch_norm=True, input_block=True)
    assert n(forced) - n(same) == 128 * 128 + 128 + 256 + 128  # 16,896
    wider = ResMLP(256, 128, depth=2)
    assert isinstance(wider[0], FCBlock) and wider(torch.randn(4, 256)).shape == (4, 128)
    with pytest.raises(ValueError, match="input_block=False"):
        ResMLP(256, 128, input_block=False)
