"""The grain VAE's decoder as a synth (textures §5): a latent z → TexEnv controls → a grain of audio.

    z (D,)  →  TexDSPDecoder (mlp → sigmoid heads)  →  controls (2·N·K,) in (0, 1)  →  TexEnvSynth  →  (L,)

The P-VAE synth places such grains ("atoms") at the events of a texture. Its decoder is trained
as the decoder of a real VAE (`ddspfx.encoders.grains.GrainEncoder` gives q(z|x) = N(μ, diag σ²),
the loss is reconstruction + β·KL toward N(0, I)), so the latents it saw in training follow the
prior. Inference therefore draws from that prior too: the controls of `GrainSynth` map [0, 1] to a
standard normal truncated to ±`latent_range` σ (ParamSpec scale "normal"), and `sample` draws from
it. (The reference's final "VAE" was a deterministic autoencoder with codes in (0, 1)², queried
over (−2, 2)², outside the trained range: §5, §7.)

Reference grains: 17640 samples (0.40 s) truncated to 16384, water model N = 16 bands; here the
synth renders 16384 samples directly (K = 64 envelope coefficients by default: envelopes
band-limited to 63·44100/16384 ≈ 170 Hz).

The constructor arguments travel in the state_dict (`get_extra_state`), so a trained grain model
rebuilds from its weights alone: `GrainSynth.from_state_dict(state)`, or `load_grain_synth(run)`
from a training run of the grain task (which holds its GrainSynth as attribute `grains`).
"""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from ddspfx.core.checkpoint import CheckpointError, find_checkpoint, load_checkpoint
from ddspfx.core.errors import ConfigError
from ddspfx.nn.texenv_decoder import DEFAULT_INITIAL_AMPLITUDE, TexDSPDecoder
from ddspfx.params import ParamSpec
from ddspfx.synths.base import Synth
from ddspfx.synths.texenv import TexEnvSynth

GRAIN_SAMPLES = 16384  # the reference's atoms_size
DEFAULT_LATENT_RANGE = 3.0  # σ: the prior truncated to ±3σ (99.7 % of its mass)
GRAINS_PREFIX = "grains."  # the grain task's attribute holding its GrainSynth
# Constructor arguments that only set the initial weights: not compared by `set_extra_state`.
_INIT_ONLY = ("initial_amplitude",)


class GrainSynth(Synth):
    """Latent `z (..., D)` → grain audio `(..., n_samples)` (module docstring).

    Args:
        latent_dim: D (the reference: 2).
        sample_rate: Hz.
        n_samples: grain length in samples (the reference: 16384).
        n_bands: N TexEnv carriers (the reference's water model: 16).
        n_coefficients: K envelope coefficients per band.
        low, high: ERB bank range in Hz (high: None for Nyquist).
        seed: the TexEnv carriers' noise seed.
        hidden, depth: the decoder mlp's width and blocks (the reference: 512, 3).
        initial_amplitude: the decoder's starting amplitude control (`TexDSPDecoder`).
        latent_range: r, the controls cover z ∈ [−r, r] σ on a normal curve.

    Controls: `(batch, D)` in [0, 1], parameter `z{j}` (unit σ, ±r, scale "normal"): uniform
    controls are draws of the prior N(0, I) truncated to ±r, 0.5 is z = 0. Static only.

    Raises:
        ConfigError: a bad latent_dim or latent_range, or a bad TexEnv setting.
    """

    time_varying = False

    def __init__(
        self,
        latent_dim: int = 2,
        sample_rate: float = 44100,
        n_samples: int = GRAIN_SAMPLES,
        n_bands: int = 16,
        n_coefficients: int = 64,
        low: float = 20.0,
        high: float | None = None,
        seed: int = 0,
        hidden: int = 512,
        depth: int = 3,
        initial_amplitude: float = DEFAULT_INITIAL_AMPLITUDE,
        latent_range: float = DEFAULT_LATENT_RANGE,
    ):
        super().__init__()
        if isinstance(latent_dim, bool) or not isinstance(latent_dim, int) or latent_dim < 1:
            raise ConfigError(f"GrainSynth: latent_dim must be an int >= 1, got {latent_dim!r}")
        real = isinstance(latent_range, numbers.Real) and not isinstance(latent_range, bool)
        if not (real and math.isfinite(latent_range) and latent_range > 0):
            raise ConfigError(f"GrainSynth: latent_range must be a positive number of σ, got {latent_range!r}")
        self._arguments = {
            "latent_dim": int(latent_dim),
            "sample_rate": sample_rate,
            "n_samples": n_samples,
            "n_bands": int(n_bands),
            "n_coefficients": int(n_coefficients),
            "low": float(low),
            "high": None if high is None else float(high),
            "seed": int(seed),
            "hidden": int(hidden),
            "depth": int(depth),
            "initial_amplitude": float(initial_amplitude),
            "latent_range": float(latent_range),
        }
        self.latent_dim, self.latent_range = int(latent_dim), float(latent_range)
        self.sample_rate = sample_rate
        self.texenv = TexEnvSynth(sample_rate, n_samples, n_bands, n_coefficients, low, high, seed)
        self.duration = self.texenv.n_samples / sample_rate
        self.decoder = TexDSPDecoder(latent_dim, n_bands, n_coefficients, hidden, depth, initial_amplitude)
        r = self.latent_range
        self.params = [ParamSpec(f"z{j}", "σ", -r, r, "normal") for j in range(latent_dim)]

    @property
    def n_samples(self) -> int:
        """The grain length in samples (the TexEnv carriers')."""
        return self.texenv.n_samples

    # ------------------------------------------------------------------ synthesis

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latents `(..., D)` (physical values, in σ; not clamped) → grains `(..., n_samples)`."""
        if not torch.is_tensor(z) or not z.is_floating_point() or z.dim() < 1 or z.shape[-1] != self.latent_dim:
            shape = tuple(z.shape) if torch.is_tensor(z) else type(z).__name__
            raise ValueError(f"GrainSynth.decode: z must be a float tensor (..., {self.latent_dim}), got {shape}")
        controls = self.decoder(z.reshape(-1, self.latent_dim))
        return self.texenv(controls).reshape(*z.shape[:-1], self.n_samples)

    def render(self, n_samples: int, **physical: torch.Tensor) -> torch.Tensor:
        """The contract's path: `z{j}` by name, each `(batch,)` in σ → grains `(batch, n_samples)`."""
        if n_samples != self.n_samples:
            raise ValueError(
                f"GrainSynth renders grains of exactly {self.n_samples} samples, got n_samples={n_samples}"
            )
        missing = [name for name in self.param_names if name not in physical]
        unknown = [name for name in physical if name not in self.param_names]
        if missing or unknown:
            raise ValueError(f"GrainSynth.render: missing {missing}, unknown {unknown}; expected {self.param_names}")
        return self.decode(torch.stack([physical[name] for name in self.param_names], dim=-1))

    def sample(self, n: int, generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """n draws of the prior N(0, I) truncated to ±latent_range, and their grains.

        Uniform controls u ~ U(0, 1)^D (drawn with `generator` on its device, else the global CPU
        RNG, then moved to the synth's device) mapped through the `z{j}` ParamSpecs (inverse-CDF:
        an exact truncated normal, no clamping of the draws).

        Returns:
            z `(n, D)` in σ, and audio `(n, n_samples)`.
        """
        device = generator.device if generator is not None else torch.device("cpu")
        controls = torch.rand(int(n), self.latent_dim, generator=generator, device=device)
        reference = self.texenv.carriers
        controls = controls.to(device=reference.device, dtype=reference.dtype)
        z = torch.stack([p.denormalize(controls[:, j]) for j, p in enumerate(self.params)], dim=-1)
        z = z.clamp(-self.latent_range, self.latent_range)  # float rounding of erfinv at the edges only
        return z, self.decode(z)

    # ------------------------------------------------------------------ constructor arguments in the state_dict

    def get_extra_state(self) -> dict[str, Any]:
        """The constructor arguments, a plain dict (saved as `<prefix>_extra_state`)."""
        return dict(self._arguments)

    def set_extra_state(self, state: Any) -> None:
        """Check saved constructor arguments against this module's; ValueError naming the differences.

        `initial_amplitude` (it only sets the starting weights) is not compared.
        """
        if not isinstance(state, Mapping):
            raise ValueError(
                f"GrainSynth: the saved extra state must be a dict of constructor arguments, got {state!r}"
            )
        keys = set(self._arguments) | set(state)
        differ = [
            f"{key}={state.get(key, '<missing>')!r} (this synth: {self._arguments.get(key, '<none>')!r})"
            for key in sorted(keys)
            if key not in _INIT_ONLY and state.get(key, "<missing>") != self._arguments.get(key, "<none>")
        ]
        if differ:
            raise ValueError(
                f"GrainSynth: the state_dict was saved with other constructor arguments: {', '.join(differ)}; "
                "build it with GrainSynth.from_state_dict(state)"
            )

    @classmethod
    def from_state_dict(cls, state: Mapping[str, Any]) -> GrainSynth:
        """A GrainSynth built from `state["_extra_state"]` (its constructor arguments), weights loaded."""
        arguments = state.get("_extra_state") if isinstance(state, Mapping) else None
        if not isinstance(arguments, Mapping):
            raise ValueError(
                "GrainSynth.from_state_dict: the state has no '_extra_state' dict of constructor arguments; "
                "is it the state_dict of a GrainSynth?"
            )
        try:
            synth = cls(**arguments)
        except TypeError as error:
            raise ValueError(
                f"GrainSynth.from_state_dict: bad constructor arguments {dict(arguments)}: {error}"
            ) from None
        synth.load_state_dict(dict(state))
        return synth

    def extra_repr(self) -> str:
        return (
            f"latent_dim={self.latent_dim}, latent_range={self.latent_range:g}, sample_rate={self.sample_rate}, "
            f"n_samples={self.n_samples}"
        )


def load_grain_synth(path: str | os.PathLike | None, prefix: str = GRAINS_PREFIX) -> GrainSynth:
    """The trained GrainSynth of a grain-task run, in eval mode, on the CPU.

    Args:
        path: a training run folder (its `checkpoints/best.pt`, else `last.pt`) or a checkpoint file.
        prefix: the keys of `checkpoint["task"]` that belong to the GrainSynth (the grain task's
            attribute `grains`); stripped before `GrainSynth.from_state_dict`.

    Raises:
        ConfigError: no path given, no such path, no checkpoint in the folder, or no `prefix`
            weights (not a grain run); the path is a config value (`pvae.grains`).
        CheckpointError: an unreadable checkpoint, or one without a "task" state_dict.
        ValueError: inconsistent weights.
    """
    if path is None or str(path) == "":
        raise ConfigError(
            "load_grain_synth: no grain model given (pvae.grains is null): train one first with "
            "`python train_texture.py experiment=texture/grains` and pass pvae.grains=<its run folder>"
        )
    path = Path(path)
    if not path.exists():
        raise ConfigError(
            f"load_grain_synth: {path} does not exist (give a training run folder or a .pt checkpoint)"
        )
    found = find_checkpoint(path, prefer=("best", "last"))
    if found is None:
        raise ConfigError(
            f"load_grain_synth: no checkpoint in {path} (looked for checkpoints/best.pt and checkpoints/last.pt)"
        )
    task = load_checkpoint(found).get("task")
    if not isinstance(task, Mapping):
        raise CheckpointError(f"load_grain_synth: {found} holds no 'task' state_dict")
    state = {key[len(prefix):]: value for key, value in task.items() if key.startswith(prefix)}
    if not state:
        raise ConfigError(
            f"load_grain_synth: {found} holds no '{prefix}*' weights of a GrainSynth; "
            "is this a grain run (experiment=texture/grains)?"
        )
    return GrainSynth.from_state_dict(state).eval()
