"""Phantoms from real B-mode images: ``pocusiq simulate --anatomy DIR``.

A real B-mode image shows the tissue's echogenicity through speckle and log compression. This
module estimates the echogenicity map back and makes a :class:`~pocusiq.simulate.phantoms.Phantom`
of it, so the simulator images real anatomy (vessels, fascia, shadows, the real mix of dark and
bright tissue) with BOTH devices from the SAME scatterers: pairs stay exactly aligned.

Estimate (:func:`echogenicity_from_bmode`), on a grey image ``g`` in [0, 1]:

1. despeckle: 5x5 median, then a Gaussian of 1.5 pixels (the speckle of the source is gone, its
   mean brightness stays);
2. undo the display chain of the high-end profile the map will be imaged with (its grey-map
   pedestal ``b`` = ``black_level``/255: ``v = (g - b) / (1 - b)``; its log compression, dynamic
   range ``DR``, gain ``G``): ``e = 10 ** ((v DR - DR - G - m) / 20)``, where ``m = -1.59 dB`` is
   the median of ``20 log10`` of unit-rms Rayleigh speckle (the median filter estimates it), so
   the simulated high-end image reproduces the source's brightness. :func:`simulate_pair
   <pocusiq.simulate.pairs.simulate_pair>` passes the profile the pair is imaged with (the default
   simulator's darker, calibrated one included: inverting with the built-in profile instead made
   the default anatomy pairs 9 dB darker than their sources, near-black fraction 0.73 against the
   carotid images' 0.56, ``bench/realism.py --anatomy``);
3. pixels darker than 3/255 after despeckling are anechoic (``e = 0``): a black lumen stays black.

The image's pixel spacing is needed to keep the anatomy at its real size; images carry none, so
by default the image width is taken as 38 mm, the footprint of a 192-element 0.2 mm-pitch linear
array (the ``high_end`` profile; e.g. the carotid data's 709-pixel width -> 0.0536 mm/pixel, a
40 mm depth for its 749 rows, a usual carotid preset). Give ``--anatomy-spacing`` when known.
Images should show the imaging region only (no UI overlays; crop screenshots first).

A lumen mask next to the images (``DIR/../masks/<same file name>``, as in the carotid data) becomes
the phantom's ``vessels`` mask (ground truth for CNR/gCNR and the tests).

Cost: each pair reads one PNG and despeckles its crop (~15-40 ms for a 256x256 field), on top
of the imaging (``bench/realism.py --anatomy`` prints the measured speed ratio).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

from pocusiq.simulate.phantoms import MASK_NAMES, Phantom
from pocusiq.simulate.profiles import HIGH_END, TransducerProfile

#: Image width (mm) assumed when the spacing of anatomy images is not given: 192 x 0.2 mm.
DEFAULT_ANATOMY_WIDTH_MM = 38.4
#: Median of 20 log10(R) for unit-rms Rayleigh R: 20 log10(sqrt(ln 2)) dB.
RAYLEIGH_MEDIAN_DB = 20.0 * math.log10(math.sqrt(math.log(2.0)))
#: Despeckled grey level (of 1) below which tissue is taken as anechoic.
ANECHOIC_LEVEL = 3.0 / 255.0
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def despeckle(grey: np.ndarray) -> np.ndarray:
    """5x5 median then Gaussian (sigma 1.5 px) of a float image in [0, 1] -> float32 [0, 1]."""
    out = ndimage.median_filter(grey.astype(np.float32, copy=False), size=5, mode="nearest")
    return ndimage.gaussian_filter(out, 1.5, mode="nearest")


def echogenicity_from_bmode(grey: np.ndarray, profile: TransducerProfile = HIGH_END) -> np.ndarray:
    """Echogenicity map (float32 >= 0; 1 = typical tissue) of a B-mode grey image in [0, 1].

    See the module docstring; ``profile`` gives the log compression to undo (gain, dynamic range).
    """
    d = despeckle(grey)
    dr, gain = profile.dynamic_range_db, profile.gain_db
    black = profile.black_level / 255.0
    v = (d - black) / (1.0 - black)
    db = v * dr - dr - gain - RAYLEIGH_MEDIAN_DB
    echo = np.power(10.0, db / 20.0).astype(np.float32)
    echo[d < ANECHOIC_LEVEL] = 0.0
    return echo


def _grey_unit(path: str | Path) -> np.ndarray:
    """An image file as float32 grey in [0, 1]: Pillow's ``"L"`` conversion (ITU-R 601-2 luma, the
    BT.601 weights the rest of pocusiq uses) for 8-bit files, 16-bit greys scaled by 1/65535.

    Pillow directly, because simulate (layer 3) must not import the data layer's readers.
    """
    try:
        with Image.open(path) as im:
            if im.mode in ("I;16", "I;16B", "I"):
                return np.asarray(im, dtype=np.float32) / 65535.0
            return np.asarray(im.convert("L"), dtype=np.float32) / 255.0
    except (OSError, ValueError) as exc:
        raise ValueError(f"anatomy image {path}: cannot read it ({exc})") from exc


@functools.lru_cache(maxsize=48)
def _read(path: str) -> tuple[np.ndarray, np.ndarray | None]:
    grey = _grey_unit(path)
    mask_path = Path(path).parent.parent / "masks" / Path(path).name
    mask = None
    if mask_path.is_file():
        m = _grey_unit(mask_path)
        if m.shape == grey.shape:
            mask = m > 0
    return grey, mask


class AnatomySource:
    """A folder of real B-mode images that phantoms are cut from.

    Args:
        folder: images (PNG/JPEG/BMP/TIFF; colour is converted with BT.601 luma).
        spacing_mm: their pixel spacing (mm); default: image width = 38.4 mm.
        profile: the high-end profile whose display is undone when :meth:`phantom` is given none
            (simulate_pair always gives the one its pair is imaged with).

    Raises:
        ValueError: no images in ``folder``.
    """

    def __init__(self, folder: str | Path, spacing_mm: float | None = None, profile: TransducerProfile = HIGH_END) -> None:
        self.folder = Path(folder)
        if not self.folder.is_dir():
            raise ValueError(f"anatomy folder not found: {self.folder}")
        self.files = sorted(p for p in self.folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise ValueError(f"anatomy folder {self.folder} holds no images ({', '.join(IMAGE_SUFFIXES)})")
        if spacing_mm is not None and not spacing_mm > 0:
            raise ValueError(f"anatomy spacing must be > 0 mm, got {spacing_mm!r}")
        self.spacing_mm = spacing_mm
        self.profile = profile

    def phantom(self, rng: np.random.Generator, *, width_mm: float, depth_mm: float, spacing_mm: float,
                profile: TransducerProfile | None = None) -> Phantom:
        """A phantom of ``width_mm`` x ``depth_mm`` at ``spacing_mm`` cut from a random image.

        The image and the lateral offset (and a left-right flip) are drawn from ``rng``; the
        crop starts at the image's top (the probe face). Depth beyond the image is anechoic;
        a field wider than the image is mirrored. ``profile``: the high-end profile whose
        display is undone (default: the source's ``profile``; :func:`~pocusiq.simulate.pairs.simulate_pair`
        passes the one its pair is imaged with). Only the log compression, gain and black level are
        undone: a profile's TGC and near-field gain are not, so a user profile with
        ``near_gain_db < 0`` darkens the source's near field once more.
        """
        path = self.files[int(rng.integers(len(self.files)))]
        grey, mask = _read(str(path))
        h, w = grey.shape
        src = self.spacing_mm if self.spacing_mm is not None else DEFAULT_ANATOMY_WIDTH_MM / w
        rows = max(1, int(round(depth_mm / spacing_mm)))
        cols = max(1, int(round(width_mm / spacing_mm)))
        span = cols * spacing_mm / src  # source pixels across the field
        x0 = float(rng.uniform(0.0, max(w - span, 0.0)))
        flip = bool(rng.random() < 0.5)
        # crop (with a margin for the despeckle filters), then estimate, then resample
        c0, c1 = max(0, int(x0) - 8), min(w, int(math.ceil(x0 + span)) + 8)
        r1 = min(h, int(math.ceil(rows * spacing_mm / src)) + 8)
        echo_src = echogenicity_from_bmode(grey[:r1, c0:c1], profile if profile is not None else self.profile)
        zz = (np.arange(rows) + 0.5) * spacing_mm / src - 0.5
        xx = x0 - c0 + (np.arange(cols) + 0.5) * spacing_mm / src - 0.5
        if flip:
            xx = xx[::-1]
        # mirror laterally where the field is wider than the image
        xx = np.abs(xx)
        xx = np.where(xx > c1 - c0 - 1, 2 * (c1 - c0 - 1) - xx, xx)
        inside = zz <= r1 - 1
        coords = np.meshgrid(np.clip(zz, 0, r1 - 1), np.clip(xx, 0, c1 - c0 - 1), indexing="ij")
        echo = ndimage.map_coordinates(echo_src, coords, order=1, mode="nearest").astype(np.float32)
        echo[~inside, :] = 0.0
        masks = {name: np.zeros((rows, cols), dtype=bool) for name in MASK_NAMES}
        if mask is not None:
            m = ndimage.map_coordinates(mask[:r1, c0:c1].astype(np.float32), coords, order=0, mode="nearest") > 0.5
            m[~inside, :] = False
            masks["vessels"] = m
        return Phantom(
            echogenicity=echo,
            spacing_mm=spacing_mm,
            masks=masks,
            name=f"anatomy:{path.name}",
            scatter_seed=int(rng.integers(0, 2**63 - 1)),
        )


@functools.lru_cache(maxsize=4)
def anatomy_source(folder: str, spacing_mm: float | None = None) -> AnatomySource:
    """A cached :class:`AnatomySource` (one per worker process and folder)."""
    return AnatomySource(folder, spacing_mm)
