"""The texture task (TexDSP and P-VAE) on tiny in-memory excerpts: shapes, loss and gradients, splits, evaluation, media."""

import math

import pytest
import torch

from ddspfx.core.errors import ConfigError
from ddspfx.data.synthetic_textures import render_texture
from ddspfx.eval.runner import evaluate_sets
from ddspfx.losses.metrics import frechet_distance
from ddspfx.losses.stft import MRSTFT
from ddspfx.losses.texstat import TexStatLoss, statistics_embedding, texture_statistics
from ddspfx.synths.grains import GrainSynth
from ddspfx.synths.pvae import PVAESynth
from ddspfx.synths.texenv import TexEnvSynth
from ddspfx.data.textures import resolve_texture_folder
from ddspfx.tasks.texture import ESTIMATORS, TextureTask, normalize_excerpts
from tests.conftest import RecordingWriter

FS, FRAME, SEQUENCE = 44100, 4096, 2
METRICS = {"texstat", "texstat_s1", "texstat_s2", "texstat_s3", "texstat_s4", "texstat_s5", "mrstft"}
SET_METRICS = {"fad_texstat"}


@pytest.fixture(scope="module")
def excerpts():
    audio = render_texture("rain", seconds=10 * SEQUENCE * FRAME / FS + 0.01, seed=0)
    cut = audio[: 10 * SEQUENCE * FRAME].view(10, SEQUENCE, FRAME)
    cut = normalize_excerpts(cut)
    return {"train": cut[:6], "valid": cut[6:8], "test": cut[8:]}


def make_task(excerpts, regularizer=0.0, loss=None):
    torch.manual_seed(0)
    synth = TexEnvSynth(FS, FRAME, n_bands=6, n_coefficients=8)
    loss = loss or TexStatLoss(FS, n_bands=6, beta=(1, 5, 5, 5, 5))
    return TextureTask(
        synth, loss, MRSTFT(fft_sizes=[512, 256], hop_sizes=[128, 64], win_lengths=[512, 256]),
        sequence=SEQUENCE, encoder={"hidden": 8, "depth": 1}, decoder={"hidden": 8, "depth": 1},
        regularizer=regularizer, excerpts=excerpts,
    )


def test_excerpts_are_z_normalized():
    x = normalize_excerpts(3.0 + 2.0 * torch.randn(4, 3, 100))
    flat = x.flatten(1)
    assert torch.allclose(flat.mean(1), torch.zeros(4), atol=1e-5) and torch.allclose(flat.std(1), torch.ones(4))
    assert torch.equal(normalize_excerpts(torch.zeros(1, 2, 8)), torch.zeros(1, 2, 8))


def test_controls_and_frames_have_the_excerpt_shape(excerpts):
    task = make_task(excerpts)
    audio = excerpts["train"][:3]
    assert task.controls(audio).shape == (3, SEQUENCE, task.synth.n_params)
    assert task.resynthesize(audio).shape == audio.shape
    energy, centroid = task.features(audio)
    assert energy.shape == (3, SEQUENCE, 6) and centroid.shape == (3, SEQUENCE, 1)


def test_loss_is_finite_and_reaches_every_weight(excerpts):
    task = make_task(excerpts, regularizer=0.2)
    out = task(task.train_batch(3, torch.Generator().manual_seed(0)))
    assert set(out) == {"loss", "main", "regularizer"} and torch.isfinite(out["loss"])
    assert out["loss"].item() == pytest.approx(out["main"].item() + 0.2 * out["regularizer"].item(), rel=1e-5)
    out["loss"].backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in task.trainable_parameters())
    assert all(p.grad.abs().sum() > 0 for p in task.trainable_parameters())


def test_an_epoch_is_one_pass_over_the_training_excerpts(excerpts):
    task = make_task(excerpts)
    assert task.epoch_steps(4) == math.ceil(6 / 4)
    batch = task.train_batch(4, torch.Generator().manual_seed(1))
    assert len(set(batch["index"].tolist())) == 4 and torch.equal(batch["audio"], excerpts["train"][batch["index"]])


def test_validation_is_the_loss_without_regularizer_and_the_five_groups(excerpts):
    task = make_task(excerpts, regularizer=0.2)
    batch = task.valid_batches(8)[0]
    out = task.validation_step(batch)
    assert set(out) == {"loss", "s1", "s2", "s3", "s4", "s5"}
    estimate = task.resynthesize(batch["audio"]).flatten(0, 1)
    assert out["loss"].item() == pytest.approx(task.loss(estimate, batch["audio"].flatten(0, 1)).item(), rel=1e-5)


def test_evaluation_scores_the_model_and_both_references(excerpts):
    task = make_task(excerpts).eval()
    batch = task.test_sets(8)["test"][0]
    with torch.no_grad():
        scores = task.evaluate_batch(batch, torch.Generator().manual_seed(0))
    assert set(scores) == set(ESTIMATORS["texdsp"])
    for metrics in scores.values():
        assert set(metrics) == METRICS
        assert all(v.shape == (2,) and torch.isfinite(v).all() for v in metrics.values())
        total = sum(metrics[f"texstat_s{g}"] for g in range(1, 6))
        assert torch.allclose(metrics["texstat"], total)
    assert {s.name for s in task.metric_specs()} == METRICS | SET_METRICS
    assert (scores["texenv_analysis"]["texstat"] < scores["model"]["texstat"]).all()  # the upper reference


def test_noise_baseline_has_the_target_band_energies(excerpts):
    task = make_task(excerpts)
    target = excerpts["test"].flatten(0, 1)
    noise = task.shaped_noise(target, torch.Generator().manual_seed(0))
    ratio = task.synth.target_loudness(noise, "specific") / task.synth.target_loudness(target, "specific")
    assert noise.shape == target.shape and ((ratio - 1).abs() < 0.4).all()  # bands overlap: near, not exact
    assert (ratio.mean() - 1).abs() < 0.1


def test_media_logs_audio_spectrograms_and_envelopes(excerpts):
    task, writer = make_task(excerpts), RecordingWriter()
    with torch.no_grad():
        task.log_media(writer, task.valid_batches(8)[0], step=1)
    assert {"audio/target_0", "audio/model_0", "audio/target_1", "figure/spectrogram", "figure/envelopes"} <= set(writer.tags)


def test_config_mistakes_are_named(tmp_path, excerpts):
    with pytest.raises(ConfigError, match="sequence"):
        TextureTask(TexEnvSynth(FS, FRAME, 4, 4), TexStatLoss(FS, 4), sequence=0, excerpts=excerpts)
    with pytest.raises(ConfigError, match="encoder: .*width"):
        TextureTask(TexEnvSynth(FS, FRAME, 4, 4), TexStatLoss(FS, 4), encoder={"width": 8}, excerpts=excerpts)
    with pytest.raises(ConfigError, match="data.texture='snow'"):
        resolve_texture_folder({"root": None, "texture": "snow", "synthetic": {"folder": str(tmp_path)}}, FS)
    (tmp_path / "fire").mkdir()
    assert resolve_texture_folder({"root": str(tmp_path), "texture": "fire"}, FS) == ("fire", tmp_path / "fire")
    assert resolve_texture_folder({"root": str(tmp_path), "texture": "rain"}, FS) == (tmp_path.name, tmp_path)


def test_resynthesize_frames_carries_the_gru_state_across_calls(excerpts):
    task = make_task(excerpts).eval()
    frames = excerpts["test"][:2]  # (2, SEQUENCE, FRAME)
    with torch.no_grad():
        whole, state = task.resynthesize_frames(frames)
        first, middle = task.resynthesize_frames(frames[:, :1])
        rest, last = task.resynthesize_frames(frames[:, 1:], middle)
        assert torch.allclose(torch.cat([first, rest], dim=1), whole, atol=1e-5)
        assert torch.allclose(last, state, atol=1e-6) and state.shape == (1, 2, 8)
        assert torch.allclose(whole, task.resynthesize(frames), atol=1e-5)  # the training path
        restarted, _ = task.resynthesize_frames(frames[:, 1:])
        assert not torch.allclose(restarted, rest, atol=1e-5)  # the state matters
        norms = torch.full((2, SEQUENCE), 3.0)
        loud, _ = task.resynthesize_frames(frames, loudness="generic", target_loudness=norms)
        assert torch.allclose(loud.norm(dim=-1), norms, rtol=1e-4)
        bands = task.synth.target_loudness(frames.flatten(0, 1), "specific").view(2, SEQUENCE, -1)
        loud, _ = task.resynthesize_frames(frames, loudness="specific", target_loudness=bands)
        assert loud.shape == frames.shape and torch.isfinite(loud).all()


def test_evaluation_adds_the_set_level_frechet_distance(excerpts):

    task = make_task(excerpts).eval()
    results, sizes = evaluate_sets(task, batch_size=1, progress=False)
    assert sizes == {"test": 2}
    fad = {e: results["test"][e]["fad_texstat"] for e in ESTIMATORS["texdsp"]}
    assert all(math.isfinite(v) and v >= 0 for v in fad.values())
    with torch.no_grad():  # the same distance from the frames' statistics computed here
        target = excerpts["test"].flatten(0, 1)
        model = task.resynthesize(excerpts["test"]).flatten(0, 1)
        embed = lambda audio: statistics_embedding(texture_statistics(audio, FS, n_bands=16, n_mod_bands=6))
        assert fad["model"] == pytest.approx(frechet_distance(embed(model), embed(target)).item(), rel=1e-5)
    assert "fad_texstat" in {s.name for s in task.metric_specs()}
    # batches do not matter: one batch of both excerpts gives the same distance
    again, _ = evaluate_sets(task, batch_size=8, progress=False)
    assert again["test"]["model"]["fad_texstat"] == pytest.approx(fad["model"], rel=1e-6)


def test_statistics_embedding_is_s1_to_s3_with_the_fad_weights(excerpts):
    stats = texture_statistics(excerpts["test"][0], FS, n_bands=16, n_mod_bands=6)
    embedding = statistics_embedding(stats)
    assert embedding.shape == (SEQUENCE, 280)  # 64 + 120 + 96 (reference §3.1)
    weighted = stats["s1"] * torch.tensor([1.0, 0.1, 0.01, 0.001])
    assert torch.equal(embedding[:, :64], weighted.flatten(1))
    assert torch.equal(embedding[:, 64:184], stats["s2"])
    with pytest.raises(ValueError, match="groups"):
        statistics_embedding(stats, groups=("s9",))


# --- model="pvae" ---------------------------------------------------------------------------
def make_pvae_task(excerpts, n_grains=2):
    torch.manual_seed(0)
    grains = GrainSynth(latent_dim=2, sample_rate=FS, n_samples=1024, n_bands=6, n_coefficients=8, hidden=8, depth=1)
    synth = PVAESynth(grains, n_samples=FRAME, n_grains=n_grains)
    return TextureTask(
        synth, TexStatLoss(FS, n_bands=6, beta=(1, 5, 5, 5, 5)),
        MRSTFT(fft_sizes=[512, 256], hop_sizes=[128, 64], win_lengths=[512, 256]), sequence=SEQUENCE,
        encoder={"hidden": 8, "depth": 1}, decoder={"hidden": 8, "depth": 1}, excerpts=excerpts, model="pvae",
    )


def test_pvae_predicts_rate_exponent_and_latents_per_frame(excerpts):
    task = make_pvae_task(excerpts)
    audio = excerpts["train"][:3]
    controls = task.controls(audio)
    assert controls.shape == (3, SEQUENCE, 2 + 2 * 2) and ((controls > 0) & (controls < 1)).all()
    assert task.resynthesize(audio).shape == audio.shape
    assert task.features(audio)[0].shape == (3, SEQUENCE, 6)  # the grain model's bands


def test_pvae_trains_the_networks_and_not_the_grain_model(excerpts):
    task = make_pvae_task(excerpts)
    torch.manual_seed(3)
    out = task(task.train_batch(3, torch.Generator().manual_seed(0)))
    out["loss"].backward()
    trainable = list(task.trainable_parameters())
    assert torch.isfinite(out["loss"]) and all(p.grad is not None and torch.isfinite(p.grad).all() for p in trainable)
    assert sum(p.grad.abs().sum() for p in trainable) > 0
    assert not any(p.requires_grad for p in task.synth.grains.parameters())
    assert not {id(p) for p in task.synth.grains.parameters()} & {id(p) for p in trainable}


def test_pvae_validation_and_evaluation_repeat_and_skip_the_analysis(excerpts):
    task = make_pvae_task(excerpts).eval()
    batch = task.valid_batches(8)[0]
    with torch.no_grad():
        first, second = task.validation_step(batch), task.validation_step(batch)
        scores = task.evaluate_batch(task.test_sets(8)["test"][0], torch.Generator().manual_seed(0))
    assert first["loss"] == second["loss"]  # events drawn from a generator seeded by the excerpts
    assert set(scores) == {"model", "noise"} == set(ESTIMATORS["pvae"])
    assert all(torch.isfinite(v).all() for metrics in scores.values() for v in metrics.values())
    results, _ = evaluate_sets(task, batch_size=8, progress=False)
    assert set(results["test"]) == {"model", "noise"} and math.isfinite(results["test"]["model"]["fad_texstat"])


def test_pvae_loss_is_finite_on_silence_and_on_a_single_event(excerpts):
    """No NaN guard is needed: a silent target, a silent output and a single event all give finite
    losses and gradients."""
    task = make_pvae_task(excerpts)
    controls = torch.full((2, task.synth.n_params), 0.5, requires_grad=True)
    no_event = torch.full((2, 2, FRAME), 0.999)  # no event anywhere (an event needs U < p)
    one_event = no_event.clone()
    one_event[0, 0, 100] = 0.0  # one event in the first frame, at sample 100
    silent, single = task.synth(controls, uniforms=no_event), task.synth(controls, uniforms=one_event)
    assert torch.equal(silent, torch.zeros_like(silent))
    assert (single[0] != 0).sum() > 0 and torch.equal(single[1], torch.zeros(FRAME))
    targets = excerpts["train"][0]
    for uniforms, target in ((no_event, targets), (one_event, targets), (one_event, torch.zeros_like(targets))):
        controls.grad = None
        loss = task.loss(task.synth(controls, uniforms=uniforms), target)
        loss.backward()
        assert torch.isfinite(loss) and torch.isfinite(controls.grad).all()


def test_pvae_media_logs_events_grains_and_the_latent_map(excerpts):
    task, writer = make_pvae_task(excerpts), RecordingWriter()
    with torch.no_grad():
        task.log_media(writer, task.valid_batches(8)[0], step=1)
    assert {"figure/events", "audio/grain_0", "audio/grain_1", "figure/latent_map", "figure/spectrogram"} <= set(writer.tags)


def test_the_model_must_fit_its_synth(excerpts):
    grains = GrainSynth(latent_dim=2, sample_rate=FS, n_samples=1024, n_bands=6, n_coefficients=8, hidden=8, depth=1)
    with pytest.raises(ConfigError, match="'pvae' drives a PVAESynth, got a TexEnvSynth"):
        TextureTask(TexEnvSynth(FS, FRAME, 4, 4), TexStatLoss(FS, 4), excerpts=excerpts, model="pvae")
    with pytest.raises(ConfigError, match="'texdsp' drives a TexEnvSynth"):
        TextureTask(PVAESynth(grains, n_samples=FRAME, n_grains=2), TexStatLoss(FS, 4), excerpts=excerpts)
    with pytest.raises(ConfigError, match="model must be one of"):
        TextureTask(TexEnvSynth(FS, FRAME, 4, 4), TexStatLoss(FS, 4), excerpts=excerpts, model="nbn")
    task = make_pvae_task(excerpts)
    with pytest.raises(ConfigError, match="loudness=none"):
        task.resynthesize_frames(excerpts["test"][:1], loudness="generic")
