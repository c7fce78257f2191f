"""A grid of timbre-remapping models trained as one batched run (reference §9).

The paper trains 720 tiny models (drums × presets × onset windows × model types) and 120 direct
optimisations (drums × presets), one process each. Here every grid cell is a member of one task
(`Task.members`, the Trainer's per-member optimizer state, learning-rate schedule and best
checkpoint): the networks of one type are stacked on a leading model axis and run at once
(`ddspfx.heads.mapping.stacked_forward`), and one synth call renders the hits of every
member. Member m is trained exactly as `RemapTask` would train it alone with the same seed:

- the same initial weights (`init_seed`; every member of a type starts from its single run's);
- its own drum, preset, window, splits and input normalization;
- the same training batches: member m draws its hit positions from its own generator, which
  starts from the Trainer's generator state (a single run's) and is saved with the task;
- the same epochs: member m's epoch is `ceil(n_m / batch_size)` steps (n_m: its training hits);
  a grid epoch is the longest, and members whose epoch is over sit the remaining steps out
  (`"active"`: weights and optimizer state untouched), so validation, the plateau schedule and
  `best.pt` see each member after exactly its own epochs;
- the same validation value: the mean over its own validation batches of `valid_batch_size`.

Equal in floating point too, bit for bit on one CPU thread (measured in float64: weights, lrs,
validation losses and test metrics after 200 steps): the networks' linear layers are row-wise
multiply-and-sums (`ddspfx.heads.mapping.rowwise_linear`, in single runs too), whose rounding
does not depend on the number of rows or of models, and a member's batch means add its hits in
order, as `RemapTask`'s do (`ddspfx.tasks.remap.group_means`). With batched matmuls members
drifted chaotically from their single runs (1e-8 after 60 Adam steps, 0.6 after 200). Other
devices, or several threads on large reductions, may still round differently.

Parameters of one type have a leading dimension of all M members (the Trainer's contract); the
rows of members of other types are never read, get zero gradients and never move.

Batches are dicts of `(M, B, …)` tensors padded to the largest member: `inputs`, `targets`,
`slot` (positions in the member's set), `mask` `(M, B)` (real hits), `active` `(M,)`.
"""

from __future__ import annotations

import itertools
import logging
import math
from dataclasses import asdict, dataclass
from typing import Any, Iterable, Mapping, Sequence

import torch
from torch import nn

from ddspfx.core.errors import ConfigError
from ddspfx.core.media import log_audio
from ddspfx.core.metrics import MetricSpec
from ddspfx.core.task import Task
from ddspfx.data.drums import DrumDataset, build_drum_dataset, drum_folders, load_hits
from ddspfx.dsp.features import MIN_TARGET_SAMPLES, TARGET_FEATURES, target_features
from ddspfx.heads.mapping import MAPPINGS, build_mapping, stacked_forward, stacked_parameters
from ddspfx.losses.features import range_weights
from ddspfx.synths.snare808 import Snare808, load_preset
from ddspfx.tasks.remap import DEFAULT_DATA, DIRECT, RemapTask, drums_root, group_means, seeded_mapping

log = logging.getLogger(__name__)

Batch = dict[str, torch.Tensor]
RENDER_CHUNK = {"cpu": 32, "other": 4096}  # hits per synth call: larger CPU batches run slower per hit (cache)
PAPER_WINDOW = 256  # the window of the un-suffixed experiment names (mlp vs mlp2048)
GRID_DEFAULTS = {"drums": None, "presets": ["snare_1"], "windows": [256], "models": ["mlp"], "direct": False, "lr": None}


@dataclass(frozen=True)
class Cell:
    """One model of the grid."""

    model: str  # linear | mlp | mlp_lrg | direct
    window: int  # onset-feature window in samples (direct: unused, 256)
    drum: str
    preset: str

    @property
    def experiment(self) -> str:
        """The experiment preset this cell reproduces (`conf/experiment/remap/<name>.yaml`)."""
        if self.model == DIRECT or self.window == PAPER_WINDOW:
            return self.model
        return f"{self.model}{self.window}"


@dataclass
class GridMember:
    """One member of a grid as a single model (`RemapGridTask.member`)."""

    cell: Cell
    mapping: nn.Module | None  # None for a direct optimisation
    preset: torch.Tensor
    damping: torch.Tensor
    onset_min: torch.Tensor
    onset_max: torch.Tensor
    onset_reference: torch.Tensor
    window: int
    synth: Snare808
    sample_rate: int
    direct: bool
    data: Mapping[str, Any]

    @property
    def model_kind(self) -> str:
        return self.cell.model

    @property
    def drum(self) -> str:
        return self.cell.drum


def grid_cells(spec: Mapping[str, Any], drums: Sequence[str]) -> list[Cell]:
    """The cells of a grid spec (`GRID_DEFAULTS` keys) over the drums `drums`: models × windows ×
    drums × presets, then (with `direct`) one direct optimisation per drum × preset."""
    unknown = set(spec) - set(GRID_DEFAULTS)
    if unknown:
        raise ConfigError(f"grid: unknown key(s) {sorted(unknown)}; known: {sorted(GRID_DEFAULTS)}")
    spec = {**GRID_DEFAULTS, **dict(spec)}
    models, windows, presets = list(spec["models"] or []), [int(w) for w in spec["windows"] or []], list(spec["presets"] or [])
    for model in models:
        if model not in MAPPINGS:
            raise ConfigError(f"grid.models: unknown model {model!r}; known: {sorted(MAPPINGS)} (direct: grid.direct=true)")
    if not presets or (models and not windows):
        raise ConfigError(f"grid: presets and windows must not be empty, got presets={presets}, windows={windows}")
    cells = [Cell(m, w, d, p) for m, w, d, p in itertools.product(models, windows, drums, presets)]
    if spec["direct"]:
        cells += [Cell(DIRECT, PAPER_WINDOW, d, p) for d, p in itertools.product(drums, presets)]
    if not cells:
        raise ConfigError("grid: no cells (give grid.models or grid.direct=true)")
    return cells


def _padded(rows: Sequence[torch.Tensor]) -> torch.Tensor:
    """Stack `(n_i, …)` tensors into `(len, max n_i, …)`, zero-padded."""
    longest = max(1, max(r.shape[0] for r in rows))
    out = rows[0].new_zeros((len(rows), longest, *rows[0].shape[1:]))
    for i, r in enumerate(rows):
        out[i, : r.shape[0]] = r
    return out


class RemapGridTask(Task):
    """Many remapping models (`grid_cells`) trained as the members of one run (module docstring).

    Args:
        synth: the Snare808 every member drives.
        grid: `drums` (None: every drum folder of `data.root`, or the built-in virtual snares),
            `presets`, `windows`, `models`, `direct` (see `GRID_DEFAULTS`), and `lr`: the
            starting learning rate per model type (`{linear: 5e-3, …}`; a type not named, or
            None: `base_lr`), as each type's single-run preset has it.
        base_lr: the optimizer's learning rate (`trainer.optimizer.lr`), which `lr` rescales.
        steps_per_epoch: `trainer.steps_per_epoch`: None, each member's epoch is one pass over its
            own fit hits (and it sits out the rest of the run's epoch); an int, every member takes
            that many steps per epoch, as its single run with that setting would.
        init_std, init_seed, loss_weights, clamp_features: as `RemapTask` (for every member).
        data: as `RemapTask`'s, without `drum` (the grid names its drums).
        datasets: `{(drum, window): DrumDataset}` built already (tests); skips loading `data`.
    """

    def __init__(
        self,
        synth: Snare808,
        grid: Mapping[str, Any] | None = None,
        base_lr: float | None = None,
        init_std: float | None = None,
        init_seed: int | None = None,
        data: Mapping[str, Any] | None = None,
        loss_weights: str | Sequence[float] | None = None,
        clamp_features: bool = False,
        datasets: Mapping[tuple[str, int], DrumDataset] | None = None,
        steps_per_epoch: int | None = None,
    ):
        super().__init__()
        self.synth = synth
        self.steps_per_epoch = None if steps_per_epoch is None else int(steps_per_epoch)
        self.sample_rate = int(synth.sample_rate)
        self.clamp_features = bool(clamp_features)
        self.data = {**DEFAULT_DATA, **dict(data or {})}
        spec = {**GRID_DEFAULTS, **dict(grid or {})}
        if datasets is not None:
            drums = list(dict.fromkeys(d for d, _ in datasets))
        else:
            drums = self._drum_names(spec["drums"])
        self.cells = grid_cells({k: v for k, v in spec.items() if k != "lr"}, drums)
        self.members = len(self.cells)
        for kind in {c.model for c in self.cells}:  # members of each model type, once
            index = [m for m, c in enumerate(self.cells) if c.model == kind]
            self.register_buffer(f"index_{kind}", torch.tensor(index, dtype=torch.long), persistent=False)
        self._lr = self._learning_rates(spec["lr"], base_lr)
        presets = {p: load_preset(p, sample_rate=self.sample_rate) for p in dict.fromkeys(c.preset for c in self.cells)}
        self.datasets = dict(datasets) if datasets is not None else self._load_datasets()
        self._register_member_data(presets, loss_weights)
        self._build_networks(init_std, init_seed)
        state_size = torch.Generator().get_state().numel()
        self.register_buffer("generator_states", torch.zeros(self.members, state_size, dtype=torch.uint8))
        self.register_buffer("generators_seeded", torch.tensor(False))
        self.register_buffer("position", torch.tensor(0))  # training steps done in the current epoch
        self.register_buffer("position_epoch", torch.tensor(-1))
        counts = {m: sum(c.model == m for c in self.cells) for m in dict.fromkeys(c.model for c in self.cells)}
        log.info("remap grid: %d models %s on %d drum(s)", self.members, counts, len(drums))

    # --- building ---------------------------------------------------------------------------
    def _drum_names(self, drums: Sequence[str] | None) -> list[str]:
        """The grid's drums among the drum folders of the data root (kept in `_folders`)."""
        root = drums_root(self.data, self.sample_rate)
        found = self._folders = drum_folders(root)
        if drums is None:
            return list(found)
        missing = [d for d in drums if str(d) not in found]
        if missing:
            raise ConfigError(f"grid.drums: {missing} are not drum folders of {root}; found {sorted(found)}")
        return [str(d) for d in drums]

    def _load_datasets(self) -> dict[tuple[str, int], DrumDataset]:
        datasets = {}
        windows: dict[str, dict[int, None]] = {}
        for cell in self.cells:
            windows.setdefault(cell.drum, {})[cell.window] = None
        for drum, drum_windows in windows.items():
            hits = load_hits(self._folders[drum], self.sample_rate, min_hits=int(self.data["min_hits"]), detector=dict(self.data["detector"] or {}))
            for window in drum_windows:
                datasets[drum, window] = build_drum_dataset(
                    hits, window=window, valid_fraction=float(self.data["valid_fraction"]),
                    test_fraction=float(self.data["test_fraction"]), seed=int(self.data["seed"]))
        return datasets

    def _splits(self, cell: Cell) -> dict[str, str]:
        """Which dataset split a member fits, validates and is tested on."""
        if cell.model == DIRECT:
            return {"fit": "test", "valid": "test", "test": "test"}
        return {"fit": "train", "valid": "valid", "test": "test"}

    def _register_member_data(self, presets: Mapping[str, tuple[torch.Tensor, torch.Tensor]], loss_weights) -> None:
        rows: dict[str, list[torch.Tensor]] = {}
        for cell in self.cells:
            dataset = self.datasets[cell.drum, cell.window]
            preset, damping = presets[cell.preset]
            stats = dataset.tensors()
            values = {
                "preset": preset,
                "damping": torch.ones_like(damping) if cell.model == DIRECT else damping,
                "loss_weights": self._loss_weights(loss_weights, dataset),
                **{k: stats[k] for k in ("onset_min", "onset_max", "onset_reference")},
                "reference_hit_features": stats["reference_features"],
            }
            for role, split in self._splits(cell).items():
                index = dataset.splits[split]
                values[f"{role}_inputs"] = dataset.inputs[index]
                values[f"{role}_targets"] = dataset.targets[index]
                values[f"{role}_count"] = torch.tensor(len(index))
            for key, value in values.items():
                rows.setdefault(key, []).append(value)
        for key, values in rows.items():
            if key.endswith(("_inputs", "_targets")):
                self.register_buffer(key, _padded(values))
            else:
                self.register_buffer(key, torch.stack(values))
        with torch.no_grad():
            unique, inverse = torch.unique(self.preset, dim=0, return_inverse=True)
            self.register_buffer("preset_features", self._features(unique)[inverse])

    def _loss_weights(self, weights, dataset: DrumDataset) -> torch.Tensor:
        if weights is None:
            return torch.ones(len(TARGET_FEATURES))
        if weights == "range":
            return range_weights(dataset.targets[dataset.splits["train"]])
        if isinstance(weights, str) or len(weights) != len(TARGET_FEATURES):
            raise ConfigError(f"loss_weights must be null, 'range' or {len(TARGET_FEATURES)} numbers, got {weights!r}")
        return torch.as_tensor(list(weights), dtype=torch.float32)

    def _build_networks(self, init_std: float | None, init_seed: int | None) -> None:
        """Per model type, its parameters `(M, …)` (rows of other members unused), member m's
        rows the initial weights of its single run."""
        self.kinds = [k for k in MAPPINGS if any(c.model == k for c in self.cells)]
        self.networks = nn.ParameterDict()
        self._names: dict[str, dict[str, str]] = {}
        for kind in self.kinds:
            index = self.member_index(kind)
            stacked = stacked_parameters([seeded_mapping(kind, self.synth.n_params, init_std, init_seed)])
            self._names[kind] = {}
            for name, value in stacked.items():
                key = f"{kind}__{name.replace('.', '_')}"
                full = value.new_zeros((self.members, *value.shape[1:]))
                full[index] = value
                self.networks[key] = nn.Parameter(full)
                self._names[kind][name] = key
        if any(c.model == DIRECT for c in self.cells):
            self.direct_modulation = nn.Parameter(torch.zeros(self.members, self.fit_inputs.shape[1], self.synth.n_params))

    def _learning_rates(self, rates: Mapping[str, float] | None, base_lr: float | None) -> torch.Tensor | None:
        """Each member's starting lr relative to `base_lr`, `(M,)` (None: all at `base_lr`)."""
        if not rates:
            return None
        unknown = set(rates) - {*MAPPINGS, DIRECT}
        if unknown or base_lr is None or not float(base_lr) > 0:
            raise ConfigError(f"grid.lr: model types among {sorted({*MAPPINGS, DIRECT})} and a base_lr > 0 needed, "
                              f"got {dict(rates)} and base_lr={base_lr!r}")
        return torch.tensor([float(rates.get(c.model, base_lr)) / float(base_lr) for c in self.cells], dtype=torch.float64)

    def member_lr_scale(self) -> torch.Tensor:
        """Member m's lr as a factor of the optimizer's (`Task` contract), `(M,)`."""
        return torch.ones(self.members, dtype=torch.float64) if self._lr is None else self._lr

    def member_index(self, kind: str) -> torch.Tensor:
        """Members of model type `kind`, `(G,)` long (on the task's device)."""
        return getattr(self, f"index_{kind}")

    # --- model -----------------------------------------------------------------------------
    def _features(self, controls: torch.Tensor) -> torch.Tensor:
        """Target features `(n, 7)` of the synth's answers to controls `(n, 14)`."""
        if controls.shape[0] == 0:  # every member sat the step out
            return controls.new_zeros(0, len(TARGET_FEATURES))
        parts = []
        for chunk in controls.split(RENDER_CHUNK["cpu" if controls.device.type == "cpu" else "other"]):
            audio = self.synth(chunk, n_samples=MIN_TARGET_SAMPLES)
            parts.append(target_features(audio, self.sample_rate, clamp=self.clamp_features))
        return torch.cat(parts)

    def modulations(self, inputs: torch.Tensor, slot: torch.Tensor) -> torch.Tensor:
        """Every member's modulations `(M, B, 14)` for its inputs `(M, B, 3)` (direct members:
        their free modulations at positions `slot` `(M, B)`)."""
        out = inputs.new_zeros((*inputs.shape[:2], self.synth.n_params))
        for kind in self.kinds:
            index = self.member_index(kind)
            params = {name: self.networks[key][index] for name, key in self._names[kind].items()}
            out = out.index_copy(0, index, stacked_forward(kind, params, inputs[index]))
        if hasattr(self, "direct_modulation"):
            index = self.member_index(DIRECT)
            rows = self.direct_modulation[index]
            picked = torch.gather(rows, 1, slot[index].unsqueeze(-1).expand(-1, -1, rows.shape[-1]))
            out = out.index_copy(0, index, picked)
        return out

    def controls(self, batch: Batch) -> torch.Tensor:
        """θ = clip(preset_m + d_m ⊙ m_m(x), 0, 1) of every member and hit, `(M, B, 14)`."""
        modulation = self.modulations(batch["inputs"], batch["slot"])
        return (self.preset.unsqueeze(1) + self.damping.unsqueeze(1) * modulation).clamp(0.0, 1.0)

    def _errors(self, batch: Batch, rows: torch.Tensor) -> torch.Tensor:
        """|(ŷ − r) − ΔF| `(n, 7)` of the hits `rows` (`(n, 2)`: member, position)."""
        controls = self.controls(batch)[rows[:, 0], rows[:, 1]]
        change = self._features(controls) - self.preset_features[rows[:, 0]]
        return (change - batch["targets"][rows[:, 0], rows[:, 1]]).abs()

    def _member_means(self, values: torch.Tensor, groups: torch.Tensor, n_groups: int) -> torch.Tensor:
        """Mean of `values` `(n, …)` per group id `(n,)` → `(n_groups, …)` (0 for empty groups),
        summed in the order of a single run's batch mean (`ddspfx.tasks.remap.group_means`)."""
        return group_means(values, groups, n_groups)

    # --- training --------------------------------------------------------------------------
    def member_steps(self, batch_size: int) -> torch.Tensor:
        """Steps in each member's own epoch, `(M,)`: one pass over its fit hits, or `steps_per_epoch`."""
        if self.steps_per_epoch is not None:
            return torch.full((self.members,), self.steps_per_epoch, dtype=torch.long)
        return torch.div(self.fit_count + batch_size - 1, batch_size, rounding_mode="floor").cpu()

    def epoch_steps(self, batch_size: int) -> int:
        return int(self.member_steps(batch_size).max())

    def set_epoch(self, epoch: int) -> None:
        if int(self.position_epoch) != epoch:  # not on a resume inside the epoch
            self.position.fill_(0)
            self.position_epoch.fill_(epoch)

    def train_batch(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Each active member's random batch of distinct fit hits, drawn from its own generator."""
        if not bool(self.generators_seeded):
            self.generator_states.copy_(generator.get_state().expand_as(self.generator_states))
            self.generators_seeded.fill_(True)
        active = self.position.cpu() < self.member_steps(batch_size)
        self.position += 1
        counts = self.fit_count.cpu()
        width = int(counts.clamp(max=batch_size).max())
        slot = torch.zeros(self.members, width, dtype=torch.long)
        mask = torch.zeros(self.members, width, dtype=torch.bool)
        member_generator = torch.Generator()
        states = self.generator_states.cpu()
        for m in torch.nonzero(active).flatten().tolist():
            member_generator.set_state(states[m].clone())  # set_state reads from the storage start
            positions = torch.randperm(int(counts[m]), generator=member_generator)[:batch_size]
            states[m] = member_generator.get_state()
            slot[m, : len(positions)], mask[m, : len(positions)] = positions, True
        self.generator_states.copy_(states)
        return self._gather("fit", slot, mask, active)

    def _gather(self, role: str, slot: torch.Tensor, mask: torch.Tensor, active: torch.Tensor) -> Batch:
        inputs, targets = getattr(self, f"{role}_inputs"), getattr(self, f"{role}_targets")
        slot_d = slot.to(inputs.device)
        return {
            "inputs": torch.gather(inputs, 1, slot_d.unsqueeze(-1).expand(-1, -1, inputs.shape[-1])),
            "targets": torch.gather(targets, 1, slot_d.unsqueeze(-1).expand(-1, -1, targets.shape[-1])),
            "slot": slot, "mask": mask, "active": active,
        }

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Per-member training losses `(M,)` (0 for the members sitting the step out)."""
        rows = torch.nonzero(batch["mask"] & batch["active"].unsqueeze(1))
        errors = self._errors(batch, rows) * self.loss_weights[rows[:, 0]]
        loss = self._member_means(errors.mean(-1), rows[:, 0], self.members)
        return {"loss": loss, "active": batch["active"]}

    def valid_batches(self, batch_size: int) -> Iterable[Batch]:
        """One batch of every member's whole validation set, with `chunk` = `batch_size`: the
        member's value is the mean over its own batches of that size, as in a single run."""
        return [self._whole("valid", batch_size)]

    def _whole(self, role: str, batch_size: int) -> Batch:
        count = getattr(self, f"{role}_count").cpu()
        width = getattr(self, f"{role}_inputs").shape[1]
        slot = torch.arange(width).expand(self.members, -1).contiguous()
        batch = self._gather(role, slot, slot < count.unsqueeze(1), torch.ones(self.members, dtype=torch.bool))
        return {**batch, "chunk": torch.tensor(batch_size)}

    def validation_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Per member `(M,)`: `loss` and the 7 per-feature mean absolute errors."""
        rows = torch.nonzero(batch["mask"])
        errors = self._errors(batch, rows)
        per_hit = torch.cat([(errors * self.loss_weights[rows[:, 0]]).mean(-1, keepdim=True), errors], dim=1)
        chunks = int(math.ceil(batch["mask"].shape[1] / int(batch["chunk"])))
        group = rows[:, 0] * chunks + torch.div(rows[:, 1], int(batch["chunk"]), rounding_mode="floor")
        per_chunk = self._member_means(per_hit, group, self.members * chunks).view(self.members, chunks, -1)
        present = torch.bincount(group, minlength=self.members * chunks).view(self.members, chunks) > 0
        # the Trainer's mean over a single run's batches: a float64 sum in batch order, then / count
        total = per_chunk.new_zeros(per_chunk[:, 0].shape, dtype=torch.float64)
        for c in range(chunks):
            total = total + per_chunk[:, c].double() * present[:, c:c + 1]
        means = total / present.sum(1, keepdim=True).clamp_min(1)
        return {"loss": means[:, 0], **{name: means[:, j + 1] for j, name in enumerate(TARGET_FEATURES)}}

    # --- media -----------------------------------------------------------------------------
    def log_media(self, writer, batch: Batch, step: int) -> None:
        """Member 0's first validation hit's synth answer and its preset."""
        controls = self.controls(batch)[0, :1]
        log_audio(writer, "audio/member0_synth", self.synth(controls)[0], self.sample_rate, step)
        log_audio(writer, "audio/member0_preset", self.synth(self.preset[:1])[0], self.sample_rate, step)

    # --- evaluation --------------------------------------------------------------------------
    def test_sets(self, batch_size: int) -> dict[str, Iterable[Batch]]:
        return {"test": [self._whole("test", batch_size)]}

    def test_set_info(self) -> dict[str, dict]:
        return {"test": {"size": int(self.test_count.sum()), "seed": int(self.data["seed"]),
                         "drums": sorted({c.drum for c in self.cells})}}

    def metric_specs(self) -> list[MetricSpec]:
        return RemapTask.metric_specs(self)

    def evaluate_batch(self, batch: Batch, generator: torch.Generator) -> dict[str, Any]:
        """Per member and test hit `(M, T)` (`"_mask"`: the member's real hits): the absolute
        feature errors of the model, of the preset (|ΔF|) and of the reference code's "preset"
        metric |r − ΔF| (`preset_reference`), as `RemapTask.evaluate_batch` per member."""
        mask = batch["mask"]
        rows = torch.nonzero(mask)
        errors = batch["targets"].new_zeros((*mask.shape, len(TARGET_FEATURES)))
        errors[rows[:, 0], rows[:, 1]] = self._errors(batch, rows)
        targets = batch["targets"]
        return {
            "_mask": mask,
            "model": RemapTask._errors(errors),
            "preset": RemapTask._errors(targets),
            "preset_reference": RemapTask._errors(self.preset_features.unsqueeze(1) - targets),
        }

    def member(self, m: int) -> "GridMember":
        """Member m as one model, with the attributes a single `RemapTask` has for export and
        streaming (`mapping`, `preset`, `damping`, `onset_min`, `onset_max`, `onset_reference`,
        `window`, `synth`, `sample_rate`, `direct`, `data`)."""
        if not 0 <= m < self.members:
            raise ConfigError(f"model={m}: the grid has members 0 to {self.members - 1}")
        cell = self.cells[m]
        mapping = None
        if cell.model != DIRECT:
            mapping = build_mapping(cell.model, self.synth.n_params).to(self.preset.device, self.preset.dtype)
            mapping.load_state_dict({name: self.networks[key][m].detach().clone() for name, key in self._names[cell.model].items()})
        rows = {k: getattr(self, k)[m].detach().clone() for k in ("preset", "damping", "onset_min", "onset_max", "onset_reference")}
        return GridMember(cell, mapping, window=cell.window, synth=self.synth, sample_rate=self.sample_rate,
                          direct=cell.model == DIRECT, data=self.data, **rows)

    def member_info(self) -> list[dict[str, Any]]:
        """Per member: its cell (`model`, `window`, `drum`, `preset`) and `experiment`."""
        return [{**asdict(c), "experiment": c.experiment} for c in self.cells]
