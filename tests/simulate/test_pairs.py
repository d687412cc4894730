"""Simulated pairs and phantoms: determinism, alignment, masks, geometry, fixed scatterers."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from pocusiq.simulate.bmode import ImagingRegion, resample_masks, simulate_bmode
from pocusiq.simulate.pairs import simulate_pair
from pocusiq.simulate.phantoms import MASK_NAMES, PHANTOM_PRESETS, Phantom, make_phantom
from pocusiq.simulate.profiles import HIGH_END, POCUS

CURVED = dataclasses.replace(POCUS, name="curved", geometry="curvilinear", radius_mm=30.0, sector_angle_deg=60.0,
                             tx_focus_mm=25.0)


def test_same_seed_same_pair_other_seed_other_speckle():
    a = simulate_pair(11, 64, phantom="random_tissue")
    b = simulate_pair(11, 64, phantom="random_tissue")
    c = simulate_pair(12, 64, phantom="random_tissue")
    assert np.array_equal(a.low, b.low) and np.array_equal(a.high, b.high)
    assert all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert a.params == b.params
    assert np.mean(a.low != c.low) > 0.5 and np.mean(a.high != c.high) > 0.5


def test_pair_contract():
    assert simulate_pair(5, 32).spacing_mm == pytest.approx(0.08)  # DEFAULT_SPACING_MM
    pair = simulate_pair(5, 96, phantom="resolution", fov_mm=30.0)
    assert pair.low.shape == pair.high.shape == (96, 96)
    assert pair.low.dtype == pair.high.dtype == np.uint8
    assert set(pair.masks) == set(MASK_NAMES) | {"sector"}
    assert all(m.shape == (96, 96) and m.dtype == bool for m in pair.masks.values())
    assert pair.masks["sector"].all()  # linear geometry: everything imaged
    assert pair.spacing_mm == pytest.approx(30.0 / 96)
    assert pair.phantom == "resolution"
    params = json.loads(json.dumps(pair.params))
    assert params["seed"] == 5 and params["phantom"] == "resolution"
    assert params["low_profile"]["name"] == "pocus" and params["high_profile"]["name"] == "high_end"
    # the POCUS beam is wider: neighbouring columns of its image are more correlated
    def lateral_corr(img):
        x = img.astype(float)
        return float(np.corrcoef(x[:, :-1].ravel(), x[:, 1:].ravel())[0, 1])

    assert lateral_corr(pair.low) > lateral_corr(pair.high) + 0.1


def test_preset_drawn_from_seed_and_all_presets_run():
    drawn = {simulate_pair(s, 32).phantom for s in range(12)}
    assert drawn <= set(PHANTOM_PRESETS) and len(drawn) >= 2
    with pytest.raises(ValueError, match=r"unknown phantom preset 'liver'"):
        simulate_pair(0, 32, phantom="liver")


def test_masks_are_aligned_with_the_images():
    pair = simulate_pair(2, 128, phantom="resolution", fov_mm=30.0)
    cysts, wires = pair.masks["cysts"], pair.masks["wires"]
    assert cysts.sum() > 50 and wires.sum() > 10
    background = ~(cysts | wires | pair.masks["hyperechoic"])
    for img in (pair.high, pair.low):
        # anechoic cysts are darker than the background in both images (not so if shifted)
        inner = cysts & ~np.roll(~cysts, 1, axis=0) & ~np.roll(~cysts, -1, axis=0)
        assert img[inner].mean() < 0.6 * img[background].mean()
    # wires are bright in the high-end image
    assert pair.high[wires].max() > np.percentile(pair.high[background], 99)


def test_curvilinear_pair_has_a_black_outside_and_a_sector_mask():
    pair = simulate_pair(4, 96, phantom="abdominal", low_profile=CURVED, fov_mm=60.0)
    sector = pair.masks["sector"]
    assert 0.5 < sector.mean() < 1.0
    assert not sector[0, 0] and not sector[0, -1] and sector[-1, 48] and sector[2, 48]
    assert pair.low[~sector].max() == 0 and pair.high[~sector].max() == 0
    assert pair.low[sector].mean() > 10 and pair.high[sector].mean() > 10
    assert all(not m[~sector].any() for k, m in pair.masks.items() if k != "sector")
    assert pair.params["fov_mm"] == 60.0


def test_curvilinear_sector_geometry():
    phantom = Phantom(np.ones((200, 300), np.float32), 0.2, name="u", scatter_seed=1)
    region = ImagingRegion(x0_mm=30.0, z0_mm=0.0, width_mm=50.0, depth_mm=30.0)
    out = simulate_bmode(phantom, CURVED, None, region=region, spacing_mm=0.5, display=False, return_envelope=True)
    rows, cols = out.image.shape
    v = (np.arange(rows)[:, None] + 0.5) * 0.5
    u = (np.arange(cols)[None, :] + 0.5) * 0.5 - 25.0
    rho = np.hypot(u, v + 30.0)
    phi = np.degrees(np.arctan2(u, v + 30.0))
    inside = (rho - 30.0 <= 30.0) & (np.abs(phi) <= 30.0)
    # the sector mask is the documented sector (up to pixels on its border)
    assert np.mean(out.sector_mask != inside) < 0.02
    assert (out.envelope[out.sector_mask] > 0).all()


def test_same_scatterers_seen_from_another_pose():
    """Imaging a sub-region equals the matching crop of a larger image (fixed scatterers)."""
    rng = np.random.default_rng(0)
    phantom = make_phantom("random_tissue", rng, width_mm=30.0, depth_mm=12.0, spacing_mm=0.1)
    profile = dataclasses.replace(HIGH_END, compounding_angles_deg=(0.0,))
    big = simulate_bmode(phantom, profile, None, region=ImagingRegion(15.0, 0.0, 20.0, 12.0), spacing_mm=0.1,
                         return_envelope=True, display=False).envelope
    # probe moved 3 mm to the right: columns shift by 30 pixels
    small = simulate_bmode(phantom, profile, None, region=ImagingRegion(18.0, 0.0, 10.0, 12.0), spacing_mm=0.1,
                           return_envelope=True, display=False).envelope
    crop = big[:, 80:180]
    assert small.shape == crop.shape
    assert np.allclose(small[:, 20:80], crop[:, 20:80], rtol=1e-3, atol=1e-4)
    # two devices on the same tissue: correlated envelopes; another phantom seed: uncorrelated
    other = simulate_bmode(phantom, POCUS, None, region=ImagingRegion(15.0, 0.0, 20.0, 12.0), spacing_mm=0.1,
                           return_envelope=True, display=False).envelope
    reseeded = dataclasses.replace(phantom, scatter_seed=phantom.scatter_seed + 1)
    again = simulate_bmode(reseeded, profile, None, region=ImagingRegion(15.0, 0.0, 20.0, 12.0), spacing_mm=0.1,
                           return_envelope=True, display=False).envelope
    uniform = Phantom(np.ones_like(phantom.echogenicity), 0.1, scatter_seed=phantom.scatter_seed)
    assert not np.allclose(again, big)
    speckle_a = simulate_bmode(uniform, profile, None, region=ImagingRegion(15.0, 0.0, 20.0, 12.0),
                               spacing_mm=0.1, return_envelope=True, display=False).envelope
    speckle_b = simulate_bmode(dataclasses.replace(uniform, scatter_seed=7), profile, None,
                               region=ImagingRegion(15.0, 0.0, 20.0, 12.0), spacing_mm=0.1, return_envelope=True,
                               display=False).envelope
    assert abs(np.corrcoef(speckle_a.ravel(), speckle_b.ravel())[0, 1]) < 0.05
    assert np.corrcoef(big.ravel(), other.ravel())[0, 1] > 0.2


def test_phantom_presets_and_masks():
    for preset in PHANTOM_PRESETS:
        ph = make_phantom(preset, np.random.default_rng(1), width_mm=20.0, depth_mm=15.0, spacing_mm=0.1)
        assert ph.shape == (150, 200) and ph.echogenicity.dtype == np.float32
        assert ph.echogenicity.min() >= 0 and set(MASK_NAMES) <= set(ph.masks)
        assert ph.name == preset
        # anechoic ground truth is anechoic; wires lie inside the wire mask
        assert ph.echogenicity[ph.masks["vessels"]].max(initial=0.0) == 0.0
        for z, x in ph.wires_mm:
            assert ph.masks["wires"][int(z / 0.1), int(x / 0.1)]
        again = make_phantom(preset, np.random.default_rng(1), width_mm=20.0, depth_mm=15.0, spacing_mm=0.1)
        assert np.array_equal(ph.echogenicity, again.echogenicity) and ph.scatter_seed == again.scatter_seed
    res = make_phantom("resolution", np.random.default_rng(0), width_mm=40.0, depth_mm=40.0, spacing_mm=0.1)
    assert len(res.wires_mm) >= 15
    # cysts of several diameters: distinct connected components of different areas
    from scipy import ndimage

    labels, n = ndimage.label(res.masks["cysts"])
    areas = sorted(np.bincount(labels.ravel())[1:])
    assert n >= 5 and areas[-1] > 10 * areas[0]
    with pytest.raises(ValueError, match=r"unknown phantom preset 'x'; choose one of soft_tissue"):
        make_phantom("x", np.random.default_rng(0))
    with pytest.raises(TypeError, match=r"rng must be a numpy.random.Generator, got int"):
        make_phantom("resolution", 3)


def test_resample_masks_identity_and_shift():
    masks = {"m": np.zeros((50, 60), bool)}
    masks["m"][10:20, 30:40] = True
    ph = Phantom(np.ones((50, 60), np.float32), 0.2, masks=masks)
    same = resample_masks(ph.masks, ph, ImagingRegion.whole(ph), 0.2)["m"]
    assert np.array_equal(same, masks["m"])
    shifted = resample_masks(ph.masks, ph, ImagingRegion(6.0 + 1.0, 0.0, 12.0, 10.0), 0.2)["m"]
    assert np.array_equal(shifted[:, :-5], masks["m"][:, 5:])
    assert not shifted[:, -5:].any()  # beyond the phantom: nothing
    # the crop fast path and the general (rotated by ~0) path agree
    region = ImagingRegion(5.0, 1.0, 8.0, 6.0)
    tilted = ImagingRegion(5.0, 1.0, 8.0, 6.0, angle_deg=1e-9)
    assert np.array_equal(resample_masks(ph.masks, ph, region, 0.2)["m"], resample_masks(ph.masks, ph, tilted, 0.2)["m"])


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"seed must be a non-negative integer, got -1"):
        simulate_pair(-1)
    with pytest.raises(ValueError, match=r"size must be an integer >= 16, got 8"):
        simulate_pair(0, 8)
    with pytest.raises(TypeError, match=r"profile must be a TransducerProfile or a name, got int"):
        simulate_pair(0, 32, low_profile=3)
    with pytest.raises(ValueError, match=r"echogenicity must be finite and >= 0"):
        Phantom(-np.ones((4, 4), np.float32), 0.1)
    with pytest.raises(ValueError, match=r"mask 'c' has shape \(2, 2\), expected \(4, 4\)"):
        Phantom(np.ones((4, 4), np.float32), 0.1, masks={"c": np.zeros((2, 2), bool)})
