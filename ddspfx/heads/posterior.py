"""Metrics of a posterior over normalized controls, computed from samples (reference A.10, A.11).

Every function is vectorized over the batch: one test example per row, K posterior samples of
d normalized controls each, so samples are `(batch, K, d)` and results are `(batch,)`.

- `best_of_n`: the best metric value among the first n posterior samples, for several n.
- `kozachenko_leonenko_entropy`: the 1-nearest-neighbour differential-entropy estimate (H_KL).
- `mmd2`: unbiased squared maximum mean discrepancy with the inverse-multiquadric kernel, e.g.
  between the posterior samples and as many U[0, 1]^d samples.
- `uniform_log_density`: log-density of the uniform "random model" on [0, 1]^d.
"""

from __future__ import annotations

import math
from typing import Iterable

import torch

_EXACT = "donot_use_mm_for_euclid_dist"  # exact pairwise distances: duplicates give exactly 0


def best_of_n(values: torch.Tensor, ns: Iterable[int] = range(1, 11), higher_is_better: bool = False) -> dict[int, torch.Tensor]:
    """Best value of a per-sample metric among the first n posterior samples, for each n in `ns`.

    Args:
        values: `(batch, N)` metric values of N posterior samples per example, in draw order.
        ns: the sample counts n to report, each in 1..N.
        higher_is_better: take the maximum instead of the minimum (e.g. SI-SDR).

    Returns:
        `{n: (batch,)}` with the minimum (or maximum) of `values[:, :n]`.
    """
    if values.dim() != 2:
        raise ValueError(f"best_of_n: values must be (batch, N), got shape {tuple(values.shape)}")
    n_samples = values.shape[1]
    ns = list(ns)
    bad = [n for n in ns if not 1 <= n <= n_samples]
    if bad:
        raise ValueError(f"best_of_n: n must lie in 1..{n_samples} (the number of samples), got {bad}")
    best = values.cummax(1).values if higher_is_better else values.cummin(1).values
    return {n: best[:, n - 1] for n in ns}


def _check_samples(name: str, samples: torch.Tensor) -> None:
    if samples.dim() != 3:
        raise ValueError(f"{name}: samples must be (batch, K, d), got shape {tuple(samples.shape)}")


def kozachenko_leonenko_entropy(samples: torch.Tensor, min_distance: float = 1e-10) -> torch.Tensor:
    """Kozachenko–Leonenko 1-nearest-neighbour estimate of the differential entropy, in nats.

        H ≈ ψ(K) − ψ(1) + log V_d + (d / K) Σ_i log R_i,   V_d = π^{d/2} / Γ(d/2 + 1)

    with ψ the digamma function, V_d the volume of the unit d-ball and R_i the Euclidean distance
    from sample i to its nearest other sample. The reference computes
    mean_i log(K R_i^d) + 0.577 + log V_d, i.e. log K + γ in place of ψ(K) − ψ(1) = ψ(K) + γ;
    since ψ(K) = log K − 1/(2K) + O(K⁻²), the two differ by about 1/(2K) nats.

    Args:
        samples: `(batch, K, d)` samples of one distribution per row, K ≥ 2.
        min_distance: floor on R_i so that duplicate samples (R_i = 0) keep the result finite.

    Returns:
        `(batch,)` entropy estimates in nats (bits = nats · log2 e).
    """
    _check_samples("kozachenko_leonenko_entropy", samples)
    _, k, d = samples.shape
    if k < 2:
        raise ValueError(f"kozachenko_leonenko_entropy: need at least 2 samples per row, got K={k}")
    distances = torch.cdist(samples, samples, compute_mode=_EXACT)
    self_mask = torch.eye(k, dtype=torch.bool, device=samples.device)
    nearest = distances.masked_fill(self_mask, math.inf).min(-1).values.clamp_min(min_distance)
    log_unit_ball = (d / 2) * math.log(math.pi) - math.lgamma(d / 2 + 1)
    constant = torch.special.digamma(torch.tensor(float(k), dtype=torch.float64)).item() + 0.5772156649015329
    return constant + log_unit_ball + d * nearest.log().mean(-1)


def mmd2(x: torch.Tensor, y: torch.Tensor, kernel: str = "imq", c: float | None = None) -> torch.Tensor:
    """Unbiased squared maximum mean discrepancy between two sample sets per row.

        MMD² = 1/(m(m−1)) Σ_{i≠j} k(x_i, x_j) + 1/(n(n−1)) Σ_{i≠j} k(y_i, y_j) − 2/(mn) Σ_{i,j} k(x_i, y_j)

    with the inverse-multiquadric kernel k(a, b) = C / (C + ‖a − b‖²). The within-set sums leave
    out the diagonal, so the estimate is unbiased and can be slightly negative when x and y
    come from the same distribution.

    Args:
        x: `(batch, m, d)` samples, e.g. posterior samples of normalized controls.
        y: `(batch, n, d)` samples, e.g. U[0, 1]^d draws; m, n ≥ 2.
        kernel: only "imq" (inverse multiquadric).
        c: the kernel scale C; d / 2 by default (reference A.11).

    Returns:
        `(batch,)` MMD² estimates (dimensionless; 0 for identical distributions).
    """
    _check_samples("mmd2 (x)", x)
    _check_samples("mmd2 (y)", y)
    if kernel != "imq":
        raise ValueError(f"mmd2: unknown kernel {kernel!r}; only 'imq' (inverse multiquadric) is implemented")
    if x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise ValueError(f"mmd2: x {tuple(x.shape)} and y {tuple(y.shape)} must share batch and d")
    m, n, d = x.shape[1], y.shape[1], x.shape[2]
    if m < 2 or n < 2:
        raise ValueError(f"mmd2: need at least 2 samples per set, got m={m}, n={n}")
    c = d / 2 if c is None else c

    def gram(a, b):
        return c / (c + torch.cdist(a, b, compute_mode=_EXACT).square())

    def within(a):
        k = a.shape[1]
        return (gram(a, a).sum((-2, -1)) - k) / (k * (k - 1))  # the diagonal k(a_i, a_i) = 1

    return within(x) + within(y) - 2 * gram(x, y).mean((-2, -1))


def uniform_log_density(samples: torch.Tensor) -> torch.Tensor:
    """Log-density of the uniform distribution on [0, 1]^d (the "random model"), in nats.

    Args:
        samples: `(batch, K, d)` normalized controls.

    Returns:
        `(batch, K)`: 0 inside the unit cube (density 1), −inf outside.
    """
    _check_samples("uniform_log_density", samples)
    inside = ((samples >= 0) & (samples <= 1)).all(-1)
    zeros = torch.zeros(inside.shape, dtype=samples.dtype, device=samples.device)
    return zeros.masked_fill(~inside, -math.inf)
