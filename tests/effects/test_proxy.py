"""ProxyTCN, ProxyCompressor and HybridCompressor (reference note B.3)."""

import warnings

import pytest
import torch

from ddspfx.effects import proxy as proxy_module
from ddspfx.effects.proxy import HybridCompressor, ProxyCompressor, ProxyTCN
from ddspfx.core.checkpoint import CheckpointError, save_checkpoint

SR = 16000
TINY = dict(n_blocks=3, kernel_size=3, dilation_growth=4, channels=4)  # receptive field 1 + 2·21 = 43
NAMES = ["threshold_db", "attack_ms", "release_ms", "ratio", "knee_db", "makeup_db"]


def tiny_proxy(trainable=False, **kwargs):
    torch.manual_seed(0)
    return ProxyCompressor(sample_rate=SR, trainable=trainable, **{**TINY, **kwargs})


def audio(batch=3, samples=600, seed=1):
    return torch.randn(batch, samples, generator=torch.Generator().manual_seed(seed)) * 0.3


def controls(batch=3, seed=2):
    return torch.rand(batch, 6, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(autouse=True)
def _no_untrained_warning(monkeypatch):
    monkeypatch.setattr(proxy_module, "_warned_untrained", True)


@pytest.fixture
def trained_file(tmp_path):
    """A tiny proxy whose BatchNorm statistics moved away from their defaults, saved as train_proxy.py does."""
    proxy = tiny_proxy(trainable=True)
    proxy.train()
    with torch.no_grad():
        proxy(audio(8), controls(8))
    proxy.eval()
    path = tmp_path / "proxy.pt"
    save_checkpoint(path, {"state_dict": proxy.tcn.state_dict(), "config": proxy.config, "step": 1, "valid_loss": 0.5})
    return path, proxy


# --- ProxyTCN -------------------------------------------------------------------------------------


def test_default_receptive_field_is_the_published_133333_samples():
    tcn = ProxyTCN()
    assert tcn.dilations == [1, 10, 100, 1000, 10000]
    assert tcn.receptive_field == 133_333
    assert ProxyCompressor(sample_rate=44100).receptive_field == 133_333


def test_dilations_repeat_every_ten_blocks():
    assert ProxyTCN(n_blocks=12, dilation_growth=2).dilations == [2**n for n in range(10)] + [1, 2]


def test_causal_with_exactly_the_stated_receptive_field():
    tcn = tiny_proxy().tcn
    rf, t0 = tcn.receptive_field, 200
    x, cond = audio(2, 400), torch.rand(2, 4)
    x2 = x.clone()
    x2[:, t0] += 1.0
    m1, m2 = tcn.mask(x, cond), tcn.mask(x2, cond)
    assert torch.equal(m1[:, :t0], m2[:, :t0])
    assert (m1[:, t0 + rf - 1] != m2[:, t0 + rf - 1]).all()
    assert torch.equal(m1[:, t0 + rf:], m2[:, t0 + rf:])


def test_mask_is_a_gain_in_zero_one_applied_to_the_input():
    tcn = tiny_proxy().tcn
    x, cond = audio(), torch.rand(3, 4)
    mask = tcn.mask(x, cond)
    assert mask.shape == x.shape
    assert ((mask > 0) & (mask < 1)).all()
    torch.testing.assert_close(tcn(x, cond), mask * x)


def test_tcn_rejects_bad_shapes_and_sizes():
    tcn = tiny_proxy().tcn
    with pytest.raises(ValueError, match="cond"):
        tcn(audio(), torch.rand(3, 5))
    with pytest.raises(ValueError, match="channels"):
        ProxyTCN(channels=0)


# --- ProxyCompressor ------------------------------------------------------------------------------


def test_controls_match_the_compressor_ranges():
    proxy = tiny_proxy()
    assert proxy.param_names == NAMES
    spec = {p.name: (p.min, p.max, p.scale) for p in proxy.params}
    assert spec["threshold_db"] == (-40.0, 0.0, "linear")
    assert spec["attack_ms"] == (1.0, 60.0, "log")
    assert spec["release_ms"] == (10.0, 500.0, "log")
    assert spec["ratio"] == (2.0, 10.0, "log")
    assert spec["knee_db"] == (0.0, 12.0, "linear")
    assert spec["makeup_db"] == (0.0, 20.0, "linear")


def test_explicit_makeup_gain():
    proxy, x, q = tiny_proxy(), audio(), controls()
    q_loud = q.clone()
    q_loud[:, 5] = 1.0  # +20 dB makeup
    q_flat = q.clone()
    q_flat[:, 5] = 0.0
    torch.testing.assert_close(proxy(x, q_loud), 10.0 * proxy(x, q_flat))
    assert (proxy(x, q_flat).abs() <= x.abs()).all()  # a mask in (0, 1) only attenuates


def test_threshold_scales_what_the_network_sees():
    proxy, x, q = tiny_proxy(), audio(), controls()
    q[:, 0] = 0.0  # −40 dB threshold: the TCN sees x · 100
    physical = proxy.denormalize(q)
    cond = torch.stack([p.normalize(physical[p.name]) for p in proxy.params[1:5]], dim=-1)
    makeup = 10.0 ** (physical["makeup_db"][:, None] / 20)
    torch.testing.assert_close(proxy(x, q), proxy.tcn.mask(100.0 * x, cond) * x * makeup)


def test_gradients_wrt_all_six_controls_are_finite_and_nonzero():
    proxy = tiny_proxy()
    x = audio()
    x[0] = 0.0  # silence
    q = torch.cat([controls(1), torch.zeros(1, 6), torch.ones(1, 6)]).requires_grad_(True)
    proxy(x, q).square().sum().backward()
    assert torch.isfinite(q.grad).all()
    assert (q.grad[1:].abs().sum(0) > 0).all()


def test_gradient_reaches_the_input_audio():
    proxy, x = tiny_proxy(), audio().requires_grad_(True)
    proxy(x, controls()).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_bad_input_gets_clear_errors():
    proxy, x, q = tiny_proxy(), audio(), controls()
    with pytest.raises(ValueError, match="static"):
        proxy(x, q.unsqueeze(-1).expand(3, 6, 4))
    with pytest.raises(ValueError, match="batch, samples"):
        proxy(x[0], q[:1])
    with pytest.raises(ValueError, match="batch sizes"):
        proxy(x, q[:2])
    with pytest.raises(ValueError, match="unknown parameter"):
        ProxyCompressor(sample_rate=SR, ranges={"drive": [0, 1]}, **TINY)


def test_frozen_by_default_and_train_mode_does_not_touch_batchnorm():
    proxy = tiny_proxy()
    assert not any(p.requires_grad for p in proxy.parameters())
    before = {k: v.clone() for k, v in proxy.state_dict().items()}
    proxy.train()
    assert proxy.training and not proxy.tcn.training
    proxy(audio(), controls())
    assert all(torch.equal(before[k], v) for k, v in proxy.state_dict().items())


def test_trainable_proxy_trains_normally():
    proxy = tiny_proxy(trainable=True)
    assert all(p.requires_grad for p in proxy.parameters())
    proxy.train()
    assert proxy.tcn.training
    proxy(audio(), controls()).abs().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in proxy.parameters())


def test_untrained_proxy_warns_once_naming_the_training_script(monkeypatch):
    monkeypatch.setattr(proxy_module, "_warned_untrained", False)
    with pytest.warns(UserWarning, match="scripts/train_proxy.py"):
        tiny_proxy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tiny_proxy()
        tiny_proxy(trainable=True)


# --- checkpoints ----------------------------------------------------------------------------------


def test_checkpoint_round_trip_gives_identical_output(trained_file):
    path, original = trained_file
    x, q = audio(), controls()
    expected = original(x, q)
    loaded = ProxyCompressor(sample_rate=SR, checkpoint=path, **TINY)
    assert torch.equal(loaded(x, q), expected)
    assert torch.equal(ProxyCompressor(sample_rate=SR, checkpoint=path)(x, q), expected)  # architecture from the file
    rebuilt = ProxyCompressor.from_checkpoint(path)
    assert rebuilt.sample_rate == SR and rebuilt.tcn.config == original.tcn.config
    assert torch.equal(rebuilt(x, q), expected)


@pytest.mark.parametrize(
    "kwargs, what",
    [
        (dict(sample_rate=44100, **TINY), "sample_rate"),
        (dict(sample_rate=SR, **{**TINY, "channels": 8}), "channels"),
        (dict(sample_rate=SR, **{**TINY, "n_blocks": 2}), "n_blocks"),
        (dict(sample_rate=SR, ranges={"ratio": [1, 4]}, **TINY), "range of ratio"),
    ],
)
def test_mismatched_checkpoint_names_the_file_and_the_difference(trained_file, kwargs, what):
    path, _ = trained_file
    with pytest.raises(ValueError, match=what) as info:
        ProxyCompressor(checkpoint=path, **kwargs)
    assert str(path) in str(info.value)


def test_not_a_proxy_checkpoint(tmp_path):
    other = tmp_path / "other.pt"
    save_checkpoint(other, {"task": {}, "step": 3})
    with pytest.raises(ValueError, match="not a proxy compressor checkpoint") as info:
        ProxyCompressor.from_checkpoint(other)
    assert str(other) in str(info.value)
    with pytest.raises(FileNotFoundError):
        ProxyCompressor.from_checkpoint(tmp_path / "missing.pt")
    (tmp_path / "broken.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.pt"):
        ProxyCompressor.from_checkpoint(tmp_path / "broken.pt")


# --- HybridCompressor -----------------------------------------------------------------------------


def test_hybrid_switches_implementation_with_train_and_eval(trained_file):
    from ddspfx.effects.dynamics import Compressor

    path, original = trained_file
    hybrid = HybridCompressor(sample_rate=SR, checkpoint=path)
    exact = Compressor(sample_rate=SR)
    x, q = audio(), controls()
    parent = torch.nn.Sequential(hybrid)  # switched through its parent, as in a real model

    parent.train()
    assert hybrid.active is hybrid.proxy
    assert torch.equal(hybrid(x, q), original(x, q))
    parent.eval()
    assert hybrid.active is hybrid.exact
    assert torch.equal(hybrid(x, q), exact(x, q))
    parent.train()
    assert torch.equal(hybrid(x, q), original(x, q))
    assert hybrid.param_names == NAMES == exact.param_names
    levels = torch.linspace(-60.0, 0.0, 7)
    assert torch.equal(hybrid.static_curve(q, levels), exact.static_curve(q, levels))


def test_hybrid_proxy_gets_no_updates_while_gradients_flow_through_it(trained_file):
    path, _ = trained_file
    hybrid = HybridCompressor(sample_rate=SR, checkpoint=path).train()
    upstream = torch.nn.Parameter(torch.zeros(3, 6))
    optimizer = torch.optim.SGD([upstream, *hybrid.parameters()], lr=1.0)
    before = {k: v.clone() for k, v in hybrid.proxy.state_dict().items()}
    x, q = audio(), controls()
    for _ in range(2):
        optimizer.zero_grad()
        hybrid(x, (q + upstream).clamp(0, 1)).square().mean().backward()
        optimizer.step()
    assert not any(p.requires_grad for p in hybrid.proxy.parameters())
    assert all(torch.equal(before[k], v) for k, v in hybrid.proxy.state_dict().items())
    assert upstream.abs().sum() > 0


def test_hybrid_refuses_a_checkpoint_of_another_sample_rate(trained_file):
    path, _ = trained_file
    with pytest.raises(ValueError, match="Hz") as info:
        HybridCompressor(sample_rate=44100, checkpoint=path)
    assert str(path) in str(info.value)
