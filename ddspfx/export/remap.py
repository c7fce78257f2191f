"""The trained timbre-remapping mapping as one self-contained TorchScript module (reference
timbreremap §11, with the train/deploy mismatches of §14.1 removed).

The reference exported only the network: a host fed it features min-max normalized with running
statistics of its own and never centred them on the reference hit, so the deployed network saw
inputs unlike its training inputs. `RemapMapper` takes the RAW onset features of a hit, exactly as
`ddspfx.dsp.features.onset_features` computes them on the hit's first `window` samples
(RMS dB, spectral centroid in semitones, spectral flatness dB), and does everything training did
after that inside:

    x = (raw − min)/(max − min) − (ref − min)/(max − min)      `ddspfx.data.drums.normalize_onset`
    θ = clip(preset + sensitivity · damping ⊙ m(x), 0, 1)      `ddspfx.heads.mapping.modulate`

with the training split's `onset_min`, `onset_max`, the reference hit's raw features
`onset_reference`, the preset and damping of the run. At sensitivity 1 this is the task's
`modulate(preset, damping, mapping(inputs))` for the same hit; at 0 it is the preset.

Sensitivity (the plug-in's "Neurality", §12 step 5) is a float32 buffer of the module, saved in
the file. A host changes it after loading with `module.set_sensitivity(2.0)` (Python, or
`module.run_method("set_sensitivity", 2.0)` in LibTorch); `module.sensitivity` reads it.

Also kept in the module for a host: `window` (samples of the onset-feature window), `backtrack`
(samples the window starts before the detected onset), `sample_rate` (Hz) and `param_names`.
"""

import copy

import torch
from torch import nn

from ddspfx.core.files import write_atomically
from ddspfx.dsp.onsets import BACKTRACK

N_FEATURES = 3  # RMS (dB), spectral centroid (semitones), spectral flatness (dB)


def _vector(value, size: int, name: str) -> torch.Tensor:
    """`value` as a finite float32 CPU tensor of shape (size,); ValueError naming `name` otherwise."""
    tensor = torch.as_tensor(value).detach().to("cpu", torch.float32).clone()
    if tuple(tensor.shape) != (size,):
        raise ValueError(f"RemapMapper: {name} must have shape ({size},), got {tuple(tensor.shape)}")
    if not torch.isfinite(tensor).all():
        raise ValueError(f"RemapMapper: {name} must be finite")
    return tensor


class RemapMapper(nn.Module):
    """Raw onset features `(batch, 3)` → Snare808 controls θ `(batch, n_params)` (module docstring).

    Args:
        mapping: the trained network, `(batch, 3)` → modulations `(batch, n_params)` in [−1, 1]
            (a `LinearMapping` or `MLPMapping`); deep-copied, frozen, on the CPU.
        onset_min, onset_max: `(3,)` raw-feature statistics of the training hits.
        onset_reference: `(3,)` raw features of the reference hit (it maps to x = 0).
        preset, damping: `(n_params,)` normalized preset controls and damping multipliers.
        sensitivity: multiplier of the modulation (≥ 0; 1 is the trained mapping, 0 the preset).
        window: onset-feature window in samples; sample_rate: Hz; backtrack: samples the window
            starts before the detected onset (metadata for a host; not used by `forward`).
        param_names: names of the controls (metadata).

    Raises:
        ValueError: a statistic, preset or damping of the wrong shape or not finite; a negative or
            non-finite sensitivity.
    """

    window: int
    sample_rate: int
    backtrack: int
    param_names: list[str]

    def __init__(
        self,
        mapping: nn.Module,
        onset_min,
        onset_max,
        onset_reference,
        preset,
        damping,
        sensitivity: float = 1.0,
        window: int = 256,
        sample_rate: int = 44100,
        backtrack: int = BACKTRACK,
        param_names: list[str] | None = None,
    ):
        super().__init__()
        if not isinstance(mapping, nn.Module):
            raise TypeError(f"RemapMapper: mapping must be an nn.Module, got {type(mapping).__name__}")
        preset = torch.as_tensor(preset)
        n_params = int(preset.shape[-1]) if preset.dim() == 1 else -1
        self.mapping = copy.deepcopy(mapping).to("cpu").float().eval().requires_grad_(False)
        for name, value, size in (("onset_min", onset_min, N_FEATURES), ("onset_max", onset_max, N_FEATURES),
                                  ("onset_reference", onset_reference, N_FEATURES),
                                  ("preset", preset, n_params), ("damping", damping, n_params)):
            self.register_buffer(name, _vector(value, size, name))
        self.register_buffer("sensitivity", torch.tensor(_check_sensitivity(sensitivity), dtype=torch.float32))
        self.window = int(window)
        self.sample_rate = int(sample_rate)
        self.backtrack = int(backtrack)
        self.param_names = list(param_names) if param_names is not None else [f"p{i}" for i in range(n_params)]
        if len(self.param_names) != n_params:
            raise ValueError(f"RemapMapper: {len(self.param_names)} param_names for {n_params} controls")

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw onset features `(batch, 3)` (dB, semitones, dB) → controls `(batch, n_params)` in [0, 1]."""
        if raw.dim() != 2 or raw.shape[1] != 3:
            raise ValueError(f"RemapMapper: raw onset features must have shape (batch, 3), got {raw.shape}")
        return self.modulate(self.mapping(self.normalize(raw.to(self.preset.dtype))))

    @torch.jit.export
    def normalize(self, raw: torch.Tensor) -> torch.Tensor:
        """The network inputs of raw features `(..., 3)`, as in training (`normalize_onset`)."""
        span = self.onset_max - self.onset_min
        span = torch.where(span > 0, span, torch.ones_like(span))
        return (raw - self.onset_min) / span - (self.onset_reference - self.onset_min) / span

    @torch.jit.export
    def modulate(self, modulation: torch.Tensor) -> torch.Tensor:
        """θ = clip(preset + sensitivity · damping ⊙ m, 0, 1) of modulations `(batch, n_params)`."""
        return (self.preset + self.sensitivity * self.damping * modulation).clamp(0.0, 1.0)

    @torch.jit.export
    def set_sensitivity(self, value: float) -> None:
        """Set the modulation multiplier (finite, ≥ 0; 1 = as trained, 0 = the preset)."""
        if not (value >= 0.0 and value < float("inf")):
            raise ValueError(f"RemapMapper: sensitivity must be a finite number >= 0, got {value}")
        self.sensitivity.fill_(value)


def _check_sensitivity(value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"RemapMapper: sensitivity must be a number, got {value!r}") from None
    if not (value >= 0.0 and value < float("inf")):
        raise ValueError(f"RemapMapper: sensitivity must be a finite number >= 0, got {value}")
    return value


def export_mapper(mapper: RemapMapper) -> torch.jit.ScriptModule:
    """`torch.jit.script` of a `RemapMapper` (in eval mode).

    Raises:
        RuntimeError: the mapping network is not scriptable (TorchScript's message).
    """
    return torch.jit.script(mapper.eval())


def save_module(module: torch.jit.ScriptModule, path) -> None:
    """Write a TorchScript module atomically (temporary file beside `path`, then `os.replace`)."""
    write_atomically(path, lambda temp: torch.jit.save(module, str(temp)))


def load_mapper(path) -> torch.jit.ScriptModule:
    """A saved mapper (or any TorchScript file), on the CPU, in eval mode."""
    return torch.jit.load(str(path), map_location="cpu").eval()
