"""Which part of a frame to enhance: the imaging region (ROI), everything else is left alone.

Screen captures and many DICOMs carry UI overlays, text, colour bars, a depth scale and black
margins around the ultrasound image. The imaging region is found by
:func:`pocusiq.pair.roi.find_imaging_region` (written for pairing, which needs the same thing);
this module only turns a user's choice into a :class:`FrameRegion` (a box plus an optional
boolean mask inside it) and pastes enhanced pixels back inside it, so that every pixel
outside the region keeps its exact input value.

Region choices (``RegionSpec``):

* ``"auto"``: detect with :func:`find_imaging_region` (raises ``RegionNotFoundError``);
* ``"full"`` or ``None``: the whole frame;
* ``(x, y, w, h)``: a box in pixels (x = column, y = row of the top-left corner);
* an ``ImagingRegion``-like object with a box and a boolean mask (e.g. one detected earlier).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

from pocusiq.errors import RegionNotFoundError

RegionSpec = Union[str, tuple[int, int, int, int], Any, None]


@dataclass(frozen=True)
class FrameRegion:
    """A resolved region of a frame.

    Attributes:
        box: ``(x, y, w, h)`` in pixels, inside the frame.
        mask: boolean ``(h, w)`` array, True where pixels are enhanced; ``None`` = the whole box.
        kind: "full", "box", "linear" or "sector".
    """

    box: tuple[int, int, int, int]
    mask: np.ndarray | None = None
    kind: str = "box"

    def full_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """Boolean ``shape`` (H, W) array, True inside the region."""
        out = np.zeros(shape, dtype=bool)
        x, y, w, h = self.box
        out[y : y + h, x : x + w] = True if self.mask is None else self.mask
        return out


def parse_box(text: str) -> tuple[int, int, int, int]:
    """Parse ``"x,y,w,h"`` (pixels) as given to ``--roi``; raises ValueError with the reason."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise ValueError(f"ROI {text!r}: expected four integers x,y,w,h")
    try:
        x, y, w, h = (int(p) for p in parts)
    except ValueError:
        raise ValueError(f"ROI {text!r}: expected four integers x,y,w,h") from None
    if x < 0 or y < 0 or w <= 0 or h <= 0:
        raise ValueError(f"ROI {text!r}: x and y must be >= 0 and w, h > 0")
    return x, y, w, h


def _box_of(region: Any) -> tuple[int, int, int, int]:
    """The (x, y, w, h) box of an ImagingRegion-like object, whatever the attribute is called."""
    for name in ("box", "bbox"):
        value = getattr(region, name, None)
        if value is not None:
            return tuple(int(v) for v in value)  # type: ignore[return-value]
    if all(hasattr(region, a) for a in ("x", "y")):
        w = getattr(region, "w", getattr(region, "width", None))
        h = getattr(region, "h", getattr(region, "height", None))
        if w is not None and h is not None:
            return int(region.x), int(region.y), int(w), int(h)
    raise TypeError(f"cannot read a bounding box (x, y, w, h) from {type(region).__name__}")


def _from_imaging_region(region: Any, shape: tuple[int, int]) -> FrameRegion:
    x, y, w, h = _box_of(region)
    mask = getattr(region, "mask", None)
    if mask is not None:
        mask = np.asarray(mask, dtype=bool)
        if mask.shape == shape:  # full-frame mask -> crop to the box
            mask = mask[y : y + h, x : x + w]
        elif mask.shape != (h, w):
            raise ValueError(f"region mask shape {mask.shape} fits neither the frame {shape} nor the box {(h, w)}")
    return FrameRegion((x, y, w, h), mask, str(getattr(region, "kind", "box")))


def detect_region(frame: np.ndarray) -> FrameRegion:
    """Find the imaging region of a frame (2-D grey or ``(H, W, 3|4)`` colour).

    Raises:
        RegionNotFoundError: no imaging region found (or the detector is unavailable).
    """
    try:
        from pocusiq.pair.roi import find_imaging_region
    except ImportError as exc:
        raise RegionNotFoundError(
            f"automatic imaging-region detection is unavailable ({exc}); pass a box (--roi x,y,w,h) "
            "or 'full'"
        ) from exc
    found = find_imaging_region(frame)
    return _from_imaging_region(found, frame.shape[:2])


def resolve_region(frame: np.ndarray, spec: RegionSpec) -> FrameRegion:
    """Turn a :data:`RegionSpec` into a :class:`FrameRegion` for ``frame`` (checked to fit)."""
    height, width = frame.shape[:2]
    if spec is None or (isinstance(spec, str) and spec == "full"):
        return FrameRegion((0, 0, width, height), None, "full")
    if isinstance(spec, str):
        if spec == "auto":
            region = detect_region(frame)
        else:
            region = FrameRegion(parse_box(spec), None, "box")
    elif isinstance(spec, FrameRegion):
        region = spec
    elif isinstance(spec, (tuple, list)) and len(spec) == 4:
        region = FrameRegion(tuple(int(v) for v in spec), None, "box")  # type: ignore[arg-type]
    else:
        region = _from_imaging_region(spec, (height, width))
    x, y, w, h = region.box
    if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > width or y + h > height:
        raise RegionNotFoundError(
            f"region (x={x}, y={y}, w={w}, h={h}) does not fit inside the {width}x{height} frame"
        )
    if region.mask is not None and np.shape(region.mask) != (h, w):
        raise ValueError(f"region mask has shape {np.shape(region.mask)}, expected the box's {(h, w)}")
    if region.mask is not None and not region.mask.any():
        raise RegionNotFoundError(f"region (x={x}, y={y}, w={w}, h={h}) has an empty mask")
    return region


def paste_inside(
    frame: np.ndarray, region: FrameRegion, enhance_crop: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Enhance the region's crop of ``frame`` and paste it back inside the region's mask.

    Args:
        frame: ``(H, W)`` or ``(H, W, C)`` array.
        region: where to enhance.
        enhance_crop: maps the ``(h, w[, C])`` crop to an array of the same shape and dtype.

    Returns:
        A copy of ``frame`` whose pixels outside the region are bit-for-bit unchanged.
    """
    x, y, w, h = region.box
    crop = frame[y : y + h, x : x + w]
    enhanced = enhance_crop(crop)
    if enhanced.shape != crop.shape or enhanced.dtype != crop.dtype:
        raise ValueError(
            f"enhanced crop has shape {enhanced.shape}/{enhanced.dtype}, expected {crop.shape}/{crop.dtype}"
        )
    out = frame.copy()
    if region.mask is None:
        out[y : y + h, x : x + w] = enhanced
    else:
        out[y : y + h, x : x + w][region.mask] = enhanced[region.mask]
    return out
