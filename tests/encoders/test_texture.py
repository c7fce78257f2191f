"""The TexDSP encoder: shapes, the GRU runs over time (frames), not over the batch items."""

import pytest
import torch

from ddspfx.encoders.texture import TexDSPEncoder


def features(batch=3, frames=5, n_bands=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(batch, frames, n_bands, generator=g), torch.rand(batch, frames, 1, generator=g)]


def test_output_is_feature_latents_then_the_gru_per_frame():
    torch.manual_seed(0)
    encoder = TexDSPEncoder([8, 1], hidden=16, depth=2)
    x = features()
    out = encoder(x)
    assert out.shape == (3, 5, 3 * 16) and encoder.out_dim == 48
    assert torch.allclose(out[..., :16], encoder.mlps[0](x[0]))
    assert torch.allclose(out[..., 16:32], encoder.mlps[1](x[1]))


def test_batch_items_are_independent_and_time_is_causal():
    torch.manual_seed(0)
    encoder = TexDSPEncoder([8, 1], hidden=16, depth=1)
    x = features()
    out = encoder(x)
    alone = encoder([f[1:2] for f in x])  # item 1 without the others: the same (no GRU over the batch)
    assert torch.allclose(out[1:2], alone, atol=1e-6)
    changed = [f.clone() for f in x]
    changed[0][:, 3] += 1.0  # frame 3 changes frames 3, 4 only
    other = encoder(changed)
    assert torch.allclose(out[:, :3], other[:, :3], atol=1e-6)
    assert not torch.allclose(out[:, 4, 32:], other[:, 4, 32:])


def test_step_continues_an_excerpt_split_in_two_calls():
    torch.manual_seed(0)
    encoder = TexDSPEncoder([8, 1], hidden=16, depth=1)
    x = features(frames=6)
    first, state = encoder.step([f[:, :2] for f in x])
    second = encoder([f[:, 2:] for f in x], state)
    assert torch.allclose(torch.cat([first, second], 1), encoder(x), atol=1e-6)


def test_wrong_feature_shapes_are_named():
    encoder = TexDSPEncoder([8, 1], hidden=4, depth=1)
    with pytest.raises(ValueError, match=r"\(batch, frames, 8\)"):
        encoder([torch.randn(3, 8), torch.randn(3, 1)])
