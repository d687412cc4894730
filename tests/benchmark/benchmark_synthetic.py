"""Synthetic speckle images for the benchmark tests (imported by the tests and conftest)."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def speckle_image(
    size: int | tuple[int, int] = 64,
    seed: int = 0,
    *,
    cyst: bool = True,
    grain_px: float = 1.0,
    dynamic_range_db: float = 50.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Log-compressed, fully developed speckle over uniform tissue with one anechoic cyst.

    Returns:
        ``(image, cyst_mask)``: uint8 ``(H, W)`` B-mode-like image and the bool cyst mask
        (a disc of radius H/6 at the centre; all False when ``cyst`` is False).
    """
    h, w = (size, size) if isinstance(size, int) else size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    mask = ((yy - h / 2) ** 2 + (xx - w / 2) ** 2) < (min(h, w) / 6) ** 2 if cyst else np.zeros((h, w), bool)
    echo = np.where(mask, 0.01, 0.5)
    iq = rng.standard_normal((h, w)) + 1j * rng.standard_normal((h, w))
    if grain_px > 0:
        iq = ndimage.gaussian_filter(iq.real, grain_px) + 1j * ndimage.gaussian_filter(iq.imag, grain_px)
    envelope = np.abs(iq) * np.sqrt(echo)
    db = 20 * np.log10(envelope / envelope.max() + 1e-6)
    image = np.clip((db + dynamic_range_db) / dynamic_range_db * 255, 0, 255).astype(np.uint8)
    return image, mask


# Methods importable as ``benchmark_synthetic:<name>`` in method-spec tests.


def invert(image: np.ndarray) -> np.ndarray:
    """A valid method: 255 - image (uint8)."""
    return (255 - image.astype(np.int16)).astype(image.dtype)


def shrink(image: np.ndarray) -> np.ndarray:
    """A broken method: returns half the size."""
    return image[::2, ::2].copy()


def brighten(image: np.ndarray, *, amount: int = 10) -> np.ndarray:
    """A valid method with a keyword parameter."""
    return np.clip(image.astype(np.int16) + amount, 0, 255).astype(image.dtype)


NOT_CALLABLE = 42
