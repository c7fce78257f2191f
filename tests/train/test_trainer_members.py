"""Members: M independent models in one run end where M separate runs of one member end.

The separate run of member k is `MemberRegression((k,))`, a plain one-member task trained by the
Trainer's ordinary path with the same config and seed (so the same data for member k).
Tolerances: members whose lr is the largest of the members stepped get the optimizer's result
bit for bit; the others are rescaled (`ddspfx.train.member_optim`), and the batched forward sums
in another order, so weights are compared with rtol = atol = 1e-12 (observed: ~2e-15).
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.testing import assert_close

from ddspfx.train import Trainer, load_checkpoint
from tests.train.members_toy import N_TOTAL, MemberRegression, members_config
from tests.train.toy_task import tb_scalars

TOL = {"rtol": 1e-12, "atol": 1e-12}


def run(run_dir, ids=tuple(range(N_TOTAL)), setup=None, stop_after_step=None, **overrides):
    """Train `MemberRegression(ids)`; `setup(task)` sets its hooks first."""
    task = MemberRegression(ids)
    if setup is not None:
        setup(task)
    trainer = Trainer(task, members_config(**overrides), run_dir)
    if stop_after_step is not None:
        task.hook = lambda t, call: trainer.request_stop() if call + 1 == stop_after_step else None
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        summary = trainer.fit()
    trainer.warnings = [str(w.message) for w in record]
    return task, trainer, summary


def separate_runs(tmp_path, setup=None, **overrides):
    return [run(tmp_path / f"member{k}", (k,), setup, **overrides) for k in range(N_TOTAL)]


def ckpt(run_dir, name="last"):
    return load_checkpoint(run_dir / "checkpoints" / f"{name}.pt")


def adam_state(state: dict, k: int | None = None) -> dict:
    """The AdamW state of the single parameter (member k's slice)."""
    s = state["optimizer"]["state"][0]
    return {key: s[key] if k is None else s[key][k] for key in ("exp_avg", "exp_avg_sq")}


def test_members_equal_separate_runs(tmp_path):
    task, trainer, summary = run(tmp_path / "members")
    singles = separate_runs(tmp_path)
    assert summary["status"] == "finished"

    lrs = [single_trainer.optimizer.param_groups[0]["lr"] for _, single_trainer, _ in singles]
    assert summary["members"]["lr"] == lrs  # the same floats: one scheduler per member
    assert len(set(lrs)) > 1, "the plateau schedule should have moved the members' lrs apart"
    clip = members_config()["grad_clip"]
    assert any(v > clip for _, v in tb_scalars(tmp_path / "member0")["grad_norm"])

    last = ckpt(tmp_path / "members")
    for k, (single, _, single_summary) in enumerate(singles):
        assert_close(task.weight.detach()[k], single.weight.detach()[0], **TOL)
        single_last = ckpt(tmp_path / f"member{k}")
        for key, value in adam_state(last, k).items():
            assert_close(value, adam_state(single_last)[key][0], **TOL)
        best = summary["members"]["best_valid_loss"][k]
        assert best == pytest.approx(single_summary["best_valid_loss"], rel=1e-12)
        single_best = ckpt(tmp_path / f"member{k}", "best")
        assert summary["members"]["best_epoch"][k] == single_best["epoch"] - 1
        assert_close(ckpt(tmp_path / "members", "best")["task"]["weight"][k],
                     single_best["task"]["weight"][0], **TOL)
    assert summary["best_valid_loss"] == pytest.approx(
        sum(s["best_valid_loss"] for _, _, s in singles) / N_TOTAL, rel=1e-12)


def test_other_schedulers_and_optimizers_per_member(tmp_path):
    """A scheduler without metric (StepLR) and SGD with momentum and weight decay."""
    overrides = {
        "epochs": 4,
        "optimizer": {"_target_": "torch.optim.SGD", "_partial_": True, "lr": 0.05,
                      "momentum": 0.9, "weight_decay": 0.01},
        "scheduler": {"_target_": "torch.optim.lr_scheduler.StepLR", "_partial_": True,
                      "step_size": 2, "gamma": 0.5},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "scheduler stepped before optimizer" warning
        task, trainer, summary = run(tmp_path / "members", **overrides)
    assert summary["members"]["lr"] == [0.0125] * N_TOTAL
    for k, (single, _, _) in enumerate(separate_runs(tmp_path, **overrides)):
        assert_close(task.weight.detach()[k], single.weight.detach()[0], **TOL)


def nan_in(calls: dict[int, set[int]], kind: str = "nan_calls"):
    return lambda task: setattr(task, kind, calls)


@pytest.mark.parametrize("kind,calls", [
    ("nan_calls", {1: {4}}),                  # mid-run: member 1's Adam step count lags behind
    ("nan_calls", {0: {0}, 2: {0, 7}}),       # at the first step: fresh optimizer state
    ("bad_grad_calls", {2: {3, 4}, 0: {9}}),  # finite loss, NaN gradient
])
def test_nonfinite_member_is_skipped_like_a_separate_run(tmp_path, kind, calls):
    snapshots = []

    def setup(task):
        setattr(task, kind, calls)
        task.hook = lambda t, call: snapshots.append(t.weight.detach().clone())

    task, trainer, summary = run(tmp_path / "members", setup=setup)
    assert summary["status"] == "finished"
    snapshots.append(task.weight.detach().clone())
    for call in range(len(snapshots) - 1):
        for k in range(N_TOTAL):
            unchanged = torch.equal(snapshots[call + 1][k], snapshots[call][k])
            assert unchanged == (call in calls.get(k, ())), (call, k)
    what = "loss" if kind == "nan_calls" else "gradient"
    assert any(f"non-finite {what}" in m and "member(s) [" in m for m in trainer.warnings)

    singles = separate_runs(tmp_path, setup=lambda t: setattr(t, kind, calls))
    last = ckpt(tmp_path / "members")
    steps_done = last["members"]["optimizer"]["scalars"]["0"]["step"]
    for k, (single, _, _) in enumerate(singles):
        assert_close(task.weight.detach()[k], single.weight.detach()[0], **TOL)
        single_last = ckpt(tmp_path / f"member{k}")
        for key, value in adam_state(last, k).items():
            assert_close(value, adam_state(single_last)[key][0], **TOL)
        assert steps_done[k] == float(single_last["optimizer"]["state"][0]["step"])


@pytest.mark.parametrize("optimizer", [
    {"_target_": "torch.optim.SGD", "lr": 0.05, "momentum": 0.9, "dampening": 0.5},
    {"_target_": "torch.optim.NAdam", "lr": 0.05, "weight_decay": 0.01},
])
def test_skip_before_the_optimizer_state_exists(tmp_path, optimizer):
    """SGD creates its momentum buffer from the first gradient, NAdam starts mu_product at 1:
    a member skipped at the first step starts that state later, as its separate run does."""
    overrides = {"epochs": 2, "optimizer": {**optimizer, "_partial_": True}}
    calls = {0: {0}, 1: {0, 1}}
    task, _, _ = run(tmp_path / "members", setup=nan_in(calls), **overrides)
    state = ckpt(tmp_path / "members")["optimizer"]["state"][0]
    for k, (single, _, _) in enumerate(separate_runs(tmp_path, nan_in(calls), **overrides)):
        assert_close(task.weight.detach()[k], single.weight.detach()[0], **TOL)
        single_state = ckpt(tmp_path / f"member{k}")["optimizer"]["state"][0]
        for key, value in single_state.items():
            if value.dim():
                assert_close(state[key][k], value[0], **TOL)


def test_one_member_persistently_nonfinite_keeps_the_others_training(tmp_path):
    bad = set(range(2, 1000))
    task, trainer, summary = run(tmp_path / "members", setup=nan_in({0: bad}), epochs=2)
    assert summary["status"] == "finished"
    frozen = [m for m in trainer.warnings if "more than trainer.max_nonfinite=3" in m]
    assert len(frozen) == 1 and "member(s) [0]" in frozen[0]
    assert summary["members"]["nonfinite"][0] == 2 * members_config()["steps_per_epoch"] - 2
    assert torch.isfinite(task.weight).all()
    singles = [run(tmp_path / f"member{k}", (k,), epochs=2)[0] for k in (1, 2)]
    for k, single in zip((1, 2), singles):
        assert_close(task.weight.detach()[k], single.weight.detach()[0], **TOL)


def test_every_member_nonfinite_stops_with_a_clear_error(tmp_path):
    bad = set(range(2, 1000))
    task = MemberRegression()
    task.nan_calls = {0: bad, 1: bad, 2: {1} | bad}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(RuntimeError, match=r"every member \[0, 1, 2\]") as error:
            Trainer(task, members_config(), tmp_path).fit()
    assert "max_nonfinite=3" in str(error.value) and "learning rate" in str(error.value)
    assert task.calls == 2 + 3 + 1
    saved = ckpt(tmp_path)
    assert saved["step"] == task.calls and saved["members"]["nonfinite"].tolist() == [4, 4, 5]
    assert torch.equal(saved["task"]["weight"], task.weight.detach())
    assert torch.isfinite(task.weight).all()


def test_best_pt_composes_each_members_best_epoch(tmp_path):
    best_epoch = [1, 3, 0]
    bias = {e: [-1000.0 if e == best_epoch[k] else 0.0 for k in range(N_TOTAL)] for e in range(4)}
    task, trainer, summary = run(tmp_path, setup=lambda t: setattr(t, "valid_bias", bias),
                                 epochs=4, scheduler=None)
    assert summary["members"]["best_epoch"] == best_epoch
    logged = tb_scalars(tmp_path)
    valid = [[v for _, v in logged[f"members/loss/valid/{k}"]] for k in range(N_TOTAL)]
    best = ckpt(tmp_path, "best")
    for k, e in enumerate(best_epoch):
        assert torch.equal(best["task"]["weight"][k], task.valid_weights[e][k])
        assert float(best["members"]["best"][k]) == pytest.approx(valid[k][e], rel=1e-6)
        assert min(valid[k]) == valid[k][e]
    assert best["best"] == pytest.approx(float(best["members"]["best"].mean()))
    assert best["members"]["best_epoch"].tolist() == best_epoch
    assert summary["best_valid_loss"] == pytest.approx(best["best"])
    assert torch.equal(ckpt(tmp_path)["task"]["weight"], task.weight.detach())


def test_tensorboard_and_summary_with_members(tmp_path):
    task, trainer, summary = run(tmp_path, epochs=3)
    logged = tb_scalars(tmp_path)
    per_member = [logged[f"members/loss/valid/{k}"] for k in range(N_TOTAL)]
    for i, (step, mean) in enumerate(logged["loss/valid"]):
        values = [p[i][1] for p in per_member]
        assert all(p[i][0] == step for p in per_member)
        assert mean == pytest.approx(sum(values) / N_TOTAL, rel=1e-6)
    assert logged["lr"][-1][1] == pytest.approx(sum(summary["members"]["lr"]) / N_TOTAL, rel=1e-6)
    for tag in ("loss/train", "grad_norm", "metric/wnorm/train", "metric/scale/valid"):
        assert tag in logged, tag
    assert summary["valid"]["scale"] == 2.0
    assert summary["valid"]["loss"] == pytest.approx(sum(summary["members"]["valid_loss"]) / N_TOTAL)
    assert set(summary["members"]) >= {"best_valid_loss", "best_epoch", "lr", "nonfinite",
                                       "grad_norm", "valid_loss"}
    assert len(summary["members"]["grad_norm"]) == N_TOTAL


# ---------------------------------------------------------------------- resume

STOPS = [3, 6, 14]  # mid-epoch 0, at the end of epoch 0, mid-epoch 2 (after member 1's skip)
RESUME = {"epochs": 4}


def resume_setup(task):
    task.nan_calls = {1: {5}, 2: {9, 10}}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("members_uninterrupted")
    task, _, summary = run(run_dir, setup=resume_setup, **RESUME)
    assert summary["status"] == "finished"
    return task.state_dict(), ckpt(run_dir), ckpt(run_dir, "best")


def assert_equal_nested(a, b, where="") -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_equal_nested(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_equal_nested(x, y, f"{where}[{i}]")
    elif torch.is_tensor(a):
        assert torch.equal(a, b), where
    else:
        assert a == b or (a != a and b != b), where


@pytest.mark.parametrize("stop_after_step", STOPS)
def test_resume_with_members_is_bit_identical(tmp_path, uninterrupted, stop_after_step):
    _, _, summary = run(tmp_path, setup=resume_setup, stop_after_step=stop_after_step, **RESUME)
    assert summary["status"] == "interrupted" and summary["step"] == stop_after_step
    def resumed_setup(task):
        resume_setup(task)
        task.calls = stop_after_step  # the hooks count calls over the whole run

    task, _, summary = run(tmp_path, setup=resumed_setup, resume=True, **RESUME)
    assert summary["status"] == "finished"
    ref_state, ref_last, ref_best = uninterrupted
    assert_equal_nested(task.state_dict(), ref_state)
    last, best = ckpt(tmp_path), ckpt(tmp_path, "best")
    for key in ("task", "optimizer", "scheduler", "members", "best", "nonfinite", "valid", "step"):
        assert_equal_nested(last[key], ref_last[key], key)
        assert_equal_nested(best[key], ref_best[key], key)


# ---------------------------------------------------------------------- bad set-ups


class NoMemberDim(MemberRegression):
    def __init__(self):
        super().__init__()
        self.gain = torch.nn.Parameter(torch.ones(5))


def test_parameter_without_member_dimension_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"'gain' has shape \(5,\)"):
        Trainer(NoMemberDim(), members_config(), tmp_path)


def test_scalar_loss_with_members_is_explained(tmp_path):
    class ScalarLoss(MemberRegression):
        def forward(self, batch):
            return {"loss": self._losses(batch).sum()}

    with pytest.raises(TypeError, match=r"\(3,\) tensor"):
        Trainer(ScalarLoss(), members_config(), tmp_path).fit()


def test_optimizer_not_linear_in_lr_is_refused_with_a_scheduler(tmp_path):
    cfg = members_config(optimizer={"_target_": "torch.optim.Rprop", "_partial_": True})
    with pytest.raises(ValueError, match="trainer.optimizer: Rprop"):
        Trainer(MemberRegression(), cfg, tmp_path)


def test_bad_members_value_is_named(tmp_path):
    task = MemberRegression()
    task.members = 0
    with pytest.raises(ValueError, match="task.members"):
        Trainer(task, members_config(), tmp_path)


class IdleRegression(MemberRegression):
    """MemberRegression whose member k sits out the training calls `idle_calls[k]` ("active")."""

    idle_calls: dict[int, set[int]] = {}

    def forward(self, batch):
        call = self.calls
        out = super().forward(batch)
        active = torch.tensor([call not in self.idle_calls.get(k, ()) for k in self.ids])
        return {**out, "active": active}


def test_idle_members_keep_weights_and_optimizer_state(tmp_path):
    cfg = members_config(epochs=2, steps_per_epoch=3, scheduler=None)
    plain = MemberRegression()
    Trainer(plain, cfg, tmp_path / "plain").fit()
    idle = IdleRegression()
    idle.idle_calls = {1: {2, 3}}
    seen = {}
    idle.hook = lambda task, call: seen.setdefault(call, task.weight.detach()[1].clone())
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        summary = Trainer(idle, cfg, tmp_path / "idle").fit()
    assert summary["status"] == "finished" and not [w for w in record if "non-finite" in str(w.message)]
    for k in (0, 2):  # the others train as without idle members
        assert_close(idle.weight.detach()[k], plain.weight.detach()[k], **TOL)
    assert torch.equal(seen[2], seen[3]) and torch.equal(seen[3], seen[4])  # calls 2 and 3 left member 1 alone
    assert not torch.equal(seen[1], seen[2])
    assert not torch.allclose(idle.weight.detach()[1], plain.weight.detach()[1])


def test_a_bad_active_mask_is_named(tmp_path):
    task = IdleRegression()
    task.forward = lambda batch: {"loss": task._losses(batch), "active": torch.ones(2, dtype=torch.bool)}
    with pytest.raises(ValueError, match=r"\['active'\] must be a \(3,\) bool mask"):
        Trainer(task, members_config(epochs=1, steps_per_epoch=1), tmp_path).fit()
