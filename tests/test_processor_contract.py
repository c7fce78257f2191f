"""The processor contract (DESIGN.md, Contracts), checked on every registered synth and effect key.

Normalized controls: NaN raises, values outside [0, 1] are clamped, a wrong shape raises; output
`(batch, samples)`; `.to(dtype / device)` and `state_dict()` reach the whole state; finite output
and gradients with every control at 0 and at 1. Inputs are tiny: batch 2, a few hundred samples.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import pytest
import torch

from ddspfx.core.checkpoint import save_checkpoint
from ddspfx.effects.registry import build_effect, canonical_key, known_keys
from ddspfx.synths.pvae import PVAESynth
from ddspfx.synths.registry import build_synth, known_synths

BATCH = 2
EFFECT_RATE = 44100  # the EQs narrow or drop their top bands at lower rates
EFFECT_SAMPLES = 256
TINY_PROXY = dict(n_blocks=2, kernel_size=3, dilation_growth=2, channels=4)

TINY_GRAINS = dict(n_samples=256, n_bands=4, n_coefficients=4, hidden=4, depth=1)
SYNTH_OPTIONS = {
    "fm": dict(sample_rate=8000, duration=0.01, f0=220.0),
    "grains": TINY_GRAINS,
    "pvae": dict(n_samples=512, n_grains=2),  # with a fresh tiny GrainSynth as `grains` (see `synth_options`)
}
EFFECT_OPTIONS = {"compproxy": TINY_PROXY}  # comphybrid: a tiny proxy checkpoint, see `tiny_proxy_checkpoint`

pytestmark = pytest.mark.filterwarnings("ignore:ProxyCompressor has random")


@dataclass
class Case:
    """One processor under test: `build()` a fresh instance, `run(module, controls)` → audio (an
    effect processes `fixed_audio`), `n_samples` the output length."""

    build: Callable[[], torch.nn.Module]
    run: Callable[[torch.nn.Module, torch.Tensor], torch.Tensor]
    n_samples: int


def fixed_audio(dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """A fixed noise input `(BATCH, EFFECT_SAMPLES)` at about −10 dBFS."""
    noise = torch.randn(BATCH, EFFECT_SAMPLES, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    return (0.3 * noise).to(dtype)


@pytest.fixture(scope="session")
def tiny_proxy_checkpoint(tmp_path_factory):
    """A tiny random ProxyCompressor saved as scripts/train_proxy.py does (comphybrid reads its architecture)."""
    torch.manual_seed(0)
    proxy = build_effect("compproxy", EFFECT_RATE, **TINY_PROXY)
    path = tmp_path_factory.mktemp("proxy") / "proxy.pt"
    save_checkpoint(path, {"state_dict": proxy.tcn.state_dict(), "config": proxy.config})
    return path


def synth_options(name: str) -> dict:
    """Constructor options of a tiny `name` synth (P-VAE gets a fresh tiny grain model)."""
    options = dict(SYNTH_OPTIONS.get(name, {}))
    if name == "pvae":
        options["grains"] = build_synth("grains", **TINY_GRAINS)
    return options


def render(synth, controls: torch.Tensor) -> torch.Tensor:
    """`synth(controls)`; a stochastic synth (P-VAE) draws its events from a fixed seed."""
    if isinstance(synth, PVAESynth):
        return synth(controls, generator=torch.Generator().manual_seed(0))
    return synth(controls)


def synth_case(name: str) -> Case:
    n_samples = build_synth(name, **synth_options(name)).n_samples
    return Case(lambda: build_synth(name, **synth_options(name)), render, n_samples)


def effect_case(key: str, checkpoint) -> Case:
    options = dict(EFFECT_OPTIONS.get(canonical_key(key), {}))
    if canonical_key(key) == "comphybrid":
        options["checkpoint"] = checkpoint

    def run(effect, controls):
        return effect(fixed_audio(controls.dtype), controls)

    return Case(lambda: build_effect(key, EFFECT_RATE, **options), run, EFFECT_SAMPLES)


PROCESSORS = [f"synth:{name}" for name in known_synths()] + [f"effect:{key}" for key in known_keys()]


@pytest.fixture(params=PROCESSORS)
def case(request, tiny_proxy_checkpoint) -> Case:
    kind, name = request.param.split(":")
    return synth_case(name) if kind == "synth" else effect_case(name, tiny_proxy_checkpoint)


def random_controls(n_params: int, seed: int = 1) -> torch.Tensor:
    """`(BATCH, n_params)` uniform in [0, 1]."""
    return torch.rand(BATCH, n_params, generator=torch.Generator().manual_seed(seed))


def test_nan_controls_raise(case):
    module = case.build()
    controls = random_controls(module.n_params)
    controls[1, -1] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        case.run(module, controls)


def test_out_of_range_controls_are_clamped(case):
    module = case.build()
    n = module.n_params
    offsets = 1.1 * torch.tensor([1.0, -1.0, 0.0]).repeat(n + 1)[torch.arange(BATCH)[:, None] + torch.arange(n)]
    controls = random_controls(n) + offsets  # above 1, below 0 and inside, cycling over rows and columns
    assert (controls < 0).any() and (controls > 1).any()
    assert torch.equal(case.run(module, controls), case.run(module, controls.clamp(0.0, 1.0)))


def test_wrong_control_shape_raises(case):
    module = case.build()
    with pytest.raises(ValueError, match=rf"\(batch, {module.n_params}\)"):
        case.run(module, random_controls(module.n_params + 1))
    with pytest.raises(ValueError):
        case.run(module, torch.rand(module.n_params))


def test_output_is_batch_by_samples(case):
    module = case.build()
    audio = case.run(module, random_controls(module.n_params))
    assert audio.shape == (BATCH, case.n_samples) and audio.dtype == torch.float32


def test_to_float64_and_cpu(case):
    module = case.build().to(torch.float64).to("cpu")
    assert all(t.dtype == torch.float64 for t in [*module.parameters(), *module.buffers()] if t.is_floating_point())
    audio = case.run(module, random_controls(module.n_params).double())
    assert audio.shape == (BATCH, case.n_samples) and audio.dtype == torch.float64
    assert torch.isfinite(audio).all()


def test_state_dict_round_trips_into_a_fresh_instance(case):
    torch.manual_seed(2)
    original = case.build()
    torch.manual_seed(3)
    fresh = case.build()
    fresh.load_state_dict(original.state_dict())
    controls = random_controls(original.n_params)
    assert torch.equal(case.run(fresh, controls), case.run(original, controls))


@pytest.mark.parametrize("value", [0.0, 1.0])
def test_finite_output_and_gradients_at_the_ends(case, value):
    module = case.build()
    controls = torch.full((BATCH, module.n_params), value, requires_grad=True)
    audio = case.run(module, controls)
    audio.square().mean().backward()
    assert torch.isfinite(audio).all()
    assert controls.grad is not None and torch.isfinite(controls.grad).all()


@pytest.mark.parametrize("name", known_synths())
def test_equivalent_permutations_render_the_same_sound(name):
    synth = build_synth(name, **synth_options(name))
    permutations = synth.equivalent_permutations()
    assert permutations[0] == list(range(synth.n_params))
    assert all(sorted(p) == list(range(synth.n_params)) for p in permutations)
    controls = random_controls(synth.n_params)
    reference = render(synth, controls)
    for p in permutations:
        torch.testing.assert_close(render(synth, controls[:, p]), reference, atol=1e-5, rtol=0)
