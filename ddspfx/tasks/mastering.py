"""Blind estimation of audio-effect (mastering) controls (reference part B and A.13).

Composition only: dry music x → synthesis chain with random controls q → target y; the encoder
sees y alone, the head gives q̂ (or a distribution), the analysis chain renders ŷ = afx(x, q̂) and
the loss compares ŷ with y (audio losses, on standardized signals) or q̂ with q (parameter loss,
only when the two chains are the same). With a probabilistic head the objective is E_q[L] −
(β/d)·H[q], β annealed per epoch, exactly as in the FM task.
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping, Sequence

import torch
from torch import nn

from ddspfx.dsp.dynamics import peak_normalize
from ddspfx.effects.chain import FXChain
from ddspfx.effects.registry import build_chain
from ddspfx.core.media import curves_figure, log_audio, spectrogram_figure
from ddspfx.core.metrics import MetricSpec
from ddspfx.core.splits import FixedSplits
from ddspfx.heads import HeadOutput
from ddspfx.losses.metrics import param_mse, si_sdr
from ddspfx.tasks.estimation import PARAM_MSE, SI_SDR, ControlEstimationTask

Batch = dict[str, torch.Tensor]
ChainSpec = str | Sequence[str] | FXChain

DEFAULT_DATA = {"valid_size": 64, "valid_seed": 1001, "test_size": 128, "test_seed": 2002, "polarity_flip": True}
DEFAULT_EVAL = {"best_of": 5, "n_samples": 20, "map_samples": 200}


def standardize(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """(x − mean) / (std + eps) per example; `(batch, samples)` → same shape."""
    x = x - x.mean(-1, keepdim=True)
    return x / (x.std(-1, keepdim=True) + eps)


def make_chain(spec: ChainSpec, sample_rate: int, options: Mapping | None, normalize: str | None) -> FXChain:
    """A built chain as given, or the chain of a key string / key list (`build_chain`)."""
    if isinstance(spec, FXChain):
        return spec
    return build_chain(spec, sample_rate, options=dict(options or {}), normalize=normalize)


class MasteringTask(ControlEstimationTask):
    """Estimate the controls of an effect chain from the processed audio alone.

    Args:
        sfx, afx: the synthesis chain (renders targets) and the analysis chain (differentiable,
            renders estimates): key strings such as "peq_comp_dist", key lists such as
            ["peq5", "comp", "limiter", "peq5", "softclip"] (see `ddspfx.effects.registry`),
            or built `FXChain`s.
        encoder: audio `(batch, samples)` → embedding `(batch, encoder.out_dim)`.
        head: a factory `head(in_dim, n_params)` (Hydra partial) or a built head.
        loss: domain "audio" (compared on standardized audio) or "params" (needs afx = sfx).
        sources: {"train", "valid", "test"} audio sources with `crops(n, generator)` and
            `fixed_crops(n, seed)` (`ddspfx.data.music.SyntheticMusic`, `ddspfx.data.audio.AudioFolder`).
        sample_rate: Hz, of the sources and chains.
        data: `valid_size`, `valid_seed`, `test_size`, `test_seed`, `polarity_flip`.
        fx_options: key → constructor options for both chains (e.g. ranges, proxy checkpoint).
        synthesis_options: key → options for the synthesis chain only (e.g. exact filtering).
        normalize: {"sfx": "peak" | None, "afx": "peak" | None}: peak normalization before each
            effect of each chain (DC removal always happens).
        metrics: evaluation metrics {name: module with `per_example(estimate, target)`}.
        beta: `{start, end, warmup}` of the entropy weight (probabilistic heads only).
        evaluation: `best_of`, `n_samples`, `map_samples` (as in the FM task).
    """

    def __init__(
        self,
        sfx: ChainSpec,
        afx: ChainSpec,
        encoder: nn.Module,
        head: nn.Module | Callable[[int, int], nn.Module],
        loss: nn.Module,
        sources: Mapping,
        sample_rate: int,
        data: Mapping | None = None,
        fx_options: Mapping | None = None,
        synthesis_options: Mapping | None = None,
        normalize: Mapping | None = None,
        metrics: Mapping[str, nn.Module] | None = None,
        beta: Mapping | None = None,
        evaluation: Mapping | None = None,
    ):
        super().__init__()
        normalize = {"sfx": "peak", "afx": "peak", **dict(normalize or {})}
        fx_options = {k: dict(v) for k, v in dict(fx_options or {}).items()}
        synthesis = {k: {**fx_options.get(k, {}), **dict(v)} for k, v in dict(synthesis_options or {}).items()}
        self.sample_rate = int(sample_rate)
        self.sfx = make_chain(sfx, self.sample_rate, {**fx_options, **synthesis}, normalize["sfx"])
        self.afx = make_chain(afx, self.sample_rate, fx_options, normalize["afx"])
        self.same_chains = self.sfx.param_names == self.afx.param_names
        self.init_estimator(encoder, head, self.afx.n_params, loss, beta)
        if self.loss_on_controls and not self.same_chains:
            raise ValueError(
                "MasteringTask: a parameter loss needs the analysis chain to equal the synthesis chain; "
                f"got sfx {self.sfx.param_names} and afx {self.afx.param_names}. Use an audio loss (loss=mel)."
            )
        self.sources = {split: sources[split] for split in ("train", "valid", "test") if split in sources}
        missing = {"train", "valid", "test"} - set(self.sources)
        if missing:
            raise ValueError(f"MasteringTask: sources needs train, valid and test; missing {sorted(missing)}")
        self.data = {**DEFAULT_DATA, **dict(data or {})}
        self._metrics = dict(metrics or {})
        self.evaluation = {**DEFAULT_EVAL, **dict(evaluation or {})}
        if not 2 <= self.evaluation["best_of"] <= self.evaluation["n_samples"]:
            raise ValueError(
                f"MasteringTask: evaluation.best_of ({self.evaluation['best_of']}) must lie in "
                f"2..evaluation.n_samples ({self.evaluation['n_samples']})"
            )
        self.splits = FixedSplits(self.data, self._build_fixed)

    # --- model -----------------------------------------------------------------------------
    def render_target(self, dry: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.sfx(dry, controls)

    # --- training --------------------------------------------------------------------------
    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        dry = peak_normalize(self.sources["train"].crops(batch_size, generator))
        if self.data["polarity_flip"]:
            signs = torch.randint(0, 2, (batch_size, 1), generator=generator) * 2 - 1
            dry = dry * signs
        return {"dry": dry, "controls": torch.rand(batch_size, self.sfx.n_params, generator=generator)}

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        dry, controls = batch["dry"], batch["controls"]
        return self.objective(dry, controls, self.render_target(dry, controls))

    def objective(self, dry: torch.Tensor, controls: torch.Tensor, wet: torch.Tensor) -> dict[str, torch.Tensor]:
        """`loss` = E_q[L] − (β/d)·H[q] for the target `wet` = sfx(dry, controls); also
        `loss_audio` = E_q[L], `entropy` (nats), `beta`."""
        out = self.head_output(self.encoder(wet))
        return self.with_entropy(self.expected_loss(out, dry, controls, wet), out)

    def expected_loss(self, out: HeadOutput, dry: torch.Tensor, controls: torch.Tensor, wet: torch.Tensor) -> torch.Tensor:
        """Σ_s w_s L(sample_s), averaged over the batch."""
        b, s, d = out.samples.shape
        estimate = out.samples.reshape(b * s, d)
        if self.loss_on_controls:
            estimate_, reference = estimate, controls.repeat_interleave(s, 0)
        else:
            rendered = self.afx(dry.repeat_interleave(s, 0), estimate)
            estimate_, reference = standardize(rendered), standardize(wet).repeat_interleave(s, 0)
        return self.weighted_loss(out, estimate_, reference)

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        return self.splits.batches("valid", batch_size)

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """`loss` is the training loss without the entropy term (checkpoints are chosen on it)."""
        dry, controls = batch["dry"], batch["controls"]
        wet = self.render_target(dry, controls)
        out = self.validation_terms(self.objective(dry, controls, wet))
        if self.same_chains:
            out["param_mse"] = param_mse(self.estimate(wet), controls).mean()
        return out

    # --- evaluation ------------------------------------------------------------------------
    def test_sets(self, batch_size: int) -> dict[str, Iterable[Batch]]:
        return {"test": self.splits.batches("test", batch_size)}

    def test_set_info(self) -> dict[str, dict]:
        return {"test": self.splits.info("test")}

    def metric_specs(self) -> list[MetricSpec]:
        base = [PARAM_MSE] if self.same_chains else []
        base += [MetricSpec(name, description=f"{type(m).__name__} on standardized audio") for name, m in self._metrics.items()]
        base += [MetricSpec("mse", description="waveform MSE on standardized audio"), SI_SDR]
        return self.estimator_metric_specs(base)

    def evaluate_batch(self, batch: Batch, generator: torch.Generator) -> dict[str, dict[str, torch.Tensor]]:
        """Per-example metrics `(batch,)` of the model, of uniformly random controls and of the
        dry input used as the estimate ("none")."""
        dry, controls = batch["dry"], batch["controls"]
        wet = self.render_target(dry, controls)
        pair = torch.stack([dry, wet], dim=1)  # candidates are scored against (dry, target) pairs
        embedding = self.encoder(wet)
        shape = (dry.shape[0], self.evaluation["n_samples"], self.afx.n_params)
        uniform = torch.rand(shape, generator=generator).to(dry)
        results = {"none": self.audio_metrics(dry, wet)}
        if not self.probabilistic:
            results["model"] = self.metrics(self.head.mode(embedding), controls, pair)
            results["random"] = self.metrics(uniform[:, 0], controls, pair)
            return dict(sorted(results.items(), key=lambda kv: kv[0] != "model"))
        samples, log_q = self.head.sample_and_log_prob(embedding, shape[1])
        map_estimate = self.head.mode(embedding, self.evaluation["map_samples"])

        def render(estimate):  # a (dry, rendered) pair, the reference of the consistency scores
            return torch.stack([dry, self.afx(dry, estimate)], dim=1)

        results["model"] = self.candidates(self.metrics, samples, controls, pair, render, generator, log_q, map_estimate)
        results["random"] = self.candidates(self.metrics, uniform, controls, pair, render, generator, torch.zeros(shape[:2]).to(dry))
        return dict(sorted(results.items(), key=lambda kv: kv[0] != "model"))

    def metrics(self, estimate: torch.Tensor, controls: torch.Tensor, pair: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example metrics of control estimates `(M, d)`; `pair` is `(M, 2, samples)` (dry, target)."""
        out = self.audio_metrics(self.afx(pair[:, 0], estimate), pair[:, 1])
        if self.same_chains and estimate.shape == controls.shape:
            out = {"param_mse": param_mse(estimate, controls), **out}
        return out

    def audio_metrics(self, estimate: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Audio metrics `(M,)` on standardized signals (the waveform MSE then is scale-free)."""
        estimate, target = standardize(estimate), standardize(target)
        out = {name: metric.to(estimate.device).per_example(estimate, target) for name, metric in self._metrics.items()}
        out["mse"] = (estimate - target).square().mean(-1)
        out["si_sdr"] = si_sdr(estimate, target)
        return out

    def _build_fixed(self, split: str, size: int, seed: int) -> Batch:
        dry = peak_normalize(self.sources[split].fixed_crops(size, seed))
        controls = torch.rand(size, self.sfx.n_params, generator=torch.Generator().manual_seed(seed + 1))
        return {"dry": dry, "controls": controls}

    # --- TensorBoard -----------------------------------------------------------------------
    def log_media(self, writer, batch: Batch, step: int, n_examples: int = 2) -> None:
        dry, controls = batch["dry"][:n_examples], batch["controls"][:n_examples]
        with torch.no_grad():
            wet = self.render_target(dry, controls)
            estimate_controls = self.estimate(wet)
            estimate = self.afx(dry, estimate_controls)
        for i in range(dry.shape[0]):
            log_audio(writer, f"audio/dry_{i}", dry[i], self.sample_rate, step)
            log_audio(writer, f"audio/target_{i}", wet[i], self.sample_rate, step)
            log_audio(writer, f"audio/estimate_{i}", estimate[i], self.sample_rate, step)
        figure = spectrogram_figure({"target": wet[0], "estimate": estimate[0]}, self.sample_rate)
        writer.add_figure("figure/spectrogram", figure, step)
        for tag, figure in self.effect_figures(controls[:1], estimate_controls[:1]).items():
            writer.add_figure(tag, figure, step)

    def effect_figures(self, controls: torch.Tensor, estimate: torch.Tensor) -> dict:
        """EQ magnitude response and compressor gain curve, true (synthesis) against estimated
        (analysis), for one example; only for chains that hold such effects."""
        figures = {}
        freqs = torch.logspace(torch.log10(torch.tensor(20.0)), torch.log10(torch.tensor(0.49 * self.sample_rate)), 256)
        true_eq, est_eq = self.sfx.magnitude_response_db(controls, freqs), self.afx.magnitude_response_db(estimate, freqs)
        if true_eq is not None and est_eq is not None:
            curves = {"true (synthesis)": true_eq[0], "estimate (analysis)": est_eq[0]}
            figures["figure/eq_response"] = curves_figure(freqs, curves, "frequency (Hz)", "gain (dB)", log_x=True)
        levels = torch.linspace(-60.0, 0.0, 121)
        true_curve, est_curve = self.sfx.static_curve(controls, levels), self.afx.static_curve(estimate, levels)
        if true_curve is not None and est_curve is not None:
            curves = {"true (synthesis)": true_curve[0], "estimate (analysis)": est_curve[0], "identity": levels}
            figures["figure/compressor_curve"] = curves_figure(levels, curves, "input level (dB)", "output level (dB)")
        return figures
