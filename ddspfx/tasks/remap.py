"""Drum timbre remapping (reference: timbreremap.md, NIME 2024).

Composition only. A drum recording → hits (`ddspfx.dsp.onsets`) → the 7 target features of each
hit minus those of the reference hit, ΔF, and 3 onset features of its first `window` samples
(`ddspfx.data.drums`). A mapping network m turns the onset features into modulations of a TR-808
snare preset, θ = clip(θ_preset + d ⊙ m(x), 0, 1) (`ddspfx.heads.mapping`); the synth renders θ
(`ddspfx.synths.Snare808`) and the loss compares the change of the synth's features from the
preset's own, ŷ − r, with ΔF (`ddspfx.losses.features`).

`model="direct"` is the direct-optimisation baseline (reference §8): no network, one free
modulation per test hit optimised on the test hits themselves (no damping), an upper bound.

Batches are dicts: `inputs` (batch, 3) normalized onset features centred on the reference hit,
`targets` (batch, 7) ΔF, `index` (batch,) hit indices in the dataset, `slot` (batch,) position in
the set a direct optimisation optimises.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from ddspfx.core.errors import ConfigError
from ddspfx.core.media import curves_panels_figure, log_audio, spectrogram_figure
from ddspfx.core.metrics import MetricSpec
from ddspfx.core.task import Task
from ddspfx.data.drums import DrumDataset, build_drum_dataset, drum_folders, load_hits
from ddspfx.data.virtual_drums import write_virtual_drums
from ddspfx.dsp.features import (
    MIN_TARGET_SAMPLES,
    ONSET_FEATURES,
    TARGET_FEATURES,
    TARGET_LABELS,
    TARGET_UNITS,
    target_features,
)
from ddspfx.heads.mapping import DirectModulation, build_mapping, modulate
from ddspfx.losses.features import FeatureDifferenceLoss, range_weights
from ddspfx.synths.snare808 import Snare808, load_preset

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]
DIRECT = "direct"
MEAN = "mean"  # the mean of the 7 per-feature errors
FEATURE_CHUNK = 64  # hits per synth render when the task renders whole sets without gradients
DEFAULT_DATA = {
    "root": None,  # a folder of recordings, or of drum sub-folders; None: the built-in virtual snares
    "drum": None,  # the sub-folder of an SDSS-style root; None: the first
    "synthetic": {"folder": "outputs/data/virtual_drums", "seconds": 45.0, "seed": 0},
    "valid_fraction": 0.1,
    "test_fraction": 0.1,
    "seed": 0,
    "min_hits": 10,
    "detector": {},
}


def drums_root(data: Mapping[str, Any], sample_rate: int) -> Path:
    """`data.root`, or the folder of the built-in virtual snares (written once)."""
    root = data.get("root")
    if root is None:
        synthetic = dict(data["synthetic"])
        root = synthetic.pop("folder")
        write_virtual_drums(root, sample_rate=sample_rate, **synthetic)
    return Path(root)


def resolve_drum_folder(data: Mapping[str, Any], sample_rate: int) -> tuple[str, Path]:
    """`(name, folder)` of the drum to train on: `data.root` (one drum, or `data.drum` among the
    sub-folders of an SDSS-style root, the first when not set), or the built-in virtual snares,
    written once under `data.synthetic.folder`."""
    root = drums_root(data, sample_rate)
    drums = drum_folders(root)
    drum = data.get("drum")
    if drum is None:
        name = next(iter(drums))
        if len(drums) > 1:
            log.info("%s holds %d drums %s: training on %r (choose with data.drum=<name>)", root, len(drums), list(drums), name)
        return name, drums[name]
    if str(drum) not in drums:
        raise ConfigError(f"data.drum={drum!r} is not a drum folder of {root}; found {sorted(drums)}")
    return str(drum), drums[str(drum)]


def group_means(values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
    """Mean of `values` `(n, …)` per group id `groups` `(n,)` → `(n_groups, …)` (0 for empty groups).

    A group's sum adds its rows one by one in their order (index_add) whatever the other groups,
    so a single run's batch mean (`batch_mean`) is bit for bit a grid member's
    (`ddspfx.tasks.remap_grid`); `Tensor.mean` sums in another order (vectorized)."""
    sums = values.new_zeros((n_groups, *values.shape[1:])).index_add(0, groups, values)
    counts = torch.bincount(groups, minlength=n_groups).clamp_min(1).to(values.dtype)
    return sums / counts.view(-1, *([1] * (values.dim() - 1)))


def batch_mean(values: torch.Tensor) -> torch.Tensor:
    """Mean of `values` `(n, …)` over the batch dimension, as `group_means` with a single group."""
    return group_means(values, values.new_zeros(values.shape[0], dtype=torch.long), 1)[0]


def seeded_mapping(kind: str, n_params: int, init_std: float | None, seed: int | None) -> nn.Module:
    """`build_mapping(kind, n_params, init_std)` with its initial weights drawn from `seed`
    (the global RNG untouched), or from the global RNG when `seed` is None."""
    if seed is None:
        return build_mapping(kind, n_params, init_std)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        return build_mapping(kind, n_params, init_std)


class RemapTask(Task):
    """Learn onset features → TR-808 snare modulations from one drum's hits.

    Args:
        synth: the differentiable synth (a `Snare808`).
        preset: a preset name of `conf/presets/808/` or a JSON file in that format.
        model: "linear", "mlp", "mlp_lrg" (reference §6) or "direct" (§8).
        init_std: initial weight std of the network (None: the paper's for the model).
        init_seed: seed of the network's initial weights (None: the global RNG); the same seed
            gives the same weights in a single run and in a grid (`ddspfx.tasks.remap_grid`).
        window: onset-feature window in samples (256 or 2048 in the paper).
        data: `root`, `drum`, `synthetic`, `valid_fraction`, `test_fraction`, `seed`, `min_hits`,
            `detector` (see `DEFAULT_DATA`).
        loss_weights: None (the paper), "range" (1 / spread of the training targets per feature)
            or 7 numbers.
        clamp_features: reproduce the reference's ±1 clamp inside K-weighting.
        dataset: a built `DrumDataset` (tests); `data` then only gives the split settings.
    """

    def __init__(
        self,
        synth: Snare808,
        preset: str = "snare_1",
        model: str = "mlp",
        init_std: float | None = None,
        init_seed: int | None = None,
        window: int = 256,
        data: Mapping[str, Any] | None = None,
        loss_weights: str | Sequence[float] | None = None,
        clamp_features: bool = False,
        dataset: DrumDataset | None = None,
    ):
        super().__init__()
        self.synth = synth
        self.sample_rate = int(synth.sample_rate)
        self.model_kind = str(model)
        self.window = int(window)
        self.clamp_features = bool(clamp_features)
        self.data = {**DEFAULT_DATA, **dict(data or {})}
        self.direct = self.model_kind == DIRECT
        self.fit_split = "test" if self.direct else "train"
        preset_controls, damping = load_preset(preset, sample_rate=self.sample_rate)  # config errors before the data
        network = None if self.direct else seeded_mapping(self.model_kind, synth.n_params, init_std, init_seed)
        self.dataset = dataset if dataset is not None else self._load_dataset()
        self.register_buffer("preset", preset_controls)
        self.register_buffer("damping", torch.ones_like(damping) if self.direct else damping)
        with torch.no_grad():
            self.register_buffer("preset_features", self._features(self.preset[None])[0])  # r
        # the input normalization and the reference hit, kept with the weights for export
        stats = self.dataset.tensors()
        for key in ("onset_min", "onset_max", "onset_reference"):
            self.register_buffer(key, stats[key].clone())
        self.register_buffer("reference_hit_features", stats["reference_features"].clone())
        n_fit = len(self.dataset.splits[self.fit_split])
        self.mapping = DirectModulation(n_fit, synth.n_params) if self.direct else network
        self.loss = FeatureDifferenceLoss(self._loss_weights(loss_weights))

    def _load_dataset(self) -> DrumDataset:
        name, folder = resolve_drum_folder(self.data, self.sample_rate)
        hits = load_hits(folder, self.sample_rate, min_hits=int(self.data["min_hits"]), detector=dict(self.data["detector"] or {}))
        dataset = build_drum_dataset(
            hits, window=self.window, valid_fraction=float(self.data["valid_fraction"]),
            test_fraction=float(self.data["test_fraction"]), seed=int(self.data["seed"]),
        )
        sizes = {k: len(v) for k, v in dataset.splits.items()}
        log.info("drum %r (%s): %d hits, splits %s, reference hit %d", name, folder, len(hits.audio), sizes, dataset.reference)
        return dataset

    def _loss_weights(self, weights) -> torch.Tensor | None:
        if weights is None:
            return None
        if weights == "range":
            return range_weights(self.dataset.targets[self.dataset.splits["train"]])
        if isinstance(weights, str):
            raise ConfigError(f"loss_weights must be null, 'range' or {len(TARGET_FEATURES)} numbers, got {weights!r}")
        return torch.as_tensor(list(weights), dtype=torch.float32)

    # --- model -----------------------------------------------------------------------------
    def _features(self, controls: torch.Tensor) -> torch.Tensor:
        # the 7 features read the first MIN_TARGET_SAMPLES samples only: render no more (causal synth)
        audio = self.synth(controls, n_samples=MIN_TARGET_SAMPLES)
        return target_features(audio, self.sample_rate, clamp=self.clamp_features)

    def controls(self, batch: Batch) -> torch.Tensor:
        """Synth controls θ `(batch, 14)` for a batch of hits."""
        modulation = self.mapping(batch["slot"] if self.direct else batch["inputs"])
        return modulate(self.preset, self.damping, modulation)

    def feature_change(self, batch: Batch) -> torch.Tensor:
        """ŷ − r: how the synth's answer differs from the preset's sound, `(batch, 7)`."""
        return self._features(self.controls(batch)) - self.preset_features

    # --- training --------------------------------------------------------------------------
    def _batch(self, split: str, positions: torch.Tensor) -> Batch:
        index = self.dataset.splits[split][positions]
        return {
            "inputs": self.dataset.inputs[index],
            "targets": self.dataset.targets[index],
            "index": index,
            "slot": positions,
        }

    def epoch_steps(self, batch_size: int) -> int:
        return math.ceil(len(self.dataset.splits[self.fit_split]) / batch_size)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A random batch of distinct training hits (all test hits in direct mode)."""
        n = len(self.dataset.splits[self.fit_split])
        return self._batch(self.fit_split, torch.randperm(n, generator=generator)[:batch_size])

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """`loss`: the feature-difference loss, its batch mean taken as a grid member's (`batch_mean`)."""
        return {"loss": batch_mean(self.loss.per_example(self.feature_change(batch), batch["targets"]))}

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        split = "test" if self.direct else "valid"
        return self._batches(split, batch_size)

    def _batches(self, split: str, batch_size: int) -> list[Batch]:
        n = len(self.dataset.splits[split])
        return [self._batch(split, chunk) for chunk in torch.arange(n).split(batch_size)]

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """`loss` (the training loss) and the mean absolute error of each feature."""
        change = self.feature_change(batch)
        errors = batch_mean((change - batch["targets"]).abs())
        return {"loss": batch_mean(self.loss.per_example(change, batch["targets"])), **dict(zip(TARGET_FEATURES, errors))}

    # --- media -----------------------------------------------------------------------------
    def log_media(self, writer, batch: Batch, step: int, n_examples: int = 3) -> None:
        """Input hits beside the synth's answers, the reference hit and the preset, a
        spectrogram pair and the modulations against each onset feature."""
        batch = {k: v[:n_examples] for k, v in batch.items()}
        rate = self.sample_rate
        answers = self.synth(self.controls(batch))
        hits = self.dataset.hits.audio[batch["index"].cpu()]
        for i in range(answers.shape[0]):
            log_audio(writer, f"audio/hit_{i}", hits[i], rate, step)
            log_audio(writer, f"audio/synth_{i}", answers[i], rate, step)
        log_audio(writer, "audio/reference_hit", self.dataset.reference_audio, rate, step)
        log_audio(writer, "audio/preset", self.synth(self.preset[None])[0], rate, step)
        writer.add_figure("figure/spectrogram", spectrogram_figure({"hit": hits[0], "synth": answers[0]}, rate), step)
        if not self.direct:
            writer.add_figure("figure/modulations", self.modulation_figure(), step)

    def modulation_figure(self, points: int = 33):
        """The damped modulation d ⊙ m(x) of every parameter as one onset feature sweeps the
        training range of the inputs (the others held at the reference hit's value, 0)."""
        inputs = self.dataset.inputs[self.dataset.splits["train"]]
        panels = {}
        for j, name in enumerate(ONSET_FEATURES):
            sweep = torch.linspace(float(inputs[:, j].min()), float(inputs[:, j].max()), points)
            x = torch.zeros(points, inputs.shape[1], device=self.preset.device)
            x[:, j] = sweep.to(x.device)
            modulation = self.damping * self.mapping(x)
            panels[f"{name} (centred)"] = (sweep, {p: modulation[:, k] for k, p in enumerate(self.synth.param_names)})
        return curves_panels_figure(panels, "modulation (normalized)")

    # --- evaluation ------------------------------------------------------------------------
    def test_sets(self, batch_size: int) -> dict[str, Iterable[Batch]]:
        return {"test": self._batches("test", batch_size)}

    def test_set_info(self) -> dict[str, dict]:
        return {"test": {"size": len(self.dataset.splits["test"]), "seed": int(self.data["seed"]), "drum": self.dataset.name}}

    def metric_specs(self) -> list[MetricSpec]:
        specs = [
            MetricSpec(name, unit=unit, description=f"{label}: mean |(ŷ − r) − ΔF| over the test hits")
            for name, label, unit in zip(TARGET_FEATURES, TARGET_LABELS, TARGET_UNITS)
        ]
        return specs + [MetricSpec(MEAN, description="mean of the 7 per-feature errors")]

    def evaluate_batch(self, batch: Batch, generator: torch.Generator) -> dict[str, dict[str, torch.Tensor]]:
        """Per-hit absolute feature errors `(batch,)` of the model, of the preset (no modulation,
        |ΔF|) and of the reference code's "preset" metric |r − ΔF| (`preset_reference`)."""
        targets = batch["targets"]
        return {
            "model": self._errors(self.feature_change(batch) - targets),
            "preset": self._errors(-targets),
            "preset_reference": self._errors(self.preset_features - targets),
        }

    @staticmethod
    def _errors(difference: torch.Tensor) -> dict[str, torch.Tensor]:
        """|difference| `(..., 7)` as one metric per feature and their `mean`, each `(...)`."""
        errors = difference.abs()
        return {**{name: errors[..., j] for j, name in enumerate(TARGET_FEATURES)}, MEAN: errors.mean(-1)}
