"""FM sound matching (reference part A): audio of the FM synth → its 9 controls.

Composition only: random controls → synth → target audio → encoder → head → controls → synth →
audio loss against the target (or parameter loss against the true controls).
"""

from __future__ import annotations

import itertools
from typing import Callable, Iterable, Mapping

import torch
from torch import nn

from ddspfx.data.fm import fixed_fm_controls, sample_fm_controls
from ddspfx.eval.metrics import param_mse, param_mse_min_over, si_sdr
from ddspfx.tasks.base import Task
from ddspfx.train.logging import log_audio, spectrogram_figure

Batch = dict[str, torch.Tensor]


class FMTask(Task):
    """Sound matching of `FMSynth` controls from audio.

    Args:
        synth: an `FMSynth` (any synth whose controls follow the same 9-control layout).
        encoder: audio `(batch, samples)` → embedding `(batch, encoder.out_dim)`.
        head: a factory `head(in_dim, n_params)` (a Hydra partial) or a built module.
        loss: a loss with `domain` "audio" (called on rendered audio) or "params" (on controls).
        data: `skew_levels`, `valid_size`, `valid_seed`, `test_size`, `test_seed`.
        metrics: evaluation metrics {name: module with `per_example(estimate, target)`}; not saved
            in checkpoints.
    """

    def __init__(
        self,
        synth: nn.Module,
        encoder: nn.Module,
        head: nn.Module | Callable[[int, int], nn.Module],
        loss: nn.Module,
        data: Mapping,
        metrics: Mapping[str, nn.Module] | None = None,
    ):
        super().__init__()
        self.synth = synth
        self.encoder = encoder
        self.head = head if isinstance(head, nn.Module) else head(encoder.out_dim, synth.n_params)
        self.loss = loss
        self.data = dict(data)
        self._metrics = dict(metrics or {})

    # --- model -----------------------------------------------------------------------------
    def estimate(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio `(batch, samples)` → estimated controls `(batch, 9)`."""
        return self.head(self.encoder(audio))

    def render(self, controls: torch.Tensor) -> torch.Tensor:
        return self.synth(controls)

    # --- training --------------------------------------------------------------------------
    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        skew = self.data.get("skew_levels", True)
        return {"controls": sample_fm_controls(batch_size, generator, self.synth.n_params, skew)}

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        controls = batch["controls"]
        with torch.no_grad():
            target = self.render(controls)
        estimate = self.estimate(target)
        return {"loss": self.objective(estimate, controls, target)}

    def objective(self, estimate: torch.Tensor, controls: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if getattr(self.loss, "domain", "audio") == "params":
            return self.loss(estimate, controls)
        return self.loss(self.render(estimate), target)

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        return self._fixed_batches("valid", batch_size)

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        controls = batch["controls"]
        target = self.render(controls)
        estimate = self.estimate(target)
        return {
            "loss": self.objective(estimate, controls, target),
            "param_mse": param_mse(estimate, controls).mean(),
            "param_mse_perm": self.param_mse_perm(estimate, controls).mean(),
        }

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

    # --- evaluation ------------------------------------------------------------------------
    def test_sets(self, batch_size: int) -> dict[str, Iterable[Batch]]:
        return {"test": self._fixed_batches("test", batch_size)}

    def evaluate_batch(self, batch: Batch, generator: torch.Generator) -> dict[str, dict[str, torch.Tensor]]:
        """Per-example metrics `(batch,)` of each estimator: the model and uniform random controls."""
        controls = batch["controls"]
        target = self.render(controls)
        random = torch.rand(controls.shape, generator=generator).to(controls.device)
        estimates = {"model": self.estimate(target), "random": random}
        return {name: self.metrics(est, controls, target) for name, est in estimates.items()}

    def metrics(self, estimate: torch.Tensor, controls: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
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
        index = torch.arange(self.synth.n_params).unsqueeze(0)
        perms = [self.synth.permute_branches(index, order)[0].tolist() for order in itertools.permutations(range(3))]
        return param_mse_min_over(estimate, controls, perms)

    def _fixed_batches(self, split: str, batch_size: int) -> list[Batch]:
        size, seed = int(self.data[f"{split}_size"]), int(self.data[f"{split}_seed"])
        controls = fixed_fm_controls(size, seed, self.synth.n_params, self.data.get("skew_levels", True))
        return [{"controls": chunk} for chunk in controls.split(batch_size)]
