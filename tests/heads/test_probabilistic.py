import math
from pathlib import Path

import numpy as np
import pytest
import torch
from hydra.utils import instantiate
from omegaconf import OmegaConf
from scipy.stats import norm

from ddspfx.heads import HeadOutput, ProbabilisticHead, SigmoidHead

CONF = Path(__file__).resolve().parents[2] / "conf" / "head"
IN_DIM, D, B = 16, 4, 3

BASES = {
    "gaussian": {"type": "gaussian"},
    "gaussian_floor": {"type": "gaussian", "sigma_floor": 1e-4},
    "gaussian_log_taslp": {"type": "gaussian_log", "bound": "taslp"},
    "gaussian_log_spl": {"type": "gaussian_log", "bound": "spl"},
    "mog_full_softmax": {"type": "mog_full", "components": 3},
    "mog_full_sigmoid_softmax": {"type": "mog_full", "components": 3, "weights": "sigmoid_softmax", "sigma": "sigmoid"},
    "mog_unif": {"type": "mog_unif", "components": 3},
}
FLOWS = {
    "l0": {"length": 0},
    "dsf_l1": {"type": "dsf", "length": 1, "hidden": 4},
    "dsf_l2": {"type": "dsf", "length": 2, "hidden": 4},
    "nsf_l2": {"type": "nsf", "length": 2, "hidden_features": [16, 16]},
    "maf_l1": {"type": "maf", "length": 1, "hidden_features": [16]},
}


def _check_training_output(head, out, n_samples):
    s = head.base.components * n_samples if head.base.__class__.__name__ == "MixtureFullBase" else n_samples
    assert isinstance(out, HeadOutput)
    assert out.samples.shape == (B, s, D) and out.weights.shape == (B, s) and out.entropy.shape == (B,)
    assert ((out.samples > 0) & (out.samples < 1)).all()
    assert (out.weights >= 0).all()
    torch.testing.assert_close(out.weights.sum(-1), torch.ones(B))
    assert torch.isfinite(out.entropy).all()


@pytest.mark.parametrize("flow", FLOWS)
@pytest.mark.parametrize("base", BASES)
def test_head_training_output_and_gradients(base, flow):
    torch.manual_seed(0)
    head = ProbabilisticHead(IN_DIM, D, base=BASES[base], flow=FLOWS[flow], context_dim=8)
    e = torch.randn(B, IN_DIM, requires_grad=True)
    out = head(e)
    _check_training_output(head, out, 1)
    target = torch.rand(B, 1, D)
    loss = (out.weights * (out.samples - target).square().sum(-1)).sum() - 0.1 * out.entropy.sum()
    loss.backward()
    assert e.grad is not None and e.grad.abs().sum() > 0
    if base.startswith("mog_full"):  # the weight logits are the last K rows of the linear layer
        k = head.base.components
        assert head.base.linear.weight.grad[-k:].abs().sum() > 0
    assert head.sample(e, 5).shape == (B, 5, D)
    assert torch.isfinite(head.entropy_mc(e, 16)).all()


@pytest.mark.parametrize("base", ["gaussian", "mog_full_softmax", "mog_unif"])
def test_mc_entropy_mode_and_n_samples(base):
    head = ProbabilisticHead(IN_DIM, D, base=BASES[base], flow=FLOWS["dsf_l1"], entropy="mc", n_samples=2)
    e = torch.randn(B, IN_DIM, requires_grad=True)
    out = head(e)
    _check_training_output(head, out, 2)
    out.entropy.sum().backward()
    assert e.grad.abs().sum() > 0


def test_full_mixture_weights_are_pi():
    head = ProbabilisticHead(IN_DIM, D, base=BASES["mog_full_softmax"])
    e = torch.randn(B, IN_DIM)
    torch.testing.assert_close(head(e).weights, head.base(e).log_pi.exp())


def test_sigmoid_softmax_weight_bounds_k6():
    head = ProbabilisticHead(IN_DIM, D, base={"type": "mog_full", "components": 6, "weights": "sigmoid_softmax"})
    lo, hi = 1 / (1 + 5 * math.e), math.e / (math.e + 5)
    assert (round(lo, 4), round(hi, 4)) == (0.0685, 0.3522)
    with torch.no_grad():
        head.base.linear.weight.mul_(1e4)  # extreme logits
    pi = head.base(torch.randn(64, IN_DIM)).log_pi.exp()
    assert pi.min() >= lo - 1e-6 and pi.max() <= hi + 1e-6
    for sign, bound in ((1.0, hi), (-1.0, lo)):  # one component at +/- inf against five at -/+ inf
        with torch.no_grad():
            head.base.linear.weight.zero_()
            head.base.linear.bias[-6:] = sign * torch.tensor([100.0, -100, -100, -100, -100, -100])
        pi0 = head.base(torch.randn(1, IN_DIM)).log_pi.exp()[0, 0].item()
        assert pi0 == pytest.approx(bound, abs=1e-6)


@pytest.mark.parametrize("base", ["gaussian", "gaussian_log_spl"])
def test_log_prob_l0_gaussian_is_change_of_variables(base):
    head = ProbabilisticHead(IN_DIM, D, base=BASES[base]).double()
    e = torch.randn(B, IN_DIM, dtype=torch.float64)
    v, log_q = head.sample_and_log_prob(e, 7)
    p = head.base(e)
    mu, sigma = p.mu.detach().numpy(), p.log_sigma.exp().detach().numpy()  # (B, 1, D)
    v = v.detach().numpy()
    x = np.log(v) - np.log1p(-v)
    ref = norm.logpdf(x, mu, sigma).sum(-1) - np.log(v * (1 - v)).sum(-1)
    np.testing.assert_allclose(log_q.detach().numpy(), ref, rtol=1e-9)


def test_mode_is_argmax_of_log_density():
    head = ProbabilisticHead(IN_DIM, D, base=BASES["mog_full_softmax"], flow=FLOWS["dsf_l1"])
    e = torch.randn(B, IN_DIM)
    torch.manual_seed(1)
    mode = head.mode(e, k=50, chunk=20)
    torch.manual_seed(1)
    with torch.no_grad():
        draws = [head.sample_and_log_prob(e, n) for n in (20, 20, 10)]
    v, lp = torch.cat([d[0] for d in draws], 1), torch.cat([d[1] for d in draws], 1)
    torch.testing.assert_close(mode, v[torch.arange(B), lp.argmax(1)])


def test_closed_entropy_is_unbiased_for_l0_gaussian():
    torch.manual_seed(0)
    head = ProbabilisticHead(IN_DIM, D, base=BASES["gaussian_log_taslp"]).double()
    e = torch.randn(2, IN_DIM, dtype=torch.float64)
    with torch.no_grad():
        train = torch.stack([head(e).entropy for _ in range(4000)]).mean(0)
        mc = head.entropy_mc(e, 20000)
    torch.testing.assert_close(train, mc, atol=0.1, rtol=0)


@pytest.mark.parametrize("name", ["gaussian", "gaussian_log", "mog_full", "mog_unif"])
def test_configs_instantiate_with_overrides(name):
    cfg = OmegaConf.load(CONF / f"{name}.yaml")
    assert cfg._target_ == "ddspfx.heads.ProbabilisticHead" and cfg._partial_
    overrides = ["flow.length=2"] + (["base.components=24"] if name.startswith("mog") else [])
    cfg = OmegaConf.merge(cfg, OmegaConf.from_dotlist(overrides))
    head = instantiate(cfg)(IN_DIM, D)
    assert len(head.flow.steps) == 2
    out = head(torch.randn(B, IN_DIM))
    _check_training_output(head, out, 1)
    if name == "mog_full":
        assert out.samples.shape[1] == 24


def test_config_errors_name_the_key():
    with pytest.raises(ValueError, match="head.base"):
        ProbabilisticHead(IN_DIM, D, base={"type": "gaussian", "components": 3})
    with pytest.raises(ValueError, match="head.flow"):
        ProbabilisticHead(IN_DIM, D, flow={"type": "dsf", "length": 1, "knots": 3})
    with pytest.raises(ValueError, match="head.entropy"):
        ProbabilisticHead(IN_DIM, D, entropy="closed_form")
    with pytest.raises(ValueError, match="closed"):
        ProbabilisticHead(IN_DIM, D, base=BASES["mog_unif"], entropy="closed")(torch.randn(1, IN_DIM))


def test_sigmoid_head_sample_and_mode():
    head = SigmoidHead(IN_DIM, D)
    e = torch.randn(B, IN_DIM)
    point = head(e)
    assert point.shape == (B, D)
    torch.testing.assert_close(head.sample(e, 4), point[:, None].expand(B, 4, D))
    torch.testing.assert_close(head.mode(e, k=100), point)
