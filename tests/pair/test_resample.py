"""Spacing conversion, affine resampling, masked smoothing and the nominal geometry."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq.pair.geometry import (
    FramePlacement,
    apply_affine,
    compose,
    invert,
    nominal_world_from_pixel,
)
from pocusiq.pair.resample import masked_gaussian, resample_affine, resample_to_spacing


def test_pattern_at_0p1_resampled_to_0p2_lands_in_place():
    img = np.zeros((101, 121))
    img[40, 60] = 1.0  # a point at (x, z) = (6.0 mm, 4.0 mm) at 0.1 mm / px
    img[80, 20] = 1.0  # and one at (2.0 mm, 8.0 mm)
    out = resample_to_spacing(img, 0.1, 0.2)
    assert out.shape == (51, 61)
    peaks = sorted(zip(*np.unravel_index(np.argsort(out, axis=None)[-2:], out.shape)))
    assert [tuple(int(v) for v in p) for p in peaks] == [(20, 30), (40, 10)]


def test_anisotropic_spacing_to_square():
    img = np.zeros((50, 100))
    img[20, 30] = 1.0  # row spacing 0.2 mm, col spacing 0.1 mm -> (x, z) = (3.0, 4.0) mm
    out = resample_to_spacing(img, (0.1, 0.2), 0.1)
    assert out.shape == (99, 100)
    assert np.unravel_index(np.argmax(out), out.shape) == (40, 30)


def test_resample_bad_spacing():
    with pytest.raises(ValueError, match="spacing_mm must be positive"):
        resample_to_spacing(np.zeros((4, 4)), 0.0, 0.1)


def test_resample_affine_translation():
    rng = np.random.default_rng(0)
    img = rng.random((30, 40))
    # output (c, r) samples input (c + 3, r + 2)
    out = resample_affine(img, np.array([[1.0, 0, 3.0], [0, 1.0, 2.0]]), (20, 30))
    np.testing.assert_allclose(out, img[2:22, 3:33])


def test_masked_gaussian_ignores_outside():
    img = np.zeros((40, 40))
    img[:, 20:] = 100.0
    mask = img > 0
    out = masked_gaussian(img, mask, 3.0)
    np.testing.assert_allclose(out[:, 20:], 100.0)  # no darkening at the margin's edge
    assert np.all(out[:, :20] == 0)


def test_nominal_geometry_anchor_and_rotation():
    placement = FramePlacement(spacing_mm=(0.1, 0.2), probe_mm=(30.0, 1.0), angle_deg=90.0)
    region = (10, 20, 101, 50)
    m = nominal_world_from_pixel(region, placement)
    x, z = apply_affine(m, 10 + 50, 20 - 0.5)  # top-centre of the region: the probe face
    assert x == pytest.approx(30.0) and z == pytest.approx(1.0)
    x2, z2 = apply_affine(m, 10 + 60, 20 - 0.5)  # 10 columns right, rotated 90 deg: +z by 1 mm
    assert x2 == pytest.approx(30.0) and z2 == pytest.approx(2.0)
    x3, z3 = apply_affine(m, 60, 29.5)  # 10 rows deeper -> towards -x by 2 mm
    assert x3 == pytest.approx(28.0) and z3 == pytest.approx(1.0)
    ident = compose(m, invert(m))
    np.testing.assert_allclose(ident, [[1, 0, 0], [0, 1, 0]], atol=1e-12)


def test_placement_rejects_bad_spacing():
    with pytest.raises(ValueError, match="pixel spacing"):
        FramePlacement(spacing_mm=(0.1, -1.0))
