"""Region of interest: only the imaging region changes, bytes outside stay identical."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pocusiq.imaging.region import ImagingRegion, parse_box, resolve_region
from pocusiq.errors import RegionNotFoundError

from .synthetic import screenshot_frame

SCREENSHOTS = ["clarius_axial-lateral-resolution-2020.png", "interson-phantom.png"]


def test_box_on_synthetic_screenshot_outside_bytes_unchanged(negate_enhancer):
    frame, box = screenshot_frame()
    out = negate_enhancer.enhance_region(frame, box)
    x, y, w, h = box
    inside = np.zeros(frame.shape[:2], bool)
    inside[y : y + h, x : x + w] = True
    np.testing.assert_array_equal(out[~inside], frame[~inside])
    np.testing.assert_array_equal(out[inside], 255 - frame[inside])  # grey image: luma negated exactly


def test_auto_region_on_synthetic_screenshot(negate_enhancer):
    frame, box = screenshot_frame()
    region = resolve_region(frame, "auto")
    x, y, w, h = region.box
    # the detector finds the speckle box (within a few pixels), not the UI
    assert abs(x - box[0]) <= 3 and abs(y - box[1]) <= 3 and abs(w - box[2]) <= 6 and abs(h - box[3]) <= 6
    out = negate_enhancer.enhance_region(frame, region)
    changed = np.any(out != frame, axis=2)
    assert not changed[:, 270:].any() and not changed[:25].any()  # grey bar, red button untouched
    assert changed[y : y + h, x : x + w].mean() > 0.9


def test_sector_mask_only_changes_inside_the_mask(negate_enhancer):
    frame = np.full((60, 80), 100, np.uint8)
    yy, xx = np.mgrid[0:40, 0:50]
    mask = np.hypot(yy, xx - 25) < 30  # a fan below an apex at the top centre
    region = ImagingRegion.from_box((15, 10, 50, 40), frame.shape, "sector", mask)
    out = negate_enhancer.enhance_region(frame, region)
    full = region.mask
    assert full.sum() == mask.sum()
    assert np.all(out[full] == 155) and np.all(out[~full] == 100)
    with pytest.raises(ValueError, match=r"region mask has shape \(40, 50\), expected the box's \(40, 49\)"):
        ImagingRegion.from_box((15, 10, 49, 40), frame.shape, "sector", mask)
    with pytest.raises(RegionNotFoundError, match="region of a 80x60 frame used on a 81x60 frame"):
        resolve_region(np.zeros((60, 81), np.uint8), region)


def test_imaging_region_object_with_full_frame_mask(negate_enhancer):
    from pocusiq.imaging.region import ImagingRegion

    frame = np.full((30, 40), 10, np.uint8)
    mask = np.zeros((30, 40), bool)
    mask[5:15, 8:20] = True
    mask[5, 8] = False
    region = ImagingRegion(x=8, y=5, w=12, h=10, mask=mask, kind="sector")
    out = negate_enhancer.enhance_region(frame, region)
    np.testing.assert_array_equal(out == 245, mask)


@pytest.mark.parametrize("text,message", [("1,2,3", "four integers"), ("a,b,c,d", "four integers"),
                                          ("0,0,0,5", "w, h > 0")])
def test_parse_box_errors(text, message):
    with pytest.raises(ValueError, match=message):
        parse_box(text)
    assert parse_box(" 1, 2,3 ,4") == (1, 2, 3, 4)


def test_blank_frame_auto_region_raises(identity_enhancer):
    with pytest.raises(RegionNotFoundError):
        identity_enhancer.enhance_region(np.zeros((64, 64), np.uint8), "auto")


@pytest.mark.shared_data
@pytest.mark.parametrize("name", SCREENSHOTS)
def test_real_screenshots_outside_region_bytes_unchanged(shared_data, negate_enhancer, tmp_path, name):
    source = shared_data / "real" / "pocus" / name
    result = negate_enhancer.enhance_file(source, tmp_path / name, roi="auto")
    original = np.asarray(Image.open(source))
    enhanced = np.asarray(Image.open(result.output))
    assert enhanced.shape == original.shape and enhanced.dtype == original.dtype
    region = result.frame_region
    assert result.region == region.box and result.region_kind in ("linear", "sector")
    inside = region.mask
    # everything outside the imaging region is byte-identical (UI, text, margins)
    np.testing.assert_array_equal(enhanced[~inside], original[~inside])
    # the region covers the image, not the UI: a substantial central part of the frame
    x, y, w, h = region.box
    assert w * h > 0.15 * original.shape[0] * original.shape[1]
    changed = np.any(enhanced != original, axis=-1) if original.ndim == 3 else enhanced != original
    assert changed[inside].mean() > 0.5
