"""PSNR: known values, parity with scikit-image, batching and errors."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from pocusiq import metrics


def test_known_mse_gives_known_psnr():
    ref = np.full((10, 10), 100, np.uint8)
    x = ref.copy()
    x[:, :5] += 10  # half the pixels off by 10 -> MSE = 50
    assert metrics.mse(x, ref) == pytest.approx(50.0)
    assert metrics.psnr(x, ref) == pytest.approx(10 * np.log10(255**2 / 50.0), rel=1e-12)


def test_identical_is_inf():
    ref = np.arange(64, dtype=np.uint8).reshape(8, 8)
    assert metrics.psnr(ref, ref) == np.inf


def test_matches_skimage_uint8_and_float():
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 256, (33, 47)).astype(np.uint8)
    x = np.clip(ref + rng.normal(0, 12, ref.shape), 0, 255).astype(np.uint8)
    assert metrics.psnr(x, ref) == pytest.approx(peak_signal_noise_ratio(ref, x, data_range=255), rel=1e-12)
    xf, rf = x / 255.0, ref / 255.0
    assert metrics.psnr(xf, rf, data_range=1.0) == pytest.approx(
        peak_signal_noise_ratio(rf, xf, data_range=1.0), rel=1e-12
    )
    with pytest.raises(ValueError, match="data_range is required"):
        metrics.psnr(xf, rf)


def test_batched_and_uint16_range():
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 200, (3, 16, 16)).astype(np.uint8)
    x = ref + rng.integers(0, 3, ref.shape).astype(np.uint8)
    got = metrics.psnr(x, ref)
    assert got.shape == (3,)
    np.testing.assert_allclose(got, [metrics.psnr(x[i], ref[i]) for i in range(3)], rtol=1e-12)
    # uint16 uses the type range 65535.
    a = np.zeros((4, 4), np.uint16)
    b = np.full((4, 4), 655, np.uint16)
    assert metrics.psnr(a, b) == pytest.approx(10 * np.log10(65535.0**2 / 655.0**2))


def test_errors():
    with pytest.raises(ValueError, match="same shape"):
        metrics.psnr(np.zeros((4, 4), np.uint8), np.zeros((5, 4), np.uint8))
    with pytest.raises(ValueError, match=r"\(H, W\) or \(N, H, W\)"):
        metrics.psnr(np.zeros((2, 2, 2, 2), np.uint8), np.zeros((2, 2, 2, 2), np.uint8))
