"""Spacing from a screenshot's depth ruler: a drawn ruler of known spacing, no ruler, real screenshots."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pocusiq.imaging.region import find_imaging_region
from pocusiq.imaging.ruler import spacing_from_ruler


def _screenshot(px_per_mm: float, minor_per_major: int = 10, ruler: bool = True) -> np.ndarray:
    rng = np.random.default_rng(0)
    frame = np.zeros((700, 900), np.uint8)
    frame[40:680, 300:800] = rng.integers(40, 200, (640, 500))  # the image
    if ruler:
        for k in range(int(640 / px_per_mm) + 1):
            y = int(round(40 + k * px_per_mm))
            if y >= 690:
                break
            major = k % minor_per_major == 0
            frame[y : y + 2, 60 : 60 + (16 if major else 7)] = 230
    return frame


@pytest.mark.parametrize("px_per_mm,minor", [(17.0, 10), (12.4, 10), (8.3, 10), (25.3, 10)])
def test_drawn_ruler_gives_its_spacing(px_per_mm, minor):
    spacing = spacing_from_ruler(_screenshot(px_per_mm, minor), (300, 40, 500, 640))
    assert spacing == pytest.approx(1 / px_per_mm, rel=0.01)


def test_no_ruler_or_irregular_marks_give_none():
    assert spacing_from_ruler(_screenshot(17.0, ruler=False), (300, 40, 500, 640)) is None
    frame = _screenshot(17.0, ruler=False)
    for y in (50, 61, 90, 200, 230, 420, 433, 600):  # marks at no regular step
        frame[y : y + 2, 60:70] = 230
    assert spacing_from_ruler(frame, (300, 40, 500, 640)) is None


@pytest.mark.shared_data
@pytest.mark.parametrize("name,expected", [
    ("interson-phantom.png", 0.0588),  # the dataset README's spacing
    ("clarius_axial-lateral-resolution-2020.png", None),  # no ruler on screen
])
def test_real_screenshots(shared_data, name, expected):
    frame = np.asarray(Image.open(shared_data / "real" / "pocus" / name))
    spacing = spacing_from_ruler(frame, find_imaging_region(frame).box)
    if expected is None:
        assert spacing is None
    else:
        assert spacing == pytest.approx(expected, rel=0.02)
