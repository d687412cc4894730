"""Registration of synthetic speckle pairs with a known transform, checked by TRE in mm."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq.errors import RegistrationError
from pocusiq.pair.frames import PairingConfig, inner_rectangle, pair_frames
from pocusiq.pair.geometry import FramePlacement, compose, invert
from pocusiq.pair.register import RegistrationConfig
from pocusiq.pair.tre import target_registration_error

LOW_NOMINAL = FramePlacement((0.125, 0.125))
HIGH_NOMINAL = FramePlacement((0.1, 0.1))


def _tre(result, low, high):
    return target_registration_error(
        result.low_frame_from_out,
        result.high_frame_from_out,
        low.world_from_pixel,
        high.world_from_pixel,
        result.low.shape,
    )


def test_rigid_offset_recovered(sim_pair):
    # the POCUS probe truly sits 0.8 mm right, 0.5 mm up and 2 deg rotated from its nominal place
    low, high = sim_pair(seed=0)
    result = pair_frames(low.frame, high.frame, LOW_NOMINAL, HIGH_NOMINAL, PairingConfig(output_size=128))
    tre = _tre(result, low, high)
    # what the nominal placement alone would give: low frame pixel via the nominal maps only
    nominal_low_from_out = compose(
        invert(result.low_world_from_pixel), result.high_world_from_pixel, result.high_frame_from_out
    )
    nominal = target_registration_error(
        nominal_low_from_out,
        result.high_frame_from_out,
        low.world_from_pixel,
        high.world_from_pixel,
        result.low.shape,
    )
    assert result.low_region.box == low.region and result.high_region.box == high.region
    assert np.percentile(tre, 95) < 0.2, tre
    assert result.accepted and result.reason == ""
    assert result.low.shape == result.high.shape == (128, 128)
    assert result.low.dtype == np.uint8
    # registration found the 0.8 mm / 0.5 mm / 2 degree offset the nominal placement misses
    assert np.percentile(nominal, 95) > 0.5 > np.percentile(tre, 95)
    # output spacing: the largest square of the common field of view over 128 pixels
    x, y, w, h = result.overlap_box
    assert result.spacing_mm == pytest.approx(min(w, h) * 0.1 / 128)


def test_scale_error_needs_affine(sim_pair):
    # nominal lateral spacing 5 % off (as a wrong speed-of-sound/scale setting would make it)
    low, high = sim_pair(seed=2, low_shift_mm=(0.3, 0.2), low_angle_deg=1.0)
    wrong = FramePlacement((0.125 * 1.05, 0.125))
    rigid = pair_frames(
        low.frame, high.frame, wrong, HIGH_NOMINAL,
        PairingConfig(output_size=96, registration=RegistrationConfig(affine=False)),
    )
    affine = pair_frames(low.frame, high.frame, wrong, HIGH_NOMINAL, PairingConfig(output_size=96))
    assert rigid.registration.kind == "rigid"
    assert affine.registration.kind == "affine"
    rigid_p95 = np.percentile(_tre(rigid, low, high), 95)
    assert rigid_p95 > 0.8  # a rigid map cannot absorb a 5 % scale error (1 mm over 20 mm)
    assert np.percentile(_tre(affine, low, high), 95) < 0.7 * rigid_p95
    assert affine.registration.ncc["affine"] > affine.registration.ncc["rigid"] + 0.005


def test_deterministic(sim_pair):
    low, high = sim_pair(seed=1)
    cfg = PairingConfig(output_size=64)
    a = pair_frames(low.frame, high.frame, LOW_NOMINAL, HIGH_NOMINAL, cfg)
    b = pair_frames(low.frame, high.frame, LOW_NOMINAL, HIGH_NOMINAL, cfg)
    np.testing.assert_array_equal(a.registration.moving_from_fixed, b.registration.moving_from_fixed)
    np.testing.assert_array_equal(a.low, b.low)


def test_implausible_result_raises(sim_pair):
    low, high = sim_pair(seed=0)
    cfg = PairingConfig(registration=RegistrationConfig(max_shift_mm=0.2))  # true shift ~0.9 mm
    with pytest.raises(RegistrationError, match="diverged.*shift"):
        pair_frames(low.frame, high.frame, LOW_NOMINAL, HIGH_NOMINAL, cfg)


def test_overlap_too_small(sim_pair):
    # high-end probe 12 mm to the side: the 36 mm wide images share about 26 mm
    low, high = sim_pair(seed=0, high_probe_mm=(12.0, 0.0))
    high_nominal = FramePlacement((0.1, 0.1), probe_mm=(12.0, 0.0))
    result = pair_frames(low.frame, high.frame, LOW_NOMINAL, high_nominal, PairingConfig(output_size=64))
    x, y, w, h = result.overlap_box
    assert 0.6 < w / high.region[2] < 0.8
    with pytest.raises(RegistrationError, match=r"overlap too small: .* of the smaller imaging region \(< 90%\)"):
        pair_frames(
            low.frame, high.frame, LOW_NOMINAL, high_nominal, PairingConfig(min_overlap_fraction=0.9)
        )


def test_given_regions_are_used(sim_pair):
    low, high = sim_pair(seed=0)
    result = pair_frames(
        low.frame, high.frame, LOW_NOMINAL, HIGH_NOMINAL, PairingConfig(output_size=64),
        low_region=low.region, high_region=(20, 20, 300, 300),
    )
    assert result.high_region.box == (20, 20, 300, 300)
    x, y, w, h = result.overlap_box
    assert x >= 20 and y >= 20 and x + w <= 320 and y + h <= 320


def test_inner_rectangle():
    mask = np.zeros((50, 60), bool)
    mask[5:45, 10:50] = True
    assert inner_rectangle(mask) == (10, 5, 40, 40)
    mask[5, 10:20] = False  # a notch in the top edge
    x, y, w, h = inner_rectangle(mask)
    assert mask[y : y + h, x : x + w].all() and w * h >= 39 * 40 - 40
    assert inner_rectangle(np.zeros((5, 5), bool)) is None
