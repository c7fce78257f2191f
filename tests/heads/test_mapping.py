import pytest
import torch

from torch import nn

from ddspfx.heads.mapping import (
    DirectModulation,
    LinearMapping,
    MLPMapping,
    build_mapping,
    modulate,
    stacked_forward,
    stacked_parameters,
)


@pytest.mark.parametrize("kind, weights", [("linear", 42), ("mlp", 590), ("mlp_lrg", 9486)])
def test_weight_counts_of_the_paper(kind, weights):
    assert sum(p.numel() for p in build_mapping(kind).parameters()) == weights


def test_reference_hit_gives_zero_modulation_for_the_linear_model():
    torch.manual_seed(0)
    model = LinearMapping(init_std=0.5)
    assert torch.equal(model(torch.zeros(4, 3)), torch.zeros(4, 14))


def test_linear_output_is_clamped_and_mlp_is_tanh_bounded():
    model = LinearMapping(init_std=100.0)
    out = model(torch.randn(32, 3))
    assert out.abs().max() <= 1.0 and (out.abs() == 1.0).any()
    mlp = MLPMapping(init_std=10.0)
    assert mlp(torch.randn(32, 3) * 100).abs().max() <= 1.0


def test_init_std_sets_the_weight_scale():
    torch.manual_seed(0)
    weights = build_mapping("mlp_lrg").hidden[3].weight
    assert weights.std().item() == pytest.approx(1e-3, rel=0.05)
    assert torch.all(build_mapping("mlp").out.bias == 0)
    assert build_mapping("linear").linear.weight.std().item() == pytest.approx(1e-6, rel=0.3)


def test_mlp_layer_norm_without_affine_before_relu():
    model = build_mapping("mlp")
    assert [type(m) for m in model.hidden[1:]] == [nn.LayerNorm, nn.ReLU]
    assert isinstance(model.hidden[0], nn.Linear) and isinstance(model.out, nn.Linear)
    assert model.hidden[1].weight is None and model.hidden[1].eps == 1e-5


def test_modulate_clips_and_damps():
    preset = torch.tensor([0.5, 0.9, 0.1])
    damping = torch.tensor([0.01, 1.0, 1.0])
    theta = modulate(preset, damping, torch.tensor([[1.0, 0.5, -0.5]]))
    assert torch.allclose(theta, torch.tensor([[0.51, 1.0, 0.0]]))


def test_direct_modulation_starts_at_zero_and_indexes_hits():
    direct = DirectModulation(5, 14)
    assert torch.equal(direct(torch.tensor([0, 4])), torch.zeros(2, 14))
    with torch.no_grad():
        direct.modulation[3] = 1.0
    assert torch.equal(direct(torch.tensor([3]))[0], torch.ones(14))


def test_unknown_mapping_names_the_known_ones():
    with pytest.raises(ValueError, match="mlp_lrg"):
        build_mapping("transformer")


@pytest.mark.parametrize("kind", ["linear", "mlp", "mlp_lrg"])
def test_stacked_forward_is_each_models_own_forward_bit_for_bit(kind):
    """Outputs and parameter gradients of model g of a stack equal its own mapping's on its own
    rows, whatever the number of rows and of models (a grid member is its single run)."""
    torch.manual_seed(0)
    maps = [build_mapping(kind, init_std=0.5).double() for _ in range(3)]
    for batch in range(1, 10):
        params = {k: v.clone().requires_grad_() for k, v in stacked_parameters(maps).items()}
        x = torch.randn(len(maps), batch, 3, dtype=torch.float64) * 2
        upstream = torch.randn(len(maps), batch, 14, dtype=torch.float64)
        out = stacked_forward(kind, params, x)
        (out * upstream).sum().backward()
        for g, mapping in enumerate(maps):
            mapping.zero_grad()
            own = mapping(x[g])
            (own * upstream[g]).sum().backward()
            assert torch.equal(own, out[g]), (batch, g)
            for name, p in mapping.named_parameters():
                assert torch.equal(p.grad, params[name].grad[g]), (batch, g, name)
        alone = stacked_forward(kind, {k: v[:1].detach() for k, v in params.items()}, x[:1, : max(1, batch // 2)])
        assert torch.equal(alone[0], out[0, : max(1, batch // 2)].detach())


def test_mapping_scripts_to_the_same_outputs():
    for kind in ("linear", "mlp", "mlp_lrg"):
        mapping = build_mapping(kind, init_std=0.3)
        x = torch.randn(5, 3)
        assert torch.equal(torch.jit.script(mapping)(x), mapping(x))
