import pytest
import torch
from torch.autograd.functional import jacobian

from ddspfx.heads import ProbabilisticHead
from ddspfx.heads.flows import DSFFlow, DSFStep, ZukoFlow

D, CTX = 5, 6


def _randomize(module, scale=0.5, seed=0):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(scale * torch.randn(p.shape, generator=g, dtype=p.dtype))
    return module


def _jac_logdet(fn, z):
    """log|det| of the autograd Jacobian of fn: (d,) → (d,)."""
    return torch.linalg.slogdet(jacobian(fn, z))[1]


@pytest.mark.parametrize("length", [1, 2])
def test_dsf_logdet_matches_autograd(length):
    flow = _randomize(DSFFlow(D, CTX, length, hidden=4)).double()
    c = torch.randn(1, CTX, dtype=torch.float64)
    for _ in range(3):
        z = 1.5 * torch.randn(D, dtype=torch.float64)
        _, ladj = flow(z[None], c)
        ref = _jac_logdet(lambda x: flow(x[None], c)[0][0], z)
        torch.testing.assert_close(ladj[0], ref)


@pytest.mark.parametrize("kind", ["nsf", "maf"])
def test_zuko_logdet_matches_autograd(kind):
    flow = ZukoFlow(D, CTX, kind, length=2, hidden_features=[16]).double()
    c = torch.randn(1, CTX, dtype=torch.float64)
    z = torch.randn(D, dtype=torch.float64)
    _, ladj = flow(z[None], c)
    torch.testing.assert_close(ladj[0], _jac_logdet(lambda x: flow(x[None], c)[0][0], z))


def test_head_logdet_includes_sigmoid():
    head = _randomize(ProbabilisticHead(3, D, flow={"type": "dsf", "length": 2, "hidden": 3})).double()
    e = torch.randn(1, 3, dtype=torch.float64)
    z = torch.randn(D, dtype=torch.float64)
    v, ladj = head.push(e, z[None, None])
    ref = _jac_logdet(lambda x: head.push(e, x[None, None])[0][0, 0], z)
    torch.testing.assert_close(ladj[0, 0], ref)
    assert ((v > 0) & (v < 1)).all()


def test_dsf_step_is_autoregressive():
    step = _randomize(DSFStep(D, CTX, hidden=4)).double()
    c = torch.randn(1, CTX, dtype=torch.float64)
    for seed in range(3):
        z = torch.randn(D, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
        jac = jacobian(lambda x: step(x[None], c)[0][0], z)
        assert torch.equal(torch.triu(jac, diagonal=1), torch.zeros_like(jac))  # no z_j, j > i
        assert (jac.diagonal().abs() > 0).all()
        assert (jac.diagonal(-1).abs() > 1e-8).all()  # z_{i-1} is used (the reference dropped it)


def test_made_path_alone_reaches_previous_dimension():
    step = _randomize(DSFStep(D, CTX, hidden=4)).double()
    with torch.no_grad():
        step.skip.weight.zero_()
    c = torch.randn(1, CTX, dtype=torch.float64)
    jac = jacobian(lambda x: step(x[None], c)[0][0], torch.randn(D, dtype=torch.float64))
    lower = torch.tril(torch.ones(D, D, dtype=torch.bool), diagonal=-1)
    assert (jac[lower].abs() > 1e-10).all()


def test_dsf_is_monotone_in_each_dimension():
    step = _randomize(DSFStep(D, CTX, hidden=4), scale=1.0).double()
    c = torch.randn(1, CTX, dtype=torch.float64)
    base = torch.randn(D, dtype=torch.float64)
    grid = torch.linspace(-8, 8, 401, dtype=torch.float64)
    for i in range(D):
        z = base.repeat(len(grid), 1)
        z[:, i] = grid
        out = step(z, c.expand(len(grid), -1))[0][:, i]
        assert (out.diff() > 0).all()


def test_default_init_keeps_gradient_to_conditioner():
    step = DSFStep(D, CTX, hidden=4)
    z, c = torch.randn(8, D), torch.randn(8, CTX)
    out, ladj = step(z, c)
    (out.square().sum() + ladj.sum()).backward()
    assert step.made_out.weight.grad.abs().sum() > 0
    assert step.skip.weight.grad.abs().sum() > 0


def test_dsf_extreme_inputs_stay_finite():
    step = _randomize(DSFStep(D, CTX, hidden=4), scale=2.0)
    z = torch.tensor([[1e4, -1e4, 0.0, 50.0, -50.0]])
    out, ladj = step(z, torch.randn(1, CTX))
    assert torch.isfinite(out).all() and torch.isfinite(ladj).all()


@pytest.mark.parametrize("kind", ["nsf", "maf"])
def test_zuko_flow_from_a_head_preset_that_carries_the_dsf_hidden_key(kind):
    flow = {"type": kind, "length": 1, "hidden": 8, "hidden_features": [16]}  # head.flow.type=<kind> on a preset
    head = ProbabilisticHead(3, D, flow=flow)
    samples, log_q = head.sample_and_log_prob(torch.randn(2, 3), 4)
    assert samples.shape == (2, 4, D) and torch.isfinite(log_q).all()


def test_zuko_flow_with_an_unknown_key_names_the_config_node():
    with pytest.raises(ValueError, match="head.flow: a zuko NSF does not accept"):
        ProbabilisticHead(3, D, flow={"type": "nsf", "length": 1, "bogus": 1})
