"""Gantry calibration on images: simulated wire-phantom sessions through ``pocusiq calibrate``,
and the point-target detection it uses on real wire-phantom screenshots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from pocusiq.acquire.calibration import default_detector, load_calibration, prepare_frame
from pocusiq.acquire.plan import load_plan
from pocusiq.cli import main

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "sim_calibration.yaml"
REAL = REPO.parent / "shared" / "data" / "real" / "pocus"


def test_example_plan_calibrates_both_devices_exactly(tmp_path, capsys):
    """The simulator's true mountings (several mm and degrees) are recovered within 0.1 mm / 0.2 deg
    from the images alone (the solve starts from no offset: --ignore-mount)."""
    out = tmp_path / "cal.json"
    code = main(["calibrate", "--plan", str(EXAMPLE), "--out", str(out), "--ignore-mount", "--no-progress"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "target 9" in printed and "residual rms" in printed
    plan = load_plan(EXAMPLE)
    cal = load_calibration(out)
    for device in plan.devices:
        got = cal.device(device.name)
        assert abs(got.offset_mm[0] - device.mount.dx_mm) < 0.1, (device.name, got.offset_mm)
        assert abs(got.offset_mm[1] - device.mount.dz_mm) < 0.1, (device.name, got.offset_mm)
        assert abs(got.rotation_deg - device.mount.rotation_deg) < 0.2, (device.name, got.rotation_deg)
        assert got.pivot_observed
        assert got.residuals_mm["rms"] < 0.1
        assert got.frames_with_targets == len(plan.poses)
        assert all(t["matches"] > 0 for t in got.per_target)
        # every simulated frame's true world_from_pixel is reproduced over the image
    from pocusiq.acquire.session import read_session

    session = read_session(tmp_path / "cal.json.session")
    worst = 0.0
    for record in session.frames:
        m = cal.device(record.device).world_from_pixel(record.pose)
        c0, r0, w, h = record.truth.region
        corners = np.array([[c0, c0 + w - 1, c0, c0 + w - 1], [r0, r0, r0 + h - 1, r0 + h - 1], [1, 1, 1, 1]], float)
        worst = max(worst, float(np.abs(m @ corners - record.truth.world_from_pixel @ corners).max()))
    assert worst < 0.15
    png = out.with_suffix(".png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert json.loads(out.read_text())["format"] == "pocusiq-calibration/1"


def small_plan(tmp_path: Path, **changes) -> Path:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["devices"] = data["devices"][1:]  # the high-end device only
    data["poses"] = {"x_mm": [40], "y_mm": [0], "z_mm": [0], "tilt_deg": [0]}
    data.update(changes)
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_too_few_frames_is_a_clear_cli_error(tmp_path, capsys):
    plan = small_plan(tmp_path)
    code = main(["calibrate", "--plan", str(plan), "--out", str(tmp_path / "cal.json"), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2
    assert "device 'high_end': point targets were detected in only 1 of 1 frames (need at least 6)" in err
    assert not (tmp_path / "cal.json").exists()


def test_a_session_with_one_depth_and_no_lateral_motion_asks_for_poses(tmp_path, capsys):
    # six frames at one pose: rotation and spacing cannot be told apart from the offset
    plan = small_plan(tmp_path, frames_per_pose=6)
    data = yaml.safe_load(plan.read_text())
    data["calibration"]["targets_mm"] = [[40, 16]]
    plan.write_text(yaml.safe_dump(data))
    session = tmp_path / "sess"
    code = main(["calibrate", "--plan", str(plan), "--out", str(tmp_path / "cal.json"), "--session", str(session),
                 "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "ill-conditioned" in err and "add poses with lateral translation" in err
    # --session alone reads the acquired session (its own plan) and gives the same verdict
    code = main(["calibrate", "--session", str(session), "--out", str(tmp_path / "cal.json")])
    assert code == 2 and "ill-conditioned" in capsys.readouterr().err


def test_a_plan_without_calibration_section_is_refused(tmp_path, capsys):
    data = yaml.safe_load(EXAMPLE.read_text())
    del data["calibration"]
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(data))
    assert main(["calibrate", "--plan", str(path), "--out", str(tmp_path / "c.json")]) == 2
    assert "no 'calibration' section" in capsys.readouterr().err


# --------------------------------------------------------------------------- real screenshots


def detect_real(name: str) -> np.ndarray:
    from PIL import Image

    path = REAL / name
    if not path.exists():
        pytest.skip(f"real data not available: {path} (../shared/data is a local data folder)")
    image = np.asarray(Image.open(path).convert("RGB"))
    grey, valid, _ = prepare_frame(image, None)
    return default_detector(grey, valid)


def test_calibration_detector_finds_the_clarius_wires_and_nothing_in_speckle():
    """Clarius resolution phantom screenshot: 7 wires (a staircase and a row, rows 570-640,
    columns 565-745 of the 1280x960 frame, checked by eye); cysts and speckle around them."""
    points = detect_real("clarius_axial-lateral-resolution-2020.png")
    assert len(points) == 7
    assert np.all((points[:, 0] > 560) & (points[:, 0] < 750)), points
    assert np.all((points[:, 1] > 565) & (points[:, 1] < 645)), points
    # distinct wires: at least 10 px apart
    d = np.linalg.norm(points[:, None] - points[None], axis=2) + np.eye(len(points)) * 1e9
    assert d.min() > 10


def test_calibration_detector_finds_the_butterfly_wires_and_nothing_in_speckle():
    """Butterfly iQ, CIRS phantom (grey-right.png, 1928x1080): three wires near the top
    (rows 80-125) and three at ~4 cm (rows 845-865), checked by eye."""
    points = detect_real("butterfly-phantom/grey-right.png")
    assert len(points) == 6, points  # the app's coloured "B" logo inside the image is not a target
    shallow = points[points[:, 1] < 200]
    deep = points[points[:, 1] > 800]
    assert len(shallow) == 3 and len(deep) == 3, points
    assert np.all((shallow[:, 1] > 75) & (shallow[:, 1] < 130))
    assert np.all((deep[:, 1] > 840) & (deep[:, 1] < 870))
    # frames without wires in view: nothing in speckle or at cyst edges
    for name in ("butterfly-phantom/anechoic-3mm-3mm.png", "butterfly-phantom/grey-left.png"):
        assert len(detect_real(name)) == 0, name
