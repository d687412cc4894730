"""Gantry calibration (pocusiq.acquire.calibration): solver, checks, file, pair integration.

The solver tests use the simulated scanner's exact geometry (``truth_for``) to place the
targets in the frames (plus detection noise and spurious detections), so they are fast and
check the mathematics; the image-based end-to-end tests are in test_calibration_images.py.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from pocusiq.acquire.calibration import (
    Calibration,
    FrameTargets,
    load_calibration,
    save_calibration_figure,
    solve_device,
)
from pocusiq.acquire.plan import CalibrationConfig, MountConfig, Pose, plan_from_dict
from pocusiq.acquire.scanner import SimulatedScanner
from pocusiq.errors import CalibrationError, ConfigError

TARGETS = [(30, 8), (40, 8), (50, 8), (35, 16), (45, 16), (30, 24), (40, 24), (50, 24), (35, 32), (45, 32)]


def poses(xs=(35, 40, 45), zs=(0, 3), tilts=(-5, 0, 5)):
    return [Pose(x, 0.0, z, t) for z in zs for t in tilts for x in xs]


def synthetic_frames(scanner, pose_list, *, noise_px=0.2, junk=2, seed=0, targets=TARGETS):
    """Detections where the scanner's true geometry puts the targets, plus noise and junk."""
    rng = np.random.default_rng(seed)
    t = np.asarray(targets, float)
    frames = []
    for i, pose in enumerate(pose_list):
        truth = scanner.truth_for(pose)
        col, row = truth.world_to_pixel(t[:, 0], t[:, 1])
        c0, r0, w, h = truth.region
        inside = (col >= c0) & (col < c0 + w) & (row >= r0) & (row < r0 + h)
        pts = np.stack([col[inside], row[inside]], axis=1) + rng.normal(0, noise_px, (int(inside.sum()), 2))
        extra = np.stack([rng.uniform(0, scanner.frame_size[0], junk), rng.uniform(0, scanner.frame_size[1], junk)], 1)
        frames.append(FrameTargets("dev", i, 0, pose, np.vstack([pts, extra]), scanner.frame_size))
    return frames


def scanner_with(mount, **kwargs):
    return SimulatedScanner("dev", "pocus", mount=mount, **kwargs)


def nominal_pivot(scanner):
    return ((scanner.frame_size[0] - 1) / 2.0, -0.5)


@pytest.mark.parametrize(
    "mount",
    [MountConfig(dx_mm=3.0, dz_mm=-1.5, rotation_deg=4.0), MountConfig(dx_mm=-4.5, dz_mm=2.0, rotation_deg=-3.0)],
)
def test_recovers_known_mounting_within_tolerance(mount):
    scanner = scanner_with(mount)
    frames = synthetic_frames(scanner, poses())
    cal = solve_device("dev", frames, TARGETS, CalibrationConfig(targets_mm=tuple(TARGETS)),
                       spacing0=(0.125, 0.125), pivot0=nominal_pivot(scanner))
    assert abs(cal.offset_mm[0] - mount.dx_mm) < 0.1
    assert abs(cal.offset_mm[1] - mount.dz_mm) < 0.1
    assert abs(cal.rotation_deg - mount.rotation_deg) < 0.2
    assert cal.pivot_observed
    c0, r0, w, _ = scanner.region
    assert abs(cal.pivot_px[0] - (c0 + (w - 1) / 2)) < 1.0 and abs(cal.pivot_px[1] - (r0 - 0.5)) < 1.0
    assert cal.pixel_spacing_mm == pytest.approx((0.125, 0.125), rel=2e-3)
    # the junk detections are outliers, not matches
    assert cal.outliers >= 2 * len(frames) - 2
    # the covariance's standard deviations are small but not zero, and cover the error
    assert 0 < cal.std["dx_mm"] < 0.05 and 0 < cal.std["rotation_deg"] < 0.05
    assert abs(cal.offset_mm[0] - mount.dx_mm) < 5 * cal.std["dx_mm"] + 0.01
    # the world map equals the scanner's truth at a pose (within the tolerance, over the image)
    pose = Pose(40, 0, 1, 3)
    truth = scanner.truth_for(pose).world_from_pixel
    cols, rows = np.meshgrid([c0, c0 + w - 1], [r0, r0 + scanner.rows - 1])
    pts = np.stack([cols.ravel(), rows.ravel(), np.ones(4)])
    assert np.abs(cal.world_from_pixel(pose) @ pts - truth @ pts).max() < 0.15


def test_spacing_refinement_finds_a_wrong_nominal_spacing():
    scanner = scanner_with(MountConfig(1.0, 0.5, 1.0))
    frames = synthetic_frames(scanner, poses(), noise_px=0.1)
    cfg = CalibrationConfig(targets_mm=tuple(TARGETS))
    cal = solve_device("dev", frames, TARGETS, cfg, spacing0=(0.12, 0.13), pivot0=nominal_pivot(scanner))
    assert cal.pixel_spacing_mm == pytest.approx((0.125, 0.125), rel=1e-3)
    # the same wrong spacing kept fixed: a poor fit, refused with the likely cause
    with pytest.raises(CalibrationError, match=r"too uncertain.*residuals are large.*refine_spacing"):
        solve_device("dev", frames, TARGETS, CalibrationConfig(targets_mm=tuple(TARGETS), refine_spacing=False),
                     spacing0=(0.12, 0.13), pivot0=nominal_pivot(scanner))
    fixed = solve_device("dev", frames, TARGETS, CalibrationConfig(targets_mm=tuple(TARGETS), refine_spacing=False),
                         spacing0=(0.125, 0.125), pivot0=nominal_pivot(scanner))
    assert fixed.pixel_spacing_mm == (0.125, 0.125) and "spacing_col_mm" not in fixed.std


def test_one_tilt_leaves_the_pivot_nominal_but_is_exact_at_that_tilt():
    mount = MountConfig(2.0, 1.0, -2.0)
    scanner = scanner_with(mount)
    frames = synthetic_frames(scanner, poses(tilts=(0,)), noise_px=0.05)
    cal = solve_device("dev", frames, TARGETS, CalibrationConfig(targets_mm=tuple(TARGETS)),
                       spacing0=(0.125, 0.125), pivot0=nominal_pivot(scanner))
    assert not cal.pivot_observed and cal.pivot_px == nominal_pivot(scanner)
    assert abs(cal.rotation_deg - mount.rotation_deg) < 0.1
    pose = Pose(40, 0, 2, 0)
    truth = scanner.truth_for(pose).world_from_pixel
    assert np.abs(cal.world_from_pixel(pose) - truth)[:, 2].max() < 0.1


def test_too_few_frames_with_targets_is_a_clear_error():
    scanner = scanner_with(MountConfig())
    frames = synthetic_frames(scanner, poses(), junk=0)
    empty = [FrameTargets(f.device, f.pose_index, 0, f.pose, np.zeros((0, 2)), f.frame_size) for f in frames]
    with pytest.raises(CalibrationError, match=r"detected in only 3 of 18 frames \(need at least 6\)"):
        solve_device("dev", frames[:3] + empty[3:], TARGETS, CalibrationConfig(targets_mm=tuple(TARGETS)),
                     spacing0=(0.125, 0.125), pivot0=nominal_pivot(scanner))


def test_targets_not_where_the_plan_says_is_a_matching_error():
    scanner = scanner_with(MountConfig())
    frames = synthetic_frames(scanner, poses(), junk=0)
    moved = [(x + 25.0, z + 20.0) for x, z in TARGETS]
    with pytest.raises(CalibrationError, match=r"only 18 of 180 detections \(10%, need 30%\) match a target"):
        solve_device("dev", frames, moved, CalibrationConfig(targets_mm=tuple(moved)),
                     spacing0=(0.125, 0.125), pivot0=nominal_pivot(scanner))


def test_ill_conditioned_pose_sets_say_which_poses_to_add():
    scanner = scanner_with(MountConfig(1.0, 0.0, 1.0))
    # one target, one depth, no lateral motion: the row spacing cannot be told from the offset
    one = [(40, 16)]
    frames = synthetic_frames(scanner, poses(xs=(40,), zs=(0,), tilts=(0,)) * 8, targets=one, junk=0)
    frames = [FrameTargets(f.device, i, 0, f.pose, f.points, f.frame_size) for i, f in enumerate(frames)]
    with pytest.raises(CalibrationError, match="ill-conditioned") as info:
        solve_device("dev", frames, one, CalibrationConfig(targets_mm=tuple(one)),
                     spacing0=(0.125, 0.125), pivot0=nominal_pivot(scanner))
    assert "add poses" in str(info.value)
    # tilts of +-0.2 deg: the pivot is nearly unobservable (condition number ~840) -> "add tilts";
    # +-2 deg is enough (~84)
    for tilt, fails in ((0.2, True), (2.0, False)):
        frames = synthetic_frames(scanner, poses(tilts=(-tilt, 0, tilt)), noise_px=0.3, junk=0)
        args = ("dev", frames, TARGETS, CalibrationConfig(targets_mm=tuple(TARGETS)))
        kwargs = {"spacing0": (0.125, 0.125), "pivot0": nominal_pivot(scanner)}
        if fails:
            with pytest.raises(CalibrationError, match="ill-conditioned.*pivot.*add tilts"):
                solve_device(*args, **kwargs)
        else:
            assert solve_device(*args, **kwargs).condition_number < 100


def test_noisy_detections_make_a_too_uncertain_calibration_an_error():
    scanner = scanner_with(MountConfig(1.0, 0.5, 1.0))
    few = poses(xs=(40,), zs=(0,), tilts=(-5, 5))  # 2 poses x 10 wires, 1.5 px detection noise
    frames = synthetic_frames(scanner, few * 3, noise_px=1.5, junk=0, seed=4)
    frames = [FrameTargets(f.device, i, 0, f.pose, f.points, f.frame_size) for i, f in enumerate(frames)]
    with pytest.raises(CalibrationError, match=r"too uncertain \(d[xz]_mm \+- 0\.[2-9]"):
        solve_device("dev", frames, TARGETS, CalibrationConfig(targets_mm=tuple(TARGETS)),
                     spacing0=(0.125, 0.125), pivot0=nominal_pivot(scanner))


def test_calibration_file_round_trip_and_errors(tmp_path):
    scanner = scanner_with(MountConfig(1.0, 0.5, 1.5))
    frames = synthetic_frames(scanner, poses())
    dev = solve_device("pocus", frames, TARGETS, CalibrationConfig(targets_mm=tuple(TARGETS)),
                       spacing0=(0.125, 0.125), pivot0=nominal_pivot(scanner))
    # a target never matched has no residual (NaN), written as null
    dev.per_target.append({"target": 10, "x_mm": 90.0, "z_mm": 5.0, "matches": 0, "rms_mm": math.nan, "max_mm": math.nan})
    cal = Calibration(devices={"pocus": dev}, targets_mm=tuple(TARGETS), session="s", plan_sha256="abc")
    path = tmp_path / "cal.json"
    cal.save(path)
    assert json.loads(path.read_text())["devices"]["pocus"]["per_target"][-1]["rms_mm"] is None
    back = load_calibration(path)
    assert back.devices["pocus"].condition_number == dev.condition_number
    assert back.devices["pocus"].offset_mm == dev.offset_mm
    assert back.devices["pocus"].pivot_px == dev.pivot_px
    np.testing.assert_allclose(back.devices["pocus"].world_from_pixel(Pose(1, 2, 3, 4)),
                               dev.world_from_pixel(Pose(1, 2, 3, 4)))
    save_calibration_figure(back, tmp_path / "cal.png")
    assert (tmp_path / "cal.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(CalibrationError, match="not a calibration file"):
        load_calibration(tmp_path / "bad.json")
    data = json.loads(path.read_text())
    data["devices"]["pocus"]["pixel_spacing_mm"] = [0.1]
    (tmp_path / "bad2.json").write_text(json.dumps(data))
    with pytest.raises(CalibrationError, match="device 'pocus': malformed"):
        load_calibration(tmp_path / "bad2.json")
    with pytest.raises(CalibrationError, match="no calibration for device 'x'"):
        back.device("x")


def plan_dict(**calibration):
    return {
        "specimen": "wire",
        "stage": {"kind": "simulated", "limits_mm": {"x": [0, 80], "y": [0, 10], "z": [0, 5]}},
        "poses": {"x_mm": [40], "y_mm": [0]},
        "phantom": {"preset": "wire_phantom", "width_mm": 80, "depth_mm": 60},
        "devices": [{"name": "pocus", "kind": "simulated", "profile": "pocus"}],
        "calibration": calibration,
    }


def test_calibration_section_of_the_plan():
    plan = plan_from_dict(plan_dict(targets_mm=[[30, 8], [40, 16]], refine_spacing=False, devices=["pocus"]))
    assert plan.calibration.targets_mm == ((30.0, 8.0), (40.0, 16.0))
    assert plan.calibration.refine_spacing is False
    # the simulated phantom gets the targets as wires (x, z), unless it gives its own
    assert plan.phantom.wires_mm == ((30.0, 8.0), (40.0, 16.0))
    data = plan_dict(targets_mm=[[30, 8]])
    data["phantom"]["wires_mm"] = [[31, 8]]
    assert plan_from_dict(data).phantom.wires_mm == ((31.0, 8.0),)
    with pytest.raises(ConfigError, match=r"field 'calibration.targets_mm': missing"):
        plan_from_dict(plan_dict())
    with pytest.raises(ConfigError, match=r"field 'calibration.targets_mm\[1\]': expected 2 values, got 3"):
        plan_from_dict(plan_dict(targets_mm=[[30, 8], [1, 2, 3]]))
    with pytest.raises(ConfigError, match=r"field 'calibration.devices\[0\]': 'x' is not a device"):
        plan_from_dict(plan_dict(targets_mm=[[30, 8]], devices=["x"]))
    with pytest.raises(ConfigError, match=r"field 'calibration.targets_mm': is empty"):
        plan_from_dict(plan_dict(targets_mm=[]))
    with pytest.raises(ConfigError, match=r"field 'calibration.match_gate_mm': must be > 0"):
        plan_from_dict(plan_dict(targets_mm=[[30, 8]], match_gate_mm=0))
    with pytest.raises(ConfigError, match=r"field 'calibration.gate': unknown key"):
        plan_from_dict(plan_dict(targets_mm=[[30, 8]], gate=1))


def test_scanner_images_the_plan_wires_in_every_slice():
    plan = plan_from_dict(plan_dict(targets_mm=[[30, 8], [40, 16]]))
    scanner = SimulatedScanner.from_config(plan.devices[0], plan.phantom)
    for y in (0.0, 5.0):
        wires = scanner.phantom_at(y).wires_mm  # (z, x)
        assert (8.0, 30.0) in wires and (16.0, 40.0) in wires
        assert scanner.phantom_at(y).masks["wires"].sum() > 0
    assert math.isclose(scanner.truth_for(Pose(40, 0)).phantom["wires_mm"][1][0], 40.0)
