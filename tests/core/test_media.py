"""TensorBoard media: spectrogram figures and audio."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from ddspfx.core.media import (
    log_audio,
    log_figure,
    log_magnitude_db,
    prepare_audio,
    spectrogram_figure,
)
from ddspfx.train.logging import create_writer

SR = 16000


def sine(freq: float, amplitude: float, seconds: float = 0.5) -> np.ndarray:
    t = np.arange(int(SR * seconds)) / SR
    return amplitude * np.sin(2 * np.pi * freq * t)


def test_full_scale_reference_and_peak_frequency():
    n_fft = 1024
    freq = 64 * SR / n_fft  # exactly on a bin: 1000 Hz
    spec = log_magnitude_db(sine(freq, 0.5), n_fft, 256)
    assert spec.shape[0] == n_fft // 2 + 1
    middle = spec[:, spec.shape[1] // 2]
    assert int(np.argmax(middle)) == 64
    assert middle.max() == pytest.approx(20 * math.log10(0.5), abs=0.05)


def test_silence_and_short_signals_stay_finite():
    assert np.isfinite(log_magnitude_db(np.zeros(4000), 1024, 256)).all()
    assert np.isfinite(log_magnitude_db(np.ones(10), 1024, 256)).all()


def test_spectrogram_figure_axes():
    fig = spectrogram_figure(
        {"target": sine(1000, 0.5), "prediction": torch.tensor(sine(2000, 0.1))[None].float(),
         "silence": np.zeros(SR // 4)},
        SR,
    )
    axes = [ax for ax in fig.axes if ax.images]
    assert [ax.get_title() for ax in axes] == ["target", "prediction", "silence"]
    assert axes[0].get_xlim() == pytest.approx((0.0, 0.5))
    assert axes[2].get_xlim() == pytest.approx((0.0, 0.25))
    assert axes[0].get_ylim() == pytest.approx((0.0, SR / 2))
    assert "s" in axes[0].get_xlabel() and "Hz" in axes[0].get_ylabel()
    low, high = axes[0].images[0].get_clim()
    assert high - low == pytest.approx(80.0)
    assert all(np.isfinite(ax.images[0].get_array()).all() for ax in axes)


def test_spectrogram_figure_refuses_a_batch():
    with pytest.raises(ValueError, match="prediction"):
        spectrogram_figure({"prediction": np.zeros((2, 100))}, SR)


def test_prepare_audio_normalizes_and_cleans():
    x = np.array([0.5, -2.0, 1.0])
    assert prepare_audio(x) == pytest.approx([0.25, -1.0, 0.5])
    quiet = np.array([0.1, -0.3])
    assert prepare_audio(quiet) == pytest.approx(quiet)
    with pytest.warns(RuntimeWarning, match="non-finite"):
        cleaned = prepare_audio(np.array([np.nan, 0.5, np.inf]))
    assert cleaned == pytest.approx([0.0, 0.5, 0.0])
    assert prepare_audio(torch.ones(1, 4)).dtype == np.float32


def test_writes_audio_and_figure_events(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    writer = create_writer(tmp_path)
    log_audio(writer, "audio/target", 3.0 * sine(440, 1.0, 0.1), SR, step=7)
    log_figure(writer, "figure/spec", spectrogram_figure({"x": sine(440, 1.0, 0.1)}, SR), 7)
    writer.close()
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"audio": 0, "images": 0})
    acc.Reload()
    assert acc.Tags()["audio"] == ["audio/target"]
    assert acc.Tags()["images"] == ["figure/spec"]
    assert acc.Audio("audio/target")[0].sample_rate == SR


def test_posterior_scatter_figure_marks_the_truth():
    from ddspfx.core.media import posterior_scatter_figure

    samples = torch.rand(50, 4)
    truth = torch.tensor([0.1, 0.2, 0.3, 0.4])
    figure = posterior_scatter_figure(samples, truth, ["a", "b", "c", "d"], [(0, 1), (2, 3)])
    axes = figure.get_axes()
    assert len(axes) == 2
    assert axes[1].get_xlabel() == "c" and axes[1].get_ylabel() == "d"
    assert axes[0].get_xlim() == (0, 1)
    truth_points = axes[1].collections[1].get_offsets()
    np.testing.assert_allclose(np.asarray(truth_points), [[0.3, 0.4]], rtol=1e-6)


def test_curves_figure_draws_each_curve_with_its_label():
    from ddspfx.core.media import curves_figure

    x = torch.logspace(1, 4, 50)
    figure = curves_figure(x, {"true": torch.zeros(50), "estimate": np.ones(50), "identity": x}, "f (Hz)", "dB", log_x=True)
    ax = figure.get_axes()[0]
    assert [line.get_label() for line in ax.get_lines()] == ["true", "estimate", "identity"]
    assert ax.get_xscale() == "log" and ax.get_xlabel() == "f (Hz)"
    np.testing.assert_allclose(ax.get_lines()[1].get_ydata(), np.ones(50))
    with pytest.raises(ValueError, match="empty"):
        curves_figure(x, {}, "x", "y")


def test_curves_panels_figure_one_panel_per_sweep():
    from ddspfx.core.media import curves_panels_figure

    x = torch.linspace(-1, 1, 9)
    panels = {"rms": (x, {"a": x, "b": 2 * x}), "centroid": (x.numpy(), {"a": -x, "b": np.zeros(9)})}
    figure = curves_panels_figure(panels, "modulation")
    axes = figure.get_axes()
    assert [ax.get_xlabel() for ax in axes] == ["rms", "centroid"]
    assert axes[0].get_ylabel() == "modulation"
    np.testing.assert_allclose(axes[1].get_lines()[0].get_ydata(), -x.numpy())
    assert [t.get_text() for t in figure.legends[0].get_texts()] == ["a", "b"]
    with pytest.raises(ValueError, match="empty"):
        curves_panels_figure({}, "y")
