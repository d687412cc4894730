"""Pixel spacing from a screenshot's depth ruler (tick marks beside the image), when there is one.

POCUS apps draw a depth scale beside the image: short horizontal tick marks at equal steps (e.g.
every millimetre) in one column, with longer ones every centimetre. :func:`spacing_from_ruler`
finds such a column outside the imaging region, measures the tick period, picks out the longer
(major) ticks and, taking a major step as 1 cm (how depth scales are labelled: "cm", 1, 2, ...),
returns mm per pixel. It returns None (spacing unknown) unless the evidence is clear: at least
three major ticks at a regular step that is a whole number (2-10) of minor steps, and minor ticks
at a regular step (most differences within 10 % of their median); the step is then refined by a
least-squares line through every tick.

Checked on the real screenshots in ``shared/data/real/pocus`` (``tests/imaging/test_ruler.py``):
the Interson frame (0.0588 mm/pixel by its metadata) and the Clarius frame (no ruler: None). No
library reads rulers from ultrasound screenshots, hence this module.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from pocusiq.imaging.intensity import luma

MAJOR_STEP_MM = 10.0
"""Depth-scale labels count centimetres: a major tick step is taken as 10 mm."""


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(start, stop) of the True runs of a 1-D bool array."""
    padded = np.concatenate([[False], mask, [False]])
    edges = np.flatnonzero(padded[1:] != padded[:-1])
    return list(zip(edges[::2], edges[1::2]))


def _regular(centres: np.ndarray, tolerance: float = 0.1) -> float | None:
    """The median step of sorted positions when most (70 %) agree with it (10 %, or 1.5 px), else None."""
    if centres.size < 3:
        return None
    steps = np.diff(centres)
    step = float(np.median(steps))
    if step <= 1:
        return None
    agree = np.abs(steps - step) <= max(tolerance * step, 1.5)  # ticks sit on whole pixels
    return step if agree.mean() >= 0.7 else None


def spacing_from_ruler(frame: np.ndarray, region_box: tuple[int, int, int, int] | None = None) -> float | None:
    """mm per pixel (square pixels) from the depth ruler of a screenshot, or None when none is found.

    Args:
        frame: ``(H, W)`` or ``(H, W, 3|4)`` screenshot (uint8/uint16/float).
        region_box: the imaging region ``(x, y, w, h)``; columns inside it are not searched.
    """
    grey = luma(frame, np.float32) if frame.ndim == 3 else frame.astype(np.float32)
    peak = float(grey.max()) if grey.size else 0.0
    if peak <= 0:
        return None
    bright = grey > 0.5 * peak
    height, width = bright.shape
    allowed = np.ones(width, bool)
    if region_box is not None:
        x, _, w, _ = region_box
        allowed[max(0, x - 2) : x + w + 2] = False
    # a ruler column: many short bright runs down the column
    best: tuple[int, int] = (0, -1)
    for column in np.flatnonzero(allowed):
        runs = [(a, b) for a, b in _runs(bright[:, column]) if b - a <= max(3, height // 150)]
        if len(runs) > best[0]:
            best = (len(runs), int(column))
    count, column = best
    if count < 8:
        return None
    runs = [(a, b) for a, b in _runs(bright[:, column]) if b - a <= max(3, height // 150)]
    centres = np.array([(a + b - 1) / 2 for a, b in runs])
    # horizontal length of each tick: the bright run through `column` on the tick's rows
    lengths = []
    for a, b in runs:
        row = bright[a:b].any(axis=0)
        labels, _ = ndi.label(row)
        lengths.append(int((labels == labels[column]).sum()) if labels[column] else 0)
    lengths = np.array(lengths)
    major = lengths >= 1.5 * np.median(lengths)
    minor_step = _regular(centres[~major]) if (~major).sum() >= 3 else None
    major_step = _regular(centres[major])
    if major_step is None or minor_step is None:
        return None
    ratio = major_step / minor_step
    n = round(ratio)
    if n < 2 or n > 10 or abs(ratio / n - 1) > 0.08:  # whole pixels: a 12.4 px step reads as 12 or 13
        return None
    # refine: every tick (minor and major) at an integer number of minor steps; least-squares step
    index = np.rint((centres - centres[0]) / (major_step / n))
    step = float(np.polyfit(index, centres, 1)[0]) if np.ptp(index) > 0 else minor_step
    return MAJOR_STEP_MM / (n * step)
