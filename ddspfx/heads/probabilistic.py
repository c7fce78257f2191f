"""Probabilistic head: embedding e → reparameterized distribution q(v|e) over controls v ∈ (0,1)^d.

    c = Swish(Linear(e));  z ~ q0(z|e);  z' = T_c(z) (L flow steps);  v = sigmoid(z')

Training objective (peladeau.md A.1, A.7), built by the task from `HeadOutput`:

    loss = Σ_s weights_s · L_audio(f(samples_s), y)  −  (β/d) · entropy
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ddspfx.nn.mlp import FCBlock
from ddspfx.heads.base import BaseDistribution, BaseParams, make_base
from ddspfx.heads.entropy import sigmoid_log_det
from ddspfx.heads.flows import make_flow
from ddspfx.heads.head import HeadOutput, ParameterHead

ENTROPY_METHODS = ("auto", "closed", "pairwise", "mc")


def _plain(node: Any) -> Any:
    """Config node (dict / DictConfig / ListConfig) → plain Python containers."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, Sequence) and not isinstance(node, str):
        return [_plain(v) for v in node]
    return node


class ProbabilisticHead(ParameterHead):
    """Embedding `(B, in_dim)` → q(v|e) over controls `(d = n_params)` in (0, 1).

    Args:
        in_dim: embedding size.
        n_params: number of controls d.
        base: config node of the base, `{type: gaussian | gaussian_log | mog_full | mog_unif, ...}`
            (see `ddspfx.heads.base`), or a built `BaseDistribution`. Default `{type: gaussian}`.
        flow: config node `{type: dsf | nsf | maf, length: L, ...}` (see `ddspfx.heads.flows`);
            L = 0 (default) means sigmoid only.
        entropy: base-entropy estimate used in training: 'closed' (Gaussian), 'pairwise'
            (mixture lower bound), 'mc' (−log q0 at the training samples) or 'auto' (closed for
            the Gaussians, pairwise for the mixtures).
        context_dim: width of the flow context c = Swish(Linear(e)) (built only when L > 0).
        n_samples: training samples per example (per component for `mog_full`).
    """

    probabilistic = True

    def __init__(
        self, in_dim: int, n_params: int, base: Mapping | BaseDistribution | None = None,
        flow: Mapping | None = None, entropy: str = "auto", context_dim: int = 32, n_samples: int = 1,
    ):
        super().__init__()
        if entropy not in ENTROPY_METHODS:
            raise ValueError(f"head.entropy must be one of {ENTROPY_METHODS}, got {entropy!r}")
        if n_samples < 1:
            raise ValueError(f"head.n_samples must be >= 1, got {n_samples}")
        self.in_dim, self.n_params, self.n_samples = in_dim, n_params, n_samples
        self.base = base if isinstance(base, BaseDistribution) else make_base(in_dim, n_params, **_plain(base or {}))
        self.flow = make_flow(n_params, context_dim, **_plain(flow or {}))
        self.context = FCBlock(in_dim, context_dim) if self.flow is not None else None
        self.entropy_method = self.base.default_entropy if entropy == "auto" else entropy

    def push(self, e: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z `(B, S, d)` → v = sigmoid(T_c(z)) `(B, S, d)` and log|det ∂v/∂z| `(B, S)` (nats)."""
        b, s, d = z.shape
        flat, ladj = z.reshape(b * s, d), z.new_zeros(b * s)
        if self.flow is not None:
            c = self.context(e).repeat_interleave(s, dim=0)
            flat, ladj = self.flow(flat, c)
        ladj = ladj + sigmoid_log_det(flat)
        return torch.sigmoid(flat).view(b, s, d), ladj.view(b, s)

    def forward(self, e: torch.Tensor) -> HeadOutput:
        """Training path: reparameterized samples, their loss weights and the entropy estimate."""
        p = self.base(e)
        idx, weights = self.base.train_components(p, self.n_samples)
        z = self.base.rsample_at(p, idx)
        v, ladj = self.push(e, z)
        if self.entropy_method == "mc":
            h_base = -(weights * self.base.log_prob(p, z)).sum(-1)
        else:
            h_base = self.base.entropy(p, self.entropy_method)
        return HeadOutput(v, weights, h_base + (weights * ladj).sum(-1))

    def training_output(self, e: torch.Tensor) -> HeadOutput:
        return self(e)

    def _sample_and_log_prob(self, e: torch.Tensor, p: BaseParams, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.base.rsample_at(p, self.base.sample_components(p, n))
        v, ladj = self.push(e, z)
        return v, self.base.log_prob(p, z) - ladj

    def sample_and_log_prob(self, e: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """`n` posterior samples `(B, n, d)` (components drawn from π) and log q(v|e) `(B, n)` in nats:
        log q0(z) − log|det J| (flow and sigmoid)."""
        return self._sample_and_log_prob(e, self.base(e), n)

    def sample(self, e: torch.Tensor, n: int = 1) -> torch.Tensor:
        """`n` posterior samples `(B, n, d)` in (0, 1)."""
        return self.sample_and_log_prob(e, n)[0]

    def entropy_mc(self, e: torch.Tensor, n: int = 1000) -> torch.Tensor:
        """Monte-Carlo entropy −mean log q(v|e) over `n` samples, `(B,)` nats."""
        return -self.sample_and_log_prob(e, n)[1].mean(-1)

    @torch.no_grad()
    def mode(self, e: torch.Tensor, k: int = 10000, chunk: int = 1000) -> torch.Tensor:
        """Best-of-`k` "MAP": the sample of highest log q(v|e) among `k` draws, `(B, d)`.
        Draws `chunk` samples at a time to bound memory (B·chunk·K·d floats); no gradient."""
        p = self.base(e)
        rows = torch.arange(e.shape[0], device=e.device)
        best_v, best_lp = None, None
        for start in range(0, k, chunk):
            v, lp = self._sample_and_log_prob(e, p, min(chunk, k - start))
            lp_max, i = lp.max(dim=1)
            if best_v is None:
                best_v, best_lp = v[rows, i], lp_max
                continue
            better = lp_max > best_lp
            best_v = torch.where(better[:, None], v[rows, i], best_v)
            best_lp = torch.where(better, lp_max, best_lp)
        return best_v
