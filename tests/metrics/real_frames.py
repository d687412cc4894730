"""The real handheld phantom frames of ``shared/data/real/pocus`` as (grey crop, valid mask) pairs.

Imaging region found with :func:`pocusiq.imaging.region.find_imaging_region`; grey and valid pixels
(UI buttons and black margin out) from :func:`pocusiq.enhance.quality.region_grey`, as ``enhance --report`` scores them.
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

    from pocusiq.enhance.quality import region_grey
    from pocusiq.imaging.region import find_imaging_region

    with Image.open(pocus_dir / name) as im:
        rgb = np.asarray(im.convert("RGB"))
    grey, valid = region_grey(rgb, find_imaging_region(rgb))
    grey.setflags(write=False)
    valid.setflags(write=False)
    return grey, valid
