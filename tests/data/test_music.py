import pytest
import soundfile as sf
import torch

from ddspfx.data.audio import AudioFolder, is_near_silent
from ddspfx.data.music import SyntheticMusic, write_example_folder

SR = 16000


@pytest.fixture(scope="module")
def music():
    return SyntheticMusic(sample_rate=SR, segment_seconds=1.0, n_tracks=3, track_seconds=4.0, seed=0)


def band_share_db(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    """Energy in [low, high) Hz relative to the total, in dB, per row."""
    power = torch.fft.rfft(x).abs().pow(2)
    f = torch.fft.rfftfreq(x.shape[-1], 1 / SR)
    band = power[:, (f >= low) & (f < high)].sum(1)
    return 10 * torch.log10(band / power.sum(1))


def test_crops_have_the_interface_shapes(music):
    crops = music.crops(5, torch.Generator().manual_seed(0))
    assert crops.shape == (5, SR) and crops.dtype == torch.float32
    assert music.segment == SR and music.sample_rate == SR
    assert music.tracks.shape == (3, 4 * SR)


def test_rendering_waits_for_the_first_request():
    lazy = SyntheticMusic(n_tracks=2, track_seconds=2.0, segment_seconds=1.0)
    assert lazy._tracks is None
    lazy.fixed_crops(1, seed=0)
    assert lazy._tracks is not None


def test_tracks_are_finite_peak_normalized_and_not_silent(music):
    x = music.tracks
    assert torch.isfinite(x).all()
    peak = x.abs().amax(1)
    assert (peak <= 1).all()
    torch.testing.assert_close(peak, torch.full((3,), 10 ** (-1 / 20)))
    assert (x.pow(2).mean(1).sqrt() > 0.05).all()
    assert not is_near_silent(music.crops(32, torch.Generator().manual_seed(1)), 1e-2).any()


def test_same_seed_same_tracks_other_seed_other_tracks(music):
    again = SyntheticMusic(sample_rate=SR, segment_seconds=1.0, n_tracks=2, track_seconds=4.0, seed=0)
    torch.testing.assert_close(again.tracks, music.tracks[:2], rtol=0, atol=0)  # track i does not depend on n_tracks
    torch.testing.assert_close(music.fixed_crops(4, seed=3), music.fixed_crops(4, seed=3), rtol=0, atol=0)
    assert not torch.equal(music.fixed_crops(4, seed=3), music.fixed_crops(4, seed=4))
    other = SyntheticMusic(sample_rate=SR, segment_seconds=1.0, n_tracks=1, track_seconds=4.0, seed=1)
    assert (other.tracks[0] - music.tracks[0]).abs().max() > 0.1


def test_spectrum_is_broadband(music):
    for low, high in ((40, 250), (250, 2000), (2000, 7000)):
        assert (band_share_db(music.tracks, low, high) > -30).all(), (low, high)


def onset_rises_db(x: torch.Tensor) -> torch.Tensor:
    """Level of each 10-ms frame over the mean level of the 40 ms before it, in dB: `(rows, frames)`."""
    energy = x.reshape(x.shape[0], -1, SR // 100).pow(2).mean(-1) + 1e-10
    before = torch.nn.functional.avg_pool1d(energy[:, None, :-1], 4, 1)[:, 0]
    return 10 * torch.log10(energy[:, 4:] / before)


def test_drums_give_transients(music):
    x = music.tracks
    crest_db = 20 * torch.log10(x.abs().amax(1) / x.pow(2).mean(1).sqrt())
    assert (crest_db > 9).all()
    assert ((onset_rises_db(x) > 5).sum(1) >= 2).all()
    spectrum = torch.fft.rfft(x)
    spectrum[:, torch.fft.rfftfreq(x.shape[1], 1 / SR) < 2000] = 0
    highs = torch.fft.irfft(spectrum, n=x.shape[1])
    assert ((onset_rises_db(highs) > 12).sum(1) >= 4).all()  # hats and snares stand out above 2 kHz


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="segment_seconds"):
        SyntheticMusic(segment_seconds=5.0, track_seconds=4.0)
    with pytest.raises(ValueError, match="n_tracks"):
        SyntheticMusic(n_tracks=0)


def test_example_folder_is_a_valid_audio_folder(tmp_path):
    paths = write_example_folder(tmp_path / "songs", n_files=3, sample_rate=8000, seconds=2.0, seed=4)
    assert [p.name for p in paths] == ["track_000.wav", "track_001.wav", "track_002.wav"]
    assert all(sf.info(str(p)).frames == 16000 and sf.info(str(p)).samplerate == 8000 for p in paths)
    source = AudioFolder(tmp_path / "songs", sample_rate=8000, segment_seconds=1.0, split_fractions=(1, 0, 0))
    assert source.files == paths
    assert source.fixed_crops(2, seed=0).shape == (2, 8000)
