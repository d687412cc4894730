"""FWHM of point targets: sampled Gaussians of known width, log/linear conventions, errors."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq import metrics
from pocusiq.metrics.resolution import profile_width

FWHM_PER_SIGMA = 2.0 * np.sqrt(2.0 * np.log(2.0))  # 2.3548


def _gaussian(shape, centre, sigma_rc):
    yy, xx = np.indices(shape, dtype=np.float64)
    return np.exp(-((yy - centre[0]) ** 2) / (2 * sigma_rc[0] ** 2) - (xx - centre[1]) ** 2 / (2 * sigma_rc[1] ** 2))


@pytest.mark.parametrize("centre", [(30.0, 40.0), (30.4, 39.7), (29.5, 40.5)])
def test_linear_envelope_gaussian(centre):
    env = _gaussian((64, 80), centre, (2.0, 3.5))
    axial, lateral = metrics.fwhm(env, (30, 40), (0.05, 0.2), log_compressed=False)
    assert axial == pytest.approx(FWHM_PER_SIGMA * 2.0 * 0.05, rel=0.005)
    assert lateral == pytest.approx(FWHM_PER_SIGMA * 3.5 * 0.2, rel=0.005)


def test_log_compressed_gives_same_width():
    env = _gaussian((64, 80), (30.3, 40.2), (2.5, 3.0))
    db = np.clip(20 * np.log10(env + 1e-12), -60.0, 0.0)
    as_float = (db + 60.0) / 60.0  # 60 dB mapped onto [0, 1]
    axial, lateral = metrics.fwhm(as_float, (30, 40), 0.1, data_range=1.0, dynamic_range_db=60.0)
    assert axial == pytest.approx(FWHM_PER_SIGMA * 0.25, rel=0.005)
    assert lateral == pytest.approx(FWHM_PER_SIGMA * 0.30, rel=0.005)
    as_uint8 = np.round(as_float * 255).astype(np.uint8)  # quantised to 0.24 dB steps
    axial8, lateral8 = metrics.fwhm(as_uint8, (30, 40), 0.1)
    assert axial8 == pytest.approx(axial, rel=0.03)
    assert lateral8 == pytest.approx(lateral, rel=0.03)
    with pytest.raises(ValueError, match="data_range is required"):
        metrics.fwhm(as_float, (30, 40), 0.1)


def test_peak_search_finds_target_near_hint():
    env = _gaussian((64, 64), (20.0, 20.0), (2.0, 2.0)) + 0.5 * _gaussian((64, 64), (45.0, 45.0), (3.0, 3.0))
    near_second = metrics.fwhm(env, (43, 46), 1.0, log_compressed=False)
    assert near_second[0] == pytest.approx(FWHM_PER_SIGMA * 3.0, rel=0.01)


def test_profile_width_triangle_known_value():
    p = np.array([0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 3.0, 2.0, 1.0, 0.0, 0.0])
    # The level 2 is crossed exactly at indices 3 and 7.
    assert profile_width(p, 5, 2.0) == pytest.approx(4.0)


def test_errors():
    env = _gaussian((40, 40), (20.0, 2.0), (2.0, 4.0))
    with pytest.raises(ValueError, match="does not fall to the half-maximum level before the peak"):
        metrics.fwhm(env, (20, 2), 1.0, log_compressed=False)
    with pytest.raises(ValueError, match="outside the image"):
        metrics.fwhm(env, (50, 2), 1.0, log_compressed=False)
    with pytest.raises(ValueError, match="spacing_mm must be positive"):
        metrics.fwhm(env, (20, 20), (0.1, 0.0), log_compressed=False)
    with pytest.raises(ValueError, match="linear envelope must be positive"):
        metrics.fwhm(-env, (20, 20), 1.0, log_compressed=False)
    with pytest.raises(TypeError, match=r"\(row, col\) pair"):
        metrics.fwhm(env, "ab", 1.0, log_compressed=False)
