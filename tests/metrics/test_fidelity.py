"""Fidelity metrics (pocusiq.metrics.fidelity) on images with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage

from pocusiq.metrics import fidelity as F
from pocusiq.metrics.targets import speckle_size

from .phantom import CYST, WIRES, phantom, phantom_envelope, to_display


@pytest.fixture(scope="module")
def image():
    return phantom(0)


@pytest.fixture(scope="module")
def targets(image):
    return F.find_targets(image)


def _u8(x):
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def test_targets_found_in_the_phantom(targets):
    assert len(targets.points) == len(WIRES)
    assert len(targets.masks) == 1 and targets.masks[0][CYST[0], CYST[1]]


def test_identity_scores_perfect(image, targets):
    rep = F.fidelity_report(image, image.copy(), targets=targets)
    assert rep.keeps_every_target and rep.failures == ()
    assert rep.point_targets == len(WIRES) and rep.blob_targets == 1
    assert rep.point_contrast_kept == 1.0 and rep.point_width_ratio == 1.0 and rep.gcnr_change == 0.0
    assert rep.pixel_gcnr_change == 0.0
    assert rep.invented_blobs == 0 and rep.missing_blobs == 0
    assert rep.streak_ratio == 1.0 and rep.checkerboard_ratio == 1.0 and rep.seam_ratio == 1.0
    # found targets by default: the same answer
    assert F.fidelity_report(image, image.copy()).keeps_every_target


def test_unsharp_mask_keeps_targets(image, targets):
    from skimage.filters import unsharp_mask

    out = _u8(unsharp_mask(image.astype(float), radius=1.0, amount=1.0, preserve_range=True))
    rep = F.fidelity_report(image, out, targets=targets)
    assert rep.keeps_every_target, rep.failures
    assert rep.point_contrast_kept >= 0.95 and rep.point_width_ratio <= 1.05


def test_heavy_blur_fails_point_target_widths(image, targets):
    out = _u8(ndimage.gaussian_filter(image.astype(float), 3.0))
    rep = F.fidelity_report(image, out, targets=targets)
    assert not rep.keeps_every_target
    assert rep.point_width_ratio > F.MAX_WIDENING and rep.point_contrast_kept < F.MIN_CONTRAST_KEPT
    assert any("widened" in f for f in rep.failures)


def test_painted_streak_detected(image, targets):
    out = image.astype(float)
    out[150:152, :] += 60.0  # a 2-row horizontal streak across the image
    rep = F.fidelity_report(image, _u8(out), targets=targets)
    assert rep.streak_ratio > 5 and not rep.keeps_every_target
    assert any("streak" in f for f in rep.failures)
    vertical = image.astype(float)
    vertical[:, 100:102] += 60.0
    assert F.streak_energy(_u8(vertical)) > 5 * F.streak_energy(image)


def test_invented_spot_detected(image, targets):
    out = image.copy()
    yy, xx = np.mgrid[0:256, 0:256]
    spot = (yy - 180) ** 2 + (xx - 200) ** 2 < 12**2  # a dark cyst-like spot in plain speckle
    out[spot] = 0  # anechoic, as the real cysts are
    rep = F.fidelity_report(image, out, targets=targets)
    assert rep.invented_blobs == 1 and rep.invented_area_px == pytest.approx(spot.sum(), rel=0.35)
    assert not rep.keeps_every_target and any("new cyst-like" in f for f in rep.failures)


def test_erased_cyst_is_missing(image, targets):
    erased = to_display(phantom_envelope(0, cyst=False))  # the same speckle without the cyst
    rep = F.fidelity_report(image, erased, targets=targets)
    assert rep.missing_blobs == 1 and rep.gcnr_change < -0.5 and not rep.keeps_every_target


def test_checkerboard_detected(image, targets):
    yy, xx = np.mgrid[0:256, 0:256]
    out = _u8(image.astype(float) + 8.0 * (-1.0) ** (yy + xx))
    rep = F.fidelity_report(image, out, targets=targets)
    assert rep.checkerboard_ratio > 10 and F.checkerboard_energy(out) > 10
    assert not rep.keeps_every_target and any("checkerboard" in f for f in rep.failures)
    assert F.checkerboard_energy(image) < 3
    assert F.checkerboard_energy(_u8(ndimage.median_filter(image, 5))) < 3  # smoothing is no checkerboard


def test_tiling_seams_detected(image):
    out = image.astype(float)
    for c in range(32, 256, 32):
        out[:, c:] += 12.0 * (-1) ** (c // 32)  # a step every 32 columns, as a bad tile blend leaves
    assert F.seam_energy(image) < 6 and F.seam_energy(_u8(out)) > 2.5 * F.seam_energy(image)


def test_ground_truth_targets_used(image):
    yy, xx = np.mgrid[0:256, 0:256]
    truth = F.Targets(points=((128.7, 128.4),), masks=((yy - CYST[0]) ** 2 + (xx - CYST[1]) ** 2 < CYST[2] ** 2,),
                      speckle=speckle_size(image))
    rep = F.fidelity_report(image, image.copy(), targets=truth)
    assert rep.point_targets == 1 and rep.blob_targets == 1 and rep.keeps_every_target


def test_point_target_scores_known_values():
    from .phantom import gaussian_spot

    before = gaussian_spot((64, 64), (32, 32), (2.0, 2.0))
    after = gaussian_spot((64, 64), (32, 32), (3.0, 3.0), amplitude=50.0)
    (s,) = F.point_target_scores(before, after, [(32, 32)], speckle=(4.0, 4.0))
    assert s["contrast_kept"] == pytest.approx(0.5, rel=1e-3)
    assert s["axial_ratio"] == pytest.approx(1.5, rel=0.02) and s["lateral_ratio"] == pytest.approx(1.5, rel=0.02)


def test_registry_entries_read_one_cached_report(image):
    from pocusiq.metrics import METRICS

    out = _u8(ndimage.gaussian_filter(image.astype(float), 3.0))
    assert METRICS["keeps_every_target"].function(out, image) == 0.0
    assert METRICS["point_width_ratio"].function(out, image) > F.MAX_WIDENING
    assert METRICS["invented_blobs"].function(image.copy(), image) == 0.0
    assert math.isfinite(METRICS["streak_ratio"].function(out, image))


def test_bad_input():
    with pytest.raises(ValueError, match="same shape"):
        F.fidelity_report(np.zeros((32, 32), np.uint8), np.zeros((32, 40), np.uint8))
