import pytest
import torch

from ddspfx.heads.mapping import DirectModulation, LinearMapping, MLPMapping, build_mapping, modulate


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
    kinds = [type(m).__name__ for m in model.hidden]
    assert kinds == ["Linear", "LayerNorm", "ReLU"]
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
