"""Heads: embedding `(batch, dim)` → controls `(batch, n_params)` in [0, 1] (or a distribution over them)."""

from ddspfx.heads.deterministic import SigmoidHead

__all__ = ["SigmoidHead"]
