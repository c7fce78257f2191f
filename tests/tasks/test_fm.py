import itertools

import torch

from ddspfx.encoders import MeanSTFT, MLPEncoder
from ddspfx.heads import SigmoidHead
from ddspfx.losses import ParamMSE, SpectralOT
from ddspfx.synths import FMSynth
from ddspfx.tasks.fm import FMTask

DATA = {"skew_levels": True, "valid_size": 10, "valid_seed": 1, "test_size": 6, "test_seed": 2}


def make_task(loss=None):
    synth = FMSynth(duration=0.02)
    encoder = MLPEncoder(MeanSTFT(256), hidden=16, depth=1)
    metrics = {"sot": SpectralOT()}
    return FMTask(synth, encoder, SigmoidHead, loss or SpectralOT(hop=64), DATA, metrics)


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


def test_evaluate_batch_scores_model_and_random():
    task = make_task().eval()
    batch = task.test_sets(6)["test"][0]
    with torch.no_grad():
        out = task.evaluate_batch(batch, torch.Generator().manual_seed(0))
    assert set(out) == {"model", "random"}
    for metrics in out.values():
        assert set(metrics) == {"param_mse", "param_mse_perm", "sot", "si_sdr"}
        assert all(v.shape == (6,) and torch.isfinite(v).all() for v in metrics.values())


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
