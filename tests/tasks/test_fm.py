import itertools

import torch

from ddspfx.encoders import MeanSTFT, MLPEncoder
from functools import partial

import pytest

from ddspfx.heads import ProbabilisticHead, SigmoidHead
from ddspfx.losses import ParamMSE, SpectralOT
from ddspfx.synths import FMSynth
from ddspfx.tasks.fm import FMTask

DATA = {"skew_levels": True, "valid_size": 10, "valid_seed": 1, "test_size": 6, "test_seed": 2}


BETA = {"start": 0.5, "end": 0.005, "warmup": 4}
EVAL = {"best_of": 3, "n_samples": 8, "map_samples": 16}
MOG_FLOW = partial(ProbabilisticHead, base={"type": "mog_full", "components": 3}, flow={"type": "dsf", "length": 1, "hidden": 4}, context_dim=8)


def make_task(loss=None, head=SigmoidHead):
    synth = FMSynth(duration=0.02)
    encoder = MLPEncoder(MeanSTFT(256), hidden=16, depth=1)
    metrics = {"sot": SpectralOT()}
    return FMTask(synth, encoder, head, loss or SpectralOT(hop=64), DATA, metrics, BETA, EVAL)


def test_train_batches_are_drawn_from_the_generator():
    task = make_task()
    a = task.train_batch(5, torch.Generator().manual_seed(0))["controls"]
    b = task.train_batch(5, torch.Generator().manual_seed(0))["controls"]
    assert a.shape == (5, 9) and torch.equal(a, b)


def test_audio_loss_reaches_every_weight():
    task = make_task()
    out = task(task.train_batch(4, torch.Generator().manual_seed(0)))
    assert out["loss"].ndim == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None for p in task.encoder.parameters())
    assert task.head.linear.weight.grad.abs().sum() > 0


def test_parameter_loss_compares_controls():
    task = make_task(ParamMSE())
    batch = task.train_batch(4, torch.Generator().manual_seed(0))
    with torch.no_grad():
        estimate = task.estimate(task.render(batch["controls"]))
    expected = (estimate - batch["controls"]).square().mean()
    torch.testing.assert_close(task(batch)["loss"], expected)


def test_validation_and_test_sets_are_fixed():
    task = make_task()
    valid = task.valid_batches(4)
    assert [b["controls"].shape[0] for b in valid] == [4, 4, 2]
    assert torch.equal(valid[0]["controls"], task.valid_batches(4)[0]["controls"])
    test = task.test_sets(4)["test"]
    assert not torch.equal(test[0]["controls"], valid[0]["controls"])
    assert set(task.validation_step(valid[0])) == {"loss", "param_mse", "param_mse_perm"}


def test_permuted_truth_has_zero_permutation_mse():
    task = make_task()
    controls = torch.rand(3, 9)
    for order in itertools.permutations(range(3)):
        permuted = task.synth.permute_branches(controls, order)
        torch.testing.assert_close(task.param_mse_perm(permuted, controls), torch.zeros(3))


PLAIN = {"param_mse", "param_mse_perm", "sot", "si_sdr"}
DISTRIBUTION = {"h_kl", "mmd2", "h_mc", "best_of_3/sot", "best_of_1/si_sdr", "consistency/param_mse"}


def evaluate_one_batch(task):
    batch = task.test_sets(6)["test"][0]
    with torch.no_grad():
        return task.evaluate_batch(batch, torch.Generator().manual_seed(0))


def test_deterministic_evaluation_scores_model_and_random():
    out = evaluate_one_batch(make_task().eval())
    assert set(out) == {"model", "random"}
    assert set(out["model"]) == set(out["random"]) == PLAIN
    for metrics in out.values():
        assert all(v.shape == (6,) and torch.isfinite(v).all() for v in metrics.values())


def test_posterior_evaluation_has_best_of_map_and_diversity():
    out = evaluate_one_batch(make_task(head=MOG_FLOW).eval())
    model = out["model"]
    assert PLAIN | DISTRIBUTION | {"map/sot", "map/param_mse"} <= set(model)
    assert all(torch.isfinite(v).all() for v in model.values())
    assert (model["best_of_3/sot"] <= model["best_of_1/sot"]).all()
    assert (model["best_of_3/si_sdr"] >= model["best_of_1/si_sdr"]).all()
    torch.testing.assert_close(model["best_of_1/sot"], model["sot"])
    assert PLAIN | DISTRIBUTION <= set(out["random"])
    assert (out["random"]["h_mc"] == 0).all()  # the uniform density is 1


def test_probabilistic_objective_subtracts_the_weighted_entropy():
    task = make_task(head=MOG_FLOW)
    task.set_epoch(2)  # half-way through the warm-up: beta = sqrt(0.5 * 0.005) = 0.05
    assert task.beta == pytest.approx(0.05)
    batch = task.train_batch(4, torch.Generator().manual_seed(0))
    torch.manual_seed(0)
    out = task(batch)
    assert set(out) == {"loss", "loss_audio", "entropy", "beta"}
    torch.testing.assert_close(out["loss"].detach(), out["loss_audio"] - 0.05 / 9 * out["entropy"])
    out["loss"].backward()
    assert task.head.base.linear.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in task.encoder.parameters())


def test_validation_selects_on_the_audio_loss_alone():
    task = make_task(head=MOG_FLOW)
    batch = task.valid_batches(4)[0]
    torch.manual_seed(0)
    out = task.validation_step(batch)
    torch.manual_seed(0)
    terms = task.objective(batch["controls"])
    torch.testing.assert_close(out["loss"], terms["loss_audio"])
    assert {"loss_total", "entropy", "param_mse"} <= set(out)


class RecordingWriter:
    def __init__(self):
        self.tags = []

    def add_audio(self, tag, *args, **kwargs):
        self.tags.append(tag)

    def add_figure(self, tag, *args, **kwargs):
        self.tags.append(tag)


def test_log_media_writes_audio_and_a_spectrogram():
    task = make_task()
    writer = RecordingWriter()
    task.log_media(writer, task.valid_batches(4)[0], step=7)
    assert {"audio/target_0", "audio/estimate_0", "figure/spectrogram"} <= set(writer.tags)


def test_sample_and_map_from_audio():
    task = make_task(head=MOG_FLOW).eval()
    audio = task.render(torch.rand(2, 9))
    with torch.no_grad():
        samples = task.sample(audio, 5)
        best = task.map_estimate(audio, 50)
    assert samples.shape == (2, 5, 9) and ((samples > 0) & (samples < 1)).all()
    assert best.shape == (2, 9)


@pytest.mark.parametrize("head", [SigmoidHead, MOG_FLOW], ids=["point", "distribution"])
def test_every_evaluated_metric_is_declared(head):
    task = make_task(head=head).eval()
    declared = {spec.name for spec in task.metric_specs()}
    scores = evaluate_one_batch(task)
    for estimator, metrics in scores.items():
        assert set(metrics) <= declared, (estimator, set(metrics) - declared)
    assert {s.name: s for s in task.metric_specs()}["si_sdr"].higher_is_better
    assert task.test_set_info() == {"test": {"size": 6, "seed": 2}}
