from __future__ import annotations

import numpy as np
import pytest
import torch

from pocusiq.data.dataset import PairedDataset, paired_crop_flip
from pocusiq.errors import DatasetError


def test_items_are_aligned_unit_float_tensors(make_dataset):
    root = make_dataset(n=8)
    ds = PairedDataset(root, "train")
    assert len(ds) == 4 and ds.ids == ["p0", "p1", "p2", "p3"]
    item = ds[1]
    assert item["id"] == "p1"
    assert item["low"].shape == (1, 24, 32) and item["low"].dtype == torch.float32
    assert 0.0 <= float(item["low"].min()) and float(item["low"].max()) <= 1.0
    torch.testing.assert_close(item["high"], 1.0 - item["low"], rtol=0, atol=1e-6)
    assert len(PairedDataset(root, None)) == 8
    assert PairedDataset(root, "test").ids == ["p6", "p7"]


def test_paired_crop_and_flip_take_the_same_window_from_both_images(make_dataset):
    root = make_dataset(n=4, shape=(40, 48), masks=True)
    ds = PairedDataset(root, "train", crop=16, flip=True, seed=5, with_masks=True)
    windows = set()
    for epoch in range(6):
        ds.set_epoch(epoch)
        for index in range(len(ds)):
            item = ds[index]
            assert item["low"].shape == item["high"].shape == (1, 16, 16)
            # high = 255 - low pixel by pixel, so the relation holds only if both crops/flips agree
            torch.testing.assert_close(item["high"], 1.0 - item["low"], rtol=0, atol=1e-6)
            # the mask is low > 128 in the same window
            torch.testing.assert_close(item["masks"]["bright"], (item["low"] > 128 / 255).float())
            full = ds.read_arrays(index)["low"]
            patch = np.rint(item["low"][0].numpy() * 255).astype(np.uint8)
            found = [
                (t, l, f)
                for t in range(40 - 16 + 1)
                for l in range(48 - 16 + 1)
                for f in (False, True)
                if np.array_equal((full[t:t + 16, l:l + 16][:, ::-1] if f else full[t:t + 16, l:l + 16]), patch)
            ]
            assert found, "crop is not a window of the stored image"
            windows.add(found[0])
    assert len(windows) > 4  # positions and flips actually vary
    assert any(f for _, _, f in windows) and not all(f for _, _, f in windows)


def test_augmentation_is_deterministic_given_seed_epoch_and_index(make_dataset):
    root = make_dataset(n=4, shape=(40, 48))
    a = PairedDataset(root, "train", crop=16, flip=True, seed=1)
    b = PairedDataset(root, "train", crop=16, flip=True, seed=1)
    assert torch.equal(a[0]["low"], b[0]["low"])
    a.set_epoch(1)
    assert not torch.equal(a[0]["low"], b[0]["low"])
    b.set_epoch(1)
    assert torch.equal(a[0]["low"], b[0]["low"])
    c = PairedDataset(root, "train", crop=16, flip=True, seed=2)
    c.set_epoch(1)
    assert any(not torch.equal(a[i]["low"], c[i]["low"]) for i in range(len(a)))


def test_works_with_a_dataloader(make_dataset):
    root = make_dataset(n=4)
    loader = torch.utils.data.DataLoader(PairedDataset(root, "train", crop=8), batch_size=2)
    batch = next(iter(loader))
    assert batch["low"].shape == (2, 1, 8, 8) and batch["id"] == ["p0", "p1"]


def test_errors(make_dataset, tmp_path):
    root = make_dataset(n=2)  # only specimen s0 -> train
    with pytest.raises(DatasetError, match=r"no pairs in split 'val' \(2 pairs in the manifest\)"):
        PairedDataset(root, "val")
    with pytest.raises(ValueError, match="split must be one of train, val, test or None, got 'dev'"):
        PairedDataset(root, "dev")
    with pytest.raises(DatasetError, match="crop 64 is larger than 2 image"):
        PairedDataset(root, "train", crop=64)
    with pytest.raises(DatasetError, match="manifest not found"):
        PairedDataset(tmp_path / "empty")
    (root / "high" / "p0.png").write_bytes((root / "high" / "p1.png").read_bytes())
    with pytest.raises(DatasetError, match=r"p0\.png: sha256 differs from the manifest"):
        PairedDataset(root, "train", verify=True)[0]


def test_paired_crop_flip_rejects_too_large_crop():
    with pytest.raises(ValueError, match=r"crop 9 is larger than the image \(8x8\)"):
        paired_crop_flip([np.zeros((8, 8))], np.random.default_rng(0), crop=9, flip=False)
