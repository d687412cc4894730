"""Target-aware crops: with fraction 1 every crop holds a target pixel; draws are reproducible."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq.train.sampling import TargetCropDataset, target_crop_window


def test_window_contains_the_target_when_asked():
    targets = np.zeros((100, 80), bool)
    targets[90, 3] = True  # one pixel near a corner
    rng = np.random.default_rng(0)
    for _ in range(200):
        top, left, on = target_crop_window((100, 80), 32, targets, rng, 1.0)
        assert on and top <= 90 < top + 32 and left <= 3 < left + 32
        assert 0 <= top <= 100 - 32 and 0 <= left <= 80 - 32


def test_fraction_zero_or_no_target_is_uniform():
    rng = np.random.default_rng(1)
    targets = np.zeros((64, 64), bool)
    targets[0, 0] = True
    hits = [target_crop_window((64, 64), 16, targets, rng, 0.0) for _ in range(400)]
    assert not any(h[2] for h in hits)
    assert np.mean([h[0] == 0 and h[1] == 0 for h in hits]) < 0.05  # uniform: the corner crop is rare
    top, left, on = target_crop_window((64, 64), 16, np.zeros((64, 64), bool), rng, 1.0)
    assert not on
    with pytest.raises(ValueError, match="larger than the image"):
        target_crop_window((10, 64), 16, None, rng, 0.5)


def test_dataset_oversamples_target_crops_reproducibly(tmp_path):
    from pocusiq.data.writer import PairedDatasetWriter

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    with PairedDatasetWriter(root, resume=False) as writer:
        for i in range(4):
            low = rng.integers(0, 255, (64, 64), dtype=np.uint8)
            wires = np.zeros((64, 64), bool)
            wires[50 + i, 10 + i] = True
            writer.add(f"p{i}", low, low, split="train", source="sim", specimen=f"s{i}",
                       masks={"wires": wires, "sector": np.ones((64, 64), bool)})
    always = TargetCropDataset(root, "train", crop=16, target_fraction=1.0, seed=5)
    again = TargetCropDataset(root, "train", crop=16, target_fraction=1.0, seed=5)
    for i in range(4):
        a, b = always[i], again[i]
        assert a["on_target"] and a["low"].shape == (1, 16, 16)
        assert np.array_equal(a["low"].numpy(), b["low"].numpy())
    never = TargetCropDataset(root, "train", crop=16, target_fraction=0.0, seed=5)
    assert not any(never[i]["on_target"] for i in range(4))
    # the sector mask (the whole image) is not a target: a dataset with only it crops uniformly
    with pytest.raises(ValueError, match="target_fraction"):
        TargetCropDataset(root, "train", crop=16, target_fraction=1.5)
