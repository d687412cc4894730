"""Find phantom targets in a B-mode image with no reference: point targets (wires) and blobs (cysts).

Works on the displayed (log-compressed) greyscale image, e.g. a screenshot's imaging region, in
the image's own grey levels. Every scale is relative to the image's **speckle size**, measured by
:func:`speckle_size` (full width at half maximum of the image's autocorrelation, axially and
laterally, in pixels), so the same thresholds hold for a 0.05 mm/pixel screenshot and a
0.2 mm/pixel simulated frame.

- :func:`find_point_targets` — small bright peaks far above their local background (wires, point
  scatterers): sub-pixel ``(row, col)`` centre (least-squares quadratic fit to the logarithm of the
  peak over its background, exact for a Gaussian spot), peak, background and contrast.
- :func:`find_blobs` — regions clearly darker (anechoic/hypoechoic cysts) or brighter
  (hyperechoic grey-scale targets) than their surroundings, at least a few speckle cells across:
  centre, equivalent radius, area and a boolean mask.

How the thresholds were chosen (measured on the real handheld phantom frames in
``shared/data/real/pocus/`` — Clarius resolution phantom, Interson phantom and six Butterfly iQ
frames of a CIRS phantom, imaging region only, UI buttons masked — and on synthetic speckle; the
targets written down by looking at the frames are in ``tests/metrics/test_targets.py``):

- Point targets: background and spread are local (median and 1.4826 x MAD over 8 x 8 speckle
  cells). Away from the image edge, the brightest speckle grain of any frame stands at most
  ~5 local spreads over its background; every wire stands >= 6.8 (the Butterfly near-field wires
  7-9, deep wires 11-14, Clarius 14-24): ``min_peak_spread = 6``. Two grains deep in the dark
  far field reached 6.2-7.3 local spreads but only 2.7-2.9 spreads of the whole image, while
  wires stand >= 8 such spreads: ``min_contrast_global = 5``. The part of a spot above half its
  contrast must fit within 6 speckle cells per axis (wires: 1-3; the Interson membrane and lens
  lines run across the image).
- Blobs: smoothed over half a speckle size, minus a median background over 12 speckle sizes,
  in robust spreads (z); candidates from a hysteresis threshold (|z| 2.5 seeds, 1.5 extent), the
  mask then cut where the smoothed image crosses halfway between the blob's core (10th/90th
  percentile) and its background (a planted 12 px anechoic spot: radius 13.3 px uncut, 11.5 cut). A
  candidate is kept if its gCNR against a surrounding ring is >= 0.8: the real cysts and grey
  targets found score 0.83-0.99, speckle patches and the darker near-field band mostly 0.4-0.75.
  Blobs under 8 speckle cells need |z| >= 4.5 (the 2 mm Butterfly cyst: ~4 cells, |z| 5.0; a
  small speckle patch of synthetic speckle: 4 cells, |z| 4.3, gCNR 0.83). Blobs cut by the image
  edge need half their ring inside the image. Faint hypoechoic targets (gCNR < 0.8) are not found.
- Speckle size: the autocorrelation of the image minus its trend, clipped to +-2.5 robust
  spreads (without clipping, bright lines and wires made the Clarius lateral size 37 px; 8-14 px
  with it). Raw log-compressed speckle with pixel-size nulls (no display smoothing) still gives
  a few false blobs per 256 x 256 image; displayed frames (real, or synthetic smoothed over 1 px)
  gave none.

Written here because no library has an ultrasound phantom-target detector; the building blocks are
SciPy ``ndimage`` (filters, labels) and scikit-image (hysteresis threshold, region properties).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.filters import apply_hysteresis_threshold
from skimage.measure import regionprops

from pocusiq.metrics.validation import as_float_image, as_image_array

__all__ = [
    "PointTarget",
    "Blob",
    "speckle_size",
    "valid_pixels",
    "local_background",
    "find_point_targets",
    "find_blobs",
    "DEFAULT_POINT_Z",
    "DEFAULT_POINT_PEAK",
    "DEFAULT_POINT_GLOBAL",
    "DEFAULT_BLOB_GCNR",
]

DEFAULT_POINT_PEAK = 6.0
"""Smallest (peak - local background) / local spread of a point target's brightest pixel."""
DEFAULT_POINT_GLOBAL = 5.0
"""Smallest (peak - local background) / the whole image's robust spread of a point target."""
DEFAULT_POINT_Z = 2.5
"""Smallest (speckle-smoothed spot - local background) / local spread of a point target."""
DEFAULT_BLOB_GCNR = 0.8
"""Smallest gCNR between a blob and the ring around it."""
_MAD_TO_STD = 1.4826


@dataclass(frozen=True)
class PointTarget:
    """A point target (wire) found in an image.

    Attributes:
        row, col: sub-pixel centre, pixels (row 0 = top of the image given).
        peak: the image value at the peak (largest pixel in the spot), image units (grey levels).
        background: local background (median around the spot), image units.
        contrast: ``peak - background``, image units (for a log-compressed image: proportional to dB).
        z: the spot's robust z-score (see the module docstring), unitless.
    """

    row: float
    col: float
    peak: float
    background: float
    contrast: float
    z: float

    @property
    def rc(self) -> tuple[float, float]:
        """``(row, col)`` in pixels."""
        return (self.row, self.col)


@dataclass(frozen=True)
class Blob:
    """A cyst-like (``"dark"``) or hyperechoic (``"bright"``) region found in an image.

    Attributes:
        row, col: centroid, pixels.
        radius: equivalent radius ``sqrt(area / pi)``, pixels.
        area: pixels.
        polarity: ``"dark"`` or ``"bright"``.
        contrast: mean inside minus local background (negative for dark blobs), image units.
        z: the strongest robust z-score inside (signed), unitless.
        gcnr: gCNR of the blob against the ring around it (0-1).
        mask: bool array of the image's shape, True inside the blob.
    """

    row: float
    col: float
    radius: float
    area: int
    polarity: str
    contrast: float
    z: float
    gcnr: float
    mask: np.ndarray = field(repr=False, compare=False)


def _valid_mask(valid: np.ndarray | None, shape: tuple[int, int]) -> np.ndarray:
    if valid is None:
        return np.ones(shape, dtype=bool)
    if not isinstance(valid, np.ndarray) or valid.dtype != bool or valid.shape != shape:
        raise ValueError(f"valid: expected a bool mask of shape {shape}, got {getattr(valid, 'shape', type(valid))}")
    if not valid.any():
        raise ValueError("valid: mask selects no pixels")
    return valid


def valid_pixels(grey: np.ndarray, *, saturation: np.ndarray | None = None, black_level: float = 2.0) -> np.ndarray:
    """Pixels of an imaging-region crop where targets may lie: not black margin, not coloured UI.

    Args:
        grey: ``(H, W)`` greyscale crop of the imaging region (grey levels).
        saturation: optional ``(H, W)`` ``max(R, G, B) - min(R, G, B)`` of the same crop; pixels
            above 20 (8-bit), grown by 8 px, are UI (e.g. the Butterfly app's "B" button) and
            excluded.
        black_level: grey level at or below which a pixel is margin, unless enclosed by image
            (anechoic cysts are black too: holes are filled).

    Returns:
        bool ``(H, W)``, opened by 3 px so that single stray pixels do not count.
    """
    grey = as_image_array(grey, "grey")
    valid = ndimage.binary_fill_holes(grey > black_level)
    if saturation is not None:
        if np.shape(saturation) != grey.shape:
            raise ValueError(f"saturation: shape {np.shape(saturation)} does not match grey {grey.shape}")
        valid &= ~ndimage.binary_dilation(np.asarray(saturation) > 20, iterations=8)
    return ndimage.binary_opening(valid, iterations=3)


def speckle_size(image: np.ndarray, valid: np.ndarray | None = None) -> tuple[float, float]:
    """Speckle size: FWHM of the image's autocorrelation along rows (axial) and columns (lateral), pixels.

    The image minus a smooth trend (Gaussian, sigma 16 px) is autocorrelated by FFT inside ``valid``;
    the half-maximum width of the central lobe along each axis is interpolated linearly.

    Args:
        image: ``(H, W)`` greyscale image (>= 16 x 16).
        valid: optional bool ``(H, W)`` mask of the pixels to use (e.g. the imaging region).

    Returns:
        ``(axial_px, lateral_px)``, each clipped to [1, 64]. (Measured: Butterfly iQ screenshots
        ~(7, 20) px, Clarius (4.8, 13.8) px, Interson (7.7, 36) px.)
    """
    image = as_image_array(image, "image")
    if min(image.shape) < 16:
        raise ValueError(f"image: speckle size needs at least 16 x 16 pixels, got {image.shape}")
    valid = _valid_mask(valid, image.shape)
    img = as_float_image(image)
    weight = valid.astype(np.float64)
    trend = ndimage.gaussian_filter(img * weight, 16.0) / np.maximum(ndimage.gaussian_filter(weight, 16.0), 1e-6)
    resid = img - trend
    # clip to +-2.5 robust spreads: bright lines and wires would otherwise dominate the
    # autocorrelation (measured: the Clarius frame's lateral size 37 px unclipped, 8 px clipped)
    spread = _robust_std(resid[valid])
    resid = np.where(valid, np.clip(resid, -2.5 * spread, 2.5 * spread), 0.0)
    h, w = img.shape
    fh, fw = 2 * h, 2 * w
    spec = np.fft.rfft2(resid, s=(fh, fw))
    acf = np.fft.irfft2(np.abs(spec) ** 2, s=(fh, fw))
    count = np.fft.irfft2(np.abs(np.fft.rfft2(weight, s=(fh, fw))) ** 2, s=(fh, fw))
    acf = acf / np.maximum(count, 1.0)
    if acf[0, 0] <= 0:
        return (1.0, 1.0)
    acf /= acf[0, 0]
    widths = []
    for profile in (acf[:64, 0], acf[0, :64]):
        below = np.nonzero(profile < 0.5)[0]
        if below.size == 0:
            widths.append(64.0)
            continue
        i = int(below[0])
        half = (i - 1) + (profile[i - 1] - 0.5) / (profile[i - 1] - profile[i])
        widths.append(float(np.clip(2.0 * half, 1.0, 64.0)))
    return (widths[0], widths[1])


def local_background(image: np.ndarray, window: tuple[int, int], valid: np.ndarray | None = None) -> np.ndarray:
    """Median of ``image`` over a ``window`` (rows, cols) around each pixel, valid pixels only.

    Computed on a block-reduced copy (block = window / 8, at least 1) for speed and interpolated
    back, so it is a smooth background trend, not an exact running median. Pixels outside
    ``valid`` do not count (blocks without valid pixels take the nearest valid block's value), so
    black margins do not drag the background down at the region's edge.

    Returns:
        float64 ``(H, W)`` array.
    """
    img = as_float_image(as_image_array(image, "image"))
    valid = _valid_mask(valid, img.shape)
    h, w = img.shape
    br = max(1, int(window[0]) // 8)
    bc = max(1, int(window[1]) // 8)
    hp, wp = -(-h // br) * br, -(-w // bc) * bc
    fill = float(np.median(img[valid]))
    padded = np.full((hp, wp), np.nan)
    padded[:h, :w] = np.where(valid, img, np.nan)
    blocks = padded.reshape(hp // br, br, wp // bc, bc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN blocks (outside `valid`) are filled below
        small = np.nanmedian(blocks, axis=(1, 3))
    missing = np.isnan(small)
    if missing.any():
        # fill invalid blocks with the nearest valid block's value (keeps edges unbiased)
        idx = ndimage.distance_transform_edt(missing, return_distances=False, return_indices=True)
        small = small[tuple(idx)] if (~missing).any() else np.full_like(small, fill)
    size = (max(1, int(round(window[0] / br)) | 1), max(1, int(round(window[1] / bc)) | 1))
    small = ndimage.median_filter(small, size=size, mode="nearest")
    zoom = (hp / small.shape[0], wp / small.shape[1])
    big = ndimage.zoom(small, zoom, order=1, mode="nearest", grid_mode=True)
    return big[:h, :w]


def _robust_std(values: np.ndarray) -> float:
    med = float(np.median(values))
    s = _MAD_TO_STD * float(np.median(np.abs(values - med)))
    return s if s > 0 else float(np.std(values)) or 1.0


def _subpixel_peak(resid: np.ndarray, r: int, c: int, half: tuple[int, int]) -> tuple[float, float]:
    """Sub-pixel peak by least squares of a 2-D quadratic to ``log(resid)`` over a window.

    ``resid`` is the image minus its background (> 0 near the peak). A Gaussian spot has an exactly
    quadratic logarithm, so its centre is recovered exactly; other spot shapes are approximated.
    Falls back to the intensity-weighted centroid when the fit is not a maximum inside the window.
    """
    h, w = resid.shape
    hr, hc = half
    r0, r1 = max(r - hr, 0), min(r + hr + 1, h)
    c0, c1 = max(c - hc, 0), min(c + hc + 1, w)
    win = resid[r0:r1, c0:c1]
    peak = resid[r, c]
    yy, xx = np.mgrid[r0:r1, c0:c1]
    use = win > 0.1 * peak
    centroid_w = np.clip(win, 0.0, None)
    total = centroid_w.sum()
    if total > 0:
        centroid = (float((yy * centroid_w).sum() / total), float((xx * centroid_w).sum() / total))
    else:
        centroid = (float(r), float(c))
    if use.sum() >= 6:
        dy = (yy[use] - r).astype(np.float64)
        dx = (xx[use] - c).astype(np.float64)
        z = np.log(win[use])
        a = np.stack([np.ones_like(dy), dy, dx, dy * dy, dx * dx, dy * dx], axis=1)
        wts = win[use] / peak  # weight the samples near the peak (the log of small values is noisy)
        coef, *_ = np.linalg.lstsq(a * wts[:, None], z * wts, rcond=None)
        _, by, bx, ayy, axx, axy = coef
        hess = np.array([[2 * ayy, axy], [axy, 2 * axx]])
        if np.all(np.linalg.eigvalsh(hess) < 0):
            off = np.linalg.solve(hess, -np.array([by, bx]))
            if abs(off[0]) <= hr and abs(off[1]) <= hc:
                return (float(r + off[0]), float(c + off[1]))
    return centroid


def find_point_targets(
    image: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    speckle: tuple[float, float] | None = None,
    min_peak_spread: float = DEFAULT_POINT_PEAK,
    min_z: float = DEFAULT_POINT_Z,
    min_contrast_global: float = DEFAULT_POINT_GLOBAL,
    max_point_extent: float = 6.0,
    edge_cells: float = 1.0,
) -> list[PointTarget]:
    """Point targets: compact bright peaks far above their local background.

    Background and spread are local: the median of the image and 1.4826 x the median absolute
    deviation from it over a window of 8 x 8 speckle cells (:func:`local_background`).

    Args:
        image: ``(H, W)`` greyscale B-mode image (displayed, log-compressed; any dtype).
        valid: bool ``(H, W)``: where targets may lie (e.g. the imaging region, UI buttons excluded).
        speckle: ``(axial_px, lateral_px)`` speckle size; ``None`` = :func:`speckle_size` of the image.
        min_peak_spread: the spot's brightest pixel must exceed the local background by this many
            local spreads (default 6, see the module docstring).
        min_z: the speckle-smoothed spot must exceed the background by this many local spreads
            (default 2.5; rejects single hot pixels).
        min_contrast_global: the peak must also exceed the local background by this many robust
            spreads of the whole image (default 5; rejects grains in dark, low-spread depths).
        max_point_extent: largest extent, in speckle cells per axis, of the part of a spot above
            half its contrast (rejects lines, membranes and large bright regions).
        edge_cells: ignore peaks closer than this many speckle cells to the edge of ``valid``.

    Returns:
        Point targets sorted by row then column.
    """
    image = as_image_array(image, "image")
    valid = _valid_mask(valid, image.shape)
    img = as_float_image(image)
    ax, lat = speckle if speckle is not None else speckle_size(image, valid)
    sig = (max(ax / 2.355, 0.5), max(lat / 2.355, 0.5))
    smooth = ndimage.gaussian_filter(img, sig)
    window = (int(round(8 * ax)) | 1, int(round(8 * lat)) | 1)
    bg = local_background(img, window, valid)
    resid_raw = img - bg
    spread = np.maximum(_MAD_TO_STD * local_background(np.abs(resid_raw), window, valid), 1e-6 + 1e-3 * float(np.ptp(img)))
    resid_s = smooth - bg
    z = resid_s / spread
    global_spread = _robust_std(resid_raw[valid])
    if edge_cells > 0:
        er = 2 * int(math.ceil(edge_cells * ax)) + 1
        ec = 2 * int(math.ceil(edge_cells * lat)) + 1
        inner = ndimage.binary_erosion(valid, structure=np.ones((er, ec), bool))
    else:
        inner = valid
    foot = (max(3, int(round(2 * ax)) | 1), max(3, int(round(2 * lat)) | 1))
    peaks = (z >= min_z) & inner & (smooth == ndimage.maximum_filter(smooth, size=foot))
    out: list[PointTarget] = []
    h, w = img.shape
    for r, c in zip(*np.nonzero(peaks)):
        # the raw image's brightest pixel in the footprint is the spot's peak
        r0, r1 = max(r - foot[0] // 2, 0), r + foot[0] // 2 + 1
        c0, c1 = max(c - foot[1] // 2, 0), c + foot[1] // 2 + 1
        win = resid_raw[r0:r1, c0:c1]
        pr, pc = np.unravel_index(int(np.argmax(win)), win.shape)
        pr, pc = int(pr) + r0, int(pc) + c0
        contrast = float(resid_raw[pr, pc])
        if contrast < min_peak_spread * spread[pr, pc] or contrast < min_contrast_global * global_spread:
            continue
        # compactness: the connected part of the smoothed spot above half its contrast
        rh, ch = int(math.ceil(max_point_extent * ax)), int(math.ceil(max_point_extent * lat))
        b0, b1 = max(r - rh, 0), min(r + rh + 1, h)
        d0, d1 = max(c - ch, 0), min(c + ch + 1, w)
        sub = resid_s[b0:b1, d0:d1] >= 0.5 * resid_s[r, c]
        lab, _ = ndimage.label(sub)
        piece = lab == lab[r - b0, c - d0]
        rows = np.nonzero(piece.any(axis=1))[0]
        cols = np.nonzero(piece.any(axis=0))[0]
        if (rows[-1] - rows[0] + 1) > max_point_extent * ax or (cols[-1] - cols[0] + 1) > max_point_extent * lat:
            continue
        clipped = (rows[0] == 0 and b0 > 0) or (rows[-1] == sub.shape[0] - 1 and b1 < h)
        clipped |= (cols[0] == 0 and d0 > 0) or (cols[-1] == sub.shape[1] - 1 and d1 < w)
        if clipped:
            continue
        half = (max(1, int(round(sig[0]))), max(1, int(round(sig[1]))))
        rr, cc = _subpixel_peak(resid_raw, pr, pc, half)
        out.append(
            PointTarget(
                row=rr,
                col=cc,
                peak=float(img[pr, pc]),
                background=float(bg[pr, pc]),
                contrast=contrast,
                z=contrast / float(spread[pr, pc]),
            )
        )
    # one target per spot: keep the strongest of maxima closer than one speckle cell
    merged: list[PointTarget] = []
    for t in sorted(out, key=lambda t: -t.contrast):
        if all(abs(t.row - m.row) > ax or abs(t.col - m.col) > lat for m in merged):
            merged.append(t)
    return sorted(merged, key=lambda t: (t.row, t.col))


def find_blobs(
    image: np.ndarray,
    *,
    valid: np.ndarray | None = None,
    speckle: tuple[float, float] | None = None,
    polarity: str = "both",
    min_gcnr: float = DEFAULT_BLOB_GCNR,
    min_blob_cells: float = 2.0,
    small_blob_cells: float = 8.0,
    small_blob_z: float = 4.5,
    seed_z: float = 2.5,
    max_aspect: float = 3.0,
    min_ring_inside: float = 0.5,
) -> list[Blob]:
    """Cysts (dark) and grey-scale targets (dark or bright): regions clearly off their surroundings.

    Candidates: the image smoothed with a Gaussian of sigma = half a speckle size per axis, minus
    a median background over a square window of 12 speckle sizes, in robust standard deviations
    (z); connected regions of ``|z| >= 1.5`` that hold a pixel of ``|z| >= seed_z`` (hysteresis),
    each then cut where the smoothed image crosses halfway between its core (10th/90th
    percentile) and its background. A blob cut by the edge of ``valid`` must be at least
    ``small_blob_cells`` large with ``min_ring_inside`` of its ring inside ``valid``.
    A candidate is kept when it is at least ``min_blob_cells`` speckle cells large, no more
    elongated than ``max_aspect``, separable from a ring around it (gCNR region vs ring >=
    ``min_gcnr``, ring as wide as the blob's radius, at least 2 speckle sizes, a half-speckle gap)
    and either ``small_blob_cells`` cells large or as strong as ``|z| >= small_blob_z``.

    Args:
        image: ``(H, W)`` greyscale B-mode image.
        valid: bool ``(H, W)`` where blobs may lie (pixels outside are never part of a blob or ring).
        speckle: ``(axial_px, lateral_px)``; ``None`` = measured with :func:`speckle_size`.
        polarity: ``"dark"``, ``"bright"`` or ``"both"``.
        min_gcnr: smallest gCNR against the surrounding ring (default 0.8, module docstring).
        min_blob_cells: smallest area, in speckle cells (``pi/4 * axial * lateral`` pixels each).
        small_blob_cells, small_blob_z: blobs under ``small_blob_cells`` cells need a peak |z| of
            at least ``small_blob_z`` (a selected small dark patch of speckle reaches gCNR 0.8 by
            chance; a 2 mm anechoic cyst scores |z| ~ 5).
        seed_z: |z| of the hysteresis seed.
        max_aspect: largest major/minor axis ratio (rejects layers and bands).
        min_ring_inside: a blob touching the edge of ``valid`` is kept only if at least this
            fraction of its background ring lies inside ``valid``.

    Returns:
        Blobs sorted by row then column.
    """
    from pocusiq.metrics.contrast import background_ring, gcnr

    if polarity not in ("dark", "bright", "both"):
        raise ValueError(f"polarity must be 'dark', 'bright' or 'both', got {polarity!r}")
    image = as_image_array(image, "image")
    valid = _valid_mask(valid, image.shape)
    img = as_float_image(image)
    ax, lat = speckle if speckle is not None else speckle_size(image, valid)
    smooth = ndimage.gaussian_filter(img, (max(ax / 2.0, 0.5), max(lat / 2.0, 0.5)))
    h, w = img.shape
    side = int(round(12 * max(ax, lat))) | 1
    bg = local_background(img, (min(side, 2 * h + 1), min(side, 2 * w + 1)), valid)
    resid = smooth - bg
    z = resid / _robust_std(resid[valid])
    cell = math.pi / 4.0 * ax * lat
    big = max(ax, lat)
    inner = ndimage.binary_erosion(valid, border_value=0)
    blobs: list[Blob] = []
    for pol, sign in (("dark", -1.0), ("bright", 1.0)):
        if polarity not in (pol, "both"):
            continue
        zs = np.where(valid, sign * z, 0.0)
        mask = apply_hysteresis_threshold(zs, 0.6 * seed_z, seed_z)
        labels, _ = ndimage.label(mask)
        for prop in regionprops(labels):
            if prop.area < min_blob_cells * cell:
                continue
            if prop.axis_minor_length <= 0 or prop.axis_major_length / prop.axis_minor_length > max_aspect:
                continue
            # every step below works on a window around the candidate (the ring included)
            r0, c0, r1, c1 = prop.bbox
            margin = int(math.ceil(max(r1 - r0, c1 - c0) + 3.0 * big)) + 4
            win = (slice(max(r0 - margin, 0), min(r1 + margin, h)), slice(max(c0 - margin, 0), min(c1 + margin, w)))
            valid_w, smooth_w = valid[win], smooth[win]
            region = labels[win] == prop.label
            peak_z = float(zs[win][region].max())
            # the hysteresis mask runs past the edge by about the smoothing width; cut it where the
            # smoothed image crosses halfway between the blob's inside and its background
            # (measured: radius 22.5 -> 20.3 px for a planted 20 px cyst, gCNR 0.75 -> 0.9)
            near = ndimage.binary_dilation(region, iterations=max(1, int(round(big)))) & valid_w
            # the core's level: the 10th percentile (dark) / 90th (bright) of the smoothed blob
            # (its median is pulled towards the background by the blurred rim)
            inside = float(np.percentile(smooth_w[region], 10 if sign < 0 else 90))
            outside = float(np.median(bg[win][region]))
            refined = near & (sign * (smooth_w - 0.5 * (inside + outside)) > 0)
            lab_ref, _ = ndimage.label(refined)
            keep = np.unique(lab_ref[region & refined])
            keep = keep[keep > 0]
            if keep.size:
                region = np.isin(lab_ref, keep)
            area = int(region.sum())
            if area < min_blob_cells * cell or (area < small_blob_cells * cell and peak_z < small_blob_z):
                continue
            radius = math.sqrt(area / math.pi)
            if (region & ~inner[win]).any():
                if area < small_blob_cells * cell:
                    continue  # a small blob cut by the edge: a grain, not a target
                # cut by the edge of the image: judged only if most of its ring is image
                # (real cysts at the Butterfly frames' left edge: >= 0.56; dark corners of the
                # Clarius frame's far field: 0.37)
                pad = int(math.ceil(max(radius, 2.0 * big) + big / 2.0)) + 1
                whole = background_ring(np.pad(region, pad), width=max(radius, 2.0 * big), gap=big / 2.0)
                if (whole & np.pad(valid_w, pad)).sum() < min_ring_inside * whole.sum():
                    continue
            try:
                ring = background_ring(region, width=max(radius, 2.0 * big), gap=big / 2.0, within=valid_w)
                separation = gcnr(image[win], region, ring)
            except ValueError:
                continue
            if separation < min_gcnr:
                continue
            full = np.zeros((h, w), dtype=bool)
            full[win] = region
            r, c = ndimage.center_of_mass(full)
            blobs.append(
                Blob(
                    row=float(r),
                    col=float(c),
                    radius=float(radius),
                    area=area,
                    polarity=pol,
                    contrast=float(np.mean(img[win][region]) - np.mean(img[win][ring])),
                    z=sign * peak_z,
                    gcnr=float(separation),
                    mask=full,
                )
            )
    return sorted(blobs, key=lambda b: (b.row, b.col))
