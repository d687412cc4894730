"""Fidelity of an enhanced image to its input: kept targets, invented structure, artefacts.

An enhancement must make an image better *without inventing anything*. These metrics compare an
output ``after`` with the image it was made from, ``before`` (same shape, same grey scale), on
targets from simulation ground truth where given (:class:`Targets`) and otherwise found in
``before`` by :mod:`pocusiq.metrics.targets` (so they work on real frames with no reference):

- point targets (wires): contrast kept (peak over local background, after / before) and width at
  half contrast, axial and lateral (after / before; the lobe above ``background + contrast / 2``,
  which for a log-compressed display of known dynamic range is a fixed dB drop — use
  :func:`pocusiq.metrics.fwhm` for -6 dB in mm where the dynamic range is known);
- cysts and grey-scale targets: gCNR after minus before (target mask vs a ring around it);
- invented structure: cyst-like dark or bright blobs found in ``after`` (at the input's speckle
  scale) where ``before`` shows nothing (gCNR of that region against its ring in ``before`` < 0.5),
  count and area; and blobs of ``before`` no longer separable in ``after`` (missing);
- artefacts (each a fraction of the image's high-pass energy, compared after / before):
  :func:`streak_energy` (row/column streaks), :func:`checkerboard_energy` (period-2 patterns:
  spectral energy at Nyquist), :func:`seam_energy` (periodic tile seams).

:func:`fidelity_report` computes everything once and gives the ``keeps_every_target`` verdict of
issue 10: every point target keeps >= 80 % of its contrast and widens <= 20 %, no cyst/grey target
loses gCNR (tolerance :data:`GCNR_TOLERANCE`), no new cyst-like spot, streak energy <= 1.5x the
input's, checkerboard energy <= 1.5x the input's (:data:`MAX_CHECKERBOARD_RATIO`). The per-metric functions (``point_contrast_kept(after, before)``, ...) read one cached
report, so a benchmark that asks for all of them detects targets once per image pair.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from pocusiq.metrics.contrast import background_ring, gcnr
from pocusiq.metrics.resolution import profile_width
from pocusiq.metrics.targets import find_blobs, find_point_targets, local_background, speckle_size
from pocusiq.metrics.validation import as_float_image, as_image_array, check_same_shape

__all__ = [
    "Targets",
    "FidelityReport",
    "find_targets",
    "point_target_scores",
    "streak_energy",
    "checkerboard_energy",
    "seam_energy",
    "fidelity_report",
    "targets_from_masks",
    "cached_report",
    "MIN_CONTRAST_KEPT",
    "MAX_WIDENING",
    "GCNR_TOLERANCE",
    "MAX_STREAK_RATIO",
    "MAX_CHECKERBOARD_RATIO",
    "NYQUIST_CYCLES",
    "BAND_CYCLES",
    "ZERO_CYCLES",
]

MIN_CONTRAST_KEPT = 0.8
"""Point targets must keep at least this fraction of their contrast (issue 10)."""
MAX_WIDENING = 1.2
"""Point targets may widen at most this factor, axially and laterally (issue 10)."""
GCNR_TOLERANCE = 0.02
"""gCNR "does not drop": after >= before - this, with gCNR measured at the speckle scale (both
images smoothed with a Gaussian of one speckle size FWHM, per axis). Pixel gCNR measures speckle
contrast as much as target contrast: the unsharp mask (amount 1, sigma 1 px), which keeps every
wire and cyst visibly, lowered the real cysts' pixel gCNR by 0.02-0.07 (Clarius: 0.072), CLAHE by
up to 0.24. ``pixel_gcnr_change`` still reports it."""
MAX_STREAK_RATIO = 1.5
"""Streak energy of the output may be at most this multiple of the input's (issue 10)."""
MAX_CHECKERBOARD_RATIO = 1.5
"""Checkerboard (period-2) energy of the output may be at most this multiple of the input's: the
streak bound applied to the pixel grid of transposed-convolution upsampling, which made the first
shipped models fail nothing else (126x and 601x the input's on the real frames, a faint grid in
bright regions). Measured on the 8 real handheld frames (the largest over frames): unsharp mask
1.15x, NLM 1.21x, bilateral 1.49x, median (5 px) 1.65x -- the median filter fails it: it removes
more of the band below Nyquist than of Nyquist itself."""
NYQUIST_CYCLES = 0.49
"""Frequencies from this many cycles/pixel up count as Nyquist in :func:`checkerboard_energy`."""
BAND_CYCLES = (0.40, 0.48)
"""The reference band of :func:`checkerboard_energy`, cycles/pixel: the spectrum just below Nyquist."""
ZERO_CYCLES = 0.01
"""Frequencies up to this many cycles/pixel count as zero along the other axis (the ``(pi, 0)`` and
``(0, pi)`` windows of :func:`checkerboard_energy`)."""
NEW_BLOB_MAX_INPUT_GCNR = 0.5
"""An output blob is invented when the input's gCNR over the same region is below this (speckle
patches score 0.2-0.5 there, the input's real targets >= 0.8)."""


@dataclass(frozen=True)
class Targets:
    """Targets to check: ground truth (simulation) or found in the input.

    Attributes:
        points: ``(row, col)`` pixel positions of point targets (wires).
        masks: bool ``(H, W)`` masks of cysts / grey-scale targets.
        valid: bool ``(H, W)`` pixels that belong to the image (imaging region), or None = all.
        speckle: ``(axial_px, lateral_px)`` speckle size of the input (the scale of every check).
    """

    points: tuple[tuple[float, float], ...] = ()
    masks: tuple[np.ndarray, ...] = field(default=(), repr=False)
    valid: np.ndarray | None = field(default=None, repr=False)
    speckle: tuple[float, float] | None = None


@dataclass(frozen=True)
class FidelityReport:
    """Fidelity of ``after`` to ``before``. Ratios are after / before; NaN where there is no target.

    Attributes:
        point_targets: number of point targets checked.
        point_contrast_kept: worst (smallest) contrast ratio over point targets (1 = kept).
        point_width_ratio: worst (largest) half-contrast width ratio over targets and both axes.
        blob_targets: number of cysts / grey targets checked.
        gcnr_change: worst (smallest) gCNR after minus before over those targets, at the speckle
            scale (both images smoothed over one speckle cell: see :data:`GCNR_TOLERANCE`).
        pixel_gcnr_change: the same on the pixels as they are (the standard gCNR).
        invented_blobs: number of cyst-like blobs in ``after`` absent from ``before``.
        invented_area_px: their total area, pixels.
        missing_blobs: targets of ``before`` whose gCNR in ``after`` fell below 0.5.
        streak_ratio, checkerboard_ratio, seam_ratio: artefact energies after / before.
        keeps_every_target: the issue-10 verdict (see the module docstring).
        failures: which checks failed, in words (empty when ``keeps_every_target``).
    """

    point_targets: int
    point_contrast_kept: float
    point_width_ratio: float
    blob_targets: int
    gcnr_change: float
    pixel_gcnr_change: float
    invented_blobs: int
    invented_area_px: int
    missing_blobs: int
    streak_ratio: float
    checkerboard_ratio: float
    seam_ratio: float
    keeps_every_target: bool
    failures: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Flat ``{metric: value}`` (the verdict as 1.0/0.0, failures joined by "; ")."""
        d = asdict(self)
        d["keeps_every_target"] = 1.0 if self.keeps_every_target else 0.0
        d["failures"] = "; ".join(self.failures)
        return d


def _pair(before: np.ndarray, after: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    before = as_image_array(before, "before")
    after = as_image_array(after, "after")
    check_same_shape(after, before, ("after", "before"))
    return as_float_image(before), as_float_image(after)


def find_targets(image: np.ndarray, *, valid: np.ndarray | None = None) -> Targets:
    """Targets found in an image with no ground truth (:mod:`pocusiq.metrics.targets` defaults)."""
    image = as_image_array(image, "image")
    spk = speckle_size(image, valid)
    points = tuple((p.row, p.col) for p in find_point_targets(image, valid=valid, speckle=spk))
    # a wire's bright halo is found as a bright blob too: it is checked as a point target
    masks = tuple(
        b.mask
        for b in find_blobs(image, valid=valid, speckle=spk)
        if not any(b.mask[int(round(r)), int(round(c))] for r, c in points)
    )
    return Targets(points=points, masks=masks, valid=valid, speckle=spk)


def _point_measure(img: np.ndarray, bg: np.ndarray, rc: tuple[float, float], reach: tuple[int, int]) -> tuple[float, float, float]:
    """``(contrast, axial width, lateral width)`` of the spot nearest ``rc`` (grey levels, pixels)."""
    h, w = img.shape
    r, c = int(round(rc[0])), int(round(rc[1]))
    r0, r1 = max(r - reach[0], 0), min(r + reach[0] + 1, h)
    c0, c1 = max(c - reach[1], 0), min(c + reach[1] + 1, w)
    win = img[r0:r1, c0:c1] - bg[r0:r1, c0:c1]
    pr, pc = np.unravel_index(int(np.argmax(win)), win.shape)
    pr, pc = int(pr) + r0, int(pc) + c0
    base = float(bg[pr, pc])
    contrast = float(img[pr, pc]) - base
    if contrast <= 0:
        return contrast, math.nan, math.nan
    level = base + 0.5 * contrast
    widths = []
    for profile, index in ((img[:, pc], pr), (img[pr, :], pc)):
        try:
            widths.append(profile_width(profile, index, level))
        except ValueError:
            widths.append(math.nan)
    return contrast, widths[0], widths[1]


def point_target_scores(
    before: np.ndarray, after: np.ndarray, points, speckle: tuple[float, float], valid: np.ndarray | None = None
) -> list[dict[str, float]]:
    """Per point target: contrast and half-contrast widths before and after, and their ratios.

    The peak is searched within one speckle size of the given position in each image; the
    background is each image's local median over 8 x 8 speckle cells (:func:`local_background`).
    """
    b, a = _pair(before, after)
    ax, lat = speckle
    window = (int(round(8 * ax)) | 1, int(round(8 * lat)) | 1)
    reach = (max(1, int(round(ax))), max(1, int(round(lat))))
    bg_b = local_background(b, window, valid)
    bg_a = local_background(a, window, valid)
    out = []
    for rc in points:
        cb, wb_ax, wb_lat = _point_measure(b, bg_b, rc, reach)
        ca, wa_ax, wa_lat = _point_measure(a, bg_a, rc, reach)
        out.append(
            {
                "row": float(rc[0]),
                "col": float(rc[1]),
                "contrast_before": cb,
                "contrast_after": ca,
                "contrast_kept": ca / cb if cb > 0 else math.nan,
                "axial_ratio": wa_ax / wb_ax if wb_ax > 0 else math.nan,
                "lateral_ratio": wa_lat / wb_lat if wb_lat > 0 else math.nan,
            }
        )
    return out


def _highpass(img: np.ndarray, speckle: tuple[float, float]) -> np.ndarray:
    return img - ndimage.gaussian_filter(img, (2.0 * speckle[0], 2.0 * speckle[1]))


def streak_energy(image: np.ndarray, *, speckle: tuple[float, float] | None = None, valid: np.ndarray | None = None) -> float:
    """Row/column streak energy: the strongest line of high-pass energy that runs along a row or column.

    The image minus a Gaussian trend (sigma 2 speckle sizes) is averaged along each row over
    8 lateral speckle sizes (and along each column over 8 axial sizes): speckle averages away
    (about 1/8 of its energy survives), a streak survives whole. The surviving energy is then
    averaged over each row (column) and over one speckle size across rows (columns); the largest
    of these, over the image's whole high-pass energy, is returned — so a single painted streak
    counts (measured on the test phantom: a 2-row, +60 grey-level streak across a 256 x 256 image
    raises it ~20x; averaging over the whole image instead raised it only 1.5x). Unitless, >= 0;
    invariant to a gain on the image.
    """
    image = as_image_array(image, "image")
    img = as_float_image(image)
    spk = speckle if speckle is not None else speckle_size(image, valid)
    valid = np.ones(img.shape, bool) if valid is None else valid
    hp = _highpass(img, spk)
    total = float(np.mean(hp[valid] ** 2))
    if total == 0:
        return 0.0
    best = 0.0
    for axis, along, across in ((1, spk[1], spk[0]), (0, spk[0], spk[1])):
        smoothed = ndimage.uniform_filter1d(hp, size=max(3, int(round(8 * along))), axis=axis)
        count = valid.sum(axis=axis).astype(np.float64)
        energy = np.where(valid, smoothed**2, 0.0).sum(axis=axis) / np.maximum(count, 1.0)
        energy = np.where(count >= 0.25 * valid.shape[axis], energy, 0.0)  # lines mostly outside: skip
        energy = ndimage.uniform_filter1d(energy, size=max(1, int(round(across))))
        best = max(best, float(energy.max()))
    return best / total


def _box(img: np.ndarray, valid: np.ndarray | None) -> np.ndarray:
    if valid is None:
        return img
    rows = np.nonzero(valid.any(axis=1))[0]
    cols = np.nonzero(valid.any(axis=0))[0]
    return img[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def checkerboard_energy(image: np.ndarray, *, valid: np.ndarray | None = None) -> float:
    """Spectral peak at Nyquist: power within 1 % of the Nyquist frequency over the power just below it.

    Period-2 patterns (transposed-convolution checkerboards, alternating rows or columns) put a
    peak at ``(pi, pi)``, ``(pi, 0)`` and ``(0, pi)``; a smooth spectrum (speckle, or a denoised
    image) has about the same power there as in the band at 0.40-0.48 cycles/pixel just below.
    Mean power in the Nyquist windows over mean power in that band, per window, the largest;
    ~1 for images without period-2 patterns. Unitless, >= 0; invariant to a gain.
    """
    image = as_image_array(image, "image")
    img = _box(as_float_image(image), valid)
    img = img - img.mean()
    power = np.abs(np.fft.fft2(img)) ** 2
    fy = np.abs(np.fft.fftfreq(img.shape[0]))[:, None]
    fx = np.abs(np.fft.fftfreq(img.shape[1]))[None, :]
    near_y, near_x = fy >= NYQUIST_CYCLES, fx >= NYQUIST_CYCLES
    low_y, low_x = fy <= ZERO_CYCLES, fx <= ZERO_CYCLES
    band_y = (fy >= BAND_CYCLES[0]) & (fy < BAND_CYCLES[1])
    band_x = (fx >= BAND_CYCLES[0]) & (fx < BAND_CYCLES[1])
    best = 0.0
    for peak, reference in (
        (near_y & near_x, band_y & band_x),
        (near_y & low_x, band_y & low_x),
        (low_y & near_x, low_y & band_x),
    ):
        ref = float(power[reference].mean()) if reference.any() else 0.0
        if peak.any() and ref > 0:
            best = max(best, float(power[peak].mean()) / ref)
    return best


def seam_energy(image: np.ndarray, *, valid: np.ndarray | None = None, min_period: int = 16) -> float:
    """Tiling seams: the strongest periodic excess of the column- (or row-) wise gradient, as a z-score.

    ``g[c]`` = mean absolute difference between columns ``c`` and ``c + 1``. For each period ``p``
    from ``min_period`` to a third of the width, the mean of ``g`` over the columns of each phase
    (``phase, phase + p, ...``); the largest phase mean minus the median phase mean, over the
    standard error of a phase mean (``std(g) / sqrt(columns per phase)``); the largest over all
    periods and both directions. Measured on the 256 x 256 test phantom: 5.1 for the speckle alone
    (the maximum over many periods and phases), 15 with a 12 grey-level step every 32 columns.
    """
    image = as_image_array(image, "image")
    img = _box(as_float_image(image), valid)
    best = 0.0
    for axis in (0, 1):
        g = np.abs(np.diff(img, axis=1 - axis)).mean(axis=axis)
        spread = float(g.std())
        if spread == 0 or g.size < 3 * min_period:
            continue
        for p in range(min_period, g.size // 3 + 1):
            n = g.size // p
            phases = g[: n * p].reshape(n, p).mean(axis=0)
            best = max(best, float(phases.max() - np.median(phases)) / (spread / math.sqrt(n)))
    return best


def _ratio(after: float, before: float) -> float:
    if before > 0:
        return after / before
    return 1.0 if after == before else math.inf


def _blob_ring(mask: np.ndarray, valid: np.ndarray | None, speckle: tuple[float, float]) -> np.ndarray:
    big = max(speckle)
    radius = math.sqrt(mask.sum() / math.pi)
    return background_ring(mask, width=max(radius, 2.0 * big), gap=big / 2.0, within=valid)


def _quantised(img: np.ndarray) -> np.ndarray:
    """gCNR bins: one per grey level for 0-255 data (both images binned alike)."""
    return np.clip(np.rint(img), 0, 255).astype(np.uint8) if img.min() >= -0.5 and img.max() <= 255.5 else img


def fidelity_report(
    before: np.ndarray,
    after: np.ndarray,
    *,
    targets: Targets | None = None,
    valid: np.ndarray | None = None,
) -> FidelityReport:
    """Everything in this module for one (input, output) pair, with the issue-10 verdict.

    Args:
        before: ``(H, W)`` input image (grey levels, e.g. uint8 0-255).
        after: ``(H, W)`` enhanced output, same shape and grey scale.
        targets: ground-truth targets; ``None`` = found in ``before`` (:func:`find_targets`).
        valid: bool ``(H, W)`` imaging-region pixels (used when ``targets`` is None or has none).

    Returns:
        :class:`FidelityReport`; an identity output scores ratios of 1, gCNR change 0, no
        invented or missing blob, and keeps every target.
    """
    b, a = _pair(before, after)
    if targets is None:
        targets = find_targets(before, valid=valid)
    valid = targets.valid if targets.valid is not None else valid
    spk = targets.speckle or speckle_size(before, valid)
    failures: list[str] = []

    scores = point_target_scores(b, a, targets.points, spk, valid)
    kept = [s["contrast_kept"] for s in scores if math.isfinite(s["contrast_kept"])]
    widen = [v for s in scores for v in (s["axial_ratio"], s["lateral_ratio"]) if math.isfinite(v)]
    contrast_kept = min(kept) if kept else math.nan
    width_ratio = max(widen) if widen else math.nan
    if kept and contrast_kept < MIN_CONTRAST_KEPT:
        failures.append(f"a point target kept {contrast_kept:.0%} of its contrast (< {MIN_CONTRAST_KEPT:.0%})")
    if widen and width_ratio > MAX_WIDENING:
        failures.append(f"a point target widened {width_ratio:.2f}x (> {MAX_WIDENING:.2f}x)")

    qb, qa = _quantised(b), _quantised(a)
    cell = (max(spk[0] / 2.355, 0.5), max(spk[1] / 2.355, 0.5))
    sb, sa = ndimage.gaussian_filter(b, cell), ndimage.gaussian_filter(a, cell)
    changes = []
    pixel_changes = []
    missing = 0
    for mask in targets.masks:
        try:
            ring = _blob_ring(mask, valid, spk)
        except ValueError:
            continue
        g_before = gcnr(sb, mask, ring)
        g_after = gcnr(sa, mask, ring)
        changes.append(g_after - g_before)
        pixel_changes.append(gcnr(qa, mask, ring) - gcnr(qb, mask, ring))
        if g_after < NEW_BLOB_MAX_INPUT_GCNR <= g_before:
            missing += 1
    gcnr_change = min(changes) if changes else math.nan
    pixel_gcnr_change = min(pixel_changes) if pixel_changes else math.nan
    if changes and gcnr_change < -GCNR_TOLERANCE:
        failures.append(f"a cyst/grey target lost {-gcnr_change:.3f} gCNR (at the speckle scale)")
    if missing:
        failures.append(f"{missing} target(s) of the input no longer separable in the output")

    invented = 0
    invented_area = 0
    known = np.zeros(b.shape, bool)
    for mask in targets.masks:
        known |= mask
    for blob in find_blobs(after, valid=valid, speckle=spk):
        if (blob.mask & known).any():
            continue
        try:
            ring = _blob_ring(blob.mask, valid, spk)
            g_in = gcnr(qb, blob.mask, ring)
        except ValueError:
            continue
        if g_in < NEW_BLOB_MAX_INPUT_GCNR:
            invented += 1
            invented_area += blob.area
    if invented:
        failures.append(f"{invented} new cyst-like spot(s) ({invented_area} px)")

    streak = _ratio(streak_energy(a, speckle=spk, valid=valid), streak_energy(b, speckle=spk, valid=valid))
    if streak > MAX_STREAK_RATIO:
        failures.append(f"streak energy {streak:.2f}x the input's (> {MAX_STREAK_RATIO}x)")
    checker = _ratio(checkerboard_energy(a, valid=valid), checkerboard_energy(b, valid=valid))
    if checker > MAX_CHECKERBOARD_RATIO:
        failures.append(f"checkerboard energy {checker:.2f}x the input's (> {MAX_CHECKERBOARD_RATIO}x)")
    seam = _ratio(seam_energy(a, valid=valid), seam_energy(b, valid=valid))

    return FidelityReport(
        point_targets=len(scores),
        point_contrast_kept=float(contrast_kept),
        point_width_ratio=float(width_ratio),
        blob_targets=len(changes),
        gcnr_change=float(gcnr_change),
        pixel_gcnr_change=float(pixel_gcnr_change),
        invented_blobs=invented,
        invented_area_px=invented_area,
        missing_blobs=missing,
        streak_ratio=float(streak),
        checkerboard_ratio=float(checker),
        seam_ratio=float(seam),
        keeps_every_target=not failures,
        failures=tuple(failures),
    )


def targets_from_masks(masks, *, image: np.ndarray | None = None) -> Targets | None:
    """Ground-truth :class:`Targets` from simulation masks, or None when they hold no target.

    Args:
        masks: mask name -> ``(H, W)`` array (non-zero inside), as the simulator writes them:
            ``wires`` (a disc per wire: its centroid is the point target), ``cysts``,
            ``hyperechoic``, ``vessels`` (each connected component is one blob target) and
            ``sector`` (the imaged area: ``valid``).
        image: the input image, for its speckle size (``None``: measured later).
    """
    points: list[tuple[float, float]] = []
    blobs: list[np.ndarray] = []
    valid = None
    for name, mask in masks.items():
        m = np.asarray(mask) != 0
        if name == "sector":
            valid = m if m.any() else None
            continue
        labels, count = ndimage.label(m)
        if name.startswith("wire"):
            points.extend((float(r), float(c)) for r, c in ndimage.center_of_mass(m, labels, range(1, count + 1)))
        elif name.startswith(("cyst", "hyperechoic", "vessel", "lesion", "lumen")):
            blobs.extend(labels == i for i in range(1, count + 1))
    if not points and not blobs:
        return None
    spk = speckle_size(image, valid) if image is not None else None
    return Targets(points=tuple(points), masks=tuple(blobs), valid=valid, speckle=spk)


# --- registry entries: one cached report per (output, input[, masks]) -------------------------

_CACHE: OrderedDict[tuple[str, ...], FidelityReport] = OrderedDict()
_CACHE_SIZE = 8


def _digest(a: np.ndarray) -> str:
    arr = np.ascontiguousarray(a)
    return hashlib.blake2b(arr.tobytes() + str((arr.shape, arr.dtype)).encode(), digest_size=16).hexdigest()


def cached_report(after: np.ndarray, before: np.ndarray, masks=None) -> FidelityReport:
    """:func:`fidelity_report` of ``(before, after)``, memoised on the images' (and masks') contents.

    ``masks``: optional simulation masks (:func:`targets_from_masks`); targets are found in
    ``before`` where they hold none.
    """
    key = (_digest(after), _digest(before)) + tuple(
        f"{name}:{_digest(np.asarray(m))}" for name, m in sorted((masks or {}).items())
    )
    report = _CACHE.get(key)
    if report is None:
        targets = targets_from_masks(masks, image=before) if masks else None
        valid = None
        if masks and targets is None and "sector" in masks and np.asarray(masks["sector"]).any():
            valid = np.asarray(masks["sector"]) != 0
        report = fidelity_report(before, after, targets=targets, valid=valid)
        _CACHE[key] = report
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return report


def _field(name: str):
    def metric(after: np.ndarray, before: np.ndarray, *, masks=None) -> float:
        return float(getattr(cached_report(after, before, masks), name))

    metric.__name__ = name
    metric.__qualname__ = name
    metric.__doc__ = (
        f"``FidelityReport.{name}`` of ``after`` (the output) against ``before`` (its input); "
        "``masks``: optional simulation masks giving the targets."
    )
    return metric


point_contrast_kept = _field("point_contrast_kept")
point_width_ratio = _field("point_width_ratio")
gcnr_change = _field("gcnr_change")
pixel_gcnr_change = _field("pixel_gcnr_change")
invented_blobs = _field("invented_blobs")
invented_area_px = _field("invented_area_px")
missing_blobs = _field("missing_blobs")
streak_ratio = _field("streak_ratio")
checkerboard_ratio = _field("checkerboard_ratio")
seam_ratio = _field("seam_ratio")


def keeps_every_target(after: np.ndarray, before: np.ndarray, *, masks=None) -> float:
    """1.0 when ``after`` keeps every target of ``before`` (issue-10 verdict), else 0.0."""
    return 1.0 if cached_report(after, before, masks).keeps_every_target else 0.0
