"""Texture synthesis with TexDSP or P-VAE (reference: textures.md §4, §5): features → networks → synth → TexStat.

Composition only. A recording of one texture (`data.root`, or a built-in synthetic texture) is cut
into excerpts of `sequence` consecutive frames of n samples (`ddspfx.data.textures`; excerpts start
every `data.hop` samples, the frames inside an excerpt do not overlap), each excerpt z-normalized.
Per frame: the log ERB band energies and the log2 spectral centroid (`ddspfx.dsp.texture_features`)
→ `TexDSPEncoder` (one mlp per feature, then a GRU over the excerpt's frames: time, not the batch)
→ `TexDSPDecoder` (amplitudes and phases in [0, 1]) → `TexEnvSynth` renders the frame → the loss
(`loss`: TexStat, an MR-STFT, or their sum; any audio `PairLoss`) against the target frame, plus
the optional feature regularizer of §4.3: `regularizer`·Σ_f ‖f(x̂) − f(x)‖₂ / numel (0.2 in the
reference; 0 = off).

Batches are dicts: `audio` `(batch, sequence, n)` target excerpts, `index` `(batch,)` excerpt indices.

Evaluation (`evaluate_batch`), per excerpt (the mean over its frames), at the model's frame length:
`texstat` (α = (10, 1, 0.1, 0.01), β = 1, N = 16, M = 6: the paper's frame-level evaluation
settings, whatever the training loss), its group values `texstat_s1` … `texstat_s5`, and `mrstft`
(auraloss MR-STFT, `metric_mrstft`), for three estimators:

- `model`: the network's resynthesis;
- `noise`: white noise shaped to the target frame's ERB band energies (a baseline: the right
  spectrum envelope and no texture);
- `texenv_analysis`: the target analysed by `synth.analyze` at the model's order K and resynthesized
  with the model's carriers (the best any controls of this synth reach in the least-squares sense:
  an upper reference).

`model="pvae"` swaps the decoder and the synth (§5): the same encoder's latent per frame → an mlp →
sigmoid → the controls of `PVAESynth` (event rate λ, amplitude exponent α and K grain latents, each
mapped into the grain VAE's prior within ±latent_range σ) → Poisson-like events × the frozen grain
VAE's grains. Its event draws use the global RNG in training (seeded and checkpointed by the
Trainer) and a generator seeded by the excerpt's index in validation and evaluation, so scores are
repeatable. It has no analysis, so its estimators are `model` and `noise`.

and, per test set (`end_test_set`), `fad_texstat`: the Fréchet distance between the estimator's
frames and the target frames as sets of texture-statistics vectors (S1–S3 with α = (1, 0.1, 0.01,
0.001), 280 values at N = 16, M = 6: the paper's "FAD-ours", at the model's frame length). With
fewer frames than dimensions the covariances are rank-deficient: the distance is still exact for
the fitted Gaussians, but biased upwards by small sets; compare it only between runs with the same
test set (metrics.json records its size).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch
from torch import nn

from ddspfx.core.errors import ConfigError, DataError
from ddspfx.core.media import curves_figure, curves_panels_figure, log_audio, spectrogram_figure
from ddspfx.core.metrics import MetricSpec
from ddspfx.core.task import Task
from ddspfx.data.textures import TEXTURE_DATA, load_texture_frames, resolve_texture_folder
from ddspfx.dsp.filterbanks import apply_filterbank, erb_filterbank, hilbert_envelope, synthesize_subbands
from ddspfx.dsp.texture_features import texture_features
from ddspfx.encoders.texture import TexDSPEncoder
from ddspfx.heads.deterministic import SigmoidHead
from ddspfx.nn.layernorm_mlp import layernorm_mlp
from ddspfx.nn.texenv_decoder import TexDSPDecoder
from ddspfx.losses.base import PairLoss
from ddspfx.losses.metrics import frechet_distance
from ddspfx.losses.stft import MRSTFT
from ddspfx.losses.texstat import GROUPS, TexStatLoss, statistics_embedding
from ddspfx.synths.pvae import PVAESynth
from ddspfx.tasks.grains import latent_map_figure
from ddspfx.synths.texenv import TexEnvSynth, erb_subbands

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]
FEATURES = ("energy", "centroid")  # the encoder's inputs, in this order
METRIC_ALPHA = (10.0, 1.0, 0.1, 0.01)  # the paper's evaluation weights (§3.2, §6.2)
METRIC_BANDS, METRIC_MOD_BANDS = 16, 6
MODELS = {"texdsp": TexEnvSynth, "pvae": PVAESynth}  # model name → the synth it drives
ESTIMATORS = {"texdsp": ("model", "noise", "texenv_analysis"), "pvae": ("model", "noise")}
EVAL_FRAMES = 32  # frames rendered and scored at once in evaluation (bounds memory)
NORMALIZE_EPS = 1e-8  # std floor of the excerpt z-normalization (silence stays 0)


def normalize_excerpts(audio: torch.Tensor) -> torch.Tensor:
    """Each excerpt `(..., sequence, n)` to zero mean and unit variance over all its samples."""
    flat = audio.flatten(-2)
    mean, std = flat.mean(-1, keepdim=True), flat.std(-1, keepdim=True).clamp_min(NORMALIZE_EPS)
    return ((flat - mean) / std).view_as(audio)


def _build(key: str, cls: type, options: Mapping[str, Any] | None, *args) -> nn.Module:
    """`cls(*args, **options)`; a ConfigError naming `key` for an unknown option or a bad value."""
    try:
        return cls(*args, **dict(options or {}))
    except (TypeError, ValueError) as error:
        raise ConfigError(f"{key}: {error} (options given: {dict(options or {})})") from None


def pvae_decoder(in_dim: int, n_params: int, hidden: int = 256, depth: int = 3) -> nn.Module:
    """The P-VAE decoder: latent `(..., in_dim)` → mlp(H, D) → Linear → sigmoid → controls `(..., n_params)`."""
    return nn.Sequential(layernorm_mlp(in_dim, hidden, depth), SigmoidHead(int(hidden), int(n_params)))


class TextureTask(Task):
    """Learn a TexDSP or P-VAE model of one texture (module docstring).

    Args:
        synth: the `TexEnvSynth` (model texdsp) or `PVAESynth` (model pvae); its n_samples is the
            frame length, its n_bands, low and high the features' ERB bands.
        model: "texdsp" or "pvae".
        loss: the training loss on frames `(frames, n)` (e.g. `TexStatLoss`, `MRSTFT`, a `WeightedSum`).
        metric_mrstft: the `mrstft` evaluation metric (None: auraloss's defaults).
        sequence: frames per excerpt, the GRU's time steps.
        encoder: `hidden` H_enc, `depth` D_enc.
        decoder: `hidden` H_dec, `depth` D_dec, and for texdsp `initial_amplitude` (see `TexDSPDecoder`).
        regularizer: weight of the feature regularizer (0: off; the reference's 0.2).
        data: `root`, `texture`, `synthetic`, `hop`, `pitch_shifts`, `valid_fraction`,
            `test_fraction`, `seed` (see `ddspfx.data.textures.TEXTURE_DATA`).
        excerpts: `{split: (excerpts, sequence, n)}` target excerpts (tests); skips loading `data`.
    """

    def __init__(
        self,
        synth: TexEnvSynth | PVAESynth,
        loss: PairLoss,
        metric_mrstft: PairLoss | None = None,
        sequence: int = 4,
        encoder: Mapping[str, Any] | None = None,
        decoder: Mapping[str, Any] | None = None,
        regularizer: float = 0.0,
        data: Mapping[str, Any] | None = None,
        excerpts: Mapping[str, torch.Tensor] | None = None,
        model: str = "texdsp",
    ):
        super().__init__()
        if model not in MODELS:
            raise ConfigError(f"model must be one of {list(MODELS)}, got {model!r}")
        if not isinstance(synth, MODELS[model]):
            raise ConfigError(f"model {model!r} drives a {MODELS[model].__name__}, got a {type(synth).__name__}")
        if isinstance(sequence, bool) or not isinstance(sequence, int) or sequence < 1:
            raise ConfigError(f"sequence must be an int >= 1 (frames per excerpt), got {sequence!r}")
        if getattr(loss, "domain", "audio") != "audio":
            raise ConfigError(f"loss must compare audio, got a {type(loss).__name__} of domain {loss.domain!r}")
        self.synth, self.loss = synth, loss
        self.sample_rate, self.frame, self.sequence = int(synth.sample_rate), synth.n_samples, int(sequence)
        self.regularizer = float(regularizer)
        self.data = {**TEXTURE_DATA, **dict(data or {})}
        self.encoder = _build("encoder", TexDSPEncoder, encoder, [synth.n_bands, 1])  # config errors before the data
        self.model, self.estimators = model, ESTIMATORS[model]
        if model == "texdsp":
            self.decoder = _build("decoder", TexDSPDecoder, decoder, self.encoder.out_dim, synth.n_carriers, synth.n_coefficients)
        else:
            self.decoder = _build("decoder", pvae_decoder, decoder, self.encoder.out_dim, synth.n_params)
        self.metric_texstat = TexStatLoss(self.sample_rate, METRIC_BANDS, METRIC_MOD_BANDS, alpha=METRIC_ALPHA)
        self.metric_mrstft = metric_mrstft if metric_mrstft is not None else MRSTFT()
        self.texture = "given"
        self._embeddings: dict[str, list[torch.Tensor]] = {}  # statistics vectors of a test set (evaluation)
        self.excerpts = dict(excerpts) if excerpts is not None else self._load_excerpts()

    def _load_excerpts(self) -> dict[str, torch.Tensor]:
        name, folder = resolve_texture_folder(self.data, self.sample_rate)
        self.texture = name
        hop = int(self.data["hop"] or self.sequence * self.frame)
        valid, test = float(self.data["valid_fraction"]), float(self.data["test_fraction"])
        try:
            frames = load_texture_frames(
                folder, self.sample_rate, self.sequence * self.frame, hop, pitch_shifts=list(self.data["pitch_shifts"] or ())
            )
            parts = frames.split((1.0 - valid - test, valid, test), seed=int(self.data["seed"]))
        except DataError as error:
            raise DataError(f"{error} (a training item is sequence={self.sequence} frames of {self.frame} samples)") from None
        excerpts = {
            split: normalize_excerpts(part.audio.view(-1, self.sequence, self.frame))
            for split, part in zip(("train", "valid", "test"), parts)
        }
        sizes = {k: v.shape[0] for k, v in excerpts.items()}
        log.info("texture %r (%s): excerpts of %d x %d samples, hop %d, splits %s", name, folder,
                 self.sequence, self.frame, hop, sizes)
        return excerpts

    # --- model -----------------------------------------------------------------------------
    def features(self, audio: torch.Tensor) -> list[torch.Tensor]:
        """The encoder's inputs of frames `(..., n)`: [energies `(..., N)`, centroid `(..., 1)`]."""
        synth = self.synth
        values = texture_features(audio.flatten(0, -2), self.sample_rate, synth.n_bands, synth.low, synth.high)
        return [values[key].view(*audio.shape[:-1], -1) for key in FEATURES]

    def controls(self, audio: torch.Tensor) -> torch.Tensor:
        """Synth controls `(batch, sequence, 2·N·K)` for target excerpts `(batch, sequence, n)`."""
        return self.decoder(self.encoder(self.features(audio)))

    def render(self, controls: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Frames `(frames, n)` of controls `(frames, n_params)`; P-VAE draws its events with
        `generator` (None: the global RNG)."""
        if self.model == "pvae":
            return self.synth(controls, generator=generator)
        return self.synth(controls)

    def resynthesize(self, audio: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """The model's frames `(batch, sequence, n)` for target excerpts of that shape."""
        return self.render(self.controls(audio).flatten(0, 1), generator).view_as(audio)

    def resynthesize_frames(
        self,
        frames: torch.Tensor,
        state: torch.Tensor | None = None,
        loudness: str | None = None,
        target_loudness: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Inference on consecutive frames, in as many calls as wanted: `(audio, state)`.

        Args:
            frames: `(batch, frames, n)` consecutive input frames of each sequence, as the model
                should see them (z-normalized, as the training excerpts are).
            state: the GRU state `(1, batch, H_enc)` returned by the previous call on the same
                sequences (None: zeros, the start of a sequence).
            loudness, target_loudness: level imposition of `TexEnvSynth.forward` (None: off, the
                training path); `target_loudness` `(batch, frames)` ("generic") or
                `(batch, frames, n_carriers)` ("specific").

        Returns:
            the model's frames `(batch, frames, n)` and the GRU state after the last frame. Calls on
            consecutive chunks, each given the previous call's state, give the frames of one call on
            the whole sequence.
        """
        latents, state = self.encoder.step(self.features(frames), state)
        controls = self.decoder(latents).flatten(0, 1)
        if self.model == "pvae":
            if loudness is not None:
                raise ConfigError(f"loudness={loudness!r}: P-VAE has no level imposition; use loudness=none")
            return self.render(controls).view_as(frames), state
        if target_loudness is not None:
            target_loudness = target_loudness.flatten(0, 1)
        audio = self.synth(controls, loudness=loudness, target_loudness=target_loudness)
        return audio.view_as(frames), state

    def regularization(self, estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Σ_f ‖f(x̂) − f(x)‖₂ / numel over the features of frames `(..., n)` (unweighted, §4.3)."""
        pairs = zip(self.features(estimate), self.features(target))
        return sum(torch.linalg.vector_norm(a - b) / a.numel() for a, b in pairs)

    # --- training --------------------------------------------------------------------------
    def epoch_steps(self, batch_size: int) -> int:
        return math.ceil(self.excerpts["train"].shape[0] / batch_size)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A random batch of distinct training excerpts."""
        index = torch.randperm(self.excerpts["train"].shape[0], generator=generator)[:batch_size]
        return {"audio": self.excerpts["train"][index], "index": index}

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        target = batch["audio"]
        estimate = self.resynthesize(target)
        main = self.loss(estimate.flatten(0, 1), target.flatten(0, 1))
        if self.regularizer <= 0:
            return {"loss": main}
        penalty = self.regularization(estimate, target)
        return {"loss": main + self.regularizer * penalty, "main": main.detach(), "regularizer": penalty.detach()}

    @staticmethod
    def _generator(batch: Batch) -> torch.Generator:
        """A generator seeded by the batch's first excerpt index (repeatable validation draws)."""
        return torch.Generator().manual_seed(int(batch["index"][0]) if batch["index"].numel() else 0)

    def _batches(self, split: str, batch_size: int) -> list[Batch]:
        audio = self.excerpts[split]
        return [{"audio": audio[chunk], "index": chunk} for chunk in torch.arange(audio.shape[0]).split(batch_size)]

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        return self._batches("valid", batch_size)

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """`loss` (the training loss without the regularizer) and the TexStat group values `s1` … `s5`
        (evaluation weights, before β)."""
        target = batch["audio"].flatten(0, 1)
        estimate = self.resynthesize(batch["audio"], self._generator(batch)).flatten(0, 1)
        groups = self.metric_texstat.group_losses(estimate, target)
        return {"loss": self.loss(estimate, target), **{g: v.mean() for g, v in groups.items()}}

    # --- media -----------------------------------------------------------------------------
    def log_media(self, writer, batch: Batch, step: int, n_examples: int = 2) -> None:
        """Target and model excerpts (frames joined), a spectrogram pair and the envelope figure."""
        target = batch["audio"][:n_examples]
        estimate = self.resynthesize(target)
        for i in range(target.shape[0]):
            log_audio(writer, f"audio/target_{i}", target[i].flatten(), self.sample_rate, step)
            log_audio(writer, f"audio/model_{i}", estimate[i].flatten(), self.sample_rate, step)
        pair = {"target": target[0].flatten(), "model": estimate[0].flatten()}
        writer.add_figure("figure/spectrogram", spectrogram_figure(pair, self.sample_rate), step)
        writer.add_figure("figure/envelopes", self.envelope_figure(target[0, 0], estimate[0, 0]), step)
        if self.model == "pvae":
            self._log_pvae(writer, target[0], step)

    @torch.no_grad()
    def _log_pvae(self, writer, excerpt: torch.Tensor, step: int) -> None:
        """P-VAE: the event trains of an excerpt's frames (`figure/events`, with each frame's λ and
        α), the K grains of its first frame (`audio/grain_k`) and the grain model's latent map."""
        controls = self.controls(excerpt.unsqueeze(0))[0]
        rate, alpha, z = self.synth.controls_to_physical(controls)
        events = self.synth.events(controls, generator=torch.Generator().manual_seed(0)).cpu()
        seconds = torch.arange(events.shape[-1]) / self.sample_rate
        curves = {f"frame {i}: λ {r:.3g}/s, α {a:.3g}": e for i, (e, r, a) in enumerate(zip(events, rate.tolist(), alpha.tolist()))}
        writer.add_figure("figure/events", curves_figure(seconds, curves, "time in the frame (s)", "event amplitude"), step)
        for k, grain in enumerate(self.synth.grain_bank(z[:1])[0]):
            log_audio(writer, f"audio/grain_{k}", grain, self.sample_rate, step)
        writer.add_figure("figure/latent_map", latent_map_figure(self.synth.grains), step)

    def envelope_figure(self, target: torch.Tensor, estimate: torch.Tensor, n_panels: int = 3, points: int = 512):
        """Hilbert envelopes of a few ERB bands over one frame `(n,)`, target vs model (averaged over
        blocks of n / `points` samples)."""
        synth = self.synth
        frames = torch.stack([target, estimate])
        envelopes = hilbert_envelope(erb_subbands(frames, self.sample_rate, synth.n_bands, synth.low, synth.high))
        block = max(1, self.frame // points)
        envelopes = envelopes[..., : self.frame // block * block].unflatten(-1, (-1, block)).mean(-1)
        seconds = (torch.arange(envelopes.shape[-1]) + 0.5) * block / self.sample_rate
        bands = torch.linspace(0, synth.n_bands - 1, n_panels).round().long().unique().tolist()
        panels = {f"time (s), band {b + 1}": (seconds, {"target": envelopes[0, b], "model": envelopes[1, b]}) for b in bands}
        return curves_panels_figure(panels, "envelope")

    # --- evaluation ------------------------------------------------------------------------
    def test_sets(self, batch_size: int) -> dict[str, Iterable[Batch]]:
        return {"test": self._batches("test", batch_size)}

    def test_set_info(self) -> dict[str, dict]:
        return {"test": {"size": int(self.excerpts["test"].shape[0]), "seed": int(self.data["seed"]),
                         "texture": self.texture, "frame": self.frame, "sequence": self.sequence}}

    def metric_specs(self) -> list[MetricSpec]:
        settings = "α = (10, 1, 0.1, 0.01), β = 1, 16 ERB bands, 6 modulation bands, per frame"
        specs = [MetricSpec("texstat", description=f"TexStat distance to the target ({settings})")]
        specs += [MetricSpec(f"texstat_{g}", description=f"TexStat group {g} (before β; {settings})") for g in GROUPS]
        specs.append(MetricSpec("mrstft", description="auraloss multi-resolution STFT distance per frame"))
        fad = "Fréchet distance between the S1-S3 texture statistics (α = (1, 0.1, 0.01, 0.001)) of the estimator's and the target's frames (per test set)"
        return specs + [MetricSpec("fad_texstat", description=fad)]

    def begin_test_set(self, name: str) -> None:
        self._embeddings: dict[str, list[torch.Tensor]] = {"target": [], **{e: [] for e in self.estimators}}

    def end_test_set(self, name: str) -> dict[str, dict[str, torch.Tensor]]:
        """`fad_texstat` of every estimator against the target frames of the set."""
        sets = {k: torch.cat(v) for k, v in self._embeddings.items() if v}
        self._embeddings = {}
        if "target" not in sets or sets["target"].shape[0] < 2:
            log.warning("fad_texstat not computed for test set %r: it needs at least 2 frames", name)
            return {}
        return {e: {"fad_texstat": frechet_distance(sets[e], sets["target"])} for e in self.estimators if e in sets}

    def evaluate_batch(self, batch: Batch, generator: torch.Generator) -> dict[str, dict[str, torch.Tensor]]:
        """Per-excerpt scores `(batch,)` (means over the frames) of the model and both references."""
        chunk = max(1, EVAL_FRAMES // self.sequence)
        parts = [self._evaluate_excerpts(audio, generator) for audio in batch["audio"].split(chunk)]
        return {e: {m: torch.cat([p[e][m] for p in parts]) for m in parts[0][e]} for e in parts[0]}

    def _evaluate_excerpts(self, audio: torch.Tensor, generator: torch.Generator) -> dict[str, dict[str, torch.Tensor]]:
        target = audio.flatten(0, 1)
        estimates = {
            "model": self.resynthesize(audio, generator).flatten(0, 1),
            "noise": self.shaped_noise(target, generator),
        }
        if "texenv_analysis" in self.estimators:
            estimates["texenv_analysis"] = self.synth.synthesize(self.synth.analyze(target))
        statistics = self.metric_texstat.statistics(target)
        self._collect("target", statistics)
        return {name: self._scores(estimate, target, statistics, name) for name, estimate in estimates.items()}

    def _collect(self, name: str, statistics: dict[str, torch.Tensor]) -> None:
        """Keep the frames' statistics vectors for `end_test_set` (when evaluating a test set)."""
        if self._embeddings:
            self._embeddings[name].append(statistics_embedding(statistics).double().cpu())

    def _scores(self, estimate: torch.Tensor, target: torch.Tensor, statistics: dict[str, torch.Tensor], name: str) -> dict[str, torch.Tensor]:
        """Per-excerpt scores of one estimator's frames `(excerpts·sequence, n)`."""
        ours = self.metric_texstat.statistics(estimate)
        self._collect(name, ours)
        groups = self.metric_texstat.compare(ours, statistics)
        scores = {"texstat": sum(groups.values()), **{f"texstat_{g}": v for g, v in groups.items()}}
        scores["mrstft"] = self.metric_mrstft.per_example(estimate, target)
        return {k: v.view(-1, self.sequence).mean(1) for k, v in scores.items()}

    def shaped_noise(self, target: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """The noise baseline: white noise `(frames, n)` (drawn with `generator`) under a gain curve
        that interpolates per-band gains with the bank's squared responses, Σ_i g_i·H_i(f)² (Σ H² = 1):
        g_i scales the noise's ERB subband i to the L2 norm of the target frame's. Re-measured band
        norms are near the target's, not equal (neighbouring bands overlap)."""
        synth = self.synth
        responses, _ = erb_filterbank(self.frame, self.sample_rate, synth.n_bands, synth.low, synth.high, target.dtype, target.device)
        responses = responses if synth.edge_bands else responses[1:-1]
        noise = torch.randn(target.shape, generator=generator, dtype=target.dtype).to(target.device)
        bands = apply_filterbank(noise, responses)
        gains = apply_filterbank(target, responses).norm(dim=-1) / bands.norm(dim=-1).clamp_min(NORMALIZE_EPS)
        return synthesize_subbands(bands * gains.unsqueeze(-1), responses)
