"""ControlEstimationTask: head set-up, the β-weighted entropy term and the weighted loss."""

import torch
from torch import nn

from ddspfx.heads import HeadOutput, ProbabilisticHead, SigmoidHead
from ddspfx.losses import ParamMSE
from ddspfx.tasks.estimation import ControlEstimationTask


class Identity(nn.Module):
    out_dim = 4

    def forward(self, x):
        return x


def make(head, beta=None):
    task = ControlEstimationTask()
    task.init_estimator(Identity(), head, 3, beta)
    task.loss = ParamMSE()
    return task


def test_point_head_is_one_sample_of_weight_one_and_no_entropy_term():
    task = make(lambda d, n: SigmoidHead(d, n), beta={"start": 0.5, "end": 0.1, "warmup": 2})
    assert not task.probabilistic and task.beta_schedule is None and task.beta == 0.0
    out = task.head_output(torch.randn(5, 4))
    assert out.samples.shape == (5, 1, 3) and torch.equal(out.weights, torch.ones(5, 1))
    expected = torch.tensor(0.7)
    assert task.with_entropy(expected, out) == {"loss": expected}
    assert task.validation_terms({"loss": expected}) == {"loss": expected}


def test_probabilistic_head_subtracts_beta_over_d_times_the_entropy():
    head = ProbabilisticHead(4, 3, base={"type": "gaussian"}, flow={"type": "dsf", "length": 0})
    task = make(head, beta={"start": 0.5, "end": 0.05, "warmup": 1})
    assert task.probabilistic and task.beta == 0.5
    task.set_epoch(1)
    assert abs(task.beta - 0.05) < 1e-12
    out = HeadOutput(torch.rand(2, 1, 3), torch.ones(2, 1), torch.tensor([1.0, 3.0]))
    terms = task.with_entropy(torch.tensor(1.0), out)
    assert torch.isclose(terms["loss"], torch.tensor(1.0 - 0.05 / 3 * 2.0))
    assert terms["entropy"] == 2.0 and terms["loss_audio"] == 1.0
    assert set(task.validation_terms(terms)) == {"loss", "loss_total", "entropy"}
    assert task.validation_terms(terms)["loss"] == 1.0


def test_weighted_loss_weights_each_candidate():
    task = make(lambda d, n: SigmoidHead(d, n))
    target = torch.zeros(2, 3)
    candidates = torch.tensor([[[1.0, 1, 1], [0, 0, 0]], [[0, 0, 0], [2, 2, 2]]])  # (batch 2, samples 2, d 3)
    out = HeadOutput(candidates, torch.tensor([[0.25, 0.75], [0.5, 0.5]]), torch.zeros(2))
    value = task.weighted_loss(out, candidates.reshape(4, 3), target.repeat_interleave(2, 0))
    assert torch.isclose(value, torch.tensor((0.25 * 1 + 0.5 * 4) / 2))
