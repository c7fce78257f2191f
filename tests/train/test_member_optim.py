"""The per-member optimizer (ddspfx/train/member_optim.py): Adam/AdamW's exact vectorized path against
separate torch optimizers, bit for bit, over hundreds of steps with per-member lrs and skipped steps."""

import pytest
import torch

from ddspfx.train.member_optim import MemberOptimizer, exact_adam

MEMBERS = 4


def run_both(optimizer_cls, dtype, steps=300, **options):
    """The members through MemberOptimizer and each member alone through `optimizer_cls`; returns
    the final parameters and moments of both."""
    torch.manual_seed(0)
    start = torch.randn(MEMBERS, 5, 3, dtype=dtype)
    stacked = start.clone().requires_grad_()
    members = MemberOptimizer(optimizer_cls([stacked], lr=1e-3, **options), MEMBERS)
    singles = [start[m].clone().requires_grad_() for m in range(MEMBERS)]
    alone = [optimizer_cls([p], lr=1e-3, **options) for p in singles]
    lr = torch.tensor([[1e-3], [5e-3], [2.5e-4], [1e-2]], dtype=torch.float64)
    for step in range(steps):
        scale = 10.0 ** torch.randint(-12, 2, (MEMBERS, 1, 1)).to(dtype)  # tiny and large gradients
        grad = torch.randn(MEMBERS, 5, 3, dtype=dtype) * scale
        active = torch.rand(MEMBERS) > 0.2  # members skip steps, so their step counts differ
        if step % 50 == 49:
            lr[step % MEMBERS] *= 0.5  # a member's schedule lowers its lr
        stacked.grad = grad.clone()
        members.step(active, lr)
        for m in torch.nonzero(active).flatten().tolist():
            singles[m].grad = grad[m].clone()
            for group in alone[m].param_groups:
                group["lr"] = float(lr[m, 0])
            alone[m].step()
    state = members.optimizer.state[stacked]
    return stacked.detach(), state, singles, alone


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("optimizer_cls, options", [(torch.optim.Adam, {}), (torch.optim.AdamW, {"weight_decay": 0.1}),
                                                    (torch.optim.Adam, {"weight_decay": 0.01})])
def test_exact_adam_equals_separate_runs_bit_for_bit(optimizer_cls, options, dtype):
    stacked, state, singles, alone = run_both(optimizer_cls, dtype, **options)
    for m in range(MEMBERS):
        assert torch.equal(stacked[m], singles[m].detach())
        single_state = alone[m].state[singles[m]]
        assert torch.equal(state["exp_avg"][m], single_state["exp_avg"])
        assert torch.equal(state["exp_avg_sq"][m], single_state["exp_avg_sq"])


def test_the_exact_path_is_taken_only_where_it_reproduces_the_optimizer():
    p = torch.zeros(2, 3, requires_grad=True)
    assert exact_adam(torch.optim.Adam([p])) and exact_adam(torch.optim.AdamW([p]))
    assert not exact_adam(torch.optim.Adam([p], amsgrad=True))
    assert not exact_adam(torch.optim.SGD([p], lr=0.1, momentum=0.9))
    assert not exact_adam(torch.optim.Adam([p], lr=torch.tensor(1e-3)))


def test_members_without_gradient_or_inactive_keep_their_state():
    p = torch.ones(3, 2, requires_grad=True)
    members = MemberOptimizer(torch.optim.Adam([p], lr=0.1), 3)
    members.step(torch.tensor([True, True, True]), torch.full((3, 1), 0.1, dtype=torch.float64))  # no grad: no step
    assert torch.equal(p.detach(), torch.ones(3, 2)) and not members.optimizer.state[p]
    p.grad = torch.ones(3, 2)
    members.step(torch.tensor([True, False, True]), torch.full((3, 1), 0.1, dtype=torch.float64))
    assert torch.equal(p.detach()[1], torch.ones(2)) and (p.detach()[[0, 2]] < 1).all()
    assert members.scalars[0]["step"].tolist() == [1.0, 0.0, 1.0]
    assert torch.equal(members.optimizer.state[p]["exp_avg"][1], torch.zeros(2))
