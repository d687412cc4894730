"""Fixtures for the metric tests: the reference CSV's images as uint8 greyscale, synthetic speckle images."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest


def luma_uint8(path: Path) -> np.ndarray:
    """Image file -> uint8 greyscale as the reference CSV was made: round(0.299 R + 0.587 G + 0.114 B)."""
    from PIL import Image

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"), dtype=np.float64)
    grey = 0.299 * rgb[..., 0] + 0.587 * rgb[..., 1] + 0.114 * rgb[..., 2]
    return np.floor(grey + 0.5).astype(np.uint8)


def _reference_rows(shared_data: Path) -> list[tuple[str, np.ndarray, dict[str, float]]]:
    """(name, image, {column: value}) for every row of ``reference_metrics.csv``."""
    from skimage import data

    rows = []
    with open(shared_data / "reference_metrics.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["image"]
            if name == "skimage:camera":
                image = data.camera()
            else:
                image = luma_uint8(shared_data.parent / name)
            assert image.shape == (int(row["height"]), int(row["width"])), name
            values = {k: float(v) for k, v in row.items() if k.startswith(("niqe", "piqe"))}
            rows.append((name, image, values))
    return rows


def _speckle_image(shape: tuple[int, int], seed: int, *, cyst: bool = True) -> np.ndarray:
    """A log-compressed (60 dB) fully developed speckle B-mode image with an anechoic cyst, uint8."""
    rng = np.random.default_rng(seed)
    h, w = shape
    iq = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    # Correlate the speckle over a few pixels (a PSF ~ 2 px axially, 3 px laterally).
    from scipy import ndimage

    env = np.abs(ndimage.gaussian_filter(iq.real, (1.0, 1.5)) + 1j * ndimage.gaussian_filter(iq.imag, (1.0, 1.5)))
    yy, xx = np.mgrid[0:h, 0:w]
    env *= 1.0 + 0.5 * yy / h  # a depth gradient
    if cyst:
        inside = (yy - h / 2) ** 2 + (xx - w / 2) ** 2 < (min(h, w) / 6) ** 2
        env[inside] *= 0.05
    db = 20 * np.log10(env / env.max() + 1e-12)
    return np.clip(np.round((db + 60) / 60 * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def reference_rows(shared_data: Path) -> list[tuple[str, np.ndarray, dict[str, float]]]:
    """The rows of ``shared/data/reference_metrics.csv`` with their images (skips where absent)."""
    return _reference_rows(shared_data)


@pytest.fixture(scope="session")
def speckle_image():
    """``speckle_image(shape, seed, cyst=True) -> uint8`` synthetic log-compressed speckle image."""
    return _speckle_image
