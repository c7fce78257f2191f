"""Media for TensorBoard: audio clips and figures (spectrograms, posteriors, curves).

Any layer may draw these (tasks log them from `log_media`). Figures are drawn with matplotlib's
Agg canvas directly (no pyplot, no display, no global figure state).
"""

from __future__ import annotations

import math
import warnings
from typing import Mapping, Sequence

import numpy as np
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def to_mono_numpy(audio, name: str = "audio") -> np.ndarray:
    """A 1-D float64 array from a tensor or array of shape (samples,) or (1, ..., 1, samples)."""
    if torch.is_tensor(audio):
        audio = audio.detach().to("cpu", torch.float64).numpy()
    audio = np.asarray(audio, dtype=np.float64)
    while audio.ndim > 1 and audio.shape[0] == 1:
        audio = audio[0]
    if audio.ndim != 1:
        raise ValueError(
            f"{name}: expected one signal of shape (samples,) or (1, samples), got shape "
            f"{tuple(audio.shape)}; pass one example of a batch"
        )
    if audio.size == 0:
        raise ValueError(f"{name}: empty signal")
    return audio


def prepare_audio(audio, name: str = "audio") -> np.ndarray:
    """Float32 samples in [-1, 1]: non-finite values set to 0, divided by the peak if it
    exceeds 1, then clamped."""
    x = to_mono_numpy(audio, name)
    if not np.all(np.isfinite(x)):
        warnings.warn(f"{name}: non-finite samples set to 0 for logging", RuntimeWarning)
        x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
    peak = np.max(np.abs(x))
    if peak > 1.0:
        x = x / peak
    return np.clip(x, -1.0, 1.0).astype(np.float32)


def log_audio(writer, tag: str, audio, sample_rate: int, step: int) -> None:
    """Log one signal (samples,) at `sample_rate` Hz as TensorBoard audio (see `prepare_audio`)."""
    if writer is None:
        return
    x = prepare_audio(audio, tag)
    writer.add_audio(tag, torch.from_numpy(x)[None], step, sample_rate=int(sample_rate))


def log_figure(writer, tag: str, figure: Figure, step: int) -> None:
    """Log a matplotlib figure (rendered with Agg)."""
    if writer is None:
        return
    writer.add_figure(tag, figure, step, close=True)


def log_magnitude_db(
    audio: np.ndarray, n_fft: int, hop_length: int, floor: float = 1e-10
) -> np.ndarray:
    """Short-time log-magnitude in dB (re full scale 1.0), shape (n_fft // 2 + 1, frames).

    Hann window, centred frames with zero padding (any length works). Silence gives
    20 log10(floor) dB rather than -inf.
    """
    x = torch.from_numpy(np.ascontiguousarray(audio, dtype=np.float64))
    window = torch.hann_window(n_fft, dtype=torch.float64)
    spec = torch.stft(
        x, n_fft, hop_length, window=window, center=True, pad_mode="constant",
        return_complex=True,
    )
    magnitude = spec.abs() / (window.sum() / 2)  # a full-scale sine reads about 0 dB
    return (20.0 * torch.log10(magnitude.clamp_min(floor))).numpy()


def spectrogram_figure(
    audio_dict: Mapping[str, np.ndarray | torch.Tensor],
    sample_rate: int,
    n_fft: int = 1024,
    hop_length: int | None = None,
    db_range: float = 80.0,
) -> Figure:
    """One log-magnitude spectrogram per signal, stacked, on one shared colour scale.

    audio_dict: {title: signal of shape (samples,)} at `sample_rate` Hz.
    Axes: time in seconds, frequency in Hz (0 to sample_rate / 2); colour: dB re full scale,
    from (loudest bin - db_range) to the loudest bin over all signals.
    """
    if not audio_dict:
        raise ValueError("spectrogram_figure: audio_dict is empty")
    hop_length = hop_length or n_fft // 4
    spectra = {
        name: log_magnitude_db(to_mono_numpy(a, name), n_fft, hop_length)
        for name, a in audio_dict.items()
    }
    vmax = max(float(s.max()) for s in spectra.values())
    vmin = vmax - db_range
    figure = Figure(figsize=(8, 2.4 * len(spectra)), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(len(spectra), 1, squeeze=False)[:, 0]
    for ax, (name, spec) in zip(axes, spectra.items()):
        n_samples = to_mono_numpy(audio_dict[name], name).size
        image = _draw_spectrogram(ax, spec, n_samples / sample_rate, sample_rate / 2, vmin, vmax)
        ax.set_title(name)
    figure.colorbar(image, ax=list(axes), label="dB")
    return figure


def _draw_spectrogram(ax, spec: np.ndarray, duration_s: float, nyquist_hz: float, vmin, vmax):
    extent = (0.0, max(duration_s, math.ulp(1.0)), 0.0, nyquist_hz)
    image = ax.imshow(
        spec, origin="lower", aspect="auto", extent=extent, vmin=vmin, vmax=vmax,
        cmap="magma", interpolation="nearest",
    )
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    return image


def spectrogram_grid_figure(
    audio: torch.Tensor | np.ndarray,
    sample_rate: int,
    row_values: Sequence[float],
    col_values: Sequence[float],
    row_label: str = "z1",
    col_label: str = "z0",
    n_fft: int = 512,
    db_range: float = 80.0,
) -> Figure:
    """Small log-magnitude spectrograms on a grid, one shared colour scale (e.g. the grains decoded
    on a grid of a latent plane).

    audio: `(rows, cols, samples)` at `sample_rate` Hz; row_values, col_values: the grid's
    coordinates, written on the outer axes (row 0 at the top). Inner axes carry no ticks.
    """
    audio = audio.detach().to("cpu", torch.float64).numpy() if torch.is_tensor(audio) else np.asarray(audio, np.float64)
    if audio.ndim != 3 or audio.shape[:2] != (len(row_values), len(col_values)):
        raise ValueError(
            f"spectrogram_grid_figure: audio must be (rows={len(row_values)}, cols={len(col_values)}, samples), "
            f"got {audio.shape}"
        )
    spectra = [[log_magnitude_db(cell, n_fft, n_fft // 4) for cell in row] for row in audio]
    vmax = max(float(s.max()) for row in spectra for s in row)
    rows, cols = audio.shape[:2]
    figure = Figure(figsize=(1.6 * cols + 1, 1.3 * rows + 0.6), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, cols, squeeze=False, sharex=True, sharey=True)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            image = _draw_spectrogram(ax, spectra[r][c], audio.shape[-1] / sample_rate, sample_rate / 2, vmax - db_range, vmax)
            ax.set(xlabel="", ylabel="", xticks=[], yticks=[])
            if r == rows - 1:
                ax.set_xlabel(f"{col_label}={col_values[c]:.2g}", fontsize="small")
            if c == 0:
                ax.set_ylabel(f"{row_label}={row_values[r]:.2g}", fontsize="small")
    figure.colorbar(image, ax=axes.ravel().tolist(), label="dB")
    return figure


def posterior_scatter_figure(
    samples: torch.Tensor,
    truth: torch.Tensor,
    names: list[str],
    pairs: list[tuple[int, int]],
) -> Figure:
    """Pairwise scatter of posterior samples of a few controls, with the true value marked.

    samples: `(n, d)` normalized controls drawn from q(v|y); truth: `(d,)`; names: the d control
    names; pairs: (x index, y index) of each panel. Axes span [0, 1].
    """
    samples = samples.detach().float().cpu().numpy()
    truth = truth.detach().float().cpu().numpy()
    figure = Figure(figsize=(3 * len(pairs), 3), layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, len(pairs), squeeze=False)[0]
    for ax, (i, j) in zip(axes, pairs):
        ax.scatter(samples[:, i], samples[:, j], s=4, alpha=0.4, label="samples")
        ax.scatter([truth[i]], [truth[j]], marker="x", s=60, color="red", label="true")
        ax.set(xlim=(0, 1), ylim=(0, 1), xlabel=names[i], ylabel=names[j])
    axes[0].legend(loc="lower left", fontsize="small")
    return figure


def curves_figure(
    x: torch.Tensor | np.ndarray,
    curves: Mapping[str, torch.Tensor | np.ndarray],
    xlabel: str,
    ylabel: str,
    log_x: bool = False,
) -> Figure:
    """Several curves over one x axis (an EQ magnitude response, a compressor's static curve).

    x: `(n,)` abscissae; curves: {label: `(n,)` values}, drawn in order with a legend.
    """
    if not curves:
        raise ValueError("curves_figure: curves is empty")
    as_numpy = lambda v: v.detach().float().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)  # noqa: E731
    figure = Figure(figsize=(6, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for label, values in curves.items():
        ax.plot(as_numpy(x), as_numpy(values), label=label, linestyle="--" if label == "identity" else "-")
    if log_x:
        ax.set_xscale("log")
    ax.set(xlabel=xlabel, ylabel=ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize="small")
    return figure


def curves_panels_figure(
    panels: Mapping[str, tuple[torch.Tensor | np.ndarray, Mapping[str, torch.Tensor | np.ndarray]]],
    ylabel: str,
) -> Figure:
    """Side-by-side panels of curves: `{panel title (the x label): (x (n,), {label: values (n,)})}`,
    one shared legend (e.g. a remapper's parameter modulations against each onset feature)."""
    if not panels:
        raise ValueError("curves_panels_figure: panels is empty")
    as_numpy = lambda v: v.detach().float().cpu().numpy() if torch.is_tensor(v) else np.asarray(v)  # noqa: E731
    figure = Figure(figsize=(4 * len(panels) + 2, 3.5), layout="constrained")
    FigureCanvasAgg(figure)
    axes = np.atleast_1d(figure.subplots(1, len(panels), sharey=True))
    for ax, (title, (x, curves)) in zip(axes, panels.items()):
        for label, values in curves.items():
            ax.plot(as_numpy(x), as_numpy(values), label=label)
        ax.set(xlabel=title)
        ax.grid(True, alpha=0.3)
    axes[0].set(ylabel=ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside right center", fontsize="x-small")
    return figure
