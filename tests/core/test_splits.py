"""FixedSplits: seeded sets built once, cut into batches, with clear errors."""

import pytest
import torch

from ddspfx.core.splits import FixedSplits, split_size_seed

DATA = {"valid_size": 5, "valid_seed": 7, "test_size": 3, "test_seed": 8}


def build(split, size, seed):
    g = torch.Generator().manual_seed(seed)
    return {"x": torch.rand(size, 2, generator=g), "y": torch.arange(size)}


def test_batches_cover_the_set_in_order_and_the_set_is_built_once():
    calls = []
    splits = FixedSplits(DATA, lambda *a: calls.append(a) or build(*a))
    batches = splits.batches("valid", 2)
    assert [b["y"].tolist() for b in batches] == [[0, 1], [2, 3], [4]]
    assert torch.equal(torch.cat([b["x"] for b in batches]), build("valid", 5, 7)["x"])
    splits.batches("valid", 4)
    assert calls == [("valid", 5, 7)]
    assert splits.info("test") == {"size": 3, "seed": 8}


def test_same_seed_gives_the_same_set_in_another_instance():
    a = FixedSplits(DATA, build).full("test")["x"]
    b = FixedSplits(dict(DATA), build).full("test")["x"]
    assert torch.equal(a, b)


@pytest.mark.parametrize(
    "data, message",
    [({"valid_seed": 1}, "data.valid_size is not set"), ({"valid_size": 0, "valid_seed": 1}, "data.valid_size must be"),
     ({"valid_size": 2.5, "valid_seed": 1}, "data.valid_size must be"), ({"valid_size": 2}, "data.valid_seed is not set")],
)
def test_bad_sizes_and_missing_seeds_name_the_key(data, message):
    with pytest.raises(ValueError, match=message):
        split_size_seed(data, "valid")


def test_a_build_of_the_wrong_length_is_an_error():
    splits = FixedSplits(DATA, lambda split, size, seed: {"x": torch.zeros(size + 1)})
    with pytest.raises(ValueError, match="must hold 5 examples"):
        splits.batches("valid", 2)
