"""FM sound matching (reference part A): audio of the FM synth → its 9 controls, or a distribution.

Composition only: random controls → synth → target audio → encoder → head → controls → synth →
audio loss against the target (or parameter loss against the true controls). With a probabilistic
head the objective is the expected loss under q minus (β/d)·H[q], β annealed per epoch (A.7).
"""

from __future__ import annotations

from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from ddspfx.data.dx7 import load_presets
from ddspfx.data.fm import fixed_fm_controls, sample_fm_controls
from ddspfx.core.media import log_audio, posterior_scatter_figure, spectrogram_figure
from ddspfx.core.metrics import MetricSpec
from ddspfx.core.splits import FixedSplits
from ddspfx.heads import HeadOutput
from ddspfx.losses.metrics import param_mse, param_mse_min_over, si_sdr
from ddspfx.tasks.estimation import PARAM_MSE, SI_SDR, ControlEstimationTask

Batch = dict[str, torch.Tensor]

DEFAULT_EVAL = {"best_of": 10, "n_samples": 100, "map_samples": 1000}


class FMTask(ControlEstimationTask):
    """Sound matching of `FMSynth` controls from audio, with a point or a distribution estimate.

    Args:
        synth: an `FMSynth` (any synth whose controls follow the same 9-control layout).
        encoder: audio `(batch, samples)` → embedding `(batch, encoder.out_dim)`.
        head: a factory `head(in_dim, n_params)` (a Hydra partial) or a built module: a
            `SigmoidHead` (point estimate) or a `ProbabilisticHead` (distribution).
        loss: a `PairLoss` with `domain` "audio" (on rendered audio) or "params" (on controls).
        data: `skew_levels`, `valid_size`, `valid_seed`, `test_size`, `test_seed`, and optionally
            `presets` (DX7 .syx cartridges: an extra test set of real voices).
        metrics: evaluation metrics {name: module with `per_example(estimate, target)`}; not saved
            in checkpoints.
        beta: `{start, end, warmup}` of the entropy weight (probabilistic heads only).
        evaluation: `best_of` (N of best-of-N), `n_samples` (posterior samples per example for
            H_MC, H_KL, MMD²), `map_samples` (K of the best-of-K MAP).
    """

    def __init__(
        self,
        synth: nn.Module,
        encoder: nn.Module,
        head: nn.Module | Callable[[int, int], nn.Module],
        loss: nn.Module,
        data: Mapping,
        metrics: Mapping[str, nn.Module] | None = None,
        beta: Mapping | None = None,
        evaluation: Mapping | None = None,
    ):
        super().__init__()
        self.synth = synth
        self.init_estimator(encoder, head, synth.n_params, loss, beta)
        self.data = dict(data)
        self.splits = FixedSplits(self.data, self._build_fixed)
        self._metrics = dict(metrics or {})
        self.evaluation = {**DEFAULT_EVAL, **dict(evaluation or {})}
        self.branch_permutations = synth.equivalent_permutations()

    # --- model -----------------------------------------------------------------------------
    def render(self, controls: torch.Tensor) -> torch.Tensor:
        return self.synth(controls)

    # --- training --------------------------------------------------------------------------
    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        skew = self.data.get("skew_levels", True)
        return {"controls": sample_fm_controls(batch_size, generator, self.synth.n_params, skew)}

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        return self.objective(batch["controls"])

    def objective(self, controls: torch.Tensor, target: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """`loss` = E_q[L] − (β/d)·H[q]; also `loss_audio` = E_q[L], `entropy` (nats) and `beta`.
        `target` is the audio of `controls`, rendered here unless given."""
        if target is None:
            with torch.no_grad():
                target = self.render(controls)
        out = self.head_output(self.encoder(target))
        return self.with_entropy(self.expected_loss(out, controls, target), out)

    def expected_loss(self, out: HeadOutput, controls: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Σ_s w_s L(sample_s) averaged over the batch (the plain batch loss for one sample)."""
        b, s, d = out.samples.shape
        estimate = out.samples.reshape(b * s, d)
        if self.loss_on_controls:
            return self.weighted_loss(out, estimate, controls.repeat_interleave(s, 0))
        return self.weighted_loss(out, self.render(estimate), target.repeat_interleave(s, 0))

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        return self.splits.batches("valid", batch_size)

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """`loss` is the audio loss alone, so that the drifting β cannot fool checkpoint selection."""
        controls = batch["controls"]
        target = self.render(controls)
        out = self.validation_terms(self.objective(controls, target))
        estimate = self.estimate(target)
        out["param_mse"] = param_mse(estimate, controls).mean()
        out["param_mse_perm"] = self.param_mse_perm(estimate, controls).mean()
        return out

    def log_media(self, writer, batch: Batch, step: int, n_examples: int = 2) -> None:
        controls = batch["controls"][:n_examples]
        with torch.no_grad():
            target = self.render(controls)
            estimate = self.render(self.estimate(target))
        rate = self.synth.sample_rate
        for i in range(controls.shape[0]):
            log_audio(writer, f"audio/target_{i}", target[i], rate, step)
            log_audio(writer, f"audio/estimate_{i}", estimate[i], rate, step)
        figure = spectrogram_figure({"target": target[0], "estimate": estimate[0]}, rate)
        writer.add_figure("figure/spectrogram", figure, step)
        if self.probabilistic:
            samples = self.head.sample(self.encoder(target[:1]), 256)[0]
            names = self.synth.param_names
            pairs = [(0, 1), (1, 6), (2, 3), (3, 7)]
            writer.add_figure("figure/posterior", posterior_scatter_figure(samples, controls[0], names, pairs), step)

    # --- evaluation ------------------------------------------------------------------------
    def test_sets(self, batch_size: int) -> dict[str, Iterable[Batch]]:
        sets = {"test": self.splits.batches("test", batch_size)}
        presets = self.data.get("presets")
        if presets:
            controls = self.synth.normalize(**load_presets(list(presets), self.synth.ratio_min, self.synth.ratio_max))
            sets["presets"] = [{"controls": chunk} for chunk in controls.split(batch_size)]
        return sets

    def evaluate_batch(self, batch: Batch, generator: torch.Generator) -> dict[str, dict[str, torch.Tensor]]:
        """Per-example metrics `(batch,)` of the model and of uniformly random controls.

        A probabilistic model and the uniform baseline are scored as distributions (best-of-N,
        MAP, consistency, H_MC, H_KL, MMD²); a point estimate against one uniform draw."""
        controls = batch["controls"]
        target = self.render(controls)
        embedding = self.encoder(target)
        shape = (controls.shape[0], self.evaluation["n_samples"], controls.shape[1])
        uniform = torch.rand(shape, generator=generator).to(controls)
        if not self.probabilistic:  # a point estimate against one uniform draw
            point = self.head.mode(embedding)
            return {"model": self.metrics(point, controls, target), "random": self.metrics(uniform[:, 0], controls, target)}
        samples, log_q = self.head.sample_and_log_prob(embedding, shape[1])
        map_estimate = self.head.mode(embedding, self.evaluation["map_samples"])
        zeros = torch.zeros(shape[:2]).to(controls)
        return {
            "model": self.candidates(self.metrics, samples, controls, target, self.render, generator, log_q, map_estimate),
            "random": self.candidates(self.metrics, uniform, controls, target, self.render, generator, zeros),
        }

    def metric_specs(self) -> list[MetricSpec]:
        base = [PARAM_MSE, MetricSpec("param_mse_perm", description="param_mse after the best of the equivalent orderings")]
        base += [MetricSpec(name, description=f"{type(m).__name__} between the rendered estimate and the target") for name, m in self._metrics.items()]
        return self.estimator_metric_specs([*base, SI_SDR])

    def test_set_info(self) -> dict[str, dict]:
        info = {"test": self.splits.info("test")}
        if self.data.get("presets"):
            info["presets"] = {"cartridges": [str(p) for p in self.data["presets"]]}
        return info

    def metrics(self, estimate: torch.Tensor, controls: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-example metrics of control estimates `(M, 9)` against the truth and its audio."""
        audio = self.render(estimate)
        out = {
            "param_mse": param_mse(estimate, controls),
            "param_mse_perm": self.param_mse_perm(estimate, controls),
        }
        for name, metric in self._metrics.items():
            out[name] = metric.to(audio.device).per_example(audio, target)
        out["si_sdr"] = si_sdr(audio, target)
        return out

    def param_mse_perm(self, estimate: torch.Tensor, controls: torch.Tensor) -> torch.Tensor:
        """Parameter MSE after the best of the 6 orderings of the three modulator→carrier pairs."""
        return param_mse_min_over(estimate, controls, self.branch_permutations)

    def _build_fixed(self, split: str, size: int, seed: int) -> Batch:
        return {"controls": fixed_fm_controls(size, seed, self.synth.n_params, self.data.get("skew_levels", True))}
