"""ParamMSE against the definition."""

import pytest
import torch

from ddspfx.losses import ParamMSE


def test_values_and_domain():
    estimate = torch.tensor([[0.0, 1.0], [0.5, 0.5]])
    target = torch.tensor([[1.0, 1.0], [0.0, 1.0]])
    loss = ParamMSE()
    assert loss.domain == "params"
    assert loss.per_example(estimate, target).tolist() == [0.5, 0.25]
    expected = torch.nn.functional.mse_loss(estimate, target).item()
    assert loss(estimate, target).item() == pytest.approx(expected)


def test_time_varying_controls():
    estimate, target = torch.rand(3, 4, 5), torch.rand(3, 4, 5)
    expected = ((estimate - target) ** 2).mean(dim=(1, 2))
    torch.testing.assert_close(ParamMSE().per_example(estimate, target), expected)


def test_gradcheck():
    estimate = torch.rand(2, 9, dtype=torch.float64, requires_grad=True)
    target = torch.rand(2, 9, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda e: ParamMSE()(e, target), (estimate,))


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="ParamMSE: estimate and target shapes differ"):
        ParamMSE()(torch.zeros(2, 9), torch.zeros(2, 8))
    with pytest.raises(ValueError, match=r"\(batch, n_params\)"):
        ParamMSE()(torch.zeros(9), torch.zeros(9))
