"""`pocusiq acquire` command line: check mode, errors, a small simulated run."""

from __future__ import annotations

from pathlib import Path

import yaml

from pocusiq.acquire.plan import load_plan
from pocusiq.acquire.session import read_session
from pocusiq.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def test_example_plans_validate(capsys):
    for name, frames in (("sim_gantry.yaml", 18), ("grbl_gantry.yaml", 180), ("sim_calibration.yaml", 36),
                         ("grbl_calibration.yaml", 56)):
        assert main(["acquire", "--plan", str(EXAMPLES / name), "--check"]) == 0
        assert f"= {frames} frames" in capsys.readouterr().out
    plan = load_plan(EXAMPLES / "sim_gantry.yaml")
    assert [d.name for d in plan.devices] == ["pocus", "high_end"] and len(plan.poses) == 9
    # the GRBL calibration companion: same stage and devices as the data plan
    cal, data = load_plan(EXAMPLES / "grbl_calibration.yaml"), load_plan(EXAMPLES / "grbl_gantry.yaml")
    assert cal.stage == data.stage and [d.name for d in cal.devices] == [d.name for d in data.devices]
    assert len(cal.calibration.targets_mm) == 7


def test_bad_plan_is_exit_2_with_message(tmp_path, capsys):
    path = tmp_path / "plan.yaml"
    path.write_text("specimen: x\nstage: {kind: simulated}\nposes: {x_mm: [0], y_mm: [0]}\ndevices: []\n")
    assert main(["acquire", "--plan", str(path), "--out", str(tmp_path / "s")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: field 'stage.limits_mm': missing" in err


def test_small_simulated_run_and_resume(tmp_path, capsys):
    plan = {
        "specimen": "cli",
        "stage": {"kind": "simulated", "limits_mm": {"x": [0, 30], "y": [0, 1], "z": [0, 1]}},
        "poses": {"x_mm": [12, 18], "y_mm": [0]},
        "phantom": {"preset": "resolution", "seed": 1, "width_mm": 30, "depth_mm": 10},
        "devices": [
            {"name": "pocus", "kind": "simulated", "profile": "pocus", "frame_size": [140, 130],
             "fov_mm": 8, "depth_mm": 8, "image_spacing_mm": 0.1},
            {"name": "high_end", "kind": "simulated", "profile": "high_end", "frame_size": [100, 100],
             "fov_mm": 8, "depth_mm": 8, "image_spacing_mm": 0.1, "mount": {"dx_mm": 0.5}},
        ],
    }
    path = tmp_path / "plan.yaml"
    path.write_text(yaml.safe_dump(plan))
    out = tmp_path / "sess"
    assert main(["acquire", "--plan", str(path), "--out", str(out), "--no-progress"]) == 0
    assert "captured 4 frames" in capsys.readouterr().out
    session = read_session(out)
    assert session.paired_poses() == [0, 1]
    pocus = session.frames_for(1, "pocus")[0]
    high = session.frames_for(1, "high_end")[0]
    assert (pocus.width, pocus.height, pocus.channels) == (140, 130, 3)
    assert (high.width, high.height, high.channels) == (100, 100, 1)
    assert pocus.truth.probe_origin_mm == (18.0, 0.0) and high.truth.probe_origin_mm == (18.5, 0.0)
    assert pocus.load().shape == (130, 140, 3)
    assert main(["acquire", "--plan", str(path), "--out", str(out), "--no-progress"]) == 0
    assert "captured 0 frames at 0 (device, pose) steps, 4 already done; finished" in capsys.readouterr().out
