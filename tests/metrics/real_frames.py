"""The real handheld phantom frames of ``shared/data/real/pocus`` as (grey crop, valid mask) pairs.

Imaging region found with :func:`pocusiq.imaging.region.find_imaging_region`; grey = BT.601 luma,
rounded; valid = :func:`pocusiq.metrics.targets.valid_pixels` (UI buttons and black margin out).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np

FRAMES = (
    "clarius_axial-lateral-resolution-2020.png",
    "interson-phantom.png",
    "butterfly-phantom/anechoic-3mm-3mm.png",
    "butterfly-phantom/anechoic-4.5mm-2mm.png",
    "butterfly-phantom/anechoic-6.7mm-1.3mm.png",
    "butterfly-phantom/grey-left.png",
    "butterfly-phantom/grey-mid.png",
    "butterfly-phantom/grey-right.png",
)


@lru_cache(maxsize=None)
def load_frame(pocus_dir: Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """``(grey uint8 (h, w), valid bool (h, w))`` of the imaging region of one frame."""
    from PIL import Image

    from pocusiq.metrics.targets import valid_pixels
    from pocusiq.imaging.region import find_imaging_region

    with Image.open(pocus_dir / name) as im:
        rgb = np.asarray(im.convert("RGB"))
    region = find_imaging_region(rgb)
    crop = region.crop(rgb).astype(np.float64)
    grey = np.floor(0.299 * crop[..., 0] + 0.587 * crop[..., 1] + 0.114 * crop[..., 2] + 0.5).astype(np.uint8)
    saturation = crop.max(axis=2) - crop.min(axis=2)
    valid = valid_pixels(grey, saturation=saturation) & region.crop_mask()
    grey.setflags(write=False)
    valid.setflags(write=False)
    return grey, valid
