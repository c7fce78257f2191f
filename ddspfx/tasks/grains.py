"""The grain VAE of P-VAE (reference: textures.md §5): onset-aligned grains → q(z|x) → z → TexEnv grain.

Composition only. The recordings of one texture (`data.root`, or a built-in synthetic texture, as
the texture task) are cut into grains of L samples at their onsets (`ddspfx.data.grains`; or every
L samples with `align="regular"`), each grain z-normalized. Per grain:

    x      = log ERB band energies of the grain (`grain_descriptors`, the grain synth's N bands)
    q(z|x) = N(μ(x), diag σ²(x))                  `GrainEncoder` (mlp → μ, log σ²)
    z      = μ + σ·ε,  ε ~ N(0, I)                 reparameterized (`ddspfx.nn.vae.reparameterize`)
    x̂      = GrainSynth.decode(z)                  mlp → TexEnv controls → TexEnv, L samples
    loss   = loss(x̂, grain) + β·KL(q(z|x) ‖ N(0, I))

so the decoder is trained on latents drawn around the prior, and P-VAE (`ddspfx.synths.PVAESynth`)
later uses it only within ±latent_range σ of that prior (the reference's autoencoder had lost its
KL term and sampling, and its latents lived in (0, 1)² while P-VAE queried (−2, 2)², §7).

Batches are dicts: `audio` `(batch, L)` target grains, `descriptors` `(batch, N)`, `index` `(batch,)`.
Validation decodes the posterior means (no sampling: repeatable). Evaluation scores, per grain,
`mrstft` and `texstat` (the texture task's evaluation TexStat) of two estimators:

- `model`: the grain decoded from its posterior mean (the reconstruction);
- `prior`: a grain decoded from a prior draw (seeded; any grain of the model: how far a random grain
  of the latent space is from this one).

and `kl` (nats, summed over the latent axes) of the model's posterior.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Iterable, Mapping

import torch

from ddspfx.core.errors import ConfigError
from ddspfx.core.media import log_audio, spectrogram_figure, spectrogram_grid_figure
from ddspfx.core.metrics import MetricSpec
from ddspfx.core.task import Task
from ddspfx.data.errors import DataError
from ddspfx.data.grains import grain_descriptors, load_grains
from ddspfx.data.textures import TEXTURE_DATA, resolve_texture_folder
from ddspfx.encoders.grains import GrainEncoder
from ddspfx.losses.base import PairLoss
from ddspfx.losses.stft import MRSTFT
from ddspfx.losses.texstat import TexStatLoss
from ddspfx.nn.vae import gaussian_kl, reparameterize
from ddspfx.synths.grains import GrainSynth

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]
METRIC_ALPHA = (10.0, 1.0, 0.1, 0.01)  # the texture task's evaluation TexStat (§3.2, §6.2)
METRIC_BANDS, METRIC_MOD_BANDS = 16, 6
MAP_POINTS = 5  # the latent map: MAP_POINTS × MAP_POINTS grains over ±latent_range


class GrainTask(Task):
    """Train the grain VAE of P-VAE on one texture (module docstring).

    Args:
        grains: the `GrainSynth` (decoder and TexEnv; its n_samples is the grain length L). Held as
            `self.grains`, the prefix `load_grain_synth` reads from this task's checkpoints.
        encoder: `hidden`, `depth` of the `GrainEncoder`.
        loss: the reconstruction loss on grains `(batch, L)` (an audio `PairLoss`).
        metric_mrstft: the `mrstft` evaluation metric (None: auraloss's defaults).
        beta: weight of the KL term in nats against the loss's units (≥ 0; 0 is a plain autoencoder
            with sampling). With an MR-STFT loss, 1 and 0.01 let the posterior collapse on rain.
        data: `root`, `texture`, `synthetic`, `valid_fraction`, `test_fraction`, `seed`
            (`ddspfx.data.textures.TEXTURE_DATA`, as the texture task's; other keys are ignored).
        align, onset, min_grains: how grains are cut (`ddspfx.data.grains.load_grains`).
        grain_sets: `{split: (grains, L)}` target grains (tests); skips loading `data`.
    """

    def __init__(
        self,
        grains: GrainSynth,
        loss: PairLoss,
        encoder: Mapping[str, Any] | None = None,
        metric_mrstft: PairLoss | None = None,
        beta: float = 1e-3,
        data: Mapping[str, Any] | None = None,
        align: str = "onsets",
        onset: Mapping[str, Any] | None = None,
        min_grains: int = 8,
        grain_sets: Mapping[str, torch.Tensor] | None = None,
    ):
        super().__init__()
        if not (math.isfinite(float(beta)) and float(beta) >= 0):
            raise ConfigError(f"grains.beta must be a number >= 0 (the KL weight), got {beta!r}")
        if getattr(loss, "domain", "audio") != "audio":
            raise ConfigError(f"loss must compare audio, got a {type(loss).__name__} of domain {loss.domain!r}")
        self.grains, self.loss, self.beta = grains, loss, float(beta)
        self.sample_rate, self.length = int(grains.sample_rate), int(grains.n_samples)
        texenv = grains.texenv
        self.bands = (texenv.n_bands, texenv.low, texenv.high)
        try:
            self.encoder = GrainEncoder(texenv.n_bands, grains.latent_dim, **dict(encoder or {}))
        except (TypeError, ValueError) as error:
            raise ConfigError(f"encoder: {error} (options given: {dict(encoder or {})})") from None
        self._check_loss(loss, "loss")
        self.metric_texstat = TexStatLoss(self.sample_rate, METRIC_BANDS, METRIC_MOD_BANDS, alpha=METRIC_ALPHA)
        self.metric_mrstft = metric_mrstft if metric_mrstft is not None else MRSTFT()
        self.data = {**TEXTURE_DATA, **dict(data or {})}  # hop and pitch_shifts unused here
        self.texture = "given"
        sets = dict(grain_sets) if grain_sets is not None else self._load(align, dict(onset or {}), int(min_grains))
        self.sets = {split: {"audio": a, "descriptors": self.descriptors(a)} for split, a in sets.items()}

    def _check_loss(self, loss: PairLoss, key: str) -> None:
        """A ConfigError naming `key` when `loss` cannot compare two grains (e.g. an STFT longer than them)."""
        probe = torch.randn(2, self.length, generator=torch.Generator().manual_seed(0))
        try:
            loss(probe, probe.flip(0))
        except (RuntimeError, ValueError) as error:
            first = str(error).strip().splitlines()[0]
            raise ConfigError(f"{key} ({type(loss).__name__}) cannot compare grains of {self.length} samples: {first}") from None

    def _load(self, align: str, onset: dict, min_grains: int) -> dict[str, torch.Tensor]:
        name, folder = resolve_texture_folder(self.data, self.sample_rate)
        self.texture = name
        valid, test = float(self.data["valid_fraction"]), float(self.data["test_fraction"])
        grains = load_grains(folder, self.sample_rate, self.length, align=align, onset=onset, min_grains=min_grains)
        try:
            parts = grains.split((1.0 - valid - test, valid, test), seed=int(self.data["seed"]))
        except DataError as error:
            raise DataError(f"{error} ({len(grains.audio)} grains of {self.length} samples in {folder})") from None
        sets = {split: part.audio for split, part in zip(("train", "valid", "test"), parts)}
        log.info("grains of %r (%s): %d samples, aligned on %s, splits %s", name, folder, self.length, align,
                 {k: v.shape[0] for k, v in sets.items()})
        return sets

    # --- model -----------------------------------------------------------------------------
    def descriptors(self, audio: torch.Tensor) -> torch.Tensor:
        """The encoder's input: log ERB band energies `(batch, N)` of grains `(batch, L)`."""
        return grain_descriptors(audio, self.sample_rate, *self.bands)

    def posterior(self, descriptors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`(μ, log σ²)`, each `(batch, D)`."""
        return self.encoder(descriptors)

    def reconstruct(self, batch: Batch) -> torch.Tensor:
        """Grains `(batch, L)` decoded from the posterior means."""
        return self.grains.decode(self.posterior(batch["descriptors"])[0])

    def _terms(self, batch: Batch, sample: bool) -> dict[str, torch.Tensor]:
        mean, log_var = self.posterior(batch["descriptors"])
        z = reparameterize(mean, log_var) if sample else mean
        recon = self.loss(self.grains.decode(z), batch["audio"])
        kl = gaussian_kl(mean, log_var).mean()
        return {"loss": recon + self.beta * kl, "recon": recon.detach(), "kl": kl.detach()}

    # --- training --------------------------------------------------------------------------
    def epoch_steps(self, batch_size: int) -> int:
        return math.ceil(self.sets["train"]["audio"].shape[0] / batch_size)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A random batch of distinct training grains."""
        index = torch.randperm(self.sets["train"]["audio"].shape[0], generator=generator)[:batch_size]
        return {**{k: v[index] for k, v in self.sets["train"].items()}, "index": index}

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """`loss` = reconstruction of a posterior sample + β·KL; `recon` and `kl` logged."""
        return self._terms(batch, sample=True)

    def _batches(self, split: str, batch_size: int) -> list[Batch]:
        data = self.sets[split]
        chunks = torch.arange(data["audio"].shape[0]).split(batch_size)
        return [{**{k: v[c] for k, v in data.items()}, "index": c} for c in chunks]

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        return self._batches("valid", batch_size)

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """`loss`, `recon` and `kl` with the posterior means decoded (no sampling)."""
        return self._terms(batch, sample=False)

    # --- media -----------------------------------------------------------------------------
    def log_media(self, writer, batch: Batch, step: int, n_examples: int = 2) -> None:
        """Target and decoded grains, their spectrograms and the latent map (grains decoded on a grid
        of the first two latent axes, the others 0: the thesis's figure 2)."""
        target = batch["audio"][:n_examples]
        estimate = self.reconstruct({k: v[:n_examples] for k, v in batch.items()})
        for i in range(target.shape[0]):
            log_audio(writer, f"audio/grain_{i}", target[i], self.sample_rate, step)
            log_audio(writer, f"audio/decoded_{i}", estimate[i], self.sample_rate, step)
        writer.add_figure("figure/spectrogram", spectrogram_figure({"grain": target[0], "decoded": estimate[0]}, self.sample_rate), step)
        writer.add_figure("figure/latent_map", self.latent_map_figure(), step)

    def latent_map_figure(self, points: int = MAP_POINTS):
        """Spectrograms of grains decoded on a points × points grid over ±latent_range of z0, z1."""
        return latent_map_figure(self.grains, points)

    # --- evaluation ------------------------------------------------------------------------
    def test_sets(self, batch_size: int) -> dict[str, Iterable[Batch]]:
        return {"test": self._batches("test", batch_size)}

    def test_set_info(self) -> dict[str, dict]:
        return {"test": {"size": int(self.sets["test"]["audio"].shape[0]), "seed": int(self.data["seed"]),
                         "texture": self.texture, "grain": self.length}}

    def metric_specs(self) -> list[MetricSpec]:
        settings = "α = (10, 1, 0.1, 0.01), β = 1, 16 ERB bands, 6 modulation bands, per grain"
        return [
            MetricSpec("mrstft", description="auraloss multi-resolution STFT distance per grain"),
            MetricSpec("texstat", description=f"TexStat distance to the target grain ({settings})"),
            MetricSpec("kl", description="KL(q(z|x) ‖ N(0, I)) of the grain's posterior, nats (model only)"),
        ]

    def evaluate_batch(self, batch: Batch, generator: torch.Generator) -> dict[str, dict[str, torch.Tensor]]:
        """Per-grain scores `(batch,)` of the reconstruction and of a prior draw."""
        target = batch["audio"]
        mean, log_var = self.posterior(batch["descriptors"])
        _, prior = self.grains.sample(target.shape[0], generator=generator)
        scores = {name: self._scores(estimate, target) for name, estimate in
                  (("model", self.grains.decode(mean)), ("prior", prior.to(target.device)))}
        scores["model"]["kl"] = gaussian_kl(mean, log_var)
        return scores

    def _scores(self, estimate: torch.Tensor, target: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"mrstft": self.metric_mrstft.per_example(estimate, target),
                "texstat": self.metric_texstat.per_example(estimate, target)}


@torch.no_grad()
def latent_map_figure(grains: GrainSynth, points: int = MAP_POINTS):
    """Spectrograms of `grains` decoded on a points × points grid of (z0, z1) over ±latent_range
    (further latent axes at 0; a 1-D latent gives one row)."""
    values = torch.linspace(-grains.latent_range, grains.latent_range, points)
    rows = values.flip(0) if grains.latent_dim > 1 else values[:1] * 0
    z = torch.zeros(len(rows), points, grains.latent_dim)
    z[..., 0] = values
    if grains.latent_dim > 1:
        z[..., 1] = rows.unsqueeze(1)
    device = next(grains.parameters()).device
    audio = grains.decode(z.to(device)).cpu()
    return spectrogram_grid_figure(audio, grains.sample_rate, rows.tolist(), values.tolist(), "z1", "z0")
