"""Pairing a simulated acquisition session: dataset, manifest params and pair_report.csv."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from pocusiq.cli import main as cli_main
from pocusiq.data.manifest import read_manifest
from pocusiq.errors import ConfigError, DatasetError
from pocusiq.pair.frames import PairingConfig
from pocusiq.pair.session import REPORT_COLUMNS, choose_devices, pair_session, read_pair_report
from pocusiq.acquire.session import read_session

SMALL = PairingConfig(output_size=64)


def test_pair_session_writes_dataset_and_report(tiny_session, tmp_path):
    out = tmp_path / "ds"
    summary = pair_session(tiny_session, out, config=SMALL, split="val")
    assert summary.accepted == 2 and summary.rejection_rate == 0.0
    rows = read_manifest(out)
    assert [r.id for r in rows] == ["tiny-sim_p0000", "tiny-sim_p0001"]
    for row in rows:
        assert row.split == "val" and row.source == "sim" and row.specimen == "tiny-sim"
        assert (row.low_device, row.high_device) == ("pocus", "high_end")
        assert (row.height, row.width) == (64, 64)
        reg = row.params["registration"]["low_world_from_high_world"]
        assert np.asarray(reg).shape == (2, 3)
        assert row.params["quality"]["ncc"] >= 0.3
        assert row.spacing_mm == pytest.approx(row.params["low_frame_from_out"][0][0] * 0.125, rel=0.05)
    # the imaging regions were detected (the log has none) and match the simulator's truth
    truth = {(f.device, f.pose_index): f.truth.region for f in read_session(tiny_session).frames}
    for row in rows:
        pose = row.params["pose_index"]
        assert tuple(row.params["low_region"][:4]) == truth[("pocus", pose)]
        assert tuple(row.params["high_region"][:4]) == truth[("high_end", pose)]
    report = read_pair_report(out / "pair_report.csv")
    assert [r["status"] for r in report] == ["accepted", "accepted"]
    # simulated truth: the pairing is accurate (ground truth TRE in the report)
    assert all(float(r["tre_p95_mm"]) < 0.3 for r in report)


def test_report_row_per_pose_with_reasons(tiny_session, tmp_path):
    session = tmp_path / "session"
    shutil.copytree(tiny_session, session)
    log = session / "log.jsonl"
    lines = log.read_text().splitlines(keepends=True)
    # pose 1 of the high-end device never finished (its pose_done line is missing)
    kept = [
        line for line in lines
        if not (json.loads(line).get("event") == "pose_done"
                and json.loads(line).get("device") == "high_end"
                and json.loads(line).get("pose_index") == 1)
    ]
    assert len(kept) == len(lines) - 1
    log.write_text("".join(kept))
    out = tmp_path / "ds"
    summary = pair_session(session, out, config=PairingConfig(output_size=64, min_ncc=0.999))
    report = read_pair_report(out / "pair_report.csv")
    assert len(report) == 2 and tuple(report[0]) == REPORT_COLUMNS
    assert report[0]["status"] == "rejected"
    assert report[0]["reason"].startswith("low NCC ") and report[0]["reason"].endswith(" < 1.00")
    assert report[1]["status"] == "failed"
    assert report[1]["reason"] == "missing high_end frame (pose not finished)"
    assert summary.accepted == 0 and summary.rejection_rate == 1.0
    assert read_manifest(out) == []


def test_device_choice_split_and_existing_output(tiny_session, tmp_path):
    session = read_session(tiny_session)
    assert choose_devices(session) == ("pocus", "high_end")
    assert choose_devices(session, "high_end", "pocus") == ("high_end", "pocus")
    with pytest.raises(ConfigError, match="device 'cart' not in the session"):
        choose_devices(session, "cart")
    with pytest.raises(ValueError, match="split 'dev'"):
        pair_session(tiny_session, tmp_path / "x", split="dev")
    (tmp_path / "full").mkdir()
    pair_session(tiny_session, tmp_path / "full", config=SMALL)
    with pytest.raises(DatasetError, match="already holds a dataset"):
        pair_session(tiny_session, tmp_path / "full", config=SMALL)


def test_cli_pair(tiny_session, tmp_path, capsys):
    out = tmp_path / "ds"
    rc = cli_main(["pair", "--session", str(tiny_session), "--out", str(out), "--size", "48",
                   "--no-progress", "--rigid-only"])
    printed = capsys.readouterr().out
    assert rc == 0
    assert "2 pairs accepted, 0 not" in printed and "TRE against simulator truth" in printed
    assert {r.height for r in read_manifest(out)} == {48}
    rc = cli_main(["pair", "--session", str(tmp_path / "nope"), "--out", str(tmp_path / "o"), "--no-progress"])
    assert rc == 2
    assert "session folder not found" in capsys.readouterr().err
