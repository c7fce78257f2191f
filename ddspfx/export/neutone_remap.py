"""The streaming timbre remapper as a Neutone FX model (needs `neutone-sdk`, not a dependency).

`neutone_sdk` is imported by this module, and nothing else in ddspfx imports this module: install
the SDK, then `from ddspfx.export.neutone_remap import save_neutone_remap`.

What the SDK asks and how the remapper answers (checked with neutone-sdk 1.5.2 and torch 2.11):

- A `WaveformToWaveformBase` is one TorchScript module with state: the SDK scripts the whole
  wrapper (`torch.jit.script`), calls `do_forward_pass(x (1, n), params)` once per buffer of a
  native size, and `reset_model()` when the host resets. The remapper's whole state (the onset
  detector's eight floats, the input history, the pending feature windows, the ringing voices)
  lives in `ddspfx.export.streaming.ScriptedRemapStream`, which scripts, so the wrapper holds it
  as its `model` and forwards each buffer to it.
- Mono in, mono out; native sample rate: the run's (the SDK resamples other host rates);
  native buffer sizes 64 … 2048 (the stream takes any size in 32 … 2048).
- One knob, "sensitivity" (the reference plug-in's "Neurality"): 0 … 1 in the host, × 4 → the
  mapper's sensitivity 0 … 4, default 0.25 (= 1, the trained mapping).
- `calc_model_delay_samples` reports the onset → sound latency, window − backtrack (240 samples
  at the 256-sample window), so that a DAW aligns the synth hits with recorded drum hits.
- `save_neutone_model` runs the SDK's checks: scripting, metadata schema, saving and reloading
  `model.nm`, rendering its bundled audio samples through the sample-queue wrapper, the VST
  methods (`set_daw_sample_rate_and_buffer_size`, `reset`, `is_resampling`), a speed benchmark
  and an offline-mode render (4096-sample buffers).

Cost: a hit is rendered whole in the buffer where its window completes (~10–15 ms on one CPU
thread with the scripted synth): with small host buffers that buffer takes longer than real time
once per hit; the SDK's own sample queue absorbs some of it.
"""

from pathlib import Path
from typing import Dict, List

import torch
from neutone_sdk import ContinuousNeutoneParameter, NeutoneParameter, WaveformToWaveformBase
from neutone_sdk.utils import save_neutone_model
from torch import Tensor

from ddspfx.export.streaming import ScriptedRemapStream

SENSITIVITY_RANGE = 4.0  # the knob's 0 … 1 maps to sensitivity 0 … 4 (the reference's "Neurality")


class NeutoneRemap(WaveformToWaveformBase):
    """Drum audio in → TR-808 snare hits out, for the Neutone FX plug-in (module docstring)."""

    def get_model_name(self) -> str:
        return "ddspfx drum remap 808"

    def get_model_authors(self) -> List[str]:
        return ["ddspfx"]

    def get_model_short_description(self) -> str:
        return "Drum hits trigger a TR-808 snare whose timbre follows each hit's onset features."

    def get_model_long_description(self) -> str:
        return ("Each detected drum hit's first milliseconds (RMS, spectral centroid, flatness) go through a small "
                "network trained to move a TR-808 snare preset the way the hit differs from a reference hit. "
                "Sensitivity scales the movement (0: the preset).")

    def get_technical_description(self) -> str:
        return ("Onset detector (fast/slow envelope followers), onset features of the first 256 or 2048 samples, "
                "training normalization inside the model, MLP or linear mapping to 14 synth controls, "
                "differentiable TR-808 snare rendered once per hit (timbre remapping, NIME 2024).")

    def get_tags(self) -> List[str]:
        return ["drums", "808", "snare", "remapping", "ddsp"]

    def get_model_version(self) -> str:
        return "1.0.0"

    def is_experimental(self) -> bool:
        return True

    def get_neutone_parameters(self) -> List[NeutoneParameter]:
        return [ContinuousNeutoneParameter("sensitivity", "modulation depth (x4; 0.25 = as trained)",
                                           default_value=1.0 / SENSITIVITY_RANGE)]

    @torch.jit.export
    def is_input_mono(self) -> bool:
        return True

    @torch.jit.export
    def is_output_mono(self) -> bool:
        return True

    @torch.jit.export
    def get_native_sample_rates(self) -> List[int]:
        return [self.model.sample_rate]

    @torch.jit.export
    def get_native_buffer_sizes(self) -> List[int]:
        return [64, 128, 256, 512, 1024, 2048]  # literals: compiled methods do not see module constants

    @torch.jit.export
    def calc_model_delay_samples(self) -> int:
        return self.model.latency

    @torch.jit.export
    def reset_model(self) -> bool:
        self.model.reset()
        return True

    def do_forward_pass(self, x: Tensor, params: Dict[str, Tensor]) -> Tensor:
        self.model.set_sensitivity(float(params["sensitivity"].mean()) * 4.0)  # SENSITIVITY_RANGE
        return self.model.process(x[0]).unsqueeze(0)


def save_neutone_remap(stream: ScriptedRemapStream, folder, benchmark: bool = False) -> Path:
    """Wrap a `ScriptedRemapStream` for Neutone and save it with the SDK's checks: writes
    `folder/model.nm` (+ metadata.json); returns the .nm path. `benchmark` runs the SDK's speed
    benchmark too (slow)."""
    if not isinstance(stream, ScriptedRemapStream):
        raise TypeError(f"save_neutone_remap: expected a ScriptedRemapStream, got {type(stream).__name__}")
    folder = Path(folder)
    wrapper = NeutoneRemap(stream)
    save_neutone_model(wrapper, folder, dump_samples=False, submission=False, speed_benchmark=benchmark,
                       test_offline_mode=True)
    return folder / "model.nm"
