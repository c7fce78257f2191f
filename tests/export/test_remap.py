"""ddspfx/export/remap.py: RemapMapper maps raw onset features as the task maps its hits."""

import re

import pytest
import torch

from ddspfx.data.audio import load_audio
from ddspfx.data.drums import normalize_onset
from ddspfx.dsp.features import onset_features
from ddspfx.dsp.onsets import BACKTRACK
from ddspfx.export import RemapMapper, export_mapper, load_mapper, save_module
from ddspfx.heads.mapping import build_mapping, modulate
from ddspfx.synths import Snare808
from ddspfx.tasks.remap import RemapTask


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    """An (untrained) remap task on 8 s of virtual snares, its network started far from zero so
    that the modulations are not negligible."""
    folder = tmp_path_factory.mktemp("virtual_drums")
    data = {"synthetic": {"folder": str(folder), "seconds": 8.0, "seed": 0}}
    torch.manual_seed(0)
    return RemapTask(Snare808(), preset="snare_1", model="mlp", init_std=0.5, window=256, data=data).eval()


def mapper_of(task, sensitivity: float = 1.0) -> RemapMapper:
    return RemapMapper(task.mapping, task.onset_min, task.onset_max, task.onset_reference, task.preset, task.damping,
                       sensitivity, window=task.window, sample_rate=task.sample_rate,
                       param_names=task.synth.param_names)


def recording_windows(task, index: torch.Tensor) -> torch.Tensor:
    """The first `window` samples of each hit cut from its recording at the detected onset, as a
    streaming processor sees them: samples [max(onset − BACKTRACK, 0), … + window)."""
    hits = task.dataset.hits
    windows = []
    for i in index.tolist():
        audio = load_audio(hits.files[i], task.sample_rate)
        start = max(int(hits.onsets[i]) - BACKTRACK, 0)
        windows.append(audio[start:start + task.window])
    return torch.stack(windows)


def test_the_saved_mapper_gives_the_tasks_controls_for_every_test_hit(task, tmp_path):
    path = tmp_path / "mapper.pt"
    save_module(export_mapper(mapper_of(task)), path)
    loaded = load_mapper(path)
    dataset = task.dataset
    test = dataset.splits["test"]
    with torch.no_grad():
        expected = modulate(task.preset, task.damping, task.mapping(dataset.inputs[test]))
        windows = recording_windows(task, test)
        assert torch.equal(windows, dataset.hits.audio[test, :task.window])  # the same samples as training
        raw = onset_features(windows, task.sample_rate, task.window)
        assert torch.equal(raw, dataset.onset_raw[test])
        controls = loaded(raw)
    assert (expected - task.preset).abs().max() > 1e-3  # the mapping does modulate
    torch.testing.assert_close(controls, expected, rtol=0, atol=1e-6)
    for i in range(len(test)):  # one hit at a time, as in real time
        torch.testing.assert_close(loaded(raw[i:i + 1]), expected[i:i + 1], rtol=0, atol=1e-6)
    assert loaded.window == 256 and loaded.sample_rate == 44100 and loaded.backtrack == BACKTRACK
    assert loaded.param_names == task.synth.param_names


def test_every_hit_maps_as_in_training(task):
    dataset = task.dataset
    mapper = export_mapper(mapper_of(task))
    with torch.no_grad():
        expected = modulate(task.preset, task.damping, task.mapping(dataset.inputs))
        torch.testing.assert_close(mapper(dataset.onset_raw), expected, rtol=0, atol=1e-6)
        torch.testing.assert_close(mapper.normalize(dataset.onset_raw), dataset.inputs, rtol=0, atol=1e-6)
        reference = mapper(dataset.onset_raw[dataset.reference][None])
    torch.testing.assert_close(reference, modulate(task.preset, task.damping, task.mapping(torch.zeros(1, 3))))


def test_sensitivity_scales_the_modulation_and_is_settable_after_loading(task, tmp_path):
    raw = task.dataset.onset_raw
    eager = mapper_of(task)
    with torch.no_grad():
        modulation = task.damping * task.mapping(task.dataset.inputs)
    path = tmp_path / "mapper.pt"
    save_module(export_mapper(mapper_of(task, sensitivity=0.0)), path)
    loaded = load_mapper(path)
    assert float(loaded.sensitivity) == 0.0
    torch.testing.assert_close(loaded(raw), task.preset.expand(len(raw), -1), rtol=0, atol=0)  # the preset
    loaded.set_sensitivity(2.0)
    torch.testing.assert_close(loaded(raw), (task.preset + 2 * modulation).clamp(0, 1), rtol=0, atol=1e-6)
    eager.set_sensitivity(1.0)
    torch.testing.assert_close(eager(raw), (task.preset + modulation).clamp(0, 1), rtol=0, atol=1e-6)
    with pytest.raises(Exception, match="sensitivity must be a finite number >= 0"):
        loaded.set_sensitivity(-1.0)


@pytest.mark.parametrize("kind", ["linear", "mlp", "mlp_lrg"])
def test_every_paper_network_scripts(kind):
    torch.manual_seed(1)
    network = build_mapping(kind, 14, init_std=0.3)
    low, high = torch.tensor([-60.0, 90.0, -50.0]), torch.tensor([-10.0, 120.0, -5.0])
    ref = torch.tensor([-30.0, 100.0, -20.0])
    preset, damping = torch.rand(14), torch.rand(14)
    mapper = RemapMapper(network, low, high, ref, preset, damping)
    scripted = export_mapper(mapper)
    raw = torch.stack([torch.empty(32).uniform_(-70, 0), torch.empty(32).uniform_(80, 130),
                       torch.empty(32).uniform_(-60, 0)], dim=1)
    with torch.no_grad():
        expected = modulate(preset, damping, network(normalize_onset(raw, low, high, ref)))
    torch.testing.assert_close(scripted(raw), expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(mapper(raw), expected, rtol=0, atol=1e-6)


def test_a_constant_feature_is_divided_by_one_as_in_training():
    low = torch.tensor([-40.0, 100.0, -30.0])
    high = torch.tensor([-10.0, 100.0, -5.0])  # the centroid never changed in training
    mapper = RemapMapper(build_mapping("linear", 14), low, high, low + 1, torch.zeros(14), torch.ones(14))
    raw = torch.tensor([[-20.0, 103.0, -7.0]])
    torch.testing.assert_close(mapper.normalize(raw), normalize_onset(raw, low, high, low + 1))


@pytest.mark.parametrize("change, message", [
    ({"onset_min": torch.zeros(4)}, "onset_min must have shape (3,)"),
    ({"preset": torch.zeros(14), "damping": torch.zeros(13)}, "damping must have shape (14,)"),
    ({"onset_reference": torch.tensor([0.0, float("nan"), 0.0])}, "onset_reference must be finite"),
    ({"sensitivity": -0.5}, "sensitivity must be a finite number >= 0"),
    ({"sensitivity": "loud"}, "sensitivity must be a number"),
])
def test_bad_parts_are_one_line_errors(change, message):
    parts = {"mapping": build_mapping("linear", 14), "onset_min": torch.zeros(3), "onset_max": torch.ones(3),
             "onset_reference": torch.zeros(3), "preset": torch.zeros(14), "damping": torch.ones(14)}
    with pytest.raises(ValueError, match=re.escape(message)):
        RemapMapper(**{**parts, **change})


def test_raw_features_of_the_wrong_shape_raise():
    mapper = export_mapper(RemapMapper(build_mapping("linear", 14), torch.zeros(3), torch.ones(3), torch.zeros(3),
                                       torch.zeros(14), torch.ones(14)))
    with pytest.raises(Exception, match=re.escape("must have shape (batch, 3)")):
        mapper(torch.zeros(1, 7))
