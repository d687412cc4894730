"""Built-in baselines: shape/dtype preserved, denoisers reduce speckle, CLAHE raises contrast."""

from __future__ import annotations

import numpy as np
import pytest
from benchmark_synthetic import speckle_image

from pocusiq.benchmark.baselines import BASELINES, clahe, estimate_noise_sigma, identity, median

DENOISERS = ("median", "bilateral", "nlm", "srad")


@pytest.fixture(scope="module")
def speckle() -> np.ndarray:
    image, _ = speckle_image(96, seed=7, cyst=False, grain_px=1.0)
    return image


@pytest.mark.parametrize("name", list(BASELINES))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32])
def test_keeps_shape_and_dtype(name: str, dtype: type, speckle: np.ndarray) -> None:
    image = speckle[:40, :56]
    if dtype is np.uint16:
        image = image.astype(np.uint16) * 257
    elif dtype is np.float32:
        image = image.astype(np.float32) / 255.0
    out = BASELINES[name](image)
    assert out.shape == image.shape
    assert out.dtype == image.dtype
    assert np.isfinite(out.astype(np.float64)).all()
    assert out is not image


@pytest.mark.parametrize("name", DENOISERS)
def test_denoisers_reduce_speckle_variance(name: str, speckle: np.ndarray) -> None:
    out = BASELINES[name](speckle)
    region = (slice(8, 88), slice(8, 88))  # uniform tissue
    before = speckle[region].astype(np.float64).var()
    after = out[region].astype(np.float64).var()
    assert after < 0.7 * before, f"{name}: variance {before:.1f} -> {after:.1f}"
    # ... without shifting the mean brightness by more than 10 grey levels.
    assert abs(out[region].mean() - speckle[region].mean()) < 10


def test_identity_returns_an_equal_copy(speckle: np.ndarray) -> None:
    out = identity(speckle)
    np.testing.assert_array_equal(out, speckle)
    out[0, 0] ^= 1
    assert out[0, 0] != speckle[0, 0]


def test_median_matches_its_definition_on_a_known_case() -> None:
    image = np.zeros((5, 5), np.uint8)
    image[2, 2] = 255  # an isolated bright pixel is removed by a 3x3 median
    np.testing.assert_array_equal(median(image, size=3), np.zeros((5, 5), np.uint8))


def test_clahe_raises_contrast_of_a_low_contrast_image() -> None:
    rng = np.random.default_rng(0)
    image = (120 + 10 * rng.random((64, 64))).astype(np.uint8)  # values 120..129
    out = clahe(image)
    assert out.std() > 3 * image.std()


def test_noise_estimate_on_white_noise() -> None:
    rng = np.random.default_rng(1)
    noise = 0.5 + 0.05 * rng.standard_normal((128, 128))
    assert estimate_noise_sigma(noise) == pytest.approx(0.05, rel=0.1)


@pytest.mark.parametrize("name", list(BASELINES))
def test_rejects_colour_images(name: str) -> None:
    with pytest.raises(ValueError, match=r"expected a greyscale image of shape \(H, W\)|expected a 2-D image"):
        BASELINES[name](np.zeros((8, 8, 3), np.uint8))


def test_unsharp_mask_is_the_formula(speckle: np.ndarray) -> None:
    """``image + amount * (image - gaussian(image, sigma))``, rounded and clipped to uint8."""
    from scipy import ndimage

    from pocusiq.benchmark.baselines import unsharp

    x = speckle.astype(np.float64) / 255.0
    expected = np.clip(np.rint(255.0 * np.clip(x + 1.0 * (x - ndimage.gaussian_filter(x, 1.0)), 0, 1)), 0, 255)
    out = unsharp(speckle)
    assert np.abs(out.astype(np.float64) - expected).max() <= 1.0  # skimage's truncation of the Gaussian
    assert out.astype(np.float64).var() > speckle.astype(np.float64).var()  # sharper: more local contrast
    assert np.array_equal(unsharp(speckle, amount=0.0), speckle)
