"""Target regions for contrast metrics (gCNR, CNR): ground-truth masks and background rings.

A dataset may carry masks ``masks/<id>_<name>.png`` (see :mod:`pocusiq.data.manifest`). Masks
whose name matches the protocol's patterns (``cyst*``, ``lesion*``, ...) are targets; every
connected component of such a mask is one target. Its background is the ring of pixels whose
Euclidean distance from the target is in ``(ring_gap_px, ring_gap_px + ring_width_px]``, minus
every pixel within ``ring_gap_px`` of *any* target (so neighbouring cysts do not count as
background). Rings come from :func:`pocusiq.metrics.background_ring` (Euclidean distance).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping

import numpy as np
from scipy import ndimage

from pocusiq.benchmark.protocol import RegionSettings
from pocusiq.metrics.contrast import background_ring

__all__ = ["select_target_masks", "target_regions"]


def select_target_masks(mask_names: list[str] | tuple[str, ...], patterns: tuple[str, ...]) -> list[str]:
    """Mask names (in the given order) that match any of the shell ``patterns`` (case-sensitive)."""
    return [name for name in mask_names if any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)]


def target_regions(
    masks: Mapping[str, np.ndarray], settings: RegionSettings, valid: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Split target masks into (target, background ring) boolean mask pairs.

    Args:
        masks: mask name -> ``(H, W)`` array (non-zero = inside); only names matching
            ``settings.masks`` are used; all must have the same shape.
        settings: the protocol's region settings (ring gap/width in pixels, minimum size).
        valid: optional ``(H, W)`` mask of valid pixels (the imaging sector); rings stay inside it.

    Returns:
        One ``(target, ring)`` pair of ``(H, W)`` bool arrays per connected target component
        with at least ``settings.min_pixels`` pixels in both; empty if there is none.

    Raises:
        ValueError: masks of different shapes, or not 2-D.
    """
    selected = select_target_masks(list(masks), settings.masks)
    if not selected:
        return []
    arrays = [np.asarray(masks[name]) != 0 for name in selected]
    shape = arrays[0].shape
    for name, arr in zip(selected, arrays):
        if arr.ndim != 2 or arr.shape != shape:
            raise ValueError(f"mask {name!r} has shape {arr.shape}, expected a 2-D mask of shape {shape}")
    if valid is not None:
        valid = np.asarray(valid) != 0
        if valid.shape != shape:
            raise ValueError(f"valid mask has shape {valid.shape}, expected {shape}")
        if not valid.any():
            valid = None  # an empty valid mask carries no information
    any_target = np.logical_or.reduce(arrays)
    if not any_target.any():
        return []
    near_any = ndimage.distance_transform_edt(~any_target) <= settings.ring_gap_px
    regions: list[tuple[np.ndarray, np.ndarray]] = []
    for arr in arrays:
        labels, count = ndimage.label(arr)
        for index in range(1, count + 1):
            target = labels == index
            if int(target.sum()) < settings.min_pixels:
                continue
            try:
                ring = background_ring(target, width=settings.ring_width_px, gap=settings.ring_gap_px)
            except ValueError:  # the target fills the image: no background
                continue
            ring &= ~near_any
            if valid is not None:
                ring &= valid
            if int(ring.sum()) < settings.min_pixels:
                continue
            regions.append((target, ring))
    return regions
