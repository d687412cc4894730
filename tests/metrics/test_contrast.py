"""CNR, gCNR and the background ring: known values, invariances and errors."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq import metrics


def _halves(shape=(20, 20)):
    target = np.zeros(shape, bool)
    target[:, : shape[1] // 2] = True
    return target, ~target


def test_cnr_analytic_value():
    target, background = _halves()
    img = np.zeros(target.shape)
    # Target alternates 0/2 (mean 1, variance 1); background alternates 10/14 (mean 12, variance 4).
    checker = (np.indices(target.shape).sum(axis=0) % 2).astype(float)
    img[target] = (2 * checker)[target]
    img[background] = (10 + 4 * checker)[background]
    assert metrics.cnr(img, target, background) == pytest.approx(11 / np.sqrt(5), rel=1e-12)
    # Symmetric in the two regions, invariant to gain and offset.
    assert metrics.cnr(img, background, target) == pytest.approx(11 / np.sqrt(5), rel=1e-12)
    assert metrics.cnr(3 * img + 7, target, background) == pytest.approx(11 / np.sqrt(5), rel=1e-12)


def test_cnr_constant_regions():
    target, background = _halves()
    img = np.where(target, 5.0, 9.0)
    assert metrics.cnr(img, target, background) == np.inf
    assert metrics.cnr(np.full(target.shape, 3.0), target, background) == 0.0


def test_gcnr_disjoint_is_one_and_identical_is_zero():
    target, background = _halves()
    rng = np.random.default_rng(0)
    disjoint = np.where(target, rng.integers(0, 100, target.shape), rng.integers(150, 256, target.shape))
    assert metrics.gcnr(disjoint.astype(np.uint8), target, background) == pytest.approx(1.0)
    same = np.tile(np.arange(10, dtype=np.uint8), (20, 2))  # both halves hold the values 0..9 equally
    assert metrics.gcnr(same, target, background) == pytest.approx(0.0, abs=1e-12)


def test_gcnr_half_overlap_known_value():
    target, background = _halves((10, 20))
    img = np.zeros((10, 20), np.uint8)
    img[target] = np.tile(np.arange(0, 10), 10)  # uniform on 0..9
    img[background] = np.tile(np.arange(5, 15), 10)  # uniform on 5..14: half of each overlaps
    assert metrics.gcnr(img, target, background) == pytest.approx(0.5, abs=1e-12)


def test_gcnr_invariant_to_monotonic_mapping():
    rng = np.random.default_rng(1)
    target, background = _halves((40, 40))
    env = np.where(target, rng.rayleigh(1.0, target.shape), rng.rayleigh(2.0, target.shape))
    edges = np.quantile(env, np.linspace(0, 1, 65))
    edges[-1] += 1e-9
    linear = metrics.gcnr(env, target, background, bins=edges)
    logged = metrics.gcnr(20 * np.log10(env), target, background, bins=20 * np.log10(edges))
    assert 0.2 < linear < 0.9
    assert logged == pytest.approx(linear, abs=1e-12)


def test_mask_errors():
    target, background = _halves()
    img = np.zeros(target.shape, np.uint8)
    with pytest.raises(ValueError, match="overlap in 20 pixels"):
        overlapping = background.copy()
        overlapping[:, 9] = True
        metrics.cnr(img, target, overlapping)
    with pytest.raises(ValueError, match="target_mask: mask is empty"):
        metrics.gcnr(img, np.zeros_like(target), background)
    with pytest.raises(TypeError, match="bool mask"):
        metrics.cnr(img, target.astype(np.uint8), background)
    with pytest.raises(ValueError, match=r"does not match image shape"):
        metrics.cnr(img, target[:5], background)
    with pytest.raises(ValueError, match="bins must be >= 1"):
        metrics.gcnr(img, target, background, bins=0)


def test_background_ring_distances():
    target = np.zeros((31, 31), bool)
    target[15, 15] = True
    ring = metrics.background_ring(target, width=2.0, gap=1.0)
    dy, dx = np.indices(target.shape) - 15
    dist = np.hypot(dy, dx)
    np.testing.assert_array_equal(ring, (dist > 1.0) & (dist <= 3.0))
    assert not (ring & target).any()


def test_background_ring_spacing_and_within():
    target = np.zeros((41, 41), bool)
    target[20, 20] = True
    # Rows 0.5 mm apart, columns 0.25 mm: a 2 mm ring spans 4 rows and 8 columns.
    ring = metrics.background_ring(target, width=2.0, spacing=(0.5, 0.25))
    rows = np.nonzero(ring.any(axis=1))[0]
    cols = np.nonzero(ring.any(axis=0))[0]
    assert (rows.min(), rows.max()) == (16, 24)
    assert (cols.min(), cols.max()) == (12, 28)
    within = np.zeros_like(target)
    within[:, :20] = True
    assert not metrics.background_ring(target, width=2.0, spacing=(0.5, 0.25), within=within)[:, 20:].any()


def test_background_ring_errors():
    full = np.ones((8, 8), bool)
    with pytest.raises(ValueError, match="background ring is empty"):
        metrics.background_ring(full, width=3)
    target = np.zeros((8, 8), bool)
    target[4, 4] = True
    with pytest.raises(ValueError, match="width must be positive"):
        metrics.background_ring(target, width=0)
    with pytest.raises(ValueError, match="gap must be non-negative"):
        metrics.background_ring(target, width=1, gap=-1)


def test_cyst_contrast_on_speckle(speckle_image):
    img = speckle_image((120, 120), seed=4)
    yy, xx = np.indices(img.shape)
    cyst = (yy - 60) ** 2 + (xx - 60) ** 2 < 15**2  # inside the simulated 20-px-radius cyst
    ring = metrics.background_ring((yy - 60) ** 2 + (xx - 60) ** 2 < 20**2, width=10, gap=3)
    assert metrics.gcnr(img, cyst, ring) > 0.9
    assert metrics.cnr(img, cyst, ring) > 2.0


def test_gcnr_does_not_depend_on_bit_depth():
    # The same image as uint8 and as uint16 (x 257): one bin per uint16 value would leave
    # almost every bin with one pixel, so the two histograms would barely overlap (gCNR ~ 1).
    target, background = _halves((40, 40))
    rng = np.random.default_rng(2)
    img8 = np.where(target, rng.integers(0, 200, target.shape), rng.integers(50, 256, target.shape)).astype(np.uint8)
    img16 = img8.astype(np.uint16) * np.uint16(257)
    value8 = metrics.gcnr(img8, target, background)
    assert 0.1 < value8 < 0.5
    assert metrics.gcnr(img16, target, background) == pytest.approx(value8, abs=0.03)
