"""The grain VAE task on tiny in-memory grains: the VAE objective, gradients, evaluation, media, errors."""

import pytest
import torch

from ddspfx.core.errors import ConfigError
from ddspfx.data.grains import grain_descriptors, normalize_grains
from ddspfx.data.synthetic_textures import render_texture
from ddspfx.eval.runner import evaluate_sets
from ddspfx.losses.stft import MRSTFT
from ddspfx.nn.vae import gaussian_kl
from ddspfx.synths.grains import GrainSynth, load_grain_synth
from ddspfx.tasks.grains import GrainTask, latent_map_figure
from tests.conftest import RecordingWriter

FS, LENGTH = 44100, 1024


@pytest.fixture(scope="module")
def grain_sets():
    audio = render_texture("rain", seconds=12 * LENGTH / FS + 0.01, seed=0)
    grains = normalize_grains(audio[: 12 * LENGTH].view(12, LENGTH))
    return {"train": grains[:8], "valid": grains[8:10], "test": grains[10:]}


def make_task(grain_sets, beta=0.5, latent_dim=2):
    torch.manual_seed(0)
    grains = GrainSynth(latent_dim=latent_dim, sample_rate=FS, n_samples=LENGTH, n_bands=6, n_coefficients=8, hidden=8, depth=1)
    loss = MRSTFT(fft_sizes=[256, 128], hop_sizes=[64, 32], win_lengths=[256, 128])
    return GrainTask(grains, loss, encoder={"hidden": 8, "depth": 1}, metric_mrstft=loss, beta=beta, grain_sets=grain_sets)


def test_loss_is_reconstruction_plus_beta_kl_and_reaches_every_weight(grain_sets):
    task = make_task(grain_sets, beta=0.5)
    batch = task.train_batch(4, torch.Generator().manual_seed(0))
    assert batch["audio"].shape == (4, LENGTH) and batch["descriptors"].shape == (4, 6)
    torch.testing.assert_close(batch["descriptors"], grain_descriptors(batch["audio"], FS, 6))
    out = task(batch)
    assert out["loss"].item() == pytest.approx(out["recon"].item() + 0.5 * out["kl"].item(), rel=1e-5)
    mean, log_var = task.posterior(batch["descriptors"])
    assert out["kl"].item() == pytest.approx(gaussian_kl(mean, log_var).mean().item(), rel=1e-5)
    out["loss"].backward()
    params = list(task.trainable_parameters())
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in params)
    assert all(p.grad.abs().sum() > 0 for p in task.encoder.parameters())


def test_training_samples_the_posterior_and_validation_decodes_its_mean(grain_sets):
    task = make_task(grain_sets)
    batch = task.valid_batches(8)[0]
    torch.manual_seed(1)
    sampled_a = task(batch)["recon"]
    torch.manual_seed(2)
    sampled_b = task(batch)["recon"]
    assert sampled_a != sampled_b  # reparameterized draws
    first, second = task.validation_step(batch), task.validation_step(batch)
    assert first["loss"] == second["loss"] and set(first) == {"loss", "recon", "kl"}
    estimate = task.reconstruct(batch)
    assert first["recon"].item() == pytest.approx(task.loss(estimate, batch["audio"]).item(), rel=1e-5)


def test_evaluation_scores_the_reconstruction_and_a_prior_draw(grain_sets):
    task = make_task(grain_sets).eval()
    results, sizes = evaluate_sets(task, batch_size=8, progress=False)
    assert sizes == {"test": 2} and set(results["test"]) == {"model", "prior"}
    assert set(results["test"]["model"]) == {"mrstft", "texstat", "kl"}
    assert set(results["test"]["prior"]) == {"mrstft", "texstat"}
    assert {s.name for s in task.metric_specs()} == {"mrstft", "texstat", "kl"}
    again, _ = evaluate_sets(task, batch_size=1, progress=False)  # seeded prior draws per batch, same model scores
    assert again["test"]["model"]["mrstft"] == pytest.approx(results["test"]["model"]["mrstft"], rel=1e-5)


def test_media_logs_grains_and_the_latent_map(grain_sets):
    task, writer = make_task(grain_sets), RecordingWriter()
    with torch.no_grad():
        task.log_media(writer, task.valid_batches(8)[0], step=1)
    assert {"audio/grain_0", "audio/decoded_0", "figure/spectrogram", "figure/latent_map"} <= set(writer.tags)
    one_d = make_task(grain_sets, latent_dim=1).grains
    figure = latent_map_figure(one_d, points=3)
    assert len(figure.axes) == 3 + 1  # one row of 3 grains and the colour bar


def test_the_grain_model_reloads_from_the_task_state(tmp_path, grain_sets):
    task = make_task(grain_sets)
    (tmp_path / "checkpoints").mkdir()
    torch.save({"task": task.state_dict()}, tmp_path / "checkpoints" / "best.pt")
    loaded = load_grain_synth(tmp_path)
    z = torch.randn(3, 2)
    with torch.no_grad():
        torch.testing.assert_close(loaded.decode(z), task.grains.eval().decode(z))


def test_config_mistakes_are_named(grain_sets):
    with pytest.raises(ConfigError, match="beta"):
        make_task(grain_sets, beta=-1.0)
    grains = GrainSynth(latent_dim=2, sample_rate=FS, n_samples=LENGTH, n_bands=6, n_coefficients=8, hidden=8, depth=1)
    with pytest.raises(ConfigError, match="cannot compare grains of 1024 samples"):
        GrainTask(grains, MRSTFT(fft_sizes=[4096], hop_sizes=[1024], win_lengths=[4096]), grain_sets=grain_sets)
    with pytest.raises(ConfigError, match="encoder: .*width"):
        GrainTask(grains, MRSTFT(fft_sizes=[256], hop_sizes=[64], win_lengths=[256]), encoder={"width": 3}, grain_sets=grain_sets)
