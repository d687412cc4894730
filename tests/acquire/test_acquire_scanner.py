"""Simulated scanner: ground truth consistency (a known phantom point lands where it says)."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq.acquire.plan import MountConfig, Pose
from pocusiq.acquire.scanner import SimulatedScanner
from pocusiq.simulate.bmode import ImagingRegion
from pocusiq.simulate.phantoms import point_target_phantom

WIRE_Z_MM, WIRE_X_MM = 9.0, 31.0


def _wire(y_mm: float):
    return point_target_phantom(
        WIRE_Z_MM, WIRE_X_MM, width_mm=60.0, total_depth_mm=25.0, spacing_mm=0.1
    )


def _scanner(profile: str, mount: MountConfig, spacing: float, **kwargs) -> SimulatedScanner:
    options = dict(
        frame_size=(240, 240), color="grey", fov_mm=16.0, depth_mm=16.0, overlay=False, phantom_factory=_wire
    )
    options.update(kwargs)
    return SimulatedScanner(profile, profile, image_spacing_mm=spacing, mount=mount, **options)


def test_truth_matches_simulator_geometry():
    scanner = _scanner("pocus", MountConfig(1.5, 0.5, 2.0), 0.125, overlay=True, frame_size=(200, 200))
    pose = Pose(28.0, 5.0, 1.0, -3.0)
    truth = scanner.truth_for(pose)
    c0, r0, cols, rows = truth.region
    assert (cols, rows) == (128, 128) and r0 >= 30  # below the UI bar
    # the simulator's angle has the opposite sign (beam axis from +z towards +x)
    region = ImagingRegion(29.5, 1.5, scanner.fov_mm, scanner.depth_mm, +1.0)
    for i, j in [(0, 0), (rows - 1, 0), (17, 101), (rows - 1, cols - 1)]:
        u = (j + 0.5) * 0.125 - scanner.fov_mm / 2
        v = (i + 0.5) * 0.125
        expected = region.to_phantom(np.float64(u), np.float64(v))
        got = truth.pixel_to_world(c0 + j, r0 + i)
        np.testing.assert_allclose(got, expected, atol=1e-9)
    # world_to_pixel inverts pixel_to_world
    col, row = truth.world_to_pixel(*truth.pixel_to_world(123.25, 45.5))
    assert col == pytest.approx(123.25) and row == pytest.approx(45.5)
    assert truth.slice_y_mm == 5.0 and truth.image_angle_deg == pytest.approx(-1.0)
    # probe face centre: top edge of the region, centred
    np.testing.assert_allclose(truth.pixel_to_world(c0 + (cols - 1) / 2, r0 - 0.5), (29.5, 1.5), atol=1e-9)
    np.testing.assert_allclose(truth.probe_origin_mm, (29.5, 1.5))
    # positive angles turn the lateral axis from +x towards +z
    tilted = scanner.truth_for(Pose(28.0, 5.0, 1.0, 8.0))  # angle 10 deg
    dx, dz = np.subtract(tilted.pixel_to_world(c0 + 10, r0), tilted.pixel_to_world(c0, r0))
    assert dx > 0 and dz > 0 and np.degrees(np.arctan2(dz, dx)) == pytest.approx(10.0)


@pytest.mark.parametrize(
    ("profile", "mount", "spacing", "tolerance_mm"),
    [
        ("high_end", MountConfig(0.7, 0.3, 2.0), 0.1, 0.25),
        ("pocus", MountConfig(-1.2, 0.0, -1.5), 0.125, 0.4),
    ],
)
def test_wire_appears_where_world_from_pixel_says(profile, mount, spacing, tolerance_mm):
    scanner = _scanner(profile, mount, spacing)
    pose = Pose(30.0, 0.0, 1.0, 4.0)
    frame = scanner.capture(pose, pose_index=0, frame_index=0)
    truth = frame.truth
    c0, r0, cols, rows = truth.region
    inside = frame.image[r0 : r0 + rows, c0 : c0 + cols].astype(np.float64)
    i, j = np.unravel_index(np.argmax(inside), inside.shape)
    x, z = truth.pixel_to_world(c0 + j, r0 + i)
    assert abs(x - WIRE_X_MM) <= tolerance_mm and abs(z - WIRE_Z_MM) <= tolerance_mm, (x, z)
    col, row = truth.world_to_pixel(WIRE_X_MM, WIRE_Z_MM)
    assert abs(col - (c0 + j)) <= tolerance_mm / spacing and abs(row - (r0 + i)) <= tolerance_mm / spacing
    # the frame outside the region is black (no overlay), and nothing is drawn inside it
    outside = frame.image.copy()
    outside[r0 : r0 + rows, c0 : c0 + cols] = 0
    assert not outside.any()


def test_overlay_stays_in_margins_and_frames_are_deterministic():
    scanner = SimulatedScanner(
        "pocus", "pocus", frame_size=(320, 260), color="rgb", fov_mm=20.0, depth_mm=20.0,
        image_spacing_mm=0.1, overlay=True, phantom_factory=_wire,
    )
    image = scanner.render_image(Pose(30.0, 0.0), 3, 0)
    frame = scanner.compose_frame(image)
    c0, r0, cols, rows = scanner.region
    assert frame.shape == (260, 320, 3)
    for channel in range(3):
        np.testing.assert_array_equal(frame[r0 : r0 + rows, c0 : c0 + cols, channel], image)
    margins = frame.copy()
    margins[r0 : r0 + rows, c0 : c0 + cols] = 0
    assert margins.any()  # UI text / depth scale drawn
    assert (margins[:, :, 0] != margins[:, :, 2]).any()  # coloured UI marks
    np.testing.assert_array_equal(scanner.render_image(Pose(30.0, 0.0), 3, 0), image)
    assert not np.array_equal(scanner.render_image(Pose(30.0, 0.0), 3, 1), image)  # new noise


def test_image_must_fit_in_frame():
    with pytest.raises(ValueError, match="does not fit"):
        SimulatedScanner("x", "pocus", frame_size=(100, 100), fov_mm=20, depth_mm=20, image_spacing_mm=0.1)
