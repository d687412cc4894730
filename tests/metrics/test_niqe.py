"""NIQE: parity with pyiqa (reference CSV), MATLAB imresize, AGGD fit, invariances and errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from pocusiq import metrics
from pocusiq.metrics.imresize import imresize_matlab, resize_matrix
from pocusiq.metrics.niqe import load_pristine_model, niqe_features
from pocusiq.metrics.nss import fit_aggd, gaussian_window_7, mscn


@pytest.mark.shared_data
def test_matches_pyiqa_reference_values_within_1_percent(reference_rows):
    rows = reference_rows
    assert len(rows) >= 13
    for name, image, ref in rows:
        got = metrics.niqe(image)
        assert got == pytest.approx(ref["niqe_pyiqa"], rel=0.01), name


def test_pristine_model_shipped_with_package():
    mu, cov = load_pristine_model()
    assert mu.shape == (36,) and cov.shape == (36, 36)
    np.testing.assert_allclose(cov, cov.T, rtol=0, atol=1e-9)
    assert np.all(np.linalg.eigvalsh(cov) > -1e-9)
    with pytest.raises(ValueError):
        mu[0] = 1.0  # read-only


def test_imresize_matches_matlab_documented_values():
    # MATLAB imresize of the 4x4 ramp 0..15 to 3x3 (bicubic, antialiased), as quoted in the
    # documentation of a MATLAB-compatible resize (pyiqa's resize.py). The quote's 6.1505 is a
    # typo: the input is linear (4 i + j), so entry (1, 0) = 4 * 1.5 + 0.7506 / 5 = 6.1501.
    x = np.arange(16, dtype=np.float64).reshape(4, 4)
    expected = np.array([[0.7506, 2.1004, 3.4503], [6.1501, 7.5000, 8.8499], [11.5497, 12.8996, 14.2494]])
    np.testing.assert_allclose(imresize_matlab(x, 0.75), expected, atol=1e-4)


def test_imresize_half_preserves_constants_and_linear_ramps():
    m = resize_matrix(37, 19, 0.5)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)
    ramp = np.tile(np.arange(40, dtype=np.float64), (10, 1))
    half = imresize_matlab(ramp, 0.5)
    assert half.shape == (5, 20)
    # Away from the borders a linear ramp is resampled at the new pixel centres: 2j + 0.5.
    np.testing.assert_allclose(half[:, 3:-3], np.tile(2 * np.arange(3, 17) + 0.5, (5, 1)), atol=1e-9)


def test_aggd_fit_recovers_gaussian_parameters():
    rng = np.random.default_rng(0)
    sigma = 1.7
    n = 200_000
    symmetric = rng.normal(0.0, sigma, size=n)
    # An asymmetric AGGD with shape 2: half-normals of scale s_l (left) and s_r (right), the left
    # side drawn with probability s_l / (s_l + s_r).
    s_l, s_r = 0.8, 1.6
    left = rng.random(n) < s_l / (s_l + s_r)
    magnitude = np.abs(rng.normal(size=n))
    asymmetric = np.where(left, -s_l * magnitude, s_r * magnitude)
    alpha, bl, br = fit_aggd(np.stack([symmetric, asymmetric]))
    # A Gaussian is an AGGD with shape 2 and scale sigma * sqrt(2).
    np.testing.assert_allclose(alpha, [2.0, 2.0], atol=0.03)
    assert bl[0] == pytest.approx(sigma * np.sqrt(2), rel=0.01)
    assert br[0] == pytest.approx(sigma * np.sqrt(2), rel=0.01)
    assert bl[1] == pytest.approx(s_l * np.sqrt(2), rel=0.02)
    assert br[1] == pytest.approx(s_r * np.sqrt(2), rel=0.02)


def test_mscn_window_and_flat_image():
    w = gaussian_window_7()
    assert w.shape == (7,)
    assert np.outer(w, w).sum() == pytest.approx(1.0, abs=2e-8)
    coeffs, sigma = mscn(np.full((20, 20), 80.0))
    assert np.abs(coeffs).max() < 1e-5 and sigma.max() < 1e-2


def test_deterministic_and_float_equals_uint8(speckle_image):
    img = speckle_image((200, 220), seed=3)
    a = metrics.niqe(img)
    assert metrics.niqe(img) == a
    assert metrics.niqe(img / 255.0, data_range=1.0) == pytest.approx(a, rel=1e-9)
    assert metrics.niqe(img.astype(np.float32) * 4, data_range=1020.0) == pytest.approx(a, rel=1e-6)
    with pytest.raises(ValueError, match="data_range is required"):
        metrics.niqe(img.astype(np.float64))


def test_blur_and_noise_worsen_a_natural_image():
    cam = data.camera()[:288, :288]
    base = metrics.niqe(cam)
    blurred = np.clip(ndimage.gaussian_filter(cam.astype(float), 2.0), 0, 255).astype(np.uint8)
    rng = np.random.default_rng(1)
    noisy = np.clip(cam + rng.normal(0, 25, cam.shape), 0, 255).astype(np.uint8)
    assert metrics.niqe(blurred) > base + 1.0
    assert metrics.niqe(noisy) > base + 1.0


def test_batch_matches_single_images(speckle_image):
    imgs = np.stack([speckle_image((96, 192), seed=s) for s in range(2)])
    got = metrics.niqe(imgs)
    assert got.shape == (2,)
    np.testing.assert_allclose(got, [metrics.niqe(imgs[0]), metrics.niqe(imgs[1])], rtol=1e-12)


def test_crop_to_block_multiple_ignores_extra_rows(speckle_image):
    img = speckle_image((250, 200), seed=5)
    assert metrics.niqe(img) == pytest.approx(metrics.niqe(img[:192, :192]), rel=1e-12)
    assert niqe_features(img.astype(float)).shape == (4, 36)


@pytest.mark.parametrize("shape", [(95, 400), (400, 95), (96, 96), (100, 150)])
def test_too_small_images_raise(shape):
    with pytest.raises(ValueError, match=r"NIQE needs at least two 96x96 blocks"):
        metrics.niqe(np.zeros(shape, np.uint8))


def test_flat_image_raises():
    with pytest.raises(ValueError, match="too flat"):
        metrics.niqe(np.full((192, 192), 7, np.uint8))


def test_rejects_colour_and_nan():
    with pytest.raises(ValueError, match="greyscale"):
        metrics.niqe(np.zeros((1, 192, 192, 3), np.uint8))
    bad = np.zeros((192, 192))
    bad[3, 3] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        metrics.niqe(bad, data_range=1.0)
