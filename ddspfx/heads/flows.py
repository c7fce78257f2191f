"""Conditional normalizing flows z → z' on R^d (peladeau.md A.6).

A flow module is called `flow(z, c)` with z `(N, d)` and context c `(N, context_dim)` and returns
`(z', log|det ∂z'/∂z|)` with shapes `(N, d)` and `(N,)` (nats). The final sigmoid is not part of it.

- `DSFFlow`: the conditional deep sigmoidal flow of Huang et al. 2018 (NAF), `length` steps with
  the order of the dimensions reversed between steps.
- `ZukoFlow`: zuko's conditional NSF or MAF transform (its data → noise direction, a single
  autoregressive pass) used as the map z → z', with zuko's log-determinant.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ddspfx.nn.mlp import ResBlock, Swish
from ddspfx.heads.base import check_keys
from ddspfx.heads.entropy import log_softplus


class MaskedLinear(nn.Linear):
    """Linear layer whose weight is multiplied by a fixed 0/1 `mask` `(out, in)` at every call."""

    def __init__(self, mask: torch.Tensor, bias: bool = True):
        super().__init__(mask.shape[1], mask.shape[0], bias=bias)
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_masks(d: int, units: int, per_dim: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MADE masks for a conditioner whose `per_dim` outputs of dimension i see only z_0..z_{i-1}.

    Input j has degree j + 1, hidden unit k degree m_k = 1 + k mod (d − 1), output block i degree
    i + 1; a hidden unit sees inputs with degree ≤ m_k and feeds outputs with degree > m_k, so every
    z_j with j < i (z_{i-1} included) reaches output i.

    Returns:
        input mask `(units, d)`, output mask `(d·per_dim, units)`, strictly-lower skip mask `(d·per_dim, d)`.
    """
    deg_in = torch.arange(1, d + 1)
    deg_hidden = 1 + torch.arange(units) % max(d - 1, 1)
    deg_out = deg_in.repeat_interleave(per_dim)
    mask_in = deg_hidden[:, None] >= deg_in[None, :]
    mask_out = deg_out[:, None] > deg_hidden[None, :]
    mask_skip = deg_out[:, None] > deg_in[None, :]
    return mask_in, mask_out, mask_skip


class DSFStep(nn.Module):
    """One conditional deep-sigmoidal step, applied to each dimension i with H hidden sigmoids:

        S_i = Σ_h w_ih σ(a_ih z_i + b_ih),  a = softplus(A), w = softmax_h(W)
        S_i ← 0.5 + (S_i − 0.5)(1 − eps)          (SPL guard; |z'| ≤ ln((2 − eps)/eps))
        z'_i = logit(S_i) = log S_i − log(1 − S_i)
        [A, B, W]_i = g(z_<i)_i + h(c)_i + bias_i

    S and 1 − S = Σ_h w σ(−·) are computed by logsumexp, so the logit and the log-determinant

        log|∂z'_i/∂z_i| = log Σ_h w a σ'(a z_i + b) + log(1 − eps) − log S_i − log(1 − S_i)

    are finite without clamping. g is a MADE conditioner (masked hidden layer of `made_units`
    Swish units plus a strictly-lower-triangular masked skip layer) in which dimension i depends
    on all of z_0..z_{i-1}; h(c) = ResBlock(context) → Linear(context → d·3H, no bias).

    Init: the hidden masked layer keeps PyTorch's default init; the two layers that produce g's
    output start at zero when `zero_init` (the step first depends on c only, as in the reference,
    but their gradients are non-zero, so the dependence on z_<i is learned). The biases start at
    randn / H (SPL).
    """

    def __init__(
        self, n_params: int, context_dim: int, hidden: int = 8, made_units: int | None = None,
        eps: float = 1e-4, zero_init: bool = True,
    ):
        super().__init__()
        if not 0.0 <= eps < 1.0:
            raise ValueError(f"head.flow.eps must be in [0, 1), got {eps}")
        d, self.hidden, self.eps = n_params, hidden, eps
        units = made_units or 4 * max(d, 2)
        mask_in, mask_out, mask_skip = made_masks(d, units, 3 * hidden)
        self.made_in, self.made_act = MaskedLinear(mask_in), Swish(units)
        self.made_out, self.skip = MaskedLinear(mask_out, bias=False), MaskedLinear(mask_skip, bias=False)
        self.context = nn.Sequential(ResBlock(context_dim), nn.Linear(context_dim, 3 * d * hidden, bias=False))
        self.bias = nn.Parameter(torch.randn(3 * d * hidden) / hidden)
        if zero_init:
            nn.init.zeros_(self.made_out.weight)
            nn.init.zeros_(self.skip.weight)

    def conditioner(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """z `(N, d)`, c `(N, context)` → A, B, W, each `(N, d, H)`."""
        g = self.made_out(self.made_act(self.made_in(z))) + self.skip(z)
        params = g + self.context(c) + self.bias
        return params.view(z.shape[0], z.shape[1], 3, self.hidden).unbind(2)

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        a_raw, b, w_raw = self.conditioner(z, c)
        pre = F.softplus(a_raw) * z[..., None] + b
        log_w = torch.log_softmax(w_raw, dim=-1)
        log_s = torch.logsumexp(log_w + F.logsigmoid(pre), dim=-1)
        log_1ms = torch.logsumexp(log_w + F.logsigmoid(-pre), dim=-1)
        log_keep = math.log1p(-self.eps)
        if self.eps > 0:
            log_half_eps = math.log(self.eps / 2)
            log_s = torch.logaddexp(log_s + log_keep, torch.full_like(log_s, log_half_eps))
            log_1ms = torch.logaddexp(log_1ms + log_keep, torch.full_like(log_1ms, log_half_eps))
        log_dsig = log_w + log_softplus(a_raw) + F.logsigmoid(pre) + F.logsigmoid(-pre)
        ladj = torch.logsumexp(log_dsig, dim=-1) + log_keep - log_s - log_1ms
        return log_s - log_1ms, ladj.sum(-1)


class DSFFlow(nn.Module):
    """`length` DSF steps; the dimensions are reversed (flip, log-det 0) between consecutive steps."""

    def __init__(self, n_params: int, context_dim: int, length: int = 1, **step_kwargs: Any):
        super().__init__()
        self.steps = nn.ModuleList(DSFStep(n_params, context_dim, **step_kwargs) for _ in range(length))

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        ladj = z.new_zeros(z.shape[0])
        for i, step in enumerate(self.steps):
            if i > 0:
                z = z.flip(-1)
            z, step_ladj = step(z, c)
            ladj = ladj + step_ladj
        return z, ladj


class ZukoFlow(nn.Module):
    """zuko's conditional `NSF` or `MAF` with `transforms = length`; extra keys (`hidden_features`,
    `bins`, `randperm`, `passes`, …) go to the zuko constructor. Only the lazy transform is kept;
    zuko's own Gaussian base is unused (ours is reparameterized and may be a mixture).

    NSF splines act on [−5, 5] and are the identity outside it (zuko's convention)."""

    def __init__(self, n_params: int, context_dim: int, kind: str = "nsf", length: int = 1, **kwargs: Any):
        super().__init__()
        import zuko

        cls = {"nsf": zuko.flows.NSF, "maf": zuko.flows.MAF}[kind]
        self.transform = cls(n_params, context_dim, transforms=length, **kwargs).transform

    def forward(self, z: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(c).call_and_ladj(z)


DSF_ONLY_KEYS = ("hidden",)  # sigmoids per dimension of a DSF step; zuko flows take hidden_features


def make_flow(n_params: int, context_dim: int, type: str = "dsf", length: int = 0, **kwargs: Any) -> nn.Module | None:
    """Build the flow from its config node `{type: dsf | nsf | maf, length: L, ...}`; None when L = 0.

    The head presets carry the DSF key `hidden`; an NSF or MAF flow ignores it (so that
    `head.flow.type=nsf` works on any preset) and takes zuko's own keys (`hidden_features`, `bins`, …).
    """
    if length < 0:
        raise ValueError(f"head.flow.length must be >= 0, got {length}")
    if type not in ("dsf", "nsf", "maf"):
        raise ValueError(f"head.flow.type must be 'dsf', 'nsf' or 'maf', got {type!r}")
    if length == 0:
        return None
    if type == "dsf":
        check_keys(DSFStep, kwargs, "head.flow")
        return DSFFlow(n_params, context_dim, length, **kwargs)
    zuko_kwargs = {k: v for k, v in kwargs.items() if k not in DSF_ONLY_KEYS}
    try:
        return ZukoFlow(n_params, context_dim, type, length, **zuko_kwargs)
    except TypeError as error:
        raise ValueError(f"head.flow: a zuko {type.upper()} does not accept {sorted(zuko_kwargs)}: {error}") from None
