"""Imaging-region detection on synthetic screen captures and on the two real POCUS screenshots."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pocusiq.errors import RegionNotFoundError
from pocusiq.imaging.region import ImagingRegion, find_imaging_region


def _speckle(rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
    """Fully developed speckle (Rayleigh amplitude), log-compressed to 8-bit-like 20..230."""
    amp = np.abs(rng.normal(size=shape) + 1j * rng.normal(size=shape))
    db = 20 * np.log10(amp + 1e-3)
    return np.clip(130 + 4 * db, 20, 230)


def _screen(shape=(300, 400)) -> tuple[np.ndarray, ImageDraw.ImageDraw, Image.Image]:
    canvas = Image.new("RGB", (shape[1], shape[0]), (0, 0, 0))
    return np.zeros((*shape, 3), np.uint8), ImageDraw.Draw(canvas), canvas


def _add_ui(canvas: Image.Image) -> Image.Image:
    draw = ImageDraw.Draw(canvas)
    w, h = canvas.size
    draw.text((5, 5), "2026-11-25 12:00 L7 MHz", fill=(255, 255, 255))
    draw.text((w - 60, h - 20), "5 cm", fill=(255, 255, 255))
    for i in range(10):  # depth scale ticks at the left
        draw.line([(8, 30 + 20 * i), (14, 30 + 20 * i)], fill=(255, 255, 255))
    # colour bar at the right (saturated)
    for r in range(40, 160):
        draw.line([(w - 20, r), (w - 10, r)], fill=(255, int(255 * (r - 40) / 120), 0))
    # grey-scale bar (smooth ramp, no texture)
    for r in range(170, 250):
        v = int(255 * (r - 170) / 80)
        draw.line([(w - 20, r), (w - 10, r)], fill=(v, v, v))
    return canvas


def _linear_frame(seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    rng = np.random.default_rng(seed)
    h, w = 300, 400
    box = (110, 40, 180, 220)  # x, y, w, h
    frame = np.zeros((h, w, 3), np.uint8)
    x, y, bw, bh = box
    img = _speckle(rng, (bh, bw))
    img[60:110, 60:110] = 3  # an anechoic cyst inside
    frame[y : y + bh, x : x + bw] = img[..., None].astype(np.uint8)
    canvas = _add_ui(Image.fromarray(frame))
    return np.asarray(canvas), box


def _sector_frame(seed: int = 1) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    rng = np.random.default_rng(seed)
    h, w = 320, 420
    apex = (210.0, 10.0)
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot(xx - apex[0], yy - apex[1])
    ang = np.degrees(np.arctan2(xx - apex[0], yy - apex[1]))
    truth = (np.abs(ang) <= 35) & (r >= 30) & (r <= 290)
    grey = np.where(truth, _speckle(rng, (h, w)), 0).astype(np.uint8)
    canvas = _add_ui(Image.fromarray(np.repeat(grey[..., None], 3, axis=2)))
    return np.asarray(canvas), truth, apex


def test_linear_region_found_among_ui():
    frame, (x, y, w, h) = _linear_frame()
    region = find_imaging_region(frame)
    assert isinstance(region, ImagingRegion)
    assert region.kind == "linear"
    assert region.mask.shape == frame.shape[:2] and region.mask.dtype == bool
    assert abs(region.x - x) <= 2 and abs(region.y - y) <= 2
    assert abs(region.w - w) <= 3 and abs(region.h - h) <= 3
    crop = region.crop(frame)
    assert crop.shape[:2] == (region.h, region.w)
    assert region.crop_mask().all()


def test_linear_region_greyscale_uint16():
    frame, (x, y, w, h) = _linear_frame(seed=3)
    grey16 = frame[..., 0].astype(np.uint16) * 16  # 12-bit data in uint16
    grey16[frame[..., 1] != frame[..., 0]] = 0  # drop colour UI for a raw frame
    region = find_imaging_region(grey16)
    assert abs(region.x - x) <= 2 and abs(region.y - y) <= 2
    assert abs(region.w - w) <= 3 and abs(region.h - h) <= 3


def test_full_frame_image_is_whole_frame():
    rng = np.random.default_rng(4)
    frame = _speckle(rng, (128, 96)).astype(np.uint8)
    region = find_imaging_region(frame)
    assert region.box == (0, 0, 96, 128)


def test_sector_region_and_apex():
    frame, truth, apex = _sector_frame()
    region = find_imaging_region(frame)
    assert region.kind == "sector"
    rows = np.flatnonzero(truth.any(axis=1))
    cols = np.flatnonzero(truth.any(axis=0))
    assert abs(region.y - rows[0]) <= 3 and abs(region.y + region.h - 1 - rows[-1]) <= 3
    assert abs(region.x - cols[0]) <= 3 and abs(region.x + region.w - 1 - cols[-1]) <= 3
    assert region.apex is not None
    assert abs(region.apex[0] - apex[0]) <= 4 and abs(region.apex[1] - apex[1]) <= 8
    iou = (region.mask & truth).sum() / (region.mask | truth).sum()
    assert iou > 0.95


def test_blank_frame_raises():
    with pytest.raises(RegionNotFoundError, match="blank"):
        find_imaging_region(np.zeros((64, 64), np.uint8))


def test_ui_only_frame_raises():
    canvas = _add_ui(Image.new("RGB", (400, 300)))
    with pytest.raises(RegionNotFoundError, match="imaging region not found"):
        find_imaging_region(np.asarray(canvas))


def test_bad_arguments():
    with pytest.raises(ValueError, match="shape"):
        find_imaging_region(np.zeros((4, 4, 4, 4), np.uint8))
    region = find_imaging_region(_linear_frame()[0])
    with pytest.raises(ValueError, match="does not match"):
        region.crop(np.zeros((10, 10)))


# Expected boxes by inspection of the images (x, y, w, h): the edges of the grey image area.
REAL_BOXES = {
    "clarius_axial-lateral-resolution-2020.png": (344, 160, 592, 640),
    "interson-phantom.png": (443, 54, 560, 841),
}


@pytest.mark.shared_data
@pytest.mark.parametrize("name", sorted(REAL_BOXES))
def test_real_screenshots(shared_data, name):
    frame = np.asarray(Image.open(shared_data / "real" / "pocus" / name))
    region = find_imaging_region(frame)
    ex, ey, ew, eh = REAL_BOXES[name]
    tol_x, tol_y = 0.03 * ew, 0.03 * eh
    assert abs(region.x - ex) <= tol_x and abs(region.x + region.w - ex - ew) <= tol_x
    assert abs(region.y - ey) <= tol_y and abs(region.y + region.h - ey - eh) <= tol_y
    assert region.kind == "linear"
