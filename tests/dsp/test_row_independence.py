"""Row independence of the timbre-remapping render: Snare808 → target_features.

A hit's features and the gradient of its loss with respect to its controls must be bit-for-bit
the same whatever other hits share its batch (and wherever it sits in the batch): the remap grid
(`ddspfx.tasks.remap_grid`) renders the hits of many members together and must train each member
exactly as its single run (`ddspfx.tasks.remap.RemapTask`), which renders them alone or in other
batches. BLAS products over the batch axis break this (their blocking depends on the number of
rows), and so does torch.pow (its last elements take a scalar path): the render keeps the batch
axis out of products and uses exp/log for powers.
"""

import pytest
import torch

from ddspfx.dsp.features import MIN_TARGET_SAMPLES, target_features
from ddspfx.synths.snare808 import Snare808

HITS = 17  # more than a vector loop's 16 float32 elements: per-hit values meet its tail and its body
CHECKED = (0, 1, 2, 3, 4, 15, 16)  # hits also rendered alone
WEIGHTS = (1.0, -0.5, 2.0, 0.25, -1.5, 0.75, 0.1)  # a loss that is a sum of per-hit terms


def features_and_grads(synth, controls, clamp):
    """RemapTask's path (`_features`): render MIN_TARGET_SAMPLES, then target_features."""
    controls = controls.clone().requires_grad_(True)
    features = target_features(synth(controls, n_samples=MIN_TARGET_SAMPLES), synth.sample_rate, clamp=clamp)
    ((features * features.new_tensor(WEIGHTS)).sum() + features.square().sum()).backward()
    return features.detach(), controls.grad


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("clamp", [False, True])
def test_a_hit_renders_and_backpropagates_the_same_in_any_batch(dtype, clamp):
    torch.set_num_threads(1)  # the trainer's setting; multithreaded reductions may split a row
    synth = Snare808()
    controls = torch.rand(HITS, synth.n_params, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    controls = controls.to(dtype)
    alone = {i: features_and_grads(synth, controls[i : i + 1], clamp) for i in CHECKED}
    for rows in (slice(0, HITS), slice(2, 5)):
        features, grads = features_and_grads(synth, controls[rows], clamp)
        for i in range(rows.start, rows.stop):
            if i in alone:
                assert torch.equal(features[i - rows.start], alone[i][0][0]), (rows, i)
                assert torch.equal(grads[i - rows.start], alone[i][1][0]), (rows, i)
