"""Pair quality after registration: do the two images show the same tissue in the same place?

Speckle is device-specific, so raw pixel correlation is low even for a perfect pair; both
images are smoothed first (Gaussian, ``smoothing_mm``) so that only tissue structure (organ
boundaries, cysts, layers) is compared. Two scores:

* ``ncc``: normalised cross-correlation (Pearson r) of the smoothed images, in [-1, 1];
  a registered pair of the same tissue scores high, an unrelated or misregistered pair near 0;
* ``nmi``: normalised mutual information (Studholme, via
  :func:`skimage.metrics.normalized_mutual_information`), in [1, 2], which tolerates the
  devices' different brightness curves.

A pair is accepted when ``ncc >= min_ncc`` (the decision uses NCC only; NMI is reported).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import normalized_mutual_information

from pocusiq.pair.resample import masked_gaussian

__all__ = ["PairQuality", "pair_quality"]


@dataclass(frozen=True)
class PairQuality:
    """Scores of a registered pair: ``ncc`` in [-1, 1], ``nmi`` in [1, 2]."""

    ncc: float
    nmi: float

    def verdict(self, min_ncc: float) -> str:
        """``""`` if acceptable, else the rejection reason, e.g. ``"low NCC 0.12 < 0.30"``."""
        if not np.isfinite(self.ncc):
            return "NCC undefined (an image is constant)"
        if self.ncc < min_ncc:
            return f"low NCC {self.ncc:.2f} < {min_ncc:.2f}"
        return ""


def pair_quality(
    low: np.ndarray,
    high: np.ndarray,
    *,
    spacing_mm: float,
    smoothing_mm: float = 1.0,
    mask: np.ndarray | None = None,
    bins: int = 32,
) -> PairQuality:
    """Quality scores of a registered pair.

    Args:
        low, high: (H, W) images of equal shape (any real dtype; only relative values matter).
        spacing_mm: their pixel spacing (mm), to express ``smoothing_mm`` in pixels.
        smoothing_mm: Gaussian sigma (mm) applied to both before comparing.
        mask: optional bool (H, W): compare only these pixels.
        bins: histogram bins for the normalised mutual information.

    Returns:
        :class:`PairQuality`; ``ncc`` is NaN if a smoothed image is constant.
    """
    a = np.asarray(low, dtype=np.float64)
    b = np.asarray(high, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(f"low and high must be 2-D of equal shape, got {a.shape} and {b.shape}")
    if spacing_mm <= 0:
        raise ValueError(f"spacing_mm must be positive, got {spacing_mm}")
    sigma = smoothing_mm / spacing_mm
    if sigma > 0:
        a = masked_gaussian(a, mask, sigma)
        b = masked_gaussian(b, mask, sigma)
    sel = np.ones(a.shape, bool) if mask is None else np.asarray(mask, bool)
    va, vb = a[sel], b[sel]
    if va.size < 2:
        raise ValueError("no pixels to compare (empty mask)")
    da, db = va - va.mean(), vb - vb.mean()
    denom = float(np.sqrt((da * da).sum() * (db * db).sum()))
    ncc = float((da * db).sum() / denom) if denom > 0 else float("nan")
    nmi = float(normalized_mutual_information(va, vb, bins=bins))
    return PairQuality(ncc=ncc, nmi=nmi)
