from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pocusiq.atomic import sha256_file
from pocusiq.imaging.grey import (
    png_header,
    read_grey_image,
    read_png_text,
    write_grey_png,
)
from pocusiq.errors import ImageFileError


@pytest.mark.parametrize("dtype,bits", [(np.uint8, 8), (np.uint16, 16)])
def test_write_read_round_trip_keeps_pixels_and_bit_depth(tmp_path, dtype, bits):
    rng = np.random.default_rng(1)
    image = rng.integers(0, np.iinfo(dtype).max + 1, size=(17, 23)).astype(dtype)
    path = tmp_path / "a.png"
    write_grey_png(path, image, text={"pocusiq.specimen": "s1"})
    back = read_grey_image(path)
    assert back.dtype == dtype
    np.testing.assert_array_equal(back, image)
    header = png_header(path)
    assert (header.width, header.height, header.bit_depth, header.colour_type) == (23, 17, bits, 0)
    assert read_png_text(path) == {"pocusiq.specimen": "s1"}


def test_write_is_deterministic_and_leaves_no_temp_files(tmp_path):
    image = np.arange(64, dtype=np.uint8).reshape(8, 8)
    write_grey_png(tmp_path / "a.png", image)
    write_grey_png(tmp_path / "b.png", image)
    assert sha256_file(tmp_path / "a.png") == sha256_file(tmp_path / "b.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.png", "b.png"]


@pytest.mark.parametrize(
    "bad,error,match",
    [
        (np.zeros((4, 4), np.float32), TypeError, "must be uint8 or uint16, got float32"),
        (np.zeros((4, 4, 3), np.uint8), ValueError, r"must be 2-D \(H, W\) greyscale, got shape \(4, 4, 3\)"),
        (np.zeros((0, 4), np.uint8), ValueError, "is empty"),
    ],
)
def test_write_rejects_bad_arrays(tmp_path, bad, error, match):
    with pytest.raises(error, match=match):
        write_grey_png(tmp_path / "x.png", bad)
    assert not list(tmp_path.iterdir())


def test_grey_rgb_is_accepted_but_colour_rgb_needs_convert(tmp_path):
    grey = np.arange(30, dtype=np.uint8).reshape(5, 6)
    Image.fromarray(np.stack([grey] * 3, axis=-1)).save(tmp_path / "grey_rgb.png")
    np.testing.assert_array_equal(read_grey_image(tmp_path / "grey_rgb.png"), grey)

    colour = np.zeros((5, 6, 3), np.uint8)
    colour[..., 0] = 200  # pure red
    Image.fromarray(colour).save(tmp_path / "red.png")
    with pytest.raises(ImageFileError, match=r"red\.png: RGB image with differing colour channels"):
        read_grey_image(tmp_path / "red.png")
    converted = read_grey_image(tmp_path / "red.png", convert=True)
    assert converted.dtype == np.uint8
    assert np.all(converted == round(0.299 * 200))


def test_transparent_alpha_is_rejected(tmp_path):
    rgba = np.full((4, 4, 4), 100, np.uint8)
    rgba[0, 0, 3] = 0
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "alpha.png")
    with pytest.raises(ImageFileError, match="alpha.png: RGBA image with transparent pixels"):
        read_grey_image(tmp_path / "alpha.png")


def test_truncated_missing_and_non_image_files_name_the_file(tmp_path):
    image = np.random.default_rng(0).integers(0, 256, (64, 64)).astype(np.uint8)
    write_grey_png(tmp_path / "full.png", image)
    data = (tmp_path / "full.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(ImageFileError, match=r"cut\.png: cannot decode image, truncated or corrupt"):
        read_grey_image(tmp_path / "cut.png")
    with pytest.raises(ImageFileError, match=r"nothere\.png: file not found"):
        read_grey_image(tmp_path / "nothere.png")
    (tmp_path / "text.png").write_text("hello")
    with pytest.raises(ImageFileError, match=r"text\.png: not a readable image file"):
        read_grey_image(tmp_path / "text.png")
    with pytest.raises(ImageFileError, match=r"text\.png: not a PNG file"):
        png_header(tmp_path / "text.png")


def test_common_bit_depth_promotes_8_bit_exactly():
    from pocusiq.imaging.grey import common_bit_depth

    a8 = np.array([[0, 1, 255]], np.uint8)
    b16 = np.array([[0, 257, 65535]], np.uint16)
    low, high = common_bit_depth(a8, b16)
    assert low.dtype == np.uint16 and np.array_equal(low, b16) and high is b16
    same = common_bit_depth(a8, a8)
    assert same[0] is a8 and same[1].dtype == np.uint8
    with pytest.raises(TypeError, match="uint8 or uint16 images, got float32"):
        common_bit_depth(a8, np.zeros((1, 3), np.float32))
