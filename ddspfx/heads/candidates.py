"""Scores of a posterior (or of any set of candidate controls) against the truth (reference A.11).

For each example, N candidate control vectors (posterior samples, or uniform draws for the random
baseline) are rendered and scored; this module turns those scores into the metrics of
`metrics.json`: the first sample's metrics, best-of-n, consistency between two samples, the MAP
estimate's metrics, and the diversity measures H_MC, H_KL (Kozachenko–Leonenko) and MMD² to the
uniform distribution.
"""

from __future__ import annotations

from typing import Callable

import torch

from ddspfx.heads.posterior import best_of_n, kozachenko_leonenko_entropy, mmd2

Scores = dict[str, torch.Tensor]
# score(estimate controls (M, d), true controls (M, d), target audio (M, samples)) → {metric: (M,)}
ScoreFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], Scores]


def score_samples(score: ScoreFn, samples: torch.Tensor, truth: torch.Tensor, target: torch.Tensor) -> Scores:
    """Score N candidates per example: samples `(B, N, d)` → {metric: `(B, N)`}."""
    b, n, d = samples.shape
    flat = score(samples.reshape(b * n, d), truth.repeat_interleave(n, 0), target.repeat_interleave(n, 0))
    return {name: values.view(b, n) for name, values in flat.items()}


def candidate_metrics(
    score: ScoreFn,
    samples: torch.Tensor,
    truth: torch.Tensor,
    target: torch.Tensor,
    render: Callable[[torch.Tensor], torch.Tensor],
    best_of: int = 10,
    log_q: torch.Tensor | None = None,
    map_estimate: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    higher_is_better: Callable[[str], bool] = lambda name: False,
) -> Scores:
    """All per-example metrics `(B,)` of one estimator.

    Args:
        score: see `ScoreFn`.
        samples: `(B, K, d)` candidates in draw order, K ≥ max(best_of, 2); all K feed H_KL and
            MMD², the first `best_of` are rendered and scored.
        truth: `(B, d)` true controls; target: `(B, samples)` their audio.
        render: controls `(M, d)` → audio `(M, samples)` (for the consistency pair).
        log_q: `(B, K)` log-densities of the samples (nats), for H_MC; None to skip it.
        map_estimate: `(B, d)` mode estimate, scored under `map/…`; None to skip it.
        generator: for the uniform reference samples of MMD².
        higher_is_better: metric name → whether the best of N is the largest value.
    """
    scores = score_samples(score, samples[:, :best_of], truth, target)
    out = {name: values[:, 0] for name, values in scores.items()}
    for name, values in scores.items():
        for n, best in best_of_n(values, range(1, best_of + 1), higher_is_better(name)).items():
            out[f"best_of_{n}/{name}"] = best
    first, second = samples[:, 0], samples[:, 1]
    for name, values in score(second, first, render(first)).items():
        out[f"consistency/{name}"] = values
    if map_estimate is not None:
        out.update({f"map/{name}": values for name, values in score(map_estimate, truth, target).items()})
    if log_q is not None:
        out["h_mc"] = -log_q.mean(-1)
    out["h_kl"] = kozachenko_leonenko_entropy(samples)
    uniform = torch.rand(samples.shape, generator=generator).to(samples)
    out["mmd2"] = mmd2(samples, uniform)
    return out
