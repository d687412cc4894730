"""Ultrasound contrast metrics between a target region and its background: CNR and gCNR.

- :func:`cnr`: contrast-to-noise ratio ``|mu_t - mu_b| / sqrt(sigma_t^2 + sigma_b^2)``
  (population standard deviations), unitless, >= 0, higher is better. It is computed on the
  values given: pass a log-compressed B-mode image (as displayed) or the linear envelope, and say
  which when reporting; the two give different numbers.
- :func:`gcnr`: generalized CNR (Rodriguez-Molares et al., "The Generalized Contrast-to-Noise
  Ratio: A Formal Definition for Lesion Detectability", IEEE TUFFC 67(4), 2020):
  ``1 - sum_k min(p_t(k), p_b(k))``, one minus the overlap of the two regions' normalised
  histograms on common bins. Range 0 (indistinguishable) to 1 (fully separable), higher is better;
  invariant to any strictly monotonic intensity mapping (up to binning), so log or linear data
  give the same value.
- :func:`background_ring`: a background mask as a ring around a target mask (for anechoic
  cysts/vessel lumens: the simulator's ground-truth masks or the carotid lumen masks).

Masks are boolean ``(H, W)`` arrays of the image's shape.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from pocusiq.metrics.validation import as_float_image, as_image_array

__all__ = ["cnr", "gcnr", "background_ring"]

DEFAULT_BINS = 256
"""gCNR histogram bins when ``bins`` is None and one bin per integer value would be more."""


def _check_mask(mask: np.ndarray, shape: tuple[int, ...], name: str) -> np.ndarray:
    if not isinstance(mask, np.ndarray):
        raise TypeError(f"{name}: expected a numpy bool array, got {type(mask).__name__}")
    if mask.dtype != bool:
        raise TypeError(f"{name}: expected a bool mask, got dtype {mask.dtype}")
    if mask.shape != shape:
        raise ValueError(f"{name}: mask shape {mask.shape} does not match image shape {shape}")
    if not mask.any():
        raise ValueError(f"{name}: mask is empty (selects no pixels)")
    return mask


def _regions(image: np.ndarray, target_mask: np.ndarray, background_mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    image = as_image_array(image, "image")
    _check_mask(target_mask, image.shape, "target_mask")
    _check_mask(background_mask, image.shape, "background_mask")
    if (target_mask & background_mask).any():
        raise ValueError(
            f"target_mask and background_mask overlap in {int((target_mask & background_mask).sum())} pixels; "
            "they must be disjoint"
        )
    return image[target_mask], image[background_mask]


def cnr(image: np.ndarray, target_mask: np.ndarray, background_mask: np.ndarray) -> float:
    """Contrast-to-noise ratio between a target region and a background region.

    Args:
        image: ``(H, W)`` greyscale image (integer or float; any scale — CNR is scale invariant).
        target_mask: bool ``(H, W)``, the target (e.g. a cyst or vessel lumen).
        background_mask: bool ``(H, W)``, disjoint from ``target_mask`` (see :func:`background_ring`).

    Returns:
        ``|mean_t - mean_b| / sqrt(var_t + var_b)`` (>= 0); ``inf`` if both regions are constant
        and differ, 0 if both are constant and equal.

    Raises:
        TypeError, ValueError: bad image, masks of the wrong dtype/shape, empty or overlapping masks.
    """
    t, b = _regions(image, target_mask, background_mask)
    t = as_float_image(t)
    b = as_float_image(b)
    diff = abs(t.mean() - b.mean())
    noise = np.sqrt(t.var() + b.var())
    if noise == 0:
        return 0.0 if diff == 0 else float("inf")
    return float(diff / noise)


def gcnr(
    image: np.ndarray,
    target_mask: np.ndarray,
    background_mask: np.ndarray,
    *,
    bins: int | Sequence[float] | None = None,
) -> float:
    """Generalized contrast-to-noise ratio: ``1 - overlap`` of the two regions' histograms.

    Args:
        image: ``(H, W)`` greyscale image.
        target_mask: bool ``(H, W)`` target region.
        background_mask: bool ``(H, W)`` background region, disjoint from the target.
        bins: histogram bins over the two regions' joint value range. ``None``: one bin per
            integer value for integer images whose joint range spans at most 256 values (e.g.
            uint8), otherwise 256 equal bins (float images, and uint16 images, where one bin per
            value would leave most bins holding one pixel and push gCNR towards 1). An int gives
            that many equal bins; a sequence gives explicit bin edges.

    Returns:
        gCNR in [0, 1]: 0 when the two distributions are identical, 1 when they do not overlap.

    Raises:
        TypeError, ValueError: bad image, bad/empty/overlapping masks, or ``bins`` < 1.
    """
    t, b = _regions(image, target_mask, background_mask)
    lo = float(min(t.min(), b.min()))
    hi = float(max(t.max(), b.max()))
    if bins is None:
        integer = np.issubdtype(t.dtype, np.integer) or t.dtype == bool
        if integer and hi - lo < DEFAULT_BINS:
            edges: np.ndarray | int = np.arange(lo, hi + 2) - 0.5
        else:
            edges = DEFAULT_BINS
    elif isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise ValueError(f"bins must be >= 1, got {bins}")
        edges = int(bins)
    else:
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
            raise ValueError("bins: explicit edges must be a strictly increasing 1-D sequence of >= 2 values")
    if lo == hi and not isinstance(edges, np.ndarray):
        return 0.0  # both regions hold one identical value
    hist_range = None if isinstance(edges, np.ndarray) else (lo, hi)
    ht, _ = np.histogram(as_float_image(t), bins=edges, range=hist_range)
    hb, _ = np.histogram(as_float_image(b), bins=edges, range=hist_range)
    if ht.sum() == 0 or hb.sum() == 0:
        raise ValueError("bins: the explicit bin edges leave a region with no values inside them")
    pt = ht / ht.sum()
    pb = hb / hb.sum()
    return float(1.0 - np.minimum(pt, pb).sum())


def background_ring(
    target_mask: np.ndarray,
    *,
    width: float,
    gap: float = 0.0,
    spacing: tuple[float, float] | None = None,
    within: np.ndarray | None = None,
) -> np.ndarray:
    """A ring-shaped background mask around a target mask.

    Pixels whose (Euclidean) distance to the nearest target pixel is in ``(gap, gap + width]``.

    Args:
        target_mask: bool ``(H, W)``, non-empty.
        width: ring thickness (> 0), in pixels, or in the units of ``spacing`` (e.g. mm).
        gap: distance (>= 0) kept clear between the target's edge and the ring, same units; a gap
            of a speckle size or two keeps the target's blurred edge out of the background.
        spacing: ``(row, col)`` pixel size (e.g. ``(axial_mm, lateral_mm)``); ``None`` = pixels.
        within: optional bool ``(H, W)`` mask of valid pixels (e.g. the imaging sector); the ring
            is restricted to it.

    Returns:
        bool ``(H, W)`` mask, disjoint from ``target_mask``.

    Raises:
        TypeError, ValueError: bad masks, non-positive width, negative gap, or an empty ring.
    """
    if not isinstance(target_mask, np.ndarray) or target_mask.dtype != bool or target_mask.ndim != 2:
        raise TypeError("target_mask: expected a 2-D numpy bool array")
    if not target_mask.any():
        raise ValueError("target_mask: mask is empty (selects no pixels)")
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    if gap < 0:
        raise ValueError(f"gap must be non-negative, got {gap}")
    if spacing is not None:
        if len(spacing) != 2 or min(spacing) <= 0:
            raise ValueError(f"spacing must be two positive pixel sizes (row, col), got {spacing}")
    distance = ndimage.distance_transform_edt(~target_mask, sampling=spacing)
    ring = (distance > gap) & (distance <= gap + width)
    if within is not None:
        ring &= _check_mask(within, target_mask.shape, "within")
    if not ring.any():
        raise ValueError(
            f"background ring is empty (width={width}, gap={gap}): the target fills the image or the valid region"
        )
    return ring
