"""Pair one POCUS frame with one high-end frame of the same pose.

:func:`pair_frames` runs, for one pose:

1. the imaging region of each frame (given, or :func:`pocusiq.imaging.region.find_imaging_region`);
2. the nominal pixel -> world map of each frame from its spacing and placement
   (:func:`pocusiq.pair.geometry.nominal_world_from_pixel`);
3. both regions smoothed (``registration.smoothing_mm``, masked so black margins do not bleed
   in) and resampled to one spacing (``registration.spacing_mm``, default 0.2 mm, never finer
   than the coarser device);
4. registration of POCUS (moving) to high-end (fixed), rigid then affine
   (:func:`pocusiq.pair.register.register_images`);
5. the common field of view: the largest axis-aligned rectangle (in the high-end frame) inside
   both imaging regions after registration; too small an overlap is an error;
6. the output grid: with ``output_size = N`` (default 256) the largest centred square of the
   common rectangle, sampled at N x N pixels (isotropic, so nothing is distorted; the spacing
   is the square's side / N); with ``output_size = None`` the whole rectangle at
   ``output_spacing_mm`` (default: the coarser input spacing). The high-end frame is sampled
   on that grid and the POCUS frame through the registration (one interpolation each, linear,
   after a masked anti-aliasing blur when the grid is coarser than the frame);
7. the quality score (:func:`pocusiq.pair.quality.pair_quality`) and the verdict.

:func:`inner_rectangle` (step 5) is a few lines of NumPy because neither SciPy nor
scikit-image offers a largest-inscribed-rectangle search; an exact one is not needed for the
convex, nearly rectangular overlaps met here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pocusiq.imaging.intensity import luma
from pocusiq.errors import RegionNotFoundError, RegistrationError
from pocusiq.pair.geometry import (
    FramePlacement,
    compose,
    invert,
    nominal_world_from_pixel,
    scale_translate,
)
from pocusiq.pair.quality import PairQuality, pair_quality
from pocusiq.pair.register import PlacedImage, RegistrationConfig, RegistrationResult, register_images
from pocusiq.pair.resample import masked_gaussian, resample_affine, resample_to_spacing
from pocusiq.imaging.region import ImagingRegion, RegionConfig, find_imaging_region

__all__ = ["PairResult", "PairingConfig", "frame_to_grey", "inner_rectangle", "pair_frames"]


#: Largest output side in pixels: resampling and registration hold several float64 copies of
#: the output grid (134 MB each at 4096x4096); imaging regions of real screenshots are < 1100 px.
MAX_OUTPUT_SIDE = 4096


@dataclass(frozen=True)
class PairingConfig:
    """Settings of :func:`pair_frames`.

    Attributes:
        registration: :class:`~pocusiq.pair.register.RegistrationConfig`.
        region: :class:`~pocusiq.imaging.region.RegionConfig` for region detection.
        output_size: side (pixels) of the square output images; ``None`` = the whole common
            rectangle at ``output_spacing_mm``.
        output_spacing_mm: output spacing when ``output_size`` is None (None = coarser input).
        min_ncc: quality threshold (NCC of smoothed images) for accepting a pair.
        quality_smoothing_mm: Gaussian sigma (mm) for the quality score.
        min_overlap_fraction: the common rectangle must cover at least this fraction of the
            smaller imaging region's area (mm^2).
        register: register the frames (default); False keeps the nominal placement as it is
            (step 4 skipped: registration ``kind`` ``"none"``), for a gantry calibrated with
            ``pocusiq calibrate`` whose placement is more exact than image registration.
    """

    registration: RegistrationConfig = field(default_factory=RegistrationConfig)
    region: RegionConfig = field(default_factory=RegionConfig)
    output_size: int | None = 256
    output_spacing_mm: float | None = None
    min_ncc: float = 0.3
    quality_smoothing_mm: float = 1.0
    min_overlap_fraction: float = 0.3
    register: bool = True

    def __post_init__(self) -> None:
        if self.output_size is not None and not 8 <= self.output_size <= MAX_OUTPUT_SIDE:
            raise ValueError(
                f"output_size must be between 8 and {MAX_OUTPUT_SIDE} pixels (or None), got {self.output_size}"
            )
        if self.output_spacing_mm is not None and not self.output_spacing_mm > 0:
            raise ValueError(f"output_spacing_mm must be positive, got {self.output_spacing_mm}")
        if not 0 <= self.min_overlap_fraction <= 1:
            raise ValueError(f"min_overlap_fraction must be in [0, 1], got {self.min_overlap_fraction}")


@dataclass(frozen=True)
class PairResult:
    """A registered pair and how it was made.

    Attributes:
        low, high: (N, M) output images (dtype of the input frames), low = resampled POCUS.
        spacing_mm: output pixel spacing (square pixels, mm).
        quality: :class:`~pocusiq.pair.quality.PairQuality`.
        accepted: ``quality`` passed the threshold.
        reason: rejection reason (``""`` when accepted).
        low_region, high_region: imaging regions used in each frame.
        registration: :class:`~pocusiq.pair.register.RegistrationResult` (world mm maps).
        low_frame_from_out, high_frame_from_out: (2, 3) output pixel -> frame pixel maps.
        low_world_from_pixel, high_world_from_pixel: (2, 3) nominal frame pixel -> world maps.
        overlap_box: common rectangle ``(x, y, w, h)`` in high-end frame pixels.
    """

    low: np.ndarray
    high: np.ndarray
    spacing_mm: float
    quality: PairQuality
    accepted: bool
    reason: str
    low_region: ImagingRegion
    high_region: ImagingRegion
    registration: RegistrationResult
    low_frame_from_out: np.ndarray
    high_frame_from_out: np.ndarray
    low_world_from_pixel: np.ndarray
    high_world_from_pixel: np.ndarray
    overlap_box: tuple[int, int, int, int]

    def params(self) -> dict[str, Any]:
        """JSON-ready provenance for the dataset manifest (maps as nested lists)."""

        def mat(a: np.ndarray) -> list[list[float]]:
            return [[round(float(v), 6) for v in row] for row in np.asarray(a)]

        return {
            "registration": {
                "low_world_from_high_world": mat(self.registration.moving_from_fixed),
                "rigid_low_world_from_high_world": mat(self.registration.rigid),
                "metric_mattes_mi": round(self.registration.metric, 6),
                "iterations": list(self.registration.iterations),
            },
            "low_frame_from_out": mat(self.low_frame_from_out),
            "high_frame_from_out": mat(self.high_frame_from_out),
            "low_world_from_pixel": mat(self.low_world_from_pixel),
            "high_world_from_pixel": mat(self.high_world_from_pixel),
            "low_region": [int(v) for v in self.low_region.box] + [self.low_region.kind],
            "high_region": [int(v) for v in self.high_region.box] + [self.high_region.kind],
            "overlap_box": [int(v) for v in self.overlap_box],
            "quality": {"ncc": round(self.quality.ncc, 6), "nmi": round(self.quality.nmi, 6)},
        }


def frame_to_grey(frame: np.ndarray) -> np.ndarray:
    """(H, W) or (H, W, 3|4) uint8/uint16 -> (H, W) float64 grey in the input's units (BT.601 luma)."""
    frame = np.asarray(frame)
    if frame.ndim == 2:
        return frame.astype(np.float64)
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        return luma(frame)
    raise ValueError(f"frame must be (H, W) or (H, W, 3|4), got shape {frame.shape}")


def inner_rectangle(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    """A large axis-aligned rectangle ``(x, y, w, h)`` fully inside a bool mask.

    Starts from the mask's bounding box and repeatedly trims the side whose edge row/column
    has the largest fraction of pixels outside the mask, until none is outside. Exact for a
    rectangle, close to the largest for convex, nearly rectangular masks (a slightly rotated
    rectangle, a sector). ``None`` if the mask is empty.
    """
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    while y0 <= y1 and x0 <= x1:
        sub = mask[y0 : y1 + 1, x0 : x1 + 1]
        bad = {
            "top": 1.0 - sub[0].mean(),
            "bottom": 1.0 - sub[-1].mean(),
            "left": 1.0 - sub[:, 0].mean(),
            "right": 1.0 - sub[:, -1].mean(),
        }
        side = max(bad, key=bad.get)  # type: ignore[arg-type]
        if bad[side] == 0.0:
            if sub.all():
                return x0, y0, x1 - x0 + 1, y1 - y0 + 1
            # holes inside: shrink the side nearest to the first hole
            side = "top"
        if side == "top":
            y0 += 1
        elif side == "bottom":
            y1 -= 1
        elif side == "left":
            x0 += 1
        else:
            x1 -= 1
    return None


def _region(
    frame: np.ndarray, given: ImagingRegion | tuple[int, int, int, int] | None, cfg: RegionConfig, which: str
) -> ImagingRegion:
    h, w = frame.shape[:2]
    if isinstance(given, ImagingRegion):
        return given
    if given is not None:
        x, y, bw, bh = (int(v) for v in given)
        if x < 0 or y < 0 or bw < 2 or bh < 2 or x + bw > w or y + bh > h:
            raise RegionNotFoundError(f"{which} frame: region {tuple(given)} is not inside the {w}x{h} frame")
        mask = np.zeros((h, w), bool)
        mask[y : y + bh, x : x + bw] = True
        return ImagingRegion(x=x, y=y, w=bw, h=bh, mask=mask, kind="linear")
    try:
        return find_imaging_region(frame, cfg)
    except RegionNotFoundError as exc:
        raise RegionNotFoundError(f"region not found in {which} frame: {exc}") from exc


def _registration_image(
    grey: np.ndarray,
    region: ImagingRegion,
    world_from_pixel: np.ndarray,
    spacing: tuple[float, float],
    reg_spacing: float,
    smoothing_mm: float,
) -> PlacedImage:
    crop = region.crop(grey)
    crop_mask = region.crop_mask()
    sx, sy = spacing
    if smoothing_mm > 0:
        crop = masked_gaussian(crop, crop_mask, (smoothing_mm / sy, smoothing_mm / sx))
    image = resample_to_spacing(crop, (sx, sy), reg_spacing)
    mask = resample_to_spacing(crop_mask.astype(np.float64), (sx, sy), reg_spacing, order=0) > 0.5
    world = compose(world_from_pixel, scale_translate((reg_spacing / sx, reg_spacing / sy), (region.x, region.y)))
    return PlacedImage(image=image, world_from_pixel=world, mask=mask)


def _output_grid(
    box: tuple[int, int, int, int], spacing: tuple[float, float], cfg: PairingConfig, coarser: float
) -> tuple[np.ndarray, tuple[int, int], float]:
    """(high_frame_from_out, (rows, cols), output spacing) for a common box in high-end pixels."""
    x, y, w, h = box
    sx, sy = spacing
    width_mm, height_mm = w * sx, h * sy
    if cfg.output_size is not None:
        side = min(width_mm, height_mm)
        n_cols = n_rows = int(cfg.output_size)
        out_spacing = side / n_cols
        used_w = used_h = side
    else:
        out_spacing = float(cfg.output_spacing_mm or coarser)
        n_cols = int(math.floor(width_mm / out_spacing + 1e-9))
        n_rows = int(math.floor(height_mm / out_spacing + 1e-9))
        if n_cols < 1 or n_rows < 1:
            raise RegistrationError(f"overlap too small for output spacing {out_spacing:g} mm")
        if max(n_cols, n_rows) > MAX_OUTPUT_SIDE:  # before any array of that size is made
            raise RegistrationError(
                f"output grid {n_cols}x{n_rows} at spacing {out_spacing:g} mm exceeds {MAX_OUTPUT_SIDE} pixels a "
                "side; choose a coarser output spacing"
            )
        used_w, used_h = n_cols * out_spacing, n_rows * out_spacing
    # left/top edges of the used area (pixel-edge coordinates: pixel c spans c - 0.5 .. c + 0.5)
    left = x - 0.5 + (width_mm - used_w) / 2.0 / sx
    top = y - 0.5 + (height_mm - used_h) / 2.0 / sy
    kx, ky = out_spacing / sx, out_spacing / sy
    high_from_out = np.array([[kx, 0.0, left + 0.5 * kx], [0.0, ky, top + 0.5 * ky]])
    return high_from_out, (n_rows, n_cols), out_spacing


def _sample(
    grey: np.ndarray,
    region: ImagingRegion,
    frame_from_out: np.ndarray,
    out_shape: tuple[int, int],
    frame_spacing: tuple[float, float],
    out_spacing: float,
    dtype: np.dtype,
) -> np.ndarray:
    sx, sy = frame_spacing
    sigma = (0.4 * max(out_spacing / sy - 1.0, 0.0), 0.4 * max(out_spacing / sx - 1.0, 0.0))
    src = masked_gaussian(grey, region.mask, sigma) if max(sigma) > 0 else grey
    out = resample_affine(src, frame_from_out, out_shape, order=1)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.rint(out), info.min, info.max).astype(dtype)
    return out.astype(dtype)


def pair_frames(
    low_frame: np.ndarray,
    high_frame: np.ndarray,
    low_placement: FramePlacement,
    high_placement: FramePlacement,
    config: PairingConfig | None = None,
    *,
    low_region: ImagingRegion | tuple[int, int, int, int] | None = None,
    high_region: ImagingRegion | tuple[int, int, int, int] | None = None,
) -> PairResult:
    """Register a POCUS frame to a high-end frame of the same pose and cut out the pair.

    Args:
        low_frame: POCUS frame, (H, W) or (H, W, 3|4) RGB(A) screen capture, uint8/uint16.
        high_frame: high-end frame, same kinds (sizes may differ).
        low_placement, high_placement: spacing and nominal placement of each frame.
        config: :class:`PairingConfig`.
        low_region, high_region: known imaging regions (``(x, y, w, h)`` or
            :class:`ImagingRegion`); detected when None.

    Returns:
        :class:`PairResult` (rejected pairs are returned too, with ``accepted=False``).

    Raises:
        RegionNotFoundError: no imaging region in a frame ("region not found in low frame: ...").
        RegistrationError: registration failed or diverged, or the overlap is too small.
    """
    cfg = config or PairingConfig()
    low_grey, high_grey = frame_to_grey(low_frame), frame_to_grey(high_frame)
    low_reg = _region(low_frame, low_region, cfg.region, "low")
    high_reg = _region(high_frame, high_region, cfg.region, "high")
    low_world = nominal_world_from_pixel(low_reg.box, low_placement)
    high_world = nominal_world_from_pixel(high_reg.box, high_placement)
    low_sp = tuple(float(v) for v in low_placement.spacing_mm)
    high_sp = tuple(float(v) for v in high_placement.spacing_mm)
    coarser = max(*low_sp, *high_sp)
    rcfg = cfg.registration
    reg_spacing = max(coarser, float(rcfg.spacing_mm or 0.0))
    if cfg.register:
        fixed = _registration_image(high_grey, high_reg, high_world, high_sp, reg_spacing, rcfg.smoothing_mm)
        moving = _registration_image(low_grey, low_reg, low_world, low_sp, reg_spacing, rcfg.smoothing_mm)
        reg = register_images(fixed, moving, rcfg)
    else:
        identity = np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
        reg = RegistrationResult(identity, identity, 0.0, (), "not registered (nominal placement kept)", kind="none")

    # common field of view, in high-end frame pixels
    low_from_high = compose(invert(low_world), reg.moving_from_fixed, high_world)
    hx, hy, hw, hh = high_reg.box
    low_mask_in_high = (
        resample_affine(
            low_reg.mask.astype(np.float64),
            compose(low_from_high, scale_translate(1.0, (hx, hy))),
            (hh, hw),
            order=0,
        )
        > 0.5
    )
    common = low_mask_in_high & high_reg.crop_mask()
    inner = inner_rectangle(common)
    smaller_mm2 = min(
        low_reg.mask.sum() * low_sp[0] * low_sp[1], high_reg.mask.sum() * high_sp[0] * high_sp[1]
    )
    area_mm2 = 0.0 if inner is None else inner[2] * inner[3] * high_sp[0] * high_sp[1]
    if inner is None or area_mm2 < cfg.min_overlap_fraction * smaller_mm2:
        raise RegistrationError(
            f"overlap too small: common rectangle {area_mm2:.0f} mm^2 is "
            f"{area_mm2 / max(smaller_mm2, 1e-9):.0%} of the smaller imaging region "
            f"(< {cfg.min_overlap_fraction:.0%})"
        )
    box = (inner[0] + hx, inner[1] + hy, inner[2], inner[3])
    high_from_out, out_shape, out_spacing = _output_grid(box, high_sp, cfg, coarser)
    low_from_out = compose(low_from_high, high_from_out)
    low_dtype = np.asarray(low_frame).dtype
    high_dtype = np.asarray(high_frame).dtype
    low_out = _sample(low_grey, low_reg, low_from_out, out_shape, low_sp, out_spacing, low_dtype)
    high_out = _sample(high_grey, high_reg, high_from_out, out_shape, high_sp, out_spacing, high_dtype)
    quality = pair_quality(
        low_out, high_out, spacing_mm=out_spacing, smoothing_mm=cfg.quality_smoothing_mm
    )
    reason = quality.verdict(cfg.min_ncc)
    return PairResult(
        low=low_out,
        high=high_out,
        spacing_mm=float(out_spacing),
        quality=quality,
        accepted=not reason,
        reason=reason,
        low_region=low_reg,
        high_region=high_reg,
        registration=reg,
        low_frame_from_out=low_from_out,
        high_frame_from_out=high_from_out,
        low_world_from_pixel=low_world,
        high_world_from_pixel=high_world,
        overlap_box=box,
    )
