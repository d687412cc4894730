"""``PairedDataset``: a paired dataset folder as a PyTorch ``Dataset`` of aligned tensors.

Reads the layout of :mod:`pocusiq.data.manifest` (``low/<id>.png``, ``high/<id>.png``,
``masks/<id>_<name>.png``, ``manifest.csv``). Each item is::

    {"low":  FloatTensor (1, H, W) in [0, 1],
     "high": FloatTensor (1, H, W) in [0, 1],
     "id":   str,
     "masks": {name: FloatTensor (1, H, W) in {0, 1}}   # only with with_masks=True}

Paired augmentation draws ONE random crop position and ONE horizontal (lateral) flip per
item and applies them to low, high and masks alike, so the pair stays aligned. The draw is
deterministic: it comes from ``numpy.random.default_rng([seed, epoch, index])``; call
:meth:`PairedDataset.set_epoch` each epoch for fresh draws. Only lateral flips are used: a
vertical flip would put the deep field at the top, which no ultrasound image shows.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from pocusiq.imaging.grey import read_grey_image
from pocusiq.imaging.intensity import to_unit
from pocusiq.data.manifest import SPLITS, ManifestRow, high_path, low_path, mask_path, read_manifest
from pocusiq.errors import DatasetError

PathLike = str | os.PathLike[str]

__all__ = ["PairedDataset", "paired_crop_flip"]


def paired_crop_flip(
    arrays: list[np.ndarray],
    rng: np.random.Generator,
    *,
    crop: int | None,
    flip: bool,
) -> list[np.ndarray]:
    """Apply one random ``crop x crop`` window and one 50 % lateral flip to every array alike.

    Args:
        arrays: ``(H, W)`` arrays of one shape.
        rng: draws (top, left) uniformly, then the flip.
        crop: window side in pixels (<= H and W), or None for no crop.
        flip: whether to flip left-right with probability 0.5.

    Returns:
        Views/copies of ``arrays`` cropped and flipped identically.
    """
    height, width = arrays[0].shape
    if crop is not None:
        if crop > height or crop > width:
            raise ValueError(f"crop {crop} is larger than the image ({height}x{width})")
        top = int(rng.integers(0, height - crop + 1))
        left = int(rng.integers(0, width - crop + 1))
        arrays = [a[top : top + crop, left : left + crop] for a in arrays]
    if flip and bool(rng.integers(0, 2)):
        arrays = [a[:, ::-1] for a in arrays]
    return arrays


class PairedDataset(Dataset):
    """Aligned (low, high) pairs of one split of a paired dataset folder.

    Args:
        root: dataset folder with ``manifest.csv``.
        split: ``train`` | ``val`` | ``test``, or None for all rows.
        crop: side of a random square crop in pixels (None: full images; then all images of
            a batch must share a size).
        flip: random lateral (left-right) flip with probability 0.5.
        seed: augmentation seed; item ``i`` in epoch ``e`` uses ``default_rng([seed, e, i])``.
        with_masks: also return ``masks`` (cropped/flipped like the images).
        verify: check each file's sha256 against the manifest when read (slower).

    Raises:
        DatasetError: if the manifest is missing/malformed, or ``split`` selects no pairs.
        ValueError: for a bad ``split`` or ``crop`` value.
    """

    def __init__(
        self,
        root: PathLike,
        split: str | None = "train",
        *,
        crop: int | None = None,
        flip: bool = False,
        seed: int = 0,
        with_masks: bool = False,
        verify: bool = False,
    ) -> None:
        if split is not None and split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}")
        if crop is not None and (not isinstance(crop, int) or crop < 1):
            raise ValueError(f"crop must be a positive int or None, got {crop!r}")
        self.root = Path(root)
        self.split = split
        self.crop = crop
        self.flip = bool(flip)
        self.seed = int(seed)
        self.with_masks = bool(with_masks)
        self.verify = bool(verify)
        self.epoch = 0
        rows = read_manifest(self.root)
        self.rows: list[ManifestRow] = [r for r in rows if split is None or r.split == split]
        if not self.rows:
            raise DatasetError(
                f"{self.root}: no pairs in split {split!r} ({len(rows)} pairs in the manifest)"
            )
        if crop is not None:
            small = [r.id for r in self.rows if r.height < crop or r.width < crop]
            if small:
                raise DatasetError(
                    f"{self.root}: crop {crop} is larger than {len(small)} image(s), e.g. "
                    f"{small[0]}; use a dataset of at least {crop}x{crop} pixels or a smaller crop "
                    f"(pocusiq train --set data.crop=N)"
                )

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call once per epoch, before iterating).

        DataLoader worker processes copy the dataset when they start: non-persistent workers
        (the default) are started anew for each epoch's iterator and see the new value; with
        ``persistent_workers=True`` they keep the epoch they started with.
        """
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ids(self) -> list[str]:
        """Pair ids in item order."""
        return [row.id for row in self.rows]

    def _read(self, path: Path, digest: str) -> np.ndarray:
        image = read_grey_image(path)
        if self.verify:
            from pocusiq.atomic import sha256_file

            if sha256_file(path) != digest:
                raise DatasetError(f"{path}: sha256 differs from the manifest (file changed after writing)")
        return image

    def read_arrays(self, index: int) -> dict[str, Any]:
        """Item ``index`` without augmentation: ``{"low", "high": (H, W) uint8/uint16, "masks": {...}, "row"}``."""
        row = self.rows[index]
        low = self._read(low_path(self.root, row.id), row.low_sha256)
        high = self._read(high_path(self.root, row.id), row.high_sha256)
        if low.shape != high.shape:
            raise DatasetError(
                f"{self.root}: pair {row.id}: low {low.shape} and high {high.shape} differ in size"
            )
        masks: dict[str, np.ndarray] = {}
        if self.with_masks:
            for name, digest in sorted(row.masks.items()):
                mask = self._read(mask_path(self.root, row.id, name), digest)
                if mask.shape != low.shape:
                    raise DatasetError(f"{self.root}: pair {row.id}: mask {name} size {mask.shape} differs")
                masks[name] = mask > 0
        return {"low": low, "high": high, "masks": masks, "row": row}

    def __getitem__(self, index: int) -> dict[str, Any]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        index = index % len(self)
        item = self.read_arrays(index)
        names = list(item["masks"])
        arrays = [item["low"], item["high"], *[item["masks"][n] for n in names]]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        arrays = paired_crop_flip(arrays, rng, crop=self.crop, flip=self.flip)
        out: dict[str, Any] = {
            "low": torch.from_numpy(to_unit(np.ascontiguousarray(arrays[0]))[None]),
            "high": torch.from_numpy(to_unit(np.ascontiguousarray(arrays[1]))[None]),
            "id": item["row"].id,
        }
        if self.with_masks:
            out["masks"] = {
                n: torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)[None])
                for n, a in zip(names, arrays[2:])
            }
        return out
