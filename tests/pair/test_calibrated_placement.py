"""``pocusiq pair --calibration``: a gantry calibration is the nominal placement of the pairing."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from pocusiq.acquire.calibration import Calibration, DeviceCalibration
from pocusiq.acquire.session import read_session
from pocusiq.cli import main
from pocusiq.pair.frames import PairingConfig
from pocusiq.pair.geometry import nominal_world_from_pixel
from pocusiq.pair.session import frame_placement, pair_session

from .conftest import TINY_PLAN, make_session

MOUNTS = {"pocus": (-1.5, 0.6, -2.0), "high_end": (2.5, 0.9, 3.0)}


@pytest.fixture(scope="module")
def tilted_session(tmp_path_factory):
    plan = copy.deepcopy(TINY_PLAN)
    plan["poses"] = {"x_mm": [36], "y_mm": [0], "z_mm": [0], "tilt_deg": [-4, 4]}
    for device in plan["devices"]:
        dx, dz, rot = MOUNTS[device["name"]]
        device["mount"] = {"dx_mm": dx, "dz_mm": dz, "rotation_deg": rot}
    return make_session(tmp_path_factory.mktemp("calibrated"), plan)


def true_calibration(session, pivot_observed: bool = True, source: str = "cal.json") -> Calibration:
    """The calibration a perfect `pocusiq calibrate` would write for the session's devices."""
    devices = {}
    for name, (dx, dz, rot) in MOUNTS.items():
        truth = next(f for f in session.frames if f.device == name).truth
        c0, r0, w, _ = truth.region
        s = truth.image_spacing_mm
        devices[name] = DeviceCalibration(name, (s, s), rot, (dx, dz), (c0 + (w - 1) / 2, r0 - 0.5), pivot_observed)
    return Calibration(devices=devices, source=source)


def test_calibrated_placement_is_the_true_world_from_pixel(tilted_session):
    session = read_session(tilted_session)
    cal = true_calibration(session)
    for record in session.frames:
        placement = frame_placement(record, session, use_mount=False, calibration=cal)
        # the calibrated pivot is used whatever region the pairing detects
        for region in (record.truth.region, (0, 0, 50, 50)):
            np.testing.assert_allclose(
                nominal_world_from_pixel(region, placement), record.truth.world_from_pixel, atol=1e-9
            )
        # without it (no mount) the nominal placement is millimetres off
        plain = nominal_world_from_pixel(record.truth.region, frame_placement(record, session, use_mount=False))
        assert np.abs(plain - record.truth.world_from_pixel)[:, 2].max() > 1.0


def test_pair_session_with_calibration_pairs_exactly_and_warns_when_it_does_not_fit(tilted_session, tmp_path):
    session = read_session(tilted_session)
    warnings: list[str] = []
    calibration = true_calibration(session)
    summary = pair_session(tilted_session, tmp_path / "ds", use_mount=False, calibration=calibration,
                           config=PairingConfig(register=False), warn=warnings.append)
    assert warnings == []
    assert summary.accepted == 2
    assert [r.transform for r in summary.rows] == ["none", "none"]
    assert summary.tre_values().max() < 1e-3  # the exact placement, kept
    # registration starting from it still pairs (its TRE is bench/calibration.py's business)
    registered = pair_session(tilted_session, tmp_path / "ds1", use_mount=False, calibration=calibration)
    assert registered.accepted == 2 and {r.transform for r in registered.rows} <= {"rigid", "affine"}
    # a calibration at one tilt, and one without the high-end device: say so
    partial = true_calibration(session, pivot_observed=False)
    del partial.devices["high_end"]
    pair_session(tilted_session, tmp_path / "ds2", calibration=partial, warn=warnings.append)
    assert any("no calibration for device 'high_end'" in w for w in warnings)
    assert any("calibrated at one tilt only" in w and "'pocus'" in w for w in warnings)


def test_cli_pair_reads_the_calibration_file(tilted_session, tmp_path, capsys):
    session = read_session(tilted_session)
    cal = true_calibration(session, source=str(tmp_path / "cal.json"))
    cal.save(tmp_path / "cal.json")
    code = main(["pair", "--session", str(tilted_session), "--out", str(tmp_path / "ds"), "--calibration",
                 str(tmp_path / "cal.json"), "--ignore-mount", "--no-register", "--no-progress", "--size", "64"])
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "2 pairs accepted" in out.out
    assert "TRE against simulator truth: median 0.000 mm" in out.out
    assert main(["pair", "--session", str(tilted_session), "--out", str(tmp_path / "ds3"), "--calibration",
                 str(tmp_path / "missing.json")]) == 2
    assert "calibration file not found" in capsys.readouterr().err


def test_cli_pair_with_calibration_skips_registration_unless_asked(tilted_session, tmp_path, capsys):
    import csv

    session = read_session(tilted_session)
    cal = true_calibration(session, source=str(tmp_path / "cal.json"))
    cal.save(tmp_path / "cal.json")
    transforms = {}
    for name, flags in {"default": [], "register": ["--register"]}.items():
        out = tmp_path / name
        code = main(["pair", "--session", str(tilted_session), "--out", str(out), "--calibration",
                     str(tmp_path / "cal.json"), "--ignore-mount", "--no-progress", "--size", "64", *flags])
        assert code == 0, capsys.readouterr().err
        with open(out / "pair_report.csv", newline="") as fh:
            transforms[name] = {row["transform"] for row in csv.DictReader(fh)}
    assert transforms["default"] == {"none"}
    assert transforms["register"] and transforms["register"] <= {"rigid", "affine"}
