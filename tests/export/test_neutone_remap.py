"""ddspfx/export/neutone_remap.py: the streaming remapper passes the Neutone SDK's export checks and
plays in the SDK's sample-queue wrapper as it plays alone. Skipped without `neutone-sdk`."""

import numpy as np
import pytest
import torch

pytest.importorskip("neutone_sdk")

from neutone_sdk.utils import load_neutone_model  # noqa: E402

from ddspfx.export import RemapMapper, ScriptedSnare808  # noqa: E402
from ddspfx.export.neutone_remap import save_neutone_remap  # noqa: E402
from ddspfx.export.streaming import ScriptedRemapStream, export_stream, stream_signal  # noqa: E402
from ddspfx.heads.mapping import MLPMapping  # noqa: E402
from ddspfx.synths import Snare808  # noqa: E402

RATE, BLOCK = 44100, 256


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    low, high = torch.tensor([-60.0, 80.0, -60.0]), torch.tensor([-5.0, 125.0, -5.0])
    mapper = RemapMapper(MLPMapping(14, init_std=0.5), low, high, (low + high) / 2, torch.full((14,), 0.5),
                         torch.full((14,), 0.4))
    return mapper, ScriptedSnare808(Snare808(duration=0.3))


def test_the_neutone_model_passes_the_sdk_checks_and_plays_like_the_stream(parts, tmp_path):
    mapper, synth = parts
    path = save_neutone_remap(ScriptedRemapStream(mapper, synth), tmp_path / "neutone")  # the SDK's checks
    assert path.is_file() and (tmp_path / "neutone" / "metadata.json").is_file()
    model, metadata = load_neutone_model(str(path))
    assert metadata["native_sample_rates"] == [RATE] and metadata["is_input_mono"] and metadata["is_output_mono"]

    rng = np.random.default_rng(0)
    audio = torch.zeros(30 * BLOCK)
    burst = rng.uniform(-1, 1, 2000).astype(np.float32) * np.exp(-np.arange(2000) / 176.0).astype(np.float32)
    audio[1000:3000] = torch.from_numpy(burst)
    model.set_daw_sample_rate_and_buffer_size(RATE, BLOCK)
    model.reset()
    assert model.calc_buffering_delay_samples() == 0 and model.calc_model_delay_samples() == 240
    params = torch.full((4, BLOCK), 0.25)  # the sensitivity knob at 0.25: sensitivity 1, as trained
    out = torch.cat([model.forward(audio[lo:lo + BLOCK][None], params).clone()  # the SDK reuses its buffer
                     for lo in range(0, len(audio), BLOCK)], dim=1)[0]
    expected = stream_signal(export_stream(mapper, synth), audio, BLOCK)
    assert expected.abs().max() > 0.1
    torch.testing.assert_close(out, expected, rtol=0, atol=1e-6)
