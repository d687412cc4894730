"""The one intensity module: unit conversions (datasets, simulator, enhancement) and BT.601 luma."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq.imaging.intensity import from_unit, grey_from_rgb, is_grey, luma, replace_luma, to_unit


def test_unit_scaling_known_values_and_inverse():
    assert to_unit(np.array([0, 255], np.uint8)).tolist() == [0.0, 1.0]
    assert to_unit(np.array([0, 65535], np.uint16)).tolist() == [0.0, 1.0]
    assert to_unit(np.array([0, 51], np.uint8)).dtype == np.float32
    assert to_unit(np.array([False, True])).tolist() == [0.0, 1.0]
    assert to_unit(np.array([0, 4095, 8000], np.uint16), 4095).tolist() == [0.0, 1.0, 1.0]  # 12-bit, clipped
    values = np.arange(256, dtype=np.uint8)
    # the dataset's former to_unit_float: value / float32(255), exactly
    np.testing.assert_array_equal(to_unit(values), values.astype(np.float32) / np.float32(255.0))
    np.testing.assert_array_equal(from_unit(to_unit(values)), values)
    wide = np.arange(0, 65536, 257, dtype=np.uint16)
    np.testing.assert_array_equal(from_unit(to_unit(wide), np.uint16), wide)
    np.testing.assert_array_equal(from_unit(np.array([-0.5, 1.5, 0.5])), [0, 255, 128])  # clipped, rounded
    np.testing.assert_array_equal(from_unit(np.array([0.25]), np.float32), [0.25])
    with pytest.raises(TypeError, match="unsupported image dtype int32"):
        to_unit(np.zeros(3, np.int32))


def test_luma_weights_float32_matches_float64_and_grey_is_exact():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    expected = rgb.astype(np.float64) @ [0.299, 0.587, 0.114]
    np.testing.assert_allclose(luma(rgb), expected, atol=1e-9)
    np.testing.assert_allclose(luma(rgb, np.float32), expected, atol=1e-4)
    grey = np.repeat(rgb[..., :1], 3, axis=2)
    assert is_grey(grey) and not is_grey(rgb)
    np.testing.assert_array_equal(grey_from_rgb(grey), rgb[..., 0])
    np.testing.assert_array_equal(grey_from_rgb(rgb), np.clip(np.rint(expected), 0, 255).astype(np.uint8))


def test_replace_luma_keeps_chroma_and_grey():
    rng = np.random.default_rng(1)
    rgb = rng.integers(40, 200, (16, 16, 3)).astype(np.uint8)
    new_y = luma(rgb) + 10.0
    out = replace_luma(rgb, new_y, 255)
    # every channel moved by the same amount: Cb and Cr (differences from luma) unchanged
    np.testing.assert_array_equal(out.astype(int) - rgb.astype(int), np.full(rgb.shape, 10))
    grey = np.repeat(rgb[..., :1], 3, axis=2)
    out = replace_luma(grey, luma(grey, np.float32) * np.float32(0.5), 255)
    assert is_grey(out)
