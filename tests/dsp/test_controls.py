import numpy as np
import pytest
import torch

from ddspfx.dsp.controls import upsample_frames


def numpy_upsample(frames: np.ndarray, n_samples: int) -> np.ndarray:
    """np.interp with frame k at sample k·(N − 1)/(F − 1), along the last axis."""
    positions = np.linspace(0, n_samples - 1, frames.shape[-1])
    flat = frames.reshape(-1, frames.shape[-1])
    out = np.stack([np.interp(np.arange(n_samples), positions, row) for row in flat])
    return out.reshape(*frames.shape[:-1], n_samples)


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 7), (1, 2)])
@pytest.mark.parametrize("n_samples", [2, 9, 100, 441])
def test_matches_numpy_interp(shape, n_samples):
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    y = upsample_frames(x, n_samples)
    assert y.shape == (*shape[:-1], n_samples) and y.dtype == torch.float64
    np.testing.assert_allclose(y.numpy(), numpy_upsample(x.numpy(), n_samples), atol=1e-12)


@pytest.mark.parametrize("frames", [2, 3, 8, 15, 17])
@pytest.mark.parametrize("n_samples", [100, 441, 4410, 44101])
def test_first_last_and_aligned_frames_are_hit_exactly(frames, n_samples):
    x = torch.randn(2, frames, generator=torch.Generator().manual_seed(frames))
    y = upsample_frames(x, n_samples)
    assert torch.equal(y[:, 0], x[:, 0]) and torch.equal(y[:, -1], x[:, -1])
    for k in range(frames):
        if k * (n_samples - 1) % (frames - 1) == 0:
            assert torch.equal(y[:, k * (n_samples - 1) // (frames - 1)], x[:, k])


def test_one_frame_is_a_constant_and_one_sample_is_the_first_frame():
    x = torch.tensor([[2.0], [-1.0]])
    torch.testing.assert_close(upsample_frames(x, 6), x.expand(2, 6))
    assert torch.equal(upsample_frames(torch.tensor([[1.0, 3.0]]), 1), torch.tensor([[1.0]]))


def test_gradients_are_the_interpolation_weights():
    x = torch.zeros(1, 3, dtype=torch.float64, requires_grad=True)
    upsample_frames(x, 5).sum().backward()  # frames at samples 0, 2, 4
    torch.testing.assert_close(x.grad, torch.tensor([[1.5, 2.0, 1.5]], dtype=torch.float64))


def test_bad_input():
    with pytest.raises(ValueError, match="frames"):
        upsample_frames(torch.zeros(4), 10)
    with pytest.raises(ValueError, match="frames"):
        upsample_frames(torch.zeros(2, 0), 10)
    with pytest.raises(ValueError, match="n_samples"):
        upsample_frames(torch.zeros(2, 3), 0)
