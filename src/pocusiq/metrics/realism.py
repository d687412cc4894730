"""Realism statistics: how much a set of images looks like another (simulated vs real ultrasound).

These compare image SETS (distributions), not an image with its reference, so they are not in
the per-image ``metrics.METRICS`` table. All take greyscale uint8-range images (any dtype,
values 0..255) and optional boolean masks of the pixels to use (an imaging region or sector).

- :func:`histogram_intersection`: sum_k min(p_k, q_k) of the 256-bin grey histograms (1 = same);
- :func:`grey_wasserstein`: 1-D earth mover's distance between the grey-level distributions
  (grey levels; :func:`scipy.stats.wasserstein_distance`);
- :func:`dark_fraction`: share of pixels below a grey level (10 by default: shadows, anechoic
  lumen, black background of real scans);
- :func:`speckle_fwhm`: speckle size, axial (rows) and lateral (columns), in pixels: the FWHM of
  the normalised autocorrelation peak of tissue tiles, median over tiles (compare at the same
  physical pixel spacing);
- :func:`local_texture`: median local std and local mean/std (9x9 windows) in tissue.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage, stats


def _values(images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None) -> np.ndarray:
    if masks is None:
        return np.concatenate([np.asarray(i).ravel() for i in images]).astype(np.float64)
    return np.concatenate([np.asarray(i)[np.asarray(m, bool)] for i, m in zip(images, masks)]).astype(np.float64)


def grey_histogram(images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None, bins: int = 256) -> np.ndarray:
    """(bins,) float64 normalised histogram of the grey levels (rounded, clipped to 0..255; equal-width bins)."""
    v = np.clip(np.rint(_values(images, masks)), 0, 255).astype(np.int64)
    if v.size == 0:
        raise ValueError("no pixels to build a histogram from")
    return np.bincount(v * bins // 256, minlength=bins) / v.size


def histogram_intersection(a: Sequence[np.ndarray], b: Sequence[np.ndarray], masks_a=None, masks_b=None,
                           bins: int = 256) -> float:
    """Intersection (0..1) of the grey histograms of two image sets; 1 = identical distributions.

    With 256 bins a one-level shift of the black level (e.g. a scanner that shows black as grey
    1) alone can cost half the mass; ``bins=32`` (8 grey levels each) is robust to that.
    """
    return float(np.minimum(grey_histogram(a, masks_a, bins), grey_histogram(b, masks_b, bins)).sum())


def grey_wasserstein(a: Sequence[np.ndarray], b: Sequence[np.ndarray], masks_a=None, masks_b=None) -> float:
    """1-D Wasserstein distance (grey levels) between the grey-level distributions of two sets."""
    return float(stats.wasserstein_distance(_values(a, masks_a), _values(b, masks_b)))


def dark_fraction(images: Sequence[np.ndarray], masks: Sequence[np.ndarray] | None = None, level: float = 10.0) -> float:
    """Share (0..1) of the pixels darker than ``level`` grey levels."""
    return float(np.mean(_values(images, masks) < level))


def _half_width(line: np.ndarray, centre: int) -> float:
    """Width (samples) of the peak at ``centre`` where ``line`` stays above 0.5 (interpolated)."""
    out = 0.0
    for step in (1, -1):
        k = centre
        while 0 <= k + step < len(line) and line[k + step] > 0.5:
            k += step
        if not 0 <= k + step < len(line):
            return float("nan")
        a, b = line[k], line[k + step]
        out += abs(k - centre) + (a - 0.5) / (a - b)
    return out


def speckle_fwhm(image: np.ndarray, mask: np.ndarray | None = None, tile: int = 32, min_mean: float = 15.0) -> tuple[float, float]:
    """(axial, lateral) speckle size in pixels: median over tissue tiles of the autocorrelation FWHM.

    Each ``tile`` x ``tile`` tile inside ``mask`` (all of it) whose mean grey level exceeds
    ``min_mean`` (tissue, not lumen/background) has a fitted plane removed; the FWHM of its
    normalised autocorrelation peak is measured along rows (axial) and columns (lateral). The
    median over tiles is robust to tiles holding a bright interface rather than speckle.
    Returns NaNs when no tile qualifies.
    """
    x = np.asarray(image, dtype=np.float64)
    yy, xx = np.mgrid[0:tile, 0:tile]
    design = np.stack([np.ones(tile * tile), yy.ravel(), xx.ravel()], axis=1)
    ax, lat = [], []
    for r in range(0, x.shape[0] - tile + 1, tile):
        for c in range(0, x.shape[1] - tile + 1, tile):
            if mask is not None and not mask[r : r + tile, c : c + tile].all():
                continue
            t = x[r : r + tile, c : c + tile]
            if t.mean() <= min_mean:
                continue
            coef, *_ = np.linalg.lstsq(design, t.ravel(), rcond=None)
            t = t - (design @ coef).reshape(tile, tile)
            f = np.fft.fft2(t, s=(2 * tile, 2 * tile))
            ac = np.fft.fftshift(np.fft.ifft2(np.abs(f) ** 2).real)
            if ac[tile, tile] <= 0:
                continue
            ac /= ac[tile, tile]
            ax.append(_half_width(ac[:, tile], tile))
            lat.append(_half_width(ac[tile, :], tile))
    if not ax:
        return float("nan"), float("nan")
    return float(np.nanmedian(ax)), float(np.nanmedian(lat))


def local_texture(image: np.ndarray, mask: np.ndarray | None = None, min_mean: float = 20.0) -> tuple[float, float]:
    """(median local std, median local mean/std) over 9x9 windows in tissue (local mean > ``min_mean``)."""
    x = np.asarray(image, dtype=np.float64)
    m = ndimage.uniform_filter(x, 9)
    s = np.sqrt(np.maximum(ndimage.uniform_filter(x * x, 9) - m * m, 0.0))
    sel = (m > min_mean) & (s > 0)
    if mask is not None:
        sel &= ndimage.binary_erosion(mask, iterations=4)
    if not sel.any():
        return float("nan"), float("nan")
    return float(np.median(s[sel])), float(np.median(m[sel] / s[sel]))
