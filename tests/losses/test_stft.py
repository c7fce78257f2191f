"""MRSTFTRevisited against a numpy/scipy implementation; MRSTFT against auraloss itself."""

import auraloss
import numpy as np
import pytest
import scipy.signal
import torch

from ddspfx.losses import MRSTFT, MRSTFTRevisited


def numpy_log_magnitude(x, n_fft):
    """log(|rfft(flattop · frame)| + 1), frames centred with reflect padding, hop n_fft // 2."""
    hop = n_fft // 2
    padded = np.pad(x, n_fft // 2, mode="reflect")
    n_frames = 1 + (len(padded) - n_fft) // hop
    frames = np.stack([padded[m * hop : m * hop + n_fft] for m in range(n_frames)])
    window = scipy.signal.get_window("flattop", n_fft)
    return np.log(np.abs(np.fft.rfft(frames * window, axis=-1)) + 1.0)


def numpy_mrstft_revisited(estimate, target, n_ffts, scale=20.0):
    return scale * np.mean(
        [
            np.mean((numpy_log_magnitude(estimate, n) - numpy_log_magnitude(target, n)) ** 2)
            for n in n_ffts
        ]
    )


def test_revisited_matches_numpy_reference():
    rng = np.random.default_rng(0)
    estimate, target = rng.standard_normal((2, 3000)), rng.standard_normal((2, 3000))
    n_ffts = [67, 127, 257]
    loss = MRSTFTRevisited(n_ffts=n_ffts)
    ours = loss.per_example(torch.from_numpy(estimate), torch.from_numpy(target)).numpy()
    expected = [numpy_mrstft_revisited(estimate[b], target[b], n_ffts) for b in range(2)]
    # rtol 1e-7, not 1e-12: our magnitude is sqrt(|X|² + 1e-12), which lifts near-zero bins.
    np.testing.assert_allclose(ours, expected, rtol=1e-7)
    batch_value = loss(torch.from_numpy(estimate), torch.from_numpy(target)).item()
    assert batch_value == pytest.approx(np.mean(expected))


def test_revisited_default_resolutions_and_float32():
    loss = MRSTFTRevisited()
    assert loss.n_ffts == [67, 127, 257, 509, 1021, 2053] and loss.scale == 20.0
    x = torch.randn(2, 8000)
    assert loss(x, x).item() == 0.0
    assert torch.isfinite(loss(x, torch.zeros_like(x)))


def test_revisited_gradcheck_and_silence():
    torch.manual_seed(0)
    estimate = torch.randn(2, 256, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 256, dtype=torch.float64)
    loss = MRSTFTRevisited(n_ffts=[15, 31])
    assert torch.autograd.gradcheck(lambda e: loss(e, target), (estimate,))
    silent = torch.zeros(2, 256, requires_grad=True)
    (grad,) = torch.autograd.grad(loss(silent, torch.zeros(2, 256)), silent)
    assert torch.isfinite(grad).all()


SMALL_AURALOSS = dict(fft_sizes=[16, 32], hop_sizes=[8, 16], win_lengths=[16, 32])


def test_mrstft_is_auraloss_on_a_channel_axis():
    torch.manual_seed(0)
    estimate, target = torch.randn(3, 2048), torch.randn(3, 2048)
    ours = MRSTFT(**SMALL_AURALOSS)
    reference = auraloss.freq.MultiResolutionSTFTLoss(**SMALL_AURALOSS)
    expected = reference(estimate[:, None], target[:, None]).item()
    assert ours(estimate, target).item() == pytest.approx(expected)
    per_example = ours.per_example(estimate, target)
    assert per_example.shape == (3,)
    for b in range(3):
        expected = reference(estimate[b, None, None], target[b, None, None]).item()
        assert per_example[b].item() == pytest.approx(expected)
    assert ours(estimate, estimate).item() == 0.0


def test_mrstft_gradcheck_float64():
    torch.manual_seed(1)
    estimate = torch.randn(2, 256, dtype=torch.float64, requires_grad=True)
    target = torch.randn(2, 256, dtype=torch.float64)
    loss = MRSTFT(**SMALL_AURALOSS)
    assert torch.autograd.gradcheck(lambda e: loss(e, target), (estimate,))


@pytest.mark.parametrize("loss", [MRSTFTRevisited(n_ffts=[15]), MRSTFT(**SMALL_AURALOSS)])
def test_mismatched_shapes_raise(loss):
    with pytest.raises(ValueError, match="shapes differ"):
        loss(torch.zeros(2, 512), torch.zeros(3, 512))
    with pytest.raises(ValueError, match=r"\(batch, samples\)"):
        loss(torch.zeros(2, 1, 512), torch.zeros(2, 1, 512))
