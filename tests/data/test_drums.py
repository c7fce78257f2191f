import json
import warnings

import numpy as np
import pytest
import soundfile as sf
import torch

import ddspfx.data.drums as drums
from ddspfx.core.errors import ConfigError, DataError
from ddspfx.data.drums import (
    DrumHits,
    build_drum_dataset,
    dataset_from_features,
    drum_folders,
    load_hits,
    loudness_stratified_split,
    normalize_onset,
)
from ddspfx.data.virtual_drums import MANIFEST, write_virtual_drums
from ddspfx.dsp.features import onset_features, target_features

SR = 44100
GAP = 0.5  # s between bursts


def bursts(levels_db, sample_rate: int = SR, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Decaying white-noise bursts (τ = 30 ms) at `levels_db` dBFS, GAP s apart from 0.2 s.

    Returns (audio float32 (samples,), true onsets in samples)."""
    rng = np.random.default_rng(seed)
    length = int(0.3 * sample_rate)
    envelope = np.exp(-np.arange(length) / (0.03 * sample_rate))
    onsets = np.array([round((0.2 + GAP * i) * sample_rate) for i in range(len(levels_db))])
    audio = np.zeros(onsets[-1] + sample_rate, dtype=np.float32)
    for onset, level in zip(onsets, levels_db):
        audio[onset : onset + length] += 10 ** (level / 20) * rng.standard_normal(length) * envelope / 3
    return audio, onsets


def write_bursts(path, n: int, sample_rate: int = SR, seed: int = 0) -> np.ndarray:
    """A file of `n` bursts at levels spread over −30…−3 dB in random order; returns the onsets."""
    levels = np.random.default_rng(seed).permutation(np.linspace(-30, -3, n))
    audio, onsets = bursts(levels, sample_rate, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), audio, sample_rate, subtype="FLOAT" if path.suffix == ".wav" else None)
    return onsets


@pytest.fixture(scope="module")
def snare(tmp_path_factory):
    """A drum folder of two files (14 + 10 bursts) and its hits."""
    folder = tmp_path_factory.mktemp("data") / "Test_Snare"
    first = write_bursts(folder / "a.wav", 14, seed=1)
    second = write_bursts(folder / "b.flac", 10, seed=2)
    return folder, (first, second), load_hits(folder)


@pytest.fixture(scope="module")
def dataset(snare):
    return build_drum_dataset(snare[2], seed=0)


def test_drum_folders_single_drum_and_sdss_layout(tmp_path):
    single = tmp_path / "One_Drum"
    write_bursts(single / "take.wav", 2)
    assert drum_folders(single) == {"One_Drum": single}

    root = tmp_path / "sdss"
    write_bursts(root / "Premier" / "x.wav", 2)
    write_bursts(root / "Ludwig" / "sub" / "y.ogg", 2)
    (root / "Empty").mkdir()
    (root / "notes.txt").write_text("not audio")
    assert drum_folders(root) == {"Ludwig": root / "Ludwig", "Premier": root / "Premier"}
    assert list(drum_folders(root)) == ["Ludwig", "Premier"]


def test_drum_folders_without_audio_name_the_root_and_extensions(tmp_path):
    with pytest.raises(DataError, match=f"{tmp_path / 'missing'}.*wav/flac/ogg"):
        drum_folders(tmp_path / "missing")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    with pytest.raises(DataError, match=f"{tmp_path / 'empty'}.*wav/flac/ogg"):
        drum_folders(tmp_path / "empty")


def test_load_hits_frames_every_burst(snare):
    folder, (first, second), hits = snare
    assert isinstance(hits, DrumHits) and hits.name == "Test_Snare" and hits.sample_rate == SR
    assert hits.audio.shape == (24, SR) and hits.audio.dtype == torch.float32
    assert hits.files == [folder / "a.wav"] * 14 + [folder / "b.flac"] * 10
    assert hits.onsets.dtype == torch.long
    truth = torch.from_numpy(np.concatenate([first, second]))
    assert ((hits.onsets - truth).abs() < 300).all()
    assert (hits.audio.abs().amax(dim=1) > 1e-3).all()
    shorter = load_hits(folder / "a.wav", frame_length=40000)  # one file, other frame length
    assert shorter.audio.shape == (14, 40000) and shorter.name == "a"
    with pytest.raises(DataError, match="missing: no such folder"):
        load_hits(folder.parent / "missing")


def test_too_few_hits_name_the_count_and_folder(tmp_path):
    write_bursts(tmp_path / "quiet" / "take.wav", 3)
    with pytest.raises(DataError, match=r"found 3 hits in .*quiet \(1 file\); at least 10 are needed .*on_threshold"):
        load_hits(tmp_path / "quiet")
    assert len(load_hits(tmp_path / "quiet", min_hits=3)) == 3


def test_detector_settings_are_passed_and_checked(snare):
    folder = snare[0]
    with pytest.raises(DataError, match="found 0 hits"):
        load_hits(folder, detector={"on_threshold": 70.0, "off_threshold": 60.0})
    with pytest.raises(ConfigError, match="data.detector.threshold"):
        load_hits(folder, detector={"threshold": 10.0})


def test_an_unreadable_file_is_skipped_with_one_warning_naming_it(tmp_path):
    write_bursts(tmp_path / "drum" / "good.wav", 12)
    (tmp_path / "drum" / "broken.wav").write_bytes(b"RIFF not really a wav file")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hits = load_hits(tmp_path / "drum")
    messages = [str(w.message) for w in caught]
    assert len(messages) == 1 and "broken.wav" in messages[0] and "good.wav" not in messages[0]
    assert len(hits) == 12 and set(hits.files) == {tmp_path / "drum" / "good.wav"}


def test_only_unreadable_files_is_a_data_error(tmp_path):
    (tmp_path / "drum").mkdir()
    (tmp_path / "drum" / "broken.wav").write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="broken.wav"), pytest.raises(DataError, match="none of its 1 audio files"):
        load_hits(tmp_path / "drum")


def test_a_file_at_another_rate_is_resampled_with_a_warning(tmp_path):
    onsets = write_bursts(tmp_path / "drum" / "low.wav", 11, sample_rate=22050)
    with pytest.warns(UserWarning, match=r"resampled to 44100 Hz: low.wav \(22050 Hz\)"):
        hits = load_hits(tmp_path / "drum", sample_rate=SR)
    assert hits.sample_rate == SR and hits.audio.shape == (11, SR)
    assert ((hits.onsets - 2 * torch.from_numpy(onsets)).abs() < 300).all()


def check_partition(held, rest, order):
    assert set(held.tolist()).isdisjoint(rest.tolist())
    assert sorted(held.tolist() + rest.tolist()) == sorted(order.tolist())


def test_split_sizes_100_hits_give_10_10_80_and_depend_on_the_seed():
    order = torch.randperm(100, generator=torch.Generator().manual_seed(3))
    reference = int(order[50])

    def splits(seed):
        generator = torch.Generator().manual_seed(seed)
        test, rest = loudness_stratified_split(order, reference, 0.1, generator)
        valid, train = loudness_stratified_split(rest, reference, 0.1, generator)
        return test, valid, train, rest

    test, valid, train, rest = splits(0)
    assert (len(test), len(valid), len(train)) == (10, 10, 80)
    check_partition(test, rest, order)
    check_partition(valid, train, rest)
    assert reference in train.tolist()
    position = {int(i): k for k, i in enumerate(order)}
    assert sorted(position[int(i)] // 10 for i in test) == list(range(10))  # one per loudness decile
    assert torch.equal(rest, order[torch.isin(order, rest)])  # rest keeps the loudness order
    again = splits(0)
    assert all(torch.equal(a, b) for a, b in zip((test, valid, train), again))
    assert not torch.equal(test, splits(1)[0])


def test_chunk_count_follows_the_reference_formula():
    order = torch.arange(25)
    held, _ = loudness_stratified_split(order, 99, 0.2, torch.Generator().manual_seed(0))
    assert len(held) == len(torch.chunk(order, int(25 * 0.2) + 1)) == 5
    held, _ = loudness_stratified_split(order, 99, 0.0, torch.Generator().manual_seed(0))
    assert len(held) == 0


def test_the_reference_is_never_held_out():
    # one chunk of two: whichever member is drawn, the other one is held out
    for seed in range(6):
        held, rest = loudness_stratified_split(torch.tensor([7, 3]), 7, 0.4, torch.Generator().manual_seed(seed))
        assert held.tolist() == [3] and rest.tolist() == [7]  # the next member instead of the reference
        held, rest = loudness_stratified_split(torch.tensor([7, 3]), 3, 0.4, torch.Generator().manual_seed(seed))
        assert held.tolist() == [7] and rest.tolist() == [3]  # the previous one at the chunk's end
    order = torch.randperm(40, generator=torch.Generator().manual_seed(0))
    for seed in range(20):
        for reference in order[::7].tolist():
            held, rest = loudness_stratified_split(order, reference, 0.1, torch.Generator().manual_seed(seed))
            assert reference in rest.tolist() and len(held) == 5
    with pytest.raises(ConfigError, match="fraction"):
        loudness_stratified_split(order, 0, 1.0, torch.Generator())


def test_reference_is_the_median_loudness_hit_and_maps_to_zero(dataset, snare):
    hits = snare[2]
    n = len(hits)
    louder = (dataset.features[:, 0] > dataset.features[dataset.reference, 0]).sum()
    assert int(louder) == int(0.5 * n)
    assert torch.equal(dataset.targets[dataset.reference], torch.zeros(7))
    assert torch.equal(dataset.inputs[dataset.reference], torch.zeros(3))
    torch.testing.assert_close(dataset.targets, dataset.features - dataset.features[dataset.reference])
    torch.testing.assert_close(dataset.features, target_features(hits.audio, SR))
    torch.testing.assert_close(dataset.onset_raw, onset_features(hits.audio, SR, 256))
    assert torch.equal(dataset.reference_audio, hits.audio[dataset.reference])
    assert (dataset.name, dataset.sample_rate, dataset.window) == ("Test_Snare", SR, 256)


def test_splits_cover_the_hits_with_the_reference_in_train(dataset, snare):
    splits = dataset.splits
    every = torch.cat([splits["train"], splits["valid"], splits["test"]])
    assert sorted(every.tolist()) == list(range(len(snare[2])))
    assert dataset.reference in splits["train"].tolist()
    assert len(splits["test"]) == 3 and len(splits["valid"]) == 3  # int(24·0.1)+1, int(21·0.1)+1 chunks
    inputs, targets = dataset.subset("valid")
    assert torch.equal(inputs, dataset.inputs[splits["valid"]]) and targets.shape == (3, 7)
    with pytest.raises(ConfigError, match="unknown split 'training'"):
        dataset.subset("training")
    again = build_drum_dataset(snare[2], seed=0)
    assert all(torch.equal(again.splits[k], splits[k]) for k in splits)


def test_onset_statistics_come_from_the_train_split_only(dataset, snare):
    train = dataset.splits["train"]
    torch.testing.assert_close(dataset.onset_min, dataset.onset_raw[train].amin(0))
    torch.testing.assert_close(dataset.onset_max, dataset.onset_raw[train].amax(0))
    assert dataset.inputs[train].abs().max() <= 1
    test_hit, train_hit = int(dataset.splits["test"][0]), int(train[train != dataset.reference][0])
    changed = dataset.onset_raw.clone()
    changed[test_hit] += 100.0  # far outside the train range
    other = dataset_from_features(snare[2], dataset.features, changed, 256)
    assert torch.equal(other.onset_min, dataset.onset_min) and torch.equal(other.onset_max, dataset.onset_max)
    assert (other.inputs[test_hit] > 1).all()  # hits outside the train range fall outside [−1, 1]
    changed = dataset.onset_raw.clone()
    changed[train_hit] += 100.0
    assert not torch.equal(dataset_from_features(snare[2], dataset.features, changed, 256).onset_max, dataset.onset_max)


def test_normalize_onset_is_the_documented_transform_and_survives_a_constant_feature(dataset):
    raw = torch.tensor([[-20.0, 100.0, -30.0]])
    span = dataset.onset_max - dataset.onset_min
    reference = dataset.onset_raw[dataset.reference]
    expected = (raw - dataset.onset_min) / span - (reference - dataset.onset_min) / span
    torch.testing.assert_close(dataset.normalize_onset(raw), expected)
    low, high, reference = torch.tensor([0.0, 5.0, 1.0]), torch.tensor([1.0, 5.0, 3.0]), torch.tensor([0.5, 5.0, 2.0])
    constant = normalize_onset(raw, low, high, reference)
    torch.testing.assert_close(constant, torch.tensor([[-20.5, 95.0, -16.0]]))  # the span 0 divides by 1
    stored = dataset.tensors()
    assert set(stored) == {"onset_min", "onset_max", "onset_reference", "reference_features"}
    assert torch.equal(stored["reference_features"], dataset.features[dataset.reference])
    statistics = {k: v for k, v in stored.items() if k != "reference_features"}
    torch.testing.assert_close(normalize_onset(raw, **statistics), expected)


def test_features_are_computed_in_chunks_without_grad(snare, monkeypatch):
    monkeypatch.setattr(drums, "FEATURE_CHUNK", 10)  # 24 hits: chunks of 10, 10, 4
    hits = snare[2]
    chunked = build_drum_dataset(hits, window=2048, seed=0)
    assert not chunked.features.requires_grad
    torch.testing.assert_close(chunked.features, target_features(hits.audio, SR))
    torch.testing.assert_close(chunked.onset_raw, onset_features(hits.audio, SR, 2048))


def test_frames_shorter_than_the_target_span_are_refused(snare):
    hits = snare[2]
    short = DrumHits(hits.audio[:, :20000], SR, hits.files, hits.onsets, hits.name)
    with pytest.raises(ConfigError, match="20000 samples.*35328"):
        build_drum_dataset(short)


def test_sdss_layout_gives_one_dataset_per_folder(tmp_path):
    write_bursts(tmp_path / "Gretsch" / "take.wav", 12, seed=4)
    write_bursts(tmp_path / "Yamaha" / "session" / "take.wav", 11, seed=5)
    datasets = {name: build_drum_dataset(load_hits(folder)) for name, folder in drum_folders(tmp_path).items()}
    assert list(datasets) == ["Gretsch", "Yamaha"]
    assert [d.name for d in datasets.values()] == ["Gretsch", "Yamaha"]
    assert [len(d.features) for d in datasets.values()] == [12, 11]


def test_virtual_drums_load_with_their_true_onsets(tmp_path):
    write_virtual_drums(tmp_path, seconds=8.0, drums=["maple_14x5"])
    truth = torch.tensor(json.loads((tmp_path / MANIFEST).read_text())["drums"]["maple_14x5"]["onsets"])
    folders = drum_folders(tmp_path)
    assert list(folders) == ["maple_14x5"]
    hits = load_hits(folders["maple_14x5"])
    distance = (hits.onsets[None, :] - truth[:, None]).abs().amin(dim=1)
    assert len(hits) == len(truth) and (distance < 300).all()
