"""MasteringTask: batches, fixed evaluation sets, losses, probabilistic heads and figures."""

import pytest
import torch

from ddspfx.data.music import SyntheticMusic
from ddspfx.encoders import MelNeXt, MLPEncoder
from ddspfx.heads import ProbabilisticHead, SigmoidHead
from ddspfx.losses import LogMelLoss, ParamMSE
from ddspfx.dsp.dynamics import peak_normalize
from ddspfx.tasks.mastering import MasteringTask, standardize

RATE = 16000


def sources():
    make = lambda seed: SyntheticMusic(RATE, segment_seconds=0.25, n_tracks=1, track_seconds=1.0, seed=seed)  # noqa: E731
    return {"train": make(0), "valid": make(1), "test": make(2)}


def encoder():
    return MLPEncoder(MelNeXt(RATE, channels=(8, 8)), hidden=16, depth=1)


def make_task(sfx="peq_comp", afx=None, head=None, loss=None, **kwargs):
    head = head or (lambda d, n: SigmoidHead(d, n))
    data = {"valid_size": 6, "test_size": 4}
    return MasteringTask(sfx, afx or sfx, encoder(), head, loss or LogMelLoss(RATE, n_fft=512, hop=128), sources(), RATE, data, **kwargs)


def test_standardize_and_peak_normalize():
    x = torch.randn(3, 100) * 5 + 2
    s = standardize(x)
    assert torch.allclose(s.mean(-1), torch.zeros(3), atol=1e-5)
    assert torch.allclose(s.std(-1), torch.ones(3), atol=1e-3)
    assert torch.allclose(peak_normalize(x).abs().amax(-1), torch.ones(3))
    assert torch.equal(peak_normalize(torch.zeros(2, 10)), torch.zeros(2, 10))


def test_train_batch_is_peak_normalized_and_reproducible():
    task = make_task()
    a = task.train_batch(4, torch.Generator().manual_seed(0))
    b = task.train_batch(4, torch.Generator().manual_seed(0))
    assert a["dry"].shape == (4, 4000) and a["controls"].shape == (4, task.sfx.n_params)
    assert torch.equal(a["dry"], b["dry"]) and torch.equal(a["controls"], b["controls"])
    assert torch.allclose(a["dry"].abs().amax(-1), torch.ones(4))


def test_validation_set_is_fixed_and_batched():
    task = make_task()
    first = list(task.valid_batches(4))
    again = list(make_task().valid_batches(4))
    assert [b["dry"].shape[0] for b in first] == [4, 2]
    for x, y in zip(first, again):
        assert torch.equal(x["dry"], y["dry"]) and torch.equal(x["controls"], y["controls"])


def test_training_step_reaches_every_encoder_and_head_weight():
    task = make_task()
    out = task(task.train_batch(3, torch.Generator().manual_seed(0)))
    out["loss"].backward()
    assert torch.isfinite(out["loss"])
    for name, p in task.named_parameters():
        if p.requires_grad and name.startswith(("encoder", "head")):
            assert p.grad is not None, name


def test_parameter_loss_needs_equal_chains():
    with pytest.raises(ValueError, match="parameter loss needs the analysis chain"):
        make_task("peq", "geq", loss=ParamMSE())
    task = make_task("dist", loss=ParamMSE())
    assert torch.isfinite(task(task.train_batch(2, torch.Generator().manual_seed(0)))["loss"])


def test_missing_source_split_is_an_error():
    with pytest.raises(ValueError, match="missing"):
        MasteringTask("peq", "peq", encoder(), lambda d, n: SigmoidHead(d, n), ParamMSE(), {"train": None}, RATE)


def test_probabilistic_head_objective_and_evaluation():
    def head(d, n):
        return ProbabilisticHead(d, n, base={"type": "mog_unif", "components": 2}, flow={"type": "dsf", "length": 0})

    task = make_task("dist", head=head, beta={"start": 0.5, "end": 0.1, "warmup": 2}, evaluation={"best_of": 2, "n_samples": 4, "map_samples": 8})
    out = task(task.train_batch(2, torch.Generator().manual_seed(0)))
    assert set(out) == {"loss", "loss_audio", "entropy", "beta"} and out["beta"] == 0.5
    batch = next(iter(task.test_sets(4)["test"]))
    with torch.no_grad():
        scores = task.eval().evaluate_batch(batch, torch.Generator().manual_seed(0))
    assert list(scores) == ["model", "none", "random"]
    for name in ("param_mse", "mse", "best_of_2/mse", "map/mse", "consistency/mse", "h_mc", "mmd2"):
        assert scores["model"][name].shape == (4,), name
    assert torch.all(scores["model"]["best_of_2/mse"] <= scores["model"]["mse"] + 1e-6)


def test_none_baseline_compares_the_dry_input_with_the_target():
    task = make_task("dist").eval()
    batch = next(iter(task.test_sets(4)["test"]))
    with torch.no_grad():
        scores = task.evaluate_batch(batch, torch.Generator().manual_seed(0))
        wet = task.render_target(batch["dry"], batch["controls"])
    expected = (standardize(batch["dry"]) - standardize(wet)).square().mean(-1)
    assert torch.allclose(scores["none"]["mse"], expected, atol=1e-5)


def test_effect_figures_show_eq_response_and_compressor_curve():
    task = make_task("peq_comp", "geq_compsimple").eval()
    controls = torch.rand(1, task.sfx.n_params)
    estimate = torch.rand(1, task.afx.n_params)
    figures = task.effect_figures(controls, estimate)
    assert set(figures) == {"figure/eq_response", "figure/compressor_curve"}
    lines = figures["figure/eq_response"].axes[0].get_lines()
    assert len(lines) == 2 and all(torch.isfinite(torch.as_tensor(line.get_ydata())).all() for line in lines)
    assert make_task("dist").effect_figures(torch.rand(1, 3), torch.rand(1, 3)) == {}


def test_best_of_must_fit_the_posterior_samples():
    with pytest.raises(ValueError, match="best_of"):
        make_task("dist", evaluation={"best_of": 8, "n_samples": 4})


def test_log_media_writes_audio_and_figures(tmp_path):
    from torch.utils.tensorboard import SummaryWriter
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    task = make_task("peq_comp").eval()
    writer = SummaryWriter(str(tmp_path))
    task.log_media(writer, next(iter(task.valid_batches(2))), step=3)
    writer.close()
    events = EventAccumulator(str(tmp_path), size_guidance={"audio": 0, "images": 0})
    events.Reload()
    assert {"audio/dry_0", "audio/target_1", "audio/estimate_1"} <= set(events.Tags()["audio"])
    assert {"figure/spectrogram", "figure/eq_response", "figure/compressor_curve"} <= set(events.Tags()["images"])


@pytest.mark.parametrize("probabilistic", [False, True], ids=["point", "distribution"])
def test_every_evaluated_metric_is_declared(probabilistic):
    head = (lambda d, n: ProbabilisticHead(d, n, base={"type": "gaussian"}, flow={"type": "dsf", "length": 0})) if probabilistic else None
    task = make_task("peq", head=head, metrics={"mel": LogMelLoss(RATE, n_fft=512, hop=128)},
                     evaluation={"best_of": 2, "n_samples": 3, "map_samples": 4}).eval()
    declared = {spec.name for spec in task.metric_specs()}
    with torch.no_grad():
        scores = task.evaluate_batch(next(iter(task.test_sets(4)["test"])), torch.Generator().manual_seed(0))
    assert set(scores) == {"model", "random", "none"}
    for estimator, metrics in scores.items():
        assert set(metrics) <= declared, (estimator, set(metrics) - declared)
    assert task.test_set_info()["test"]["size"] == 4
