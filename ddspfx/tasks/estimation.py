"""What the tasks that estimate processor controls from audio share (FM, mastering).

An encoder turns audio into an embedding and a head turns that into controls: a point estimate
(a `SigmoidHead`) or a distribution (a `ProbabilisticHead`). With a distribution the objective is

    L = E_q[L_task] − (β/d)·H[q],   β annealed per epoch by a `BetaSchedule`,

and checkpoints are chosen on E_q[L_task] alone, which the drifting β cannot fool.
"""

from __future__ import annotations

from typing import Callable, Mapping

import torch
from torch import nn

from ddspfx.heads import BetaSchedule, HeadOutput
from ddspfx.tasks.base import Task


class ControlEstimationTask(Task):
    """A task whose model is `head(encoder(audio))`; subclasses call `init_estimator` first."""

    def init_estimator(
        self,
        encoder: nn.Module,
        head: nn.Module | Callable[[int, int], nn.Module],
        n_params: int,
        beta: Mapping | None,
    ) -> None:
        """Register the encoder and the head (built as `head(encoder.out_dim, n_params)` when a
        factory), and the β schedule when the head is probabilistic."""
        self.encoder = encoder
        self.head = head if isinstance(head, nn.Module) else head(encoder.out_dim, n_params)
        self.probabilistic = hasattr(self.head, "sample_and_log_prob")
        self.beta_schedule = BetaSchedule(**beta) if self.probabilistic and beta else None
        self.beta = self.beta_schedule(0) if self.beta_schedule else 0.0

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
        if self.probabilistic:
            return self.head(embedding)
        point = self.head(embedding).unsqueeze(1)
        return HeadOutput(point, point.new_ones(point.shape[:2]), point.new_zeros(point.shape[0]))

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
