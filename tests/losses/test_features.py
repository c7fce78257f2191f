import pytest
import torch

from ddspfx.losses.features import FeatureDifferenceLoss, range_weights


def test_worked_example():
    # synth features ŷ, preset features r, hit-minus-reference targets ΔF
    y_hat = torch.tensor([[3.0, 2.0], [0.0, 5.0]])
    r = torch.tensor([1.0, 2.0])
    delta_f = torch.tensor([[1.0, 1.0], [-2.0, 0.0]])
    # |(3-1)-1| = 1, |(2-2)-1| = 1, |(0-1)+2| = 1, |(5-2)-0| = 3  -> mean 6/4
    loss = FeatureDifferenceLoss()
    assert loss(y_hat - r, delta_f).item() == pytest.approx(1.5)
    assert torch.equal(loss.per_example(y_hat - r, delta_f), torch.tensor([1.0, 2.0]))
    weighted = FeatureDifferenceLoss(weights=[2.0, 0.5])
    assert weighted(y_hat - r, delta_f).item() == pytest.approx((2 + 0.5 + 2 + 1.5) / 4)


def test_zero_when_the_synth_moves_like_the_drum():
    delta = torch.randn(8, 7)
    assert FeatureDifferenceLoss()(delta, delta).item() == 0.0


def test_range_weights_are_inverse_spreads():
    targets = torch.tensor([[0.0, 1.0], [4.0, 1.5], [2.0, 1.0]])
    assert torch.allclose(range_weights(targets), torch.tensor([0.25, 2.0]))
    assert torch.isfinite(range_weights(torch.zeros(3, 2))).all()


def test_bad_inputs():
    with pytest.raises(ValueError, match="weights"):
        FeatureDifferenceLoss(weights=[1.0, -1.0])
    with pytest.raises(ValueError, match="shapes differ"):
        FeatureDifferenceLoss()(torch.zeros(2, 7), torch.zeros(2, 6))
    with pytest.raises(ValueError, match="3 weights for 7 features"):
        FeatureDifferenceLoss(weights=[1.0, 1.0, 1.0])(torch.zeros(2, 7), torch.zeros(2, 7))
