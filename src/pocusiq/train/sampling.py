"""Target-aware training crops: oversample crops that hold a target of the simulated ground truth.

Random crops of a large simulated image mostly show plain speckle; the wires and small cysts a
model must keep (and the places where it learns to invent them) are a few percent of the pixels.
:class:`TargetCropDataset` draws, with probability ``target_fraction``, a crop that contains a
pixel of the target masks (``wires``, ``cysts``, ``hyperechoic``, ``vessels``; never the
``sector`` mask, which is the whole image), and a uniform crop otherwise. The draw is a function
of ``(seed, epoch, index)`` like :class:`pocusiq.data.dataset.PairedDataset`'s, so a resumed run
replays the same crops. Images without target pixels fall back to a uniform crop. Decoded
images are kept in memory (per process / DataLoader worker) after their first use.

Configured by ``data.target_crop_fraction`` (0: plain uniform crops, the paper recipe).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pocusiq.data.dataset import PairedDataset
from pocusiq.imaging.intensity import to_unit

__all__ = ["TARGET_MASKS", "TargetCropDataset", "target_crop_window"]

TARGET_MASKS = ("wires", "cysts", "hyperechoic", "vessels")
"""Mask names counted as targets (the simulator's ground truth; ``sector`` is not a target)."""


def target_crop_window(
    shape: tuple[int, int], crop: int, targets: np.ndarray | None, rng: np.random.Generator, target_fraction: float
) -> tuple[int, int, bool]:
    """``(top, left, on_target)`` of a ``crop x crop`` window in an image of ``shape``.

    With probability ``target_fraction`` and when ``targets`` (bool ``shape``) has a pixel, the
    window contains a uniformly drawn target pixel (its position inside the window is uniform too);
    otherwise it is uniform over the image. Raises ValueError if ``crop`` exceeds the image.
    """
    height, width = shape
    if crop > height or crop > width:
        raise ValueError(f"crop {crop} is larger than the image ({height}x{width})")
    want_target = bool(rng.random() < target_fraction)
    if want_target and targets is not None:
        rows, cols = np.nonzero(targets)
        if rows.size:
            k = int(rng.integers(0, rows.size))
            r, c = int(rows[k]), int(cols[k])
            top = int(rng.integers(max(0, r - crop + 1), min(r, height - crop) + 1))
            left = int(rng.integers(max(0, c - crop + 1), min(c, width - crop) + 1))
            return top, left, True
    return int(rng.integers(0, height - crop + 1)), int(rng.integers(0, width - crop + 1)), False


class TargetCropDataset(Dataset):
    """Pairs of a dataset split with target-aware random crops (and lateral flips).

    Args:
        root / split: the paired dataset folder and split (:class:`PairedDataset`).
        crop: crop side in pixels.
        target_fraction: probability that a crop is centred near a target pixel (0..1).
        flip: 50 % lateral flip.
        seed: draws come from ``default_rng([seed, epoch, index])``.

    Items: ``{"low", "high": (1, crop, crop) float32 [0, 1], "id", "on_target": bool}``.
    """

    def __init__(self, root: Any, split: str | None, *, crop: int, target_fraction: float,
                 flip: bool = True, seed: int = 0) -> None:
        if not 0.0 <= target_fraction <= 1.0:
            raise ValueError(f"target_fraction must be in [0, 1], got {target_fraction}")
        self.base = PairedDataset(root, split, crop=None, flip=False, seed=seed, with_masks=True)
        small = [r.id for r in self.base.rows if r.height < crop or r.width < crop]
        if small:
            raise ValueError(f"crop {crop} is larger than {len(small)} image(s) in {root}, e.g. {small[0]}")
        self.rows = self.base.rows
        self.crop = int(crop)
        self.target_fraction = float(target_fraction)
        self.flip = bool(flip)
        self.seed = int(seed)
        self.epoch = 0
        self._cache: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray | None, str]] = {}

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int) -> dict[str, Any]:
        index = index % len(self)
        if index not in self._cache:  # decoded once: PNG decoding of 512^2 pairs + masks dominated a CPU step
            item = self.base.read_arrays(index)
            targets = None
            for name in TARGET_MASKS:
                mask = item["masks"].get(name)
                if mask is not None:
                    targets = mask if targets is None else (targets | mask)
            self._cache[index] = (item["low"], item["high"], targets, item["row"].id)
        low_full, high_full, targets, pair_id = self._cache[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        top, left, on_target = target_crop_window(low_full.shape, self.crop, targets, rng, self.target_fraction)
        window = (slice(top, top + self.crop), slice(left, left + self.crop))
        low, high = low_full[window], high_full[window]
        if self.flip and bool(rng.integers(0, 2)):
            low, high = low[:, ::-1], high[:, ::-1]
        return {
            "low": torch.from_numpy(to_unit(np.ascontiguousarray(low))[None]),
            "high": torch.from_numpy(to_unit(np.ascontiguousarray(high))[None]),
            "id": pair_id,
            "on_target": on_target,
        }
