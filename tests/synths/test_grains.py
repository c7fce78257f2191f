"""GrainSynth: decoding, the normalized-control contract, prior sampling and loading from a run."""

import pytest
import torch

from ddspfx.core.errors import ConfigError
from ddspfx.synths.grains import GrainSynth, load_grain_synth

SMALL = dict(sample_rate=16000, n_samples=2048, n_bands=4, n_coefficients=8, hidden=32, depth=1)


def generator(seed):
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def synth():
    torch.manual_seed(0)
    return GrainSynth(latent_dim=3, **SMALL)


def test_decode_shape_and_finiteness(synth):
    z = torch.randn(2, 5, 3, generator=generator(0))
    audio = synth.decode(z)
    assert audio.shape == (2, 5, 2048) and torch.isfinite(audio).all()
    assert synth.n_samples == 2048 and synth.n_params == 3 and not synth.time_varying


def test_reference_sizes():
    synth = GrainSynth()
    assert synth.n_samples == 16384 and synth.latent_dim == 2 and synth.texenv.n_carriers == 16
    assert synth.param_names == ["z0", "z1"] and synth.params[0].scale == "normal"
    assert (synth.params[0].min, synth.params[0].max) == (-3.0, 3.0)


def test_controls_render_the_denormalized_latent(synth):
    controls = torch.tensor([[0.5, 0.5, 0.5], [0.1, 0.7, 0.95]])
    z = torch.stack(list(synth.denormalize(controls).values()), dim=-1)
    assert torch.allclose(z[0], torch.zeros(3), atol=1e-6)
    assert z.abs().max() <= 3.0
    torch.testing.assert_close(synth(controls), synth.decode(z))
    with pytest.raises(ValueError, match="exactly 2048"):
        synth(controls, n_samples=1000)
    with pytest.raises(ValueError, match="static"):
        synth(controls.unsqueeze(-1))


def test_sample_is_seeded_and_within_range(synth):
    z, audio = synth.sample(500, generator(3))
    z2, audio2 = synth.sample(500, generator(3))
    assert torch.equal(z, z2) and torch.equal(audio, audio2)
    assert z.shape == (500, 3) and audio.shape == (500, 2048)
    assert z.abs().max() <= 3.0
    assert z.mean().abs() < 0.1 and 0.9 < z.std() < 1.05  # truncated at ±3σ: std 0.986


def test_gradients_reach_z(synth):
    z = torch.randn(2, 3, generator=generator(4), requires_grad=True)
    synth.decode(z).square().sum().backward()
    assert torch.isfinite(z.grad).all() and z.grad.abs().sum() > 0


def _task_state(synth):
    return {"grains." + k: v for k, v in synth.state_dict().items()} | {"loss.weight": torch.ones(1)}


def test_state_dict_round_trip_through_a_file_and_a_run_folder(synth, tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"task": _task_state(synth)}, path)
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"task": _task_state(synth)}, run / "checkpoints" / "best.pt")
    z = torch.randn(4, 3, generator=generator(5))
    with torch.no_grad():
        expected = synth.eval().decode(z)
        for source in (path, run):
            loaded = load_grain_synth(source)
            assert not loaded.training and loaded.get_extra_state() == synth.get_extra_state()
            assert torch.equal(loaded.decode(z), expected)


def test_mismatched_extra_state_raises(synth):
    other = GrainSynth(latent_dim=3, **(SMALL | {"n_coefficients": 8, "hidden": 32, "seed": 1}))
    with pytest.raises(ValueError, match=r"seed=0 \(this synth: 1\)"):
        other.load_state_dict(synth.state_dict())
    state = synth.state_dict()
    state.pop("_extra_state")
    with pytest.raises(ValueError, match="_extra_state"):
        GrainSynth.from_state_dict(state)


def test_loading_errors_name_the_path(tmp_path):
    path = tmp_path / "texture.pt"
    torch.save({"task": {"decoder.weight": torch.zeros(1)}}, path)
    with pytest.raises(ConfigError, match=r"texture\.pt.*is this a grain run \(experiment=texture/grains\)\?"):
        load_grain_synth(path)
    with pytest.raises(ConfigError, match="no checkpoint in"):
        load_grain_synth(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_grain_synth(tmp_path / "nothing")


def test_bad_arguments_raise():
    with pytest.raises(ConfigError, match="latent_dim"):
        GrainSynth(latent_dim=0, **SMALL)
    with pytest.raises(ConfigError, match="latent_range"):
        GrainSynth(latent_range=0.0, **SMALL)
    with pytest.raises(ValueError, match=r"\(\.\.\., 2\)"):
        GrainSynth(**SMALL).decode(torch.zeros(4, 3))


def test_no_grain_model_given_says_how_to_train_one():
    with pytest.raises(ConfigError, match="pvae.grains is null.*experiment=texture/grains"):
        load_grain_synth(None)
