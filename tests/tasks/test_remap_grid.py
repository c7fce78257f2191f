"""The remap grid: many models as the members of one run, each ending where its single run ends."""

from dataclasses import replace

import pytest
import torch
from torch.testing import assert_close

from ddspfx.data.drums import build_drum_dataset, load_hits
from ddspfx.data.virtual_drums import write_virtual_drums
from ddspfx.heads.mapping import build_mapping, stacked_forward, stacked_parameters
from ddspfx.synths.snare808 import Snare808
from ddspfx.tasks.remap import RemapTask
from ddspfx.tasks.remap_grid import Cell, RemapGridTask, grid_cells
from ddspfx.core.errors import ConfigError
from ddspfx.train import Trainer

DRUMS = ["maple_14x5", "steel_piccolo"]
GRID = {"presets": ["snare_2"], "windows": [256], "models": ["linear", "mlp"], "direct": True,
        "lr": {"linear": 0.05, "mlp": 0.01, "direct": 0.02}}  # each type's own lr, as its single run


@pytest.fixture(scope="module")
def datasets(tmp_path_factory):
    root = tmp_path_factory.mktemp("drums")
    for drum, seconds in zip(DRUMS, (5.0, 8.0)):  # drums of different sizes: members' epochs differ
        write_virtual_drums(root, seconds=seconds, seed=0, drums=[drum])
    built = {(d, 256): build_drum_dataset(load_hits(root / d, 44100, min_hits=5), window=256, valid_fraction=0.3,
                                          test_fraction=0.2, seed=0) for d in DRUMS}
    return {key: replace(d, inputs=d.inputs.double(), targets=d.targets.double()) for key, d in built.items()}


def final_lr(run_dir):
    """The lr a single run ended with (its last.pt's optimizer state)."""
    from ddspfx.train import load_checkpoint

    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["optimizer"]["param_groups"][0]["lr"]


def trainer_config(**overrides):
    cfg = {
        "device": "cpu", "seed": 3, "epochs": 3, "steps_per_epoch": None, "batch_size": 6, "valid_batch_size": 2,
        "optimizer": {"_target_": "torch.optim.Adam", "_partial_": True, "lr": 0.05},
        "grad_clip": None,
        "scheduler": {"_target_": "torch.optim.lr_scheduler.ReduceLROnPlateau", "_partial_": True, "factor": 0.5, "patience": 0},
        "log_every": 1, "media_every": None, "progress": False, "num_threads": 1,
    }
    return {**cfg, **overrides}


def test_grid_cells_and_experiment_names():
    cells = grid_cells({"presets": ["a", "b"], "windows": [256, 2048], "models": ["mlp"], "direct": True}, ["d1"])
    assert [c.experiment for c in cells] == ["mlp", "mlp", "mlp2048", "mlp2048", "direct", "direct"]
    assert cells[0] == Cell("mlp", 256, "d1", "a")
    with pytest.raises(ConfigError, match="unknown model 'cnn'"):
        grid_cells({"models": ["cnn"]}, ["d1"])
    with pytest.raises(ConfigError, match="unknown key"):
        grid_cells({"model": ["mlp"]}, ["d1"])


@pytest.mark.parametrize("kind", ["linear", "mlp", "mlp_lrg"])
def test_stacked_forward_equals_each_network(kind):
    torch.manual_seed(0)
    networks = [build_mapping(kind, 14, init_std=0.5).double() for _ in range(3)]
    x = torch.randn(3, 5, 3, dtype=torch.float64)
    expected = torch.stack([net(x[g]) for g, net in enumerate(networks)])
    assert_close(stacked_forward(kind, stacked_parameters(networks), x), expected, rtol=1e-12, atol=1e-12)


def test_grid_members_end_where_their_single_runs_end(tmp_path, datasets):
    grid = RemapGridTask(Snare808(), GRID, base_lr=0.05, init_std=0.1, init_seed=3, datasets=datasets).double()
    assert grid.members == 6
    steps = grid.member_steps(trainer_config()["batch_size"])
    assert len(set(steps.tolist())) > 1 and int(grid.valid_count.max()) > trainer_config()["valid_batch_size"]
    grid_summary = Trainer(grid, trainer_config(), tmp_path / "grid").fit()
    assert grid_summary["status"] == "finished"
    for m, cell in enumerate(grid.cells):
        single = RemapTask(Snare808(), preset=cell.preset, model=cell.model, init_std=0.1, init_seed=3,
                           window=cell.window, dataset=datasets[cell.drum, cell.window]).double()
        lr = trainer_config()["optimizer"] | {"lr": GRID["lr"][cell.model]}
        summary = Trainer(single, trainer_config(optimizer=lr), tmp_path / f"single{m}").fit()
        assert grid_summary["members"]["lr"][m] == final_lr(tmp_path / f"single{m}")
        assert grid_summary["members"]["best_valid_loss"][m] == summary["best_valid_loss"]  # bit for bit
        if cell.model == "direct":
            count = int(grid.fit_count[m])
            assert torch.equal(grid.direct_modulation.detach()[m, :count], single.mapping.modulation.detach())
            continue
        names = grid._names[cell.model]
        for name, value in single.mapping.named_parameters():
            assert torch.equal(grid.networks[names[name]].detach()[m], value.detach()), (cell, name)


def test_members_end_bit_identical_after_hundreds_of_steps(tmp_path, datasets):
    """200 Adam steps per member (float64, per-type lrs, plateau schedule), where rounding
    differences would have grown to 1e-3 and beyond: every member still ends bit-identical."""
    small = {key: d for key, d in datasets.items() if key[0] == DRUMS[0]}
    grid_spec = {**GRID, "models": ["mlp"]}  # the linear kind is the mlp path without hidden layers
    config = trainer_config(epochs=4, steps_per_epoch=50, batch_size=1, valid_batch_size=4)
    grid = RemapGridTask(Snare808(), grid_spec, base_lr=0.05, init_std=0.1, init_seed=3, datasets=small,
                         steps_per_epoch=50).double()
    Trainer(grid, config, tmp_path / "grid").fit()
    for m, cell in enumerate(grid.cells):
        single = RemapTask(Snare808(), preset=cell.preset, model=cell.model, init_std=0.1, init_seed=3,
                           window=cell.window, dataset=small[cell.drum, cell.window]).double()
        Trainer(single, trainer_config(**{**config, "optimizer": config["optimizer"] | {"lr": GRID["lr"][cell.model]}}),
                tmp_path / f"single{m}").fit()
        if cell.model == "direct":
            grid_weights = [grid.direct_modulation.detach()[m, : int(grid.fit_count[m])]]
        else:
            grid_weights = [grid.networks[grid._names[cell.model][n]].detach()[m] for n, _ in single.mapping.named_parameters()]
        assert all(torch.equal(a, b.detach()) for a, b in zip(grid_weights, single.mapping.parameters())), cell


def test_grid_evaluation_scores_each_member_on_its_own_test_hits(datasets):
    from ddspfx.eval.runner import evaluate_sets

    grid = RemapGridTask(Snare808(), GRID, base_lr=0.05, init_std=0.1, init_seed=3, datasets=datasets).double().eval()
    results, sizes = evaluate_sets(grid, batch_size=8, progress=False)
    for m, cell in enumerate(grid.cells):
        single = RemapTask(Snare808(), preset=cell.preset, model=cell.model, init_std=0.1, init_seed=3,
                           window=cell.window, dataset=datasets[cell.drum, cell.window]).double().eval()
        expected, _ = evaluate_sets(single, batch_size=8, progress=False)
        for estimator in ("model", "preset", "preset_reference"):
            for metric, value in expected["test"][estimator].items():
                assert results["test"][estimator][metric][m] == pytest.approx(value, rel=1e-9), (cell, estimator, metric)
    assert [info["experiment"] for info in grid.member_info()] == ["linear", "linear", "mlp", "mlp", "direct", "direct"]


def test_a_member_is_one_model_with_its_own_normalization(datasets):
    grid = RemapGridTask(Snare808(), GRID, base_lr=0.05, init_std=0.1, init_seed=3, datasets=datasets).double()
    with torch.no_grad():
        for value in grid.networks.values():
            value.normal_()  # members apart
        batch = grid._whole("test", 8)
        controls = grid.controls(batch)
    for m, cell in enumerate(grid.cells):
        member = grid.member(m)
        assert member.window == cell.window and member.direct == (cell.model == "direct")
        assert torch.equal(member.onset_min, grid.onset_min[m])
        if member.direct:
            continue
        n = int(grid.test_count[m])
        modulation = member.mapping(batch["inputs"][m, :n])
        expected = (member.preset + member.damping * modulation).clamp(0, 1)
        assert_close(controls[m, :n], expected, rtol=1e-12, atol=1e-12)
    with pytest.raises(ConfigError, match="members 0 to 5"):
        grid.member(6)
