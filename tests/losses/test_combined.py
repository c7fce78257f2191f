"""WeightedSum and the Hydra config group conf/loss."""

from pathlib import Path

import pytest
import torch
from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from omegaconf import OmegaConf

from ddspfx.losses import LogMelLoss, MRSTFTRevisited, ParamMSE, SpectralOT, WeightedSum

LOSS_DIR = Path(__file__).parents[2] / "conf" / "loss"
LOSS_CONFIGS = sorted(LOSS_DIR.glob("*.yaml"))


def instantiate_loss(path, sample_rate=44100):
    """Instantiate conf/loss/<file> inside a primary-like config that has `sample_rate`. Hydra composes
    the file: the combined losses take their members from the single-loss files (defaults lists)."""
    with initialize_config_dir(config_dir=str(LOSS_DIR.parent), version_base="1.3"):
        loss = compose(config_name=f"loss/{path.stem}").loss
    cfg = OmegaConf.create({"sample_rate": sample_rate, "loss": OmegaConf.to_container(loss)})
    return instantiate(cfg.loss)


def small_sum():
    return WeightedSum(
        {"sot": SpectralOT(n_fft=16, hop=8), "rev": MRSTFTRevisited(n_ffts=[15, 31])},
        {"sot": 1.0, "rev": 0.05},
    )


def test_sum_terms_and_per_example():
    torch.manual_seed(0)
    estimate, target = torch.randn(3, 512), torch.randn(3, 512)
    loss = small_sum()
    terms = loss.terms(estimate, target)
    assert set(terms) == {"sot", "rev"}
    sot, rev = loss.losses["sot"], loss.losses["rev"]
    expected = sot(estimate, target) + 0.05 * rev(estimate, target)
    torch.testing.assert_close(loss(estimate, target), expected)
    torch.testing.assert_close(terms["rev"], rev(estimate, target))
    expected = sot.per_example(estimate, target) + 0.05 * rev.per_example(estimate, target)
    torch.testing.assert_close(loss.per_example(estimate, target), expected)
    assert loss.domain == "audio"


def test_members_are_submodules():
    loss = small_sum()
    assert {name for name, _ in loss.named_children()} == {"losses"}
    assert set(loss.losses.keys()) == {"sot", "rev"}
    loss.to(torch.float64)
    assert loss.losses["sot"].window.dtype == torch.float64


def test_gradcheck():
    torch.manual_seed(0)
    estimate = torch.randn(2, 256, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 256, dtype=torch.float64)
    loss = small_sum()
    assert torch.autograd.gradcheck(lambda e: loss(e, target), (estimate,))


def test_mixed_domains_and_mismatched_names_raise():
    with pytest.raises(ValueError, match="one domain"):
        WeightedSum({"mel": LogMelLoss(), "params": ParamMSE()}, {"mel": 1.0, "params": 1.0})
    with pytest.raises(ValueError, match="weight names"):
        WeightedSum({"params": ParamMSE()}, {"param": 1.0})


def test_bad_shapes_raise():
    with pytest.raises(ValueError, match="shapes differ"):
        small_sum()(torch.zeros(2, 512), torch.zeros(2, 500))


def test_config_group_is_complete():
    names = {path.stem for path in LOSS_CONFIGS}
    assert {"sot", "sot_only", "mrstft_rev", "mrstft", "mel", "params", "params10", "ldr", "mel_ldr"} <= names


@pytest.mark.parametrize("path", LOSS_CONFIGS, ids=lambda path: path.stem)
def test_every_config_instantiates_and_gives_a_finite_loss(path):
    loss = instantiate_loss(path)
    generator = torch.Generator().manual_seed(0)
    shape = (2, 9) if loss.domain == "params" else (2, 22050)  # 0.5 s at 44.1 kHz
    estimate = torch.rand(shape, generator=generator)
    target = torch.rand(shape, generator=generator)
    if loss.domain == "audio":
        estimate, target = 2 * estimate - 1, 2 * target - 1
    value = loss(estimate, target)
    assert value.shape == () and torch.isfinite(value) and value.item() > 0
    assert loss.per_example(estimate, target).shape == (2,)


def test_sot_config_is_the_paper_fm_loss():
    loss = instantiate_loss(LOSS_DIR / "sot.yaml")
    assert isinstance(loss.losses["sot"], SpectralOT) and loss.losses["sot"].hop == 256
    assert isinstance(loss.losses["mrstft_rev"], MRSTFTRevisited)
    assert loss.weights == {"sot": 1.0, "mrstft_rev": 0.05}


def test_mel_config_follows_the_sample_rate():
    assert instantiate_loss(LOSS_DIR / "mel.yaml", sample_rate=16000).sample_rate == 16000
