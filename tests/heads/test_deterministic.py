import torch

from ddspfx.heads import SigmoidHead


def test_sigmoid_head_closed_form():
    head = SigmoidHead(4, 3)
    e = torch.randn(2, 4)
    torch.testing.assert_close(head(e), torch.sigmoid(e @ head.linear.weight.T + head.linear.bias))
