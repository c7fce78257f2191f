"""The remap task on a small virtual-drum dataset: controls, loss, direct mode, evaluation, media."""

import math

import pytest
import torch

from ddspfx.data.drums import build_drum_dataset, load_hits
from ddspfx.data.virtual_drums import write_virtual_drums
from ddspfx.dsp.features import TARGET_FEATURES, target_features
from ddspfx.synths.snare808 import Snare808, load_preset
from ddspfx.tasks.remap import RemapTask, resolve_drum_folder
from tests.conftest import RecordingWriter


@pytest.fixture(scope="module")
def drums(tmp_path_factory):
    root = tmp_path_factory.mktemp("drums")
    write_virtual_drums(root, seconds=10.0, seed=0, drums=["maple_14x5", "steel_piccolo"])
    return root


@pytest.fixture(scope="module")
def dataset(drums):
    return build_drum_dataset(load_hits(drums / "maple_14x5", 44100), window=256, seed=0)


def make_task(dataset, model="linear", **kwargs):
    torch.manual_seed(0)
    return RemapTask(Snare808(), preset="snare_2", model=model, dataset=dataset, **kwargs)


def batch_of(task, split):
    return task._batches(split, 64)[0]


def test_reference_hit_gets_the_preset_from_the_linear_model(dataset):
    task = make_task(dataset, init_std=0.3)
    reference = {"inputs": dataset.inputs[[dataset.reference]], "slot": torch.tensor([0])}
    preset, _ = load_preset("snare_2")
    assert torch.equal(task.controls(reference)[0], preset)


def test_preset_features_are_those_of_the_preset_sound(dataset):
    task = make_task(dataset)
    expected = target_features(Snare808()(task.preset[None]), 44100)[0]
    assert torch.allclose(task.preset_features, expected, atol=1e-4)


def test_loss_is_finite_and_reaches_every_weight(dataset):
    task = make_task(dataset, model="mlp", init_std=0.1)
    out = task(task.train_batch(8, torch.Generator().manual_seed(0)))
    assert out["loss"].dim() == 0 and torch.isfinite(out["loss"])
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in task.trainable_parameters())
    assert all(p.grad.abs().sum() > 0 for p in task.trainable_parameters())


def test_an_epoch_is_one_pass_over_the_training_hits(dataset):
    task = make_task(dataset)
    n_train = len(dataset.splits["train"])
    assert task.epoch_steps(4) == math.ceil(n_train / 4)
    batch = task.train_batch(4, torch.Generator().manual_seed(1))
    assert set(batch["index"].tolist()) <= set(dataset.splits["train"].tolist())
    assert len(set(batch["index"].tolist())) == 4


def test_direct_mode_optimises_the_test_hits_without_damping(dataset):
    task = make_task(dataset, model="direct")
    n_test = len(dataset.splits["test"])
    assert task.mapping.modulation.shape == (n_test, 14)
    assert torch.equal(task.damping, torch.ones(14))
    batch = task.train_batch(256, torch.Generator().manual_seed(0))
    assert sorted(batch["index"].tolist()) == dataset.splits["test"].tolist()
    assert [b["index"].tolist() for b in task.valid_batches(256)] == [dataset.splits["test"].tolist()]


def test_evaluation_scores_model_and_both_preset_baselines(dataset):
    task = make_task(dataset)
    batch = batch_of(task, "test")
    scores = task.evaluate_batch(batch, torch.Generator())
    targets = batch["targets"]
    assert set(scores) == {"model", "preset", "preset_reference"}
    for j, name in enumerate(TARGET_FEATURES):
        assert torch.allclose(scores["preset"][name], targets[:, j].abs())
        assert torch.allclose(scores["preset_reference"][name], (task.preset_features[j] - targets[:, j]).abs())
    assert torch.allclose(scores["model"]["mean"], torch.stack([scores["model"][k] for k in TARGET_FEATURES]).mean(0))
    assert {s.name for s in task.metric_specs()} == {*TARGET_FEATURES, "mean"}


def test_validation_logs_the_seven_feature_errors(dataset):
    task = make_task(dataset)
    out = task.validation_step(batch_of(task, "valid"))
    assert set(out) == {"loss", *TARGET_FEATURES}
    assert out["loss"].item() == pytest.approx(torch.stack([out[k] for k in TARGET_FEATURES]).mean().item(), rel=1e-5)


def test_normalization_and_reference_are_saved_with_the_weights(dataset):
    state = make_task(dataset).state_dict()
    for key in ("preset", "damping", "preset_features", "onset_min", "onset_max", "onset_reference", "reference_hit_features"):
        assert key in state
    assert torch.equal(state["onset_min"], dataset.onset_min)


def test_media_logs_hits_answers_and_the_modulation_figure(dataset):
    task, writer = make_task(dataset, model="mlp", init_std=0.1), RecordingWriter()
    with torch.no_grad():
        task.log_media(writer, batch_of(task, "valid"), step=1, n_examples=2)
    assert {"audio/hit_0", "audio/synth_0", "audio/reference_hit", "audio/preset", "figure/spectrogram",
            "figure/modulations"} <= set(writer.tags)


def test_drum_folder_choice(drums):
    data = {"root": str(drums), "drum": None}
    assert resolve_drum_folder(data, 44100)[0] == "maple_14x5"
    assert resolve_drum_folder({**data, "drum": "steel_piccolo"}, 44100)[0] == "steel_piccolo"
    with pytest.raises(ValueError, match="data.drum='snare_x'.*maple_14x5"):
        resolve_drum_folder({**data, "drum": "snare_x"}, 44100)


def test_range_loss_weights_and_bad_weights(dataset):
    task = make_task(dataset, loss_weights="range")
    spread = dataset.targets[dataset.splits["train"]].amax(0) - dataset.targets[dataset.splits["train"]].amin(0)
    assert torch.allclose(task.loss.weights, 1 / spread)
    with pytest.raises(ValueError, match="loss_weights"):
        make_task(dataset, loss_weights="unit")


def test_direct_optimisation_lowers_the_test_loss(dataset, tmp_path):
    from ddspfx.train import Trainer

    task = make_task(dataset, model="direct")
    before = task.validation_step(batch_of(task, "test"))["loss"].item()
    cfg = {"device": "cpu", "epochs": 20, "steps_per_epoch": 1, "batch_size": 256, "valid_batch_size": 256,
           "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 5e-3}, "grad_clip": None,
           "media_every": None, "progress": False}
    summary = Trainer(task, cfg, tmp_path).fit()
    assert summary["best_valid_loss"] < before
