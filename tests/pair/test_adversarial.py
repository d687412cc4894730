"""Adversarial ``pocusiq pair`` runs (issue 13): absurd output sizes and spacings, a damaged frame.

Before the fix ``--size 100000`` died after the registration with an ArrayMemoryError traceback
(74.5 GiB for the output grid), and ``--size 0 --spacing-mm 1e-5`` would allocate the same way.
"""

from __future__ import annotations

import shutil

import pytest

from pocusiq.cli import main
from pocusiq.pair.frames import MAX_OUTPUT_SIDE, PairingConfig
from pocusiq.pair.session import pair_session, read_pair_report


def test_huge_output_size_is_refused_up_front(tiny_session, tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(["pair", "--session", str(tiny_session), "--out", str(out), "--size", "100000", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and f"between 8 and {MAX_OUTPUT_SIDE}" in err and "Traceback" not in err
    assert not out.exists()
    with pytest.raises(ValueError, match=str(MAX_OUTPUT_SIDE)):
        PairingConfig(output_size=MAX_OUTPUT_SIDE + 1)


def test_tiny_output_spacing_fails_each_pose_with_a_reason(tiny_session, tmp_path):
    out = tmp_path / "ds"
    summary = pair_session(tiny_session, out, config=PairingConfig(output_size=None, output_spacing_mm=1e-5))
    report = read_pair_report(out / "pair_report.csv")
    assert summary.accepted == 0 and len(report) == 2
    assert all(row["status"] == "failed" and "exceeds 4096 pixels a side" in row["reason"] for row in report)


def test_damaged_frame_is_named(tiny_session, tmp_path, capsys):
    session = tmp_path / "session"
    shutil.copytree(tiny_session, session)
    frame = sorted((session / "frames" / "high_end").glob("*.png"))[0]
    frame.write_bytes(frame.read_bytes()[:200])
    rc = main(["pair", "--session", str(session), "--out", str(tmp_path / "ds"), "--size", "48", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and frame.name in err and "changed since capture" in err
