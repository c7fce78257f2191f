"""What the tasks that estimate processor controls from audio share (FM, mastering).

An encoder turns audio into an embedding and a head turns that into controls: a point estimate
or a distribution (`ParameterHead.probabilistic`). With a distribution the objective is

    L = E_q[L_task] − (β/d)·H[q],   β annealed per epoch by a `BetaSchedule`,

and checkpoints are chosen on E_q[L_task] alone, which the drifting β cannot fool.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from ddspfx.core.metrics import MetricSpec, higher_is_better, spec_table
from ddspfx.core.task import Task
from ddspfx.heads import BetaSchedule, HeadOutput, ParameterHead
from ddspfx.heads.candidates import candidate_metrics
from ddspfx.losses.base import PairLoss

POSTERIOR_TABLE = "posterior"
SI_SDR = MetricSpec("si_sdr", higher_is_better=True, unit="dB", description="scale-invariant SDR, target as reference")
PARAM_MSE = MetricSpec("param_mse", description="MSE of the normalized controls")


class ControlEstimationTask(Task):
    """A task whose model is `head(encoder(audio))`; subclasses call `init_estimator` first."""

    def init_estimator(
        self,
        encoder: nn.Module,
        head: ParameterHead | Callable[[int, int], ParameterHead],
        n_params: int,
        loss: PairLoss,
        beta: Mapping | None,
    ) -> None:
        """Register the encoder, the head (built as `head(encoder.out_dim, n_params)` when a
        factory), the loss and the β schedule when the head is probabilistic."""
        self.encoder = encoder
        self.head = head if isinstance(head, nn.Module) else head(encoder.out_dim, n_params)
        if not isinstance(self.head, ParameterHead):
            raise TypeError(f"{type(self).__name__}: head must be a ddspfx.heads.ParameterHead, got {type(self.head).__name__}")
        if not isinstance(loss, PairLoss):
            raise TypeError(f"{type(self).__name__}: loss must be a ddspfx.losses.PairLoss, got {type(loss).__name__}")
        self.loss = loss
        self.probabilistic = self.head.probabilistic
        self.beta_schedule = BetaSchedule(**beta) if self.probabilistic and beta else None
        self.beta = self.beta_schedule(0) if self.beta_schedule else 0.0

    @property
    def loss_on_controls(self) -> bool:
        """The loss compares control vectors (true controls as reference) rather than audio."""
        return self.loss.domain == "params"

    # --- model -----------------------------------------------------------------------------
    def estimate(self, audio: torch.Tensor) -> torch.Tensor:
        """Audio `(batch, samples)` → one control estimate `(batch, n_params)` (a posterior sample)."""
        return self.head.sample(self.encoder(audio), 1)[:, 0]

    def sample(self, audio: torch.Tensor, n: int) -> torch.Tensor:
        """`n` control vectors per input from q(controls | audio): `(batch, n, n_params)`."""
        return self.head.sample(self.encoder(audio), n)

    def map_estimate(self, audio: torch.Tensor, k: int = 10_000) -> torch.Tensor:
        """The most likely of `k` posterior samples (by log-density), `(batch, n_params)`."""
        return self.head.mode(self.encoder(audio), k)

    def head_output(self, embedding: torch.Tensor) -> HeadOutput:
        """The head's training output; a point estimate is one sample of weight 1 and entropy 0."""
        return self.head.training_output(embedding)

    # --- training --------------------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        if self.beta_schedule is not None:
            self.beta = self.beta_schedule(epoch)

    def weighted_loss(self, out: HeadOutput, estimate: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        """Σ_s w_s L(estimate_s, reference_s) averaged over the batch; `estimate` and `reference`
        hold the `(batch · samples)` flattened candidates of `out` (the plain batch loss for one)."""
        b, s = out.weights.shape
        if s == 1:
            return self.loss(estimate, reference)
        return (self.loss.per_example(estimate, reference).view(b, s) * out.weights).sum(-1).mean()

    def with_entropy(self, expected: torch.Tensor, out: HeadOutput) -> dict[str, torch.Tensor]:
        """`loss` = E_q[L] − (β/d)·H[q]; also `loss_audio` = E_q[L], `entropy` (nats) and `beta`.
        A point estimate's `loss` is E_q[L] alone."""
        if not self.probabilistic:
            return {"loss": expected}
        entropy = out.entropy.mean()
        total = expected - self.beta / out.samples.shape[-1] * entropy
        return {"loss": total, "loss_audio": expected.detach(), "entropy": entropy.detach(), "beta": self.beta}

    def validation_terms(self, terms: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The monitored `loss` is E_q[L] without the entropy term; the total and H are logged too."""
        out = {"loss": terms.get("loss_audio", terms["loss"])}
        if self.probabilistic:
            out.update(loss_total=terms["loss"], entropy=terms["entropy"])
        return out

    # --- evaluation ------------------------------------------------------------------------
    def candidates(self, score, samples, truth, reference, render, generator, log_q=None, map_estimate=None):
        """Per-example metrics of one distribution-valued estimator (see `candidate_metrics`)."""
        specs = spec_table(self.metric_specs())
        return candidate_metrics(
            score, samples, truth, reference, render, self.evaluation["best_of"], log_q, map_estimate, generator,
            higher_is_better=lambda name: bool(higher_is_better(name, specs)),
        )

    def estimator_metric_specs(self, base: Sequence[MetricSpec]) -> list[MetricSpec]:
        """The declarations of `base` and, for a distribution, of what `candidates` derives from
        them: `best_of_N/…` (N = 1…best_of), `consistency/…`, `map/…`, `h_mc`, `h_kl`, `mmd2`."""
        specs = list(base)
        if not self.probabilistic:
            return specs
        for n in range(1, self.evaluation["best_of"] + 1):
            specs += [s.derive(f"best_of_{n}", POSTERIOR_TABLE, f"best of {n} posterior samples") for s in base]
        specs += [s.derive("consistency", POSTERIOR_TABLE, "two posterior samples against each other") for s in base]
        specs += [s.derive("map", POSTERIOR_TABLE, "the most likely of map_samples samples") for s in base]
        return specs + [
            MetricSpec("h_mc", None, POSTERIOR_TABLE, "nats", "Monte-Carlo entropy −E log q"),
            MetricSpec("h_kl", None, POSTERIOR_TABLE, "nats", "Kozachenko–Leonenko entropy of the samples"),
            MetricSpec("mmd2", None, POSTERIOR_TABLE, "", "MMD² between posterior samples and uniform samples"),
        ]
