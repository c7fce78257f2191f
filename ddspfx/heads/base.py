"""Base distributions q0(z | e) over z ∈ R^d, reparameterized (peladeau.md A.5).

Every base is a diagonal Gaussian mixture with `K` components (`K = 1` for the Gaussians);
`forward(e)` returns its `BaseParams` and the other methods take those parameters, so one
encoder pass serves training samples, posterior samples and entropies.

| `type`         | class              | σ                                     | weights π                  |
|----------------|--------------------|---------------------------------------|----------------------------|
| `gaussian`     | `GaussianBase`     | softplus(Lin e) + `sigma_floor`       | –                          |
| `gaussian_log` | `GaussianLogBase`  | ln σ = 2 − softplus (taslp), −4 + 6·sigmoid (spl) | – |
| `mog_full`     | `MixtureFullBase`  | softplus + 0.01 (or 3·sigmoid + floor) | softmax(Lin e), or sigmoid_softmax |
| `mog_unif`     | `MixtureUnifBase`  | softplus + 1e-4 (or 3·sigmoid + floor) | 1/K                        |
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass
from typing import Any, Mapping

import torch
import torch.nn.functional as F
from torch import nn

from ddspfx.heads.entropy import gaussian_entropy, log_softplus, mixture_log_prob, pairwise_entropy_bound


@dataclass
class BaseParams:
    """Parameters of q0(z|e): `mu`, `log_sigma` `(B, K, d)` and normalized `log_pi` `(B, K)`."""

    mu: torch.Tensor
    log_sigma: torch.Tensor
    log_pi: torch.Tensor


def _log_sigma(raw: torch.Tensor, sigma: str, floor: float) -> torch.Tensor:
    """log σ from raw linear outputs: 'softplus' → softplus(raw) + floor; 'sigmoid' → 3·sigmoid(raw) + floor (SPL)."""
    if sigma == "softplus":
        return log_softplus(raw) if floor == 0 else torch.log(F.softplus(raw) + floor)
    if sigma == "sigmoid":
        return torch.log(3.0 * torch.sigmoid(raw) + floor)
    raise ValueError(f"head.base.sigma must be 'softplus' or 'sigmoid', got {sigma!r}")


class BaseDistribution(nn.Module):
    """Common machinery of the diagonal-Gaussian-mixture bases; subclasses implement `forward`
    and `train_components`. `default_entropy` is what `entropy='auto'` uses."""

    default_entropy = "pairwise"

    def __init__(self, n_params: int, components: int):
        super().__init__()
        self.n_params, self.components = n_params, components

    def forward(self, e: torch.Tensor) -> BaseParams:  # pragma: no cover - abstract
        raise NotImplementedError

    def train_components(self, p: BaseParams, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Component index `(B, S)` (long) and loss weights `(B, S)` of the training samples."""
        raise NotImplementedError

    def sample_components(self, p: BaseParams, n: int) -> torch.Tensor:
        """`(B, n)` component indices drawn from π (no gradient)."""
        if self.components == 1:
            return torch.zeros(p.mu.shape[0], n, dtype=torch.long, device=p.mu.device)
        return torch.multinomial(p.log_pi.detach().exp(), n, replacement=True)

    @staticmethod
    def rsample_at(p: BaseParams, idx: torch.Tensor) -> torch.Tensor:
        """Reparameterized z = μ_k + σ_k ⊙ ε at components `idx` `(B, S)` → `(B, S, d)`."""
        gather = idx[..., None].expand(-1, -1, p.mu.shape[-1])
        mu, log_sigma = p.mu.gather(1, gather), p.log_sigma.gather(1, gather)
        return mu + log_sigma.exp() * torch.randn_like(mu)

    @staticmethod
    def log_prob(p: BaseParams, z: torch.Tensor) -> torch.Tensor:
        """log q0(z|e) `(B, S)` in nats at `z` `(B, S, d)` (log-space mixture)."""
        return mixture_log_prob(z, p.mu, p.log_sigma, p.log_pi)

    def entropy(self, p: BaseParams, method: str) -> torch.Tensor:
        """`(B,)` entropy of q0 in nats: 'closed' (K = 1 only) or 'pairwise' (lower bound)."""
        if method == "closed":
            if self.components != 1:
                raise ValueError("head.entropy='closed' needs a single Gaussian; use 'pairwise' or 'mc'")
            return gaussian_entropy(p.log_sigma[:, 0])
        if method == "pairwise":
            return pairwise_entropy_bound(p.mu, p.log_sigma, p.log_pi)
        raise ValueError(f"unknown base entropy method {method!r}")

    @staticmethod
    def _uniform_weights(ref: torch.Tensor, n: int) -> torch.Tensor:
        """`(B, n)` weights 1/n with the batch size, dtype and device of `ref` `(B, ...)`."""
        return torch.full((ref.shape[0], n), 1.0 / n, dtype=ref.dtype, device=ref.device)


class GaussianBase(BaseDistribution):
    """N(μ, diag σ²) with μ = Lin(e), σ = softplus(Lin(e)) + `sigma_floor`.

    `sigma_floor` defaults to 0 (TASLP parity: σ may shrink without bound); a small floor such
    as 1e-4 keeps the entropy bonus from driving log σ to −∞."""

    default_entropy = "closed"

    def __init__(self, in_dim: int, n_params: int, sigma_floor: float = 0.0):
        super().__init__(n_params, 1)
        self.linear = nn.Linear(in_dim, 2 * n_params)
        self.sigma_floor = sigma_floor

    def _raw_log_sigma(self, raw: torch.Tensor) -> torch.Tensor:
        return _log_sigma(raw, "softplus", self.sigma_floor)

    def forward(self, e: torch.Tensor) -> BaseParams:
        mu, raw = self.linear(e).unsqueeze(1).chunk(2, dim=-1)  # (B, 1, d) each
        log_pi = torch.zeros(e.shape[0], 1, dtype=e.dtype, device=e.device)
        return BaseParams(mu, self._raw_log_sigma(raw), log_pi)

    def train_components(self, p: BaseParams, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.sample_components(p, n), self._uniform_weights(p.mu, n)


class GaussianLogBase(GaussianBase):
    """N(μ, diag σ²) with a bounded log σ: `bound='taslp'` ln σ = 2 − softplus(Lin e) (σ ≤ e²),
    `bound='spl'` ln σ = −4 + 6·sigmoid(Lin e) (σ ∈ (e⁻⁴, e²))."""

    def __init__(self, in_dim: int, n_params: int, bound: str = "taslp"):
        if bound not in ("taslp", "spl"):
            raise ValueError(f"head.base.bound must be 'taslp' or 'spl', got {bound!r}")
        super().__init__(in_dim, n_params)
        self.bound = bound

    def _raw_log_sigma(self, raw: torch.Tensor) -> torch.Tensor:
        if self.bound == "taslp":
            return 2.0 - F.softplus(raw)
        return -4.0 + 6.0 * torch.sigmoid(raw)


class _MixtureBase(BaseDistribution):
    """K diagonal Gaussians: μ_k = Lin(e), σ_k from `sigma` ('softplus' | 'sigmoid') + `sigma_floor`."""

    def __init__(self, in_dim: int, n_params: int, components: int, sigma: str, sigma_floor: float, n_logits: int):
        super().__init__(n_params, components)
        _log_sigma(torch.zeros(1), sigma, sigma_floor)  # validates `sigma`
        self.sigma, self.sigma_floor = sigma, sigma_floor
        self.linear = nn.Linear(in_dim, 2 * components * n_params + n_logits)

    def _split(self, e: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """`(B, in_dim)` → μ `(B, K, d)`, log σ `(B, K, d)`, raw logits `(B, n_logits)`."""
        k, d = self.components, self.n_params
        out = self.linear(e)
        mu, raw = out[:, : 2 * k * d].view(-1, k, 2 * d).chunk(2, dim=-1)
        return mu, _log_sigma(raw, self.sigma, self.sigma_floor), out[:, 2 * k * d :]


class MixtureFullBase(_MixtureBase):
    """Mixture with learned weights; training draws one sample per component, weighted by π_k
    (the exact expectation over the discrete component; gradients reach π).

    `weights='softmax'` (default): π = softmax(Lin e) over free logits.
    `weights='sigmoid_softmax'` (TASLP parity only): π = softmax(sigmoid(Lin e)); the logits lie
    in (0, 1), so the weight ratio is bounded by e and no component can be switched off
    (K = 6: π ∈ [1/(1 + 5e), e/(e + 5)] = [0.0685, 0.3522])."""

    def __init__(
        self, in_dim: int, n_params: int, components: int = 6, weights: str = "softmax",
        sigma: str = "softplus", sigma_floor: float = 0.01,
    ):
        if weights not in ("softmax", "sigmoid_softmax"):
            raise ValueError(f"head.base.weights must be 'softmax' or 'sigmoid_softmax', got {weights!r}")
        super().__init__(in_dim, n_params, components, sigma, sigma_floor, n_logits=components)
        self.weights = weights

    def forward(self, e: torch.Tensor) -> BaseParams:
        mu, log_sigma, logits = self._split(e)
        if self.weights == "sigmoid_softmax":
            logits = torch.sigmoid(logits)
        return BaseParams(mu, log_sigma, torch.log_softmax(logits, dim=-1))

    def train_components(self, p: BaseParams, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """S = K·n: each component `n` times, weight π_k / n."""
        b, k = p.log_pi.shape
        idx = torch.arange(k, device=p.mu.device).repeat(n).expand(b, -1)
        return idx, p.log_pi.exp().repeat(1, n) / n


class MixtureUnifBase(_MixtureBase):
    """Mixture with fixed weights 1/K; training draws `n` samples, each from a uniformly drawn
    component (no gradient is needed through the choice)."""

    def __init__(
        self, in_dim: int, n_params: int, components: int = 6, sigma: str = "softplus", sigma_floor: float = 1e-4
    ):
        super().__init__(in_dim, n_params, components, sigma, sigma_floor, n_logits=0)

    def forward(self, e: torch.Tensor) -> BaseParams:
        mu, log_sigma, _ = self._split(e)
        log_pi = torch.full(mu.shape[:2], -math.log(self.components), dtype=mu.dtype, device=mu.device)
        return BaseParams(mu, log_sigma, log_pi)

    def train_components(self, p: BaseParams, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.randint(self.components, (p.mu.shape[0], n), device=p.mu.device)
        return idx, self._uniform_weights(p.mu, n)


BASES = {
    "gaussian": GaussianBase,
    "gaussian_log": GaussianLogBase,
    "mog_full": MixtureFullBase,
    "mog_unif": MixtureUnifBase,
}


def check_keys(cls: type, kwargs: Mapping[str, Any], where: str) -> None:
    """Raise a ValueError naming the config node when `kwargs` has keys `cls` does not accept."""
    accepted = set(inspect.signature(cls).parameters) - {"in_dim", "n_params", "context_dim", "self"}
    unknown = sorted(set(kwargs) - accepted)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} for {cls.__name__}; accepted {sorted(accepted)}")


def make_base(in_dim: int, n_params: int, type: str = "gaussian", **kwargs: Any) -> BaseDistribution:
    """Build a base from its config node `{type: gaussian | gaussian_log | mog_full | mog_unif, ...}`."""
    if type not in BASES:
        raise ValueError(f"head.base.type must be one of {sorted(BASES)}, got {type!r}")
    check_keys(BASES[type], kwargs, "head.base")
    return BASES[type](in_dim, n_params, **kwargs)
