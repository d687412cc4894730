"""The imaging region of a frame (the ultrasound rectangle or sector), and how it is found or given.

One type, :class:`ImagingRegion` (bounding box, a boolean mask of the frame, kind, sector apex),
serves pairing (:mod:`pocusiq.pair.frames`), enhancement (only pixels inside the region change:
:func:`paste_inside`) and DICOM files (the Sequence of Ultrasound Regions, read by
:mod:`pocusiq.imaging.dicom`). :func:`resolve_region` turns a user's choice (``RegionSpec``)
into one:

* ``"auto"``: detect with :func:`find_imaging_region` (raises ``RegionNotFoundError``);
* ``"full"`` or ``None``: the whole frame;
* ``(x, y, w, h)`` or ``"x,y,w,h"``: a box in pixels (x = column, y = row of the top-left corner);
* an :class:`ImagingRegion` (e.g. one detected earlier, or from the DICOM header).

Detection (:func:`find_imaging_region`):

Screen captures from POCUS apps carry black margins, UI text, colour buttons, colour bars and
a depth scale around the image. :func:`find_imaging_region` separates the image from them with
three cues, all computed with SciPy / scikit-image:

1. *greyness*: B-mode pixels are grey (R = G = B); UI accents (buttons, colour bars) are saturated;
2. *density*: the image area is filled (almost every pixel above the black level), text and tick
   marks are sparse strokes on black;
3. *texture*: speckle has high-frequency energy everywhere; a grey-scale bar or flat UI panel has
   none away from its edges.

Pixels passing all three are closed morphologically, the largest connected component is kept and
its convex hull taken (this also spans anechoic, black parts of the image such as a fluid-filled
vessel, as long as textured tissue surrounds them on a few sides). The hull is then classified:
close to its bounding box -> ``"linear"`` (mask = the box); otherwise ``"sector"``, for which an
apex and two straight edges (lines fitted to the hull's left/right boundary) and inner/outer
arcs are fitted, and the mask is that annular sector clipped to the hull's box.

No library offers this detection for ultrasound screen captures (ITKPOCUS does similar work for
specific devices only), hence the own implementation here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Union

import numpy as np
from scipy import ndimage as ndi
from skimage.morphology import convex_hull_image

from pocusiq.errors import RegionNotFoundError
from pocusiq.imaging.intensity import luma

__all__ = [
    "ImagingRegion",
    "RegionConfig",
    "RegionSpec",
    "find_imaging_region",
    "paste_inside",
    "parse_box",
    "resolve_region",
]

RegionKind = Literal["full", "box", "linear", "sector"]


@dataclass(frozen=True)
class RegionConfig:
    """Thresholds of :func:`find_imaging_region` (defaults suit 8-bit screen captures and raw frames).

    Attributes:
        black_level: fraction of the frame's maximum below which a pixel counts as black margin.
        max_saturation: largest (max - min over RGB) / frame maximum for a pixel to count as grey.
        density_window_px: side of the window (pixels) for the filled-fraction cue.
        min_density: smallest fraction of non-black pixels in that window for image area.
        min_texture: smallest local RMS of the high-pass image, relative to the local mean
            (speckle: ~0.1-0.6; flat panels and grey-scale bars: ~0).
        min_area_fraction: the region must cover at least this fraction of the frame.
        linear_fill: hull area / bounding-box area above which the region is ``"linear"``.
        min_piece_fraction: textured pieces (fraction of the frame) stacked above/below the main
            one in the same columns, at least this large, are joined to it (anechoic gaps).
        work_size_px: frames larger than this are block-averaged to about this size for detection.
    """

    black_level: float = 0.02
    max_saturation: float = 0.08
    density_window_px: int = 31
    min_density: float = 0.6
    min_texture: float = 0.03
    min_area_fraction: float = 0.02
    linear_fill: float = 0.93
    min_piece_fraction: float = 0.0005
    work_size_px: int = 640


@dataclass(frozen=True)
class ImagingRegion:
    """Where the ultrasound image lies in a frame.

    Attributes:
        x, y: top-left corner of the bounding box (column, row), pixels.
        w, h: width and height of the bounding box, pixels.
        mask: bool array (H, W) of the frame, True inside the imaging area (inside the box).
        kind: ``"linear"`` (rectangle) or ``"sector"`` (curvilinear / phased array), as detected
            or read from a DICOM header; ``"box"`` (a rectangle given by the user) or ``"full"``
            (the whole frame).
        apex: for sectors, the fitted apex (column, row) in frame pixels (may lie above the frame);
            ``None`` otherwise.
    """

    x: int
    y: int
    w: int
    h: int
    mask: np.ndarray = field(repr=False)
    kind: RegionKind = "linear"
    apex: tuple[float, float] | None = None

    @classmethod
    def from_box(
        cls,
        box: tuple[int, int, int, int],
        shape: tuple[int, ...],
        kind: RegionKind = "box",
        box_mask: np.ndarray | None = None,
        apex: tuple[float, float] | None = None,
    ) -> ImagingRegion:
        """A region from an ``(x, y, w, h)`` box in a frame of ``shape`` (H, W[, C]).

        ``box_mask``: optional bool ``(h, w)`` mask inside the box (default: the whole box).

        Raises:
            RegionNotFoundError: the box does not fit inside the frame, or the mask is empty.
            ValueError: ``box_mask`` is not ``(h, w)``.
        """
        height, width = int(shape[0]), int(shape[1])
        x, y, w, h = (int(v) for v in box)
        if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > width or y + h > height:
            raise RegionNotFoundError(
                f"region (x={x}, y={y}, w={w}, h={h}) does not fit inside the {width}x{height} frame"
            )
        mask = np.zeros((height, width), dtype=bool)
        if box_mask is None:
            mask[y : y + h, x : x + w] = True
        else:
            box_mask = np.asarray(box_mask, dtype=bool)
            if box_mask.shape != (h, w):
                raise ValueError(f"region mask has shape {box_mask.shape}, expected the box's {(h, w)}")
            if not box_mask.any():
                raise RegionNotFoundError(f"region (x={x}, y={y}, w={w}, h={h}) has an empty mask")
            mask[y : y + h, x : x + w] = box_mask
        return cls(x=x, y=y, w=w, h=h, mask=mask, kind=kind, apex=apex)

    @classmethod
    def full(cls, shape: tuple[int, ...]) -> ImagingRegion:
        """The whole frame of ``shape`` (H, W[, C])."""
        return cls.from_box((0, 0, int(shape[1]), int(shape[0])), shape, "full")

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(x, y, w, h)`` in pixels."""
        return (self.x, self.y, self.w, self.h)

    @property
    def shape(self) -> tuple[int, int]:
        """(H, W) of the frame the region belongs to."""
        return self.mask.shape  # type: ignore[return-value]

    @property
    def slices(self) -> tuple[slice, slice]:
        """``(rows, cols)`` slices of the bounding box, for indexing a (H, W[, C]) array."""
        return (slice(self.y, self.y + self.h), slice(self.x, self.x + self.w))

    @property
    def is_box(self) -> bool:
        """True when the mask fills the whole bounding box."""
        return bool(self.crop_mask().all())

    def crop(self, frame: np.ndarray) -> np.ndarray:
        """The bounding box of ``frame`` ((H, W) or (H, W, C), same H, W as ``mask``); a view."""
        if frame.shape[:2] != self.mask.shape:
            raise ValueError(
                f"frame of shape {frame.shape[:2]} does not match the region's frame {self.mask.shape}"
            )
        return frame[self.slices]

    def crop_mask(self) -> np.ndarray:
        """The mask inside the bounding box, bool (h, w)."""
        return self.mask[self.slices]


RegionSpec = Union[str, tuple[int, int, int, int], ImagingRegion, None]
"""A user's choice of region: "auto", "full", ``(x, y, w, h)``, ``"x,y,w,h"``, a region, or None (full)."""


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


def resolve_region(frame: np.ndarray, spec: RegionSpec) -> ImagingRegion:
    """Turn a :data:`RegionSpec` into an :class:`ImagingRegion` of ``frame`` (checked to fit).

    Raises:
        RegionNotFoundError: "auto" found nothing, or the box/region does not fit the frame.
        ValueError: a malformed box string.
    """
    shape = frame.shape[:2]
    if spec is None or (isinstance(spec, str) and spec == "full"):
        return ImagingRegion.full(shape)
    if isinstance(spec, str):
        if spec == "auto":
            return find_imaging_region(frame)
        return ImagingRegion.from_box(parse_box(spec), shape)
    if isinstance(spec, ImagingRegion):
        if spec.shape != shape:
            raise RegionNotFoundError(
                f"region of a {spec.shape[1]}x{spec.shape[0]} frame used on a {shape[1]}x{shape[0]} frame"
            )
        if not spec.mask.any():
            raise RegionNotFoundError(f"region {spec.box} has an empty mask")
        return spec
    if isinstance(spec, (tuple, list)) and len(spec) == 4:
        return ImagingRegion.from_box(tuple(int(v) for v in spec), shape)  # type: ignore[arg-type]
    raise TypeError(f"region must be 'auto', 'full', (x, y, w, h) or an ImagingRegion, got {type(spec).__name__}")


def paste_inside(
    frame: np.ndarray, region: ImagingRegion, enhance_crop: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Enhance the region's crop of ``frame`` and paste it back inside the region's mask.

    Args:
        frame: ``(H, W)`` or ``(H, W, C)`` array.
        region: where to enhance.
        enhance_crop: maps the ``(h, w[, C])`` crop to an array of the same shape and dtype.

    Returns:
        A copy of ``frame`` whose pixels outside the region are bit-for-bit unchanged.
    """
    crop = region.crop(frame)
    enhanced = enhance_crop(crop)
    if enhanced.shape != crop.shape or enhanced.dtype != crop.dtype:
        raise ValueError(
            f"enhanced crop has shape {enhanced.shape}/{enhanced.dtype}, expected {crop.shape}/{crop.dtype}"
        )
    out = frame.copy()
    inside = region.crop_mask()
    if inside.all():
        out[region.slices] = enhanced
    else:
        out[region.slices][inside] = enhanced[inside]
    return out


def _to_grey(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(grey, saturation) as float32 in [0, 1] relative to the frame's maximum."""
    if not isinstance(frame, np.ndarray):
        raise TypeError(f"frame must be a numpy array, got {type(frame).__name__}")
    if frame.ndim == 3 and frame.shape[2] in (3, 4):
        rgb = frame[..., :3]
        grey = luma(rgb, np.float32)
        sat = (rgb.max(axis=2) - rgb.min(axis=2)).astype(np.float32)
    elif frame.ndim == 2:
        grey = frame.astype(np.float32)
        sat = np.zeros_like(grey)
    else:
        raise ValueError(f"frame must be (H, W) or (H, W, 3/4), got shape {frame.shape}")
    if frame.dtype.kind not in "uif":
        raise TypeError(f"frame must be an integer or float image, got dtype {frame.dtype}")
    peak = float(np.max(grey)) if grey.size else 0.0
    if not np.isfinite(peak) or peak <= 0:
        raise RegionNotFoundError(
            f"imaging region not found: frame of shape {frame.shape} is blank (maximum {peak})"
        )
    return grey / peak, sat / peak


def _candidate_pixels(
    grey: np.ndarray, sat: np.ndarray, cfg: RegionConfig, step: int = 1
) -> np.ndarray:
    """Pixels that are grey, in a densely filled neighbourhood and speckle-textured.

    ``step`` is the block-averaging factor of ``grey``/``sat``; windows are scaled by it.
    """
    bright = grey > cfg.black_level
    grey_px = sat <= cfg.max_saturation
    win = max(5, int(round(cfg.density_window_px / step)))
    density = ndi.uniform_filter((bright & grey_px).astype(np.float32), win)
    highpass = grey - ndi.gaussian_filter(grey, 1.5)
    energy = np.sqrt(np.maximum(ndi.uniform_filter(highpass * highpass, 9), 0.0))
    local_mean = ndi.uniform_filter(grey, 9)
    texture = energy / np.maximum(local_mean, cfg.black_level)
    # smooth texture so that a locally smooth patch inside speckle is not dropped
    texture = ndi.uniform_filter(texture, win)
    return bright & grey_px & (density >= cfg.min_density) & (texture >= cfg.min_texture)


def _edge_lines(shape_mask: np.ndarray) -> tuple[float, float, float, float] | None:
    """Lines ``x = b * y + a`` fitted to the left and right boundary of a mask.

    Uses the rows between 15 % and 60 % of the mask's height (below a rounded top, above the
    outer arc). Returns ``(b_left, a_left, b_right, a_right)`` or ``None`` (too few rows).
    """
    rows = np.flatnonzero(shape_mask.any(axis=1))
    top, bottom = int(rows[0]), int(rows[-1])
    height = bottom - top + 1
    sel = rows[(rows >= top + 0.15 * height) & (rows <= top + 0.6 * height)]
    if sel.size < 5:
        return None
    left = np.array([np.flatnonzero(shape_mask[r])[0] for r in sel], dtype=float)
    right = np.array([np.flatnonzero(shape_mask[r])[-1] for r in sel], dtype=float)
    ys = sel.astype(float)
    bl, al = np.polyfit(ys, left, 1)
    br, ar = np.polyfit(ys, right, 1)
    return float(bl), float(al), float(br), float(ar)


def _fit_sector(
    hull: np.ndarray, bright: np.ndarray, reach: int
) -> tuple[np.ndarray, tuple[float, float]] | None:
    """Fit apex, two straight edges and inner/outer arcs to a convex sector-like hull.

    The hull (eroded by the detection windows) gives the approximate shape; the edges and arcs
    are then refitted on the non-black pixels (``bright``) within ``reach`` pixels of the hull.
    Returns (mask, apex (column, row)) or ``None`` when the edges do not diverge with depth.
    """
    near = ndi.distance_transform_edt(~hull) <= reach
    support = convex_hull_image(near & bright)
    lines = _edge_lines(support)
    if lines is None:
        return None
    bl, al, br, ar = lines
    if not (bl < -0.05 and br > 0.05):  # edges must diverge with depth
        return None
    apex_y = (al - ar) / (br - bl)
    apex_x = bl * apex_y + al
    h, w = hull.shape
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    dy, dx = yy - apex_y, xx - apex_x
    radius = np.hypot(dx, dy)
    angle = np.arctan2(dx, dy)  # 0 straight down, positive towards larger columns
    # x - apex_x = b (y - apex_y)  ->  angle = arctan(b)
    ang_l, ang_r = np.arctan(bl), np.arctan(br)
    inside = (angle >= ang_l) & (angle <= ang_r)
    sup_r = radius[support & inside]
    if sup_r.size == 0:
        return None
    r_in = float(np.percentile(sup_r, 0.2))
    r_out = float(np.percentile(sup_r, 99.8))
    mask = inside & (radius >= r_in) & (radius <= r_out)
    return mask, (float(apex_x), float(apex_y))


def _box_mask(mask: np.ndarray) -> np.ndarray:
    """The filled bounding box of a bool mask, bool (H, W)."""
    out = np.zeros_like(mask, dtype=bool)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size:
        out[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1] = True
    return out


def _block_mean(image: np.ndarray, step: int) -> np.ndarray:
    """Average ``step`` x ``step`` blocks (the last partial row/column blocks are averaged too)."""
    if step == 1:
        return image
    h, w = image.shape
    ph, pw = (-h) % step, (-w) % step
    padded = np.pad(image, ((0, ph), (0, pw)), mode="edge")
    return padded.reshape(padded.shape[0] // step, step, padded.shape[1] // step, step).mean(axis=(1, 3))


def _merge_depth_components(labels: np.ndarray, count: int, cfg: RegionConfig) -> np.ndarray:
    """The largest component plus the components stacked above/below it in the same columns.

    An anechoic band (fluid, a water bath above a phantom) splits one B-mode image into textured
    pieces stacked along depth; they share the image's columns, while UI elements lie beside it.
    """
    index = np.arange(1, count + 1)
    sizes = ndi.sum_labels(np.ones_like(labels), labels, index=index)
    main = int(np.argmax(sizes))
    objects = ndi.find_objects(labels)
    c0, c1 = objects[main][1].start, objects[main][1].stop
    keep = [main + 1]
    min_size = cfg.min_piece_fraction * labels.size
    for i, obj in enumerate(objects):
        if i == main or obj is None or sizes[i] < min_size:
            continue
        a, b = obj[1].start, obj[1].stop
        overlap = max(0, min(b, c1) - max(a, c0))
        if overlap >= 0.8 * (b - a):
            keep.append(i + 1)
    return np.isin(labels, keep)


def _refine_box(
    bright: np.ndarray, box: tuple[int, int, int, int], reach: int
) -> tuple[int, int, int, int]:
    """Move each side of a rectangle ``(y0, y1, x0, x1)`` (inclusive) to the image edge.

    Detection windows erode the region by a few pixels; each side is pushed outwards while the
    next row/column outside is mostly (>= 50 %) non-black along the box, and pulled inwards
    while its own row/column is almost (< 10 %) black, by at most ``reach`` pixels either way.
    """
    h, w = bright.shape
    y0, y1, x0, x1 = box

    def frac_row(r: int) -> float:
        return float(bright[r, x0 : x1 + 1].mean()) if 0 <= r < h else 0.0

    def frac_col(c: int) -> float:
        return float(bright[y0 : y1 + 1, c].mean()) if 0 <= c < w else 0.0

    for _ in range(reach):
        if y0 > 0 and frac_row(y0 - 1) >= 0.5:
            y0 -= 1
        if y1 < h - 1 and frac_row(y1 + 1) >= 0.5:
            y1 += 1
        if x0 > 0 and frac_col(x0 - 1) >= 0.5:
            x0 -= 1
        if x1 < w - 1 and frac_col(x1 + 1) >= 0.5:
            x1 += 1
    for _ in range(reach):
        if y1 - y0 > 2 and frac_row(y0) < 0.1:
            y0 += 1
        if y1 - y0 > 2 and frac_row(y1) < 0.1:
            y1 -= 1
        if x1 - x0 > 2 and frac_col(x0) < 0.1:
            x0 += 1
        if x1 - x0 > 2 and frac_col(x1) < 0.1:
            x1 -= 1
    return y0, y1, x0, x1


def find_imaging_region(frame: np.ndarray, config: RegionConfig | None = None) -> ImagingRegion:
    """Find the ultrasound imaging area of a frame or screen capture.

    Args:
        frame: (H, W) or (H, W, 3|4) image, uint8/uint16 (or float); RGB(A) screen captures allowed.
        config: thresholds; defaults to :class:`RegionConfig`.

    Returns:
        :class:`ImagingRegion` with the bounding box (pixels), a bool (H, W) mask and the kind.

    Raises:
        RegionNotFoundError: the frame is blank, or no grey, speckle-textured area of at least
            ``config.min_area_fraction`` of the frame exists; the message says which.
        ValueError / TypeError: ``frame`` is not a 2-D/3-channel numeric array.
    """
    cfg = config or RegionConfig()
    grey_full, sat_full = _to_grey(frame)
    h, w = grey_full.shape
    # detection runs on a block-averaged copy of large frames (speed); edges stay within `step` px
    step = max(1, int(round(max(h, w) / cfg.work_size_px)))
    grey, sat = _block_mean(grey_full, step), _block_mean(sat_full, step)
    cand = _candidate_pixels(grey, sat, cfg, step)
    if not cand.any():
        raise RegionNotFoundError(
            f"imaging region not found in frame of shape {frame.shape}: no grey, filled, "
            "speckle-textured pixels (is it blank, flat or all UI?)"
        )
    gh, gw = grey.shape
    radius = max(2, int(round(0.01 * max(gh, gw))))
    closed = ndi.binary_closing(cand, structure=np.ones((2 * radius + 1,) * 2, bool))
    closed = ndi.binary_opening(closed, structure=np.ones((3, 3), bool))
    labels, count = ndi.label(closed)
    if count == 0:
        raise RegionNotFoundError(
            f"imaging region not found in frame of shape {frame.shape}: textured pixels are "
            "only isolated specks"
        )
    region = _merge_depth_components(labels, count, cfg)
    hull_small = convex_hull_image(region)
    if step > 1:
        hull = np.zeros((h, w), dtype=bool)
        up = np.repeat(np.repeat(hull_small, step, axis=0), step, axis=1)[:h, :w]
        hull[: up.shape[0], : up.shape[1]] = up
    else:
        hull = hull_small
    area = int(hull.sum())
    if area < cfg.min_area_fraction * h * w:
        raise RegionNotFoundError(
            f"imaging region not found in frame of shape {frame.shape}: largest textured area "
            f"covers {area / (h * w):.1%} of the frame (< {cfg.min_area_fraction:.0%})"
        )
    box = _box_mask(hull)
    fill = area / max(int(box.sum()), 1)
    kind: Literal["linear", "sector"] = "linear"
    apex = None
    mask = box
    reach = cfg.density_window_px // 2 + (radius + 2) * step
    bright = (grey_full > cfg.black_level) & (sat_full <= cfg.max_saturation)
    if fill < cfg.linear_fill:
        fitted = _fit_sector(hull, bright, reach)
        if fitted is not None:
            mask, apex = fitted
            kind = "sector"
        else:
            mask = hull
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        raise RegionNotFoundError(
            f"imaging region not found in frame of shape {frame.shape}: sector fit left no area"
        )
    y0, y1, x0, x1 = int(rows[0]), int(rows[-1]), int(cols[0]), int(cols[-1])
    if kind == "linear":
        y0, y1, x0, x1 = _refine_box(bright, (y0, y1, x0, x1), reach)
        mask = np.zeros((h, w), dtype=bool)
        mask[y0 : y1 + 1, x0 : x1 + 1] = True
    return ImagingRegion(
        x=x0, y=y0, w=x1 - x0 + 1, h=y1 - y0 + 1, mask=mask, kind=kind, apex=apex
    )
