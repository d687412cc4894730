"""Target detection (pocusiq.metrics.targets): planted targets on synthetic images, real phantom frames."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pocusiq.metrics.targets import find_blobs, find_point_targets, speckle_size, valid_pixels

from .phantom import WIRES, gaussian_spot, speckle_envelope, to_display
from .real_frames import FRAMES, load_frame


@pytest.mark.parametrize("centre", [(30.0, 40.0), (30.37, 41.71), (29.5, 40.5), (31.9, 38.08)])
def test_noiseless_gaussian_subpixel_centre(centre):
    image = gaussian_spot((64, 80), centre, (1.5, 2.2))
    (target,) = find_point_targets(image, speckle=(3.5, 5.2))
    assert abs(target.row - centre[0]) <= 0.1 and abs(target.col - centre[1]) <= 0.1, target
    assert target.background == pytest.approx(10.0, abs=0.5)
    # the contrast is the brightest sampled pixel's, at most half a pixel off the centre per axis
    dr, dc = centre[0] - round(centre[0] + 1e-9), centre[1] - round(centre[1] + 1e-9)
    nearest = 100.0 * math.exp(-0.5 * ((dr / 1.5) ** 2 + (dc / 2.2) ** 2))
    assert target.contrast == pytest.approx(nearest, rel=1e-3)




@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_wires_found_and_none_in_speckle(seed):
    env = speckle_envelope((256, 256), seed)
    assert find_point_targets(to_display(env)) == []  # pure speckle: no targets
    for r, c in WIRES:  # wires 24 dB above the mean speckle, the PSF's size
        env = env + 16.0 * gaussian_spot(env.shape, (r, c), (1.2, 1.8), amplitude=1.0, background=0.0)
    found = find_point_targets(to_display(env))
    assert len(found) == len(WIRES), found
    for t, (r, c) in zip(found, WIRES):
        assert math.hypot(t.row - r, t.col - c) < 0.6, (t, r, c)
        assert t.contrast > 50


def test_speckle_size_measures_the_psf():
    small = speckle_size(to_display(speckle_envelope((256, 256), 3, psf=(1.0, 1.5)), smooth=0))
    large = speckle_size(to_display(speckle_envelope((256, 256), 3, psf=(2.0, 3.0)), smooth=0))
    assert small[0] < small[1] and large[0] < large[1]  # laterally wider
    assert large[0] == pytest.approx(2 * small[0], rel=0.2) and large[1] == pytest.approx(2 * small[1], rel=0.2)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_planted_cyst_and_bright_target_found(seed):
    env = speckle_envelope((256, 256), seed)
    assert find_blobs(to_display(env)) == []
    yy, xx = np.mgrid[0:256, 0:256]
    cyst = (yy - 80) ** 2 + (xx - 90) ** 2 < 20**2
    bright = (yy - 170) ** 2 + (xx - 170) ** 2 < 25**2
    env = env * np.where(cyst, 0.03, 1.0) * np.where(bright, 3.0, 1.0)
    blobs = find_blobs(to_display(env))
    assert [b.polarity for b in blobs] == ["dark", "bright"], blobs
    for blob, (r, c, radius) in zip(blobs, [(80, 90, 20), (170, 170, 25)]):
        assert math.hypot(blob.row - r, blob.col - c) < 3
        assert blob.radius == pytest.approx(radius, rel=0.25)
        assert blob.gcnr > 0.8
    assert blobs[0].mask[80, 90] and not blobs[0].mask[170, 170]
    assert find_blobs(to_display(env), polarity="dark")[0].polarity == "dark"


def test_bad_arguments():
    with pytest.raises(ValueError, match="polarity"):
        find_blobs(np.zeros((32, 32)), polarity="grey")
    with pytest.raises(ValueError, match="valid"):
        find_point_targets(np.zeros((32, 32)), valid=np.zeros((32, 32), bool))
    with pytest.raises(ValueError, match="16 x 16"):
        speckle_size(np.zeros((8, 8)))


def test_valid_pixels_fills_cysts_and_drops_ui():
    grey = np.full((60, 60), 80, np.uint8)
    grey[20:30, 20:30] = 0  # an anechoic cyst: stays valid
    grey[:, :5] = 0  # a black margin: not valid
    sat = np.zeros((60, 60))
    sat[50:54, 50:54] = 200  # a coloured button
    valid = valid_pixels(grey, saturation=sat)
    assert valid[25, 25] and not valid[30, 2] and not valid[52, 52] and valid[40, 30]


# Real frames: targets written down by looking at the imaging-region crops (row, col in pixels of
# the crop). "required" must be found; "allowed" are real structures that may be found
# (faint targets, targets cut by the image edge, reflections); anything else is a false detection.
POINTS = {
    "clarius_axial-lateral-resolution-2020.png": (
        [(413, 397), (429, 388), (445, 370), (461, 337), (473, 227), (477, 287), (477, 388)],
        [],
    ),
    "interson-phantom.png": ([], []),
    "butterfly-phantom/anechoic-3mm-3mm.png": ([], [(822, 709)]),
    "butterfly-phantom/anechoic-4.5mm-2mm.png": ([], [(43, 686), (822, 705)]),
    "butterfly-phantom/anechoic-6.7mm-1.3mm.png": ([(819, 699)], [(43, 646), (98, 243)]),
    "butterfly-phantom/grey-left.png": ([], [(99, 161), (685, 691)]),
    "butterfly-phantom/grey-mid.png": ([(833, 605)], []),
    "butterfly-phantom/grey-right.png": (
        [(65, 342), (84, 468), (104, 595), (832, 200), (835, 412), (841, 624)],
        [(45, 215)],
    ),
}
DARK = {
    "clarius_axial-lateral-resolution-2020.png": ([(234, 488), (238, 277)], [(233, 73)]),
    "interson-phantom.png": ([], [(659, 265)]),
    "butterfly-phantom/anechoic-3mm-3mm.png": ([(334, 518), (335, 173), (630, 123)], [(935, 529), (945, 188), (616, 374)]),
    "butterfly-phantom/anechoic-4.5mm-2mm.png": ([(337, 161), (333, 504), (631, 113)], [(950, 184), (611, 393)]),
    "butterfly-phantom/anechoic-6.7mm-1.3mm.png": ([(345, 132), (648, 98)], [(941, 184), (614, 352)]),
    "butterfly-phantom/grey-left.png": ([(339, 427), (631, 110), (634, 368)], [(950, 425), (622, 608)]),
    "butterfly-phantom/grey-mid.png": ([(330, 66), (614, 43)], [(334, 423), (614, 276), (940, 75)]),
    "butterfly-phantom/grey-right.png": ([], []),
}
BRIGHT = {
    "butterfly-phantom/grey-right.png": ([(636, 371), (639, 626)], [(637, 119)]),
    "butterfly-phantom/grey-mid.png": ([], [(642, 526), (640, 699)]),
    "butterfly-phantom/anechoic-3mm-3mm.png": ([], [(642, 635)]),
    "butterfly-phantom/anechoic-4.5mm-2mm.png": ([], [(649, 625)]),
    "butterfly-phantom/anechoic-6.7mm-1.3mm.png": ([], [(626, 598)]),
}


def _match(found, required, allowed, tol):
    positions = required + allowed
    for f in found:
        assert any(math.hypot(f[0] - r, f[1] - c) <= tol(f) for r, c in positions), f"false detection at {f}"
    for r, c in required:
        assert any(math.hypot(f[0] - r, f[1] - c) <= tol(f) for f in found), f"target at {(r, c)} not found"


@pytest.fixture(scope="module")
def pocus_dir(shared_data):
    return shared_data / "real" / "pocus"


@pytest.mark.parametrize("name", FRAMES)
def test_real_frame_targets(pocus_dir, name):
    grey, valid = load_frame(pocus_dir, name)
    speckle = speckle_size(grey, valid)
    points = find_point_targets(grey, valid=valid, speckle=speckle)
    _match([(p.row, p.col) for p in points], *POINTS[name], tol=lambda f: 4.0)
    blobs = find_blobs(grey, valid=valid, speckle=speckle)
    radius = {(b.row, b.col): b.radius for b in blobs}
    tol = lambda f: max(15.0, 0.5 * radius[f])  # noqa: E731
    _match([(b.row, b.col) for b in blobs if b.polarity == "dark"], *DARK.get(name, ([], [])), tol=tol)
    required, allowed = BRIGHT.get(name, ([], []))
    wires = POINTS[name][0] + POINTS[name][1]  # a wire's bright halo may also count as a bright blob
    _match([(b.row, b.col) for b in blobs if b.polarity == "bright"], required, allowed + wires, tol=tol)
