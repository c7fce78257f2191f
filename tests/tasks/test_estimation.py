"""ControlEstimationTask: head set-up, the β-weighted entropy term and the weighted loss."""

import pytest
import torch
from torch import nn

from ddspfx.heads import HeadOutput, ProbabilisticHead, SigmoidHead
from ddspfx.losses import ParamMSE
from ddspfx.tasks.estimation import SI_SDR, ControlEstimationTask


class Identity(nn.Module):
    out_dim = 4

    def forward(self, x):
        return x


def make(head, beta=None):
    task = ControlEstimationTask()
    task.init_estimator(Identity(), head, 3, ParamMSE(), beta)
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


def test_head_and_loss_types_are_checked():
    task = ControlEstimationTask()
    with pytest.raises(TypeError, match="ParameterHead"):
        task.init_estimator(Identity(), nn.Linear(4, 3), 3, ParamMSE(), None)
    with pytest.raises(TypeError, match="PairLoss"):
        task.init_estimator(Identity(), lambda d, n: SigmoidHead(d, n), 3, nn.MSELoss(), None)


def test_a_distribution_declares_its_derived_metrics():
    head = ProbabilisticHead(4, 3, base={"type": "gaussian"}, flow={"type": "dsf", "length": 0})
    task = make(head)
    task.evaluation = {"best_of": 3}
    names = [s.name for s in task.estimator_metric_specs([SI_SDR])]
    assert names[:4] == ["si_sdr", "best_of_1/si_sdr", "best_of_2/si_sdr", "best_of_3/si_sdr"]
    specs = {s.name: s for s in task.estimator_metric_specs([SI_SDR])}
    assert specs["map/si_sdr"].higher_is_better and specs["h_kl"].higher_is_better is None
    assert [s.name for s in make(lambda d, n: SigmoidHead(d, n)).estimator_metric_specs([SI_SDR])] == ["si_sdr"]
