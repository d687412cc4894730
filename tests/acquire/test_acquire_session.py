"""Session folders: writing, reading, resuming after a crash, torn lines, sha256 drift."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from pocusiq.acquire.acquisition import run_acquisition
from pocusiq.acquire.plan import Pose, load_plan
from pocusiq.acquire.session import LOG_NAME, PLAN_NAME, parse_log, read_session
from pocusiq.acquire.sources import CapturedFrame, FrameSource
from pocusiq.errors import ConfigError, DatasetError

PLAN = {
    "specimen": "bench-01",
    "stage": {"kind": "simulated", "limits_mm": {"x": [0, 50], "y": [0, 10], "z": [0, 5]}},
    "poses": {"x_mm": [0, 10, 20], "y_mm": [0, 5]},
    "frames_per_pose": 2,
    "devices": [
        {"name": "low", "kind": "video", "source": "unused.avi"},
        {"name": "high", "kind": "video", "source": "unused.avi"},
    ],
}


class Crash(Exception):
    pass


class PatternSource(FrameSource):
    """Deterministic frames encoding device, pose position and frame index; can crash."""

    def __init__(self, name: str, crash_after: int | None = None) -> None:
        self.name = name
        self.crash_after = crash_after
        self.taken: list[tuple[int, int]] = []

    def capture(self, pose: Pose, pose_index: int, frame_index: int) -> CapturedFrame:
        if self.crash_after is not None and len(self.taken) >= self.crash_after:
            raise Crash(f"{self.name} crashed")
        self.taken.append((pose_index, frame_index))
        image = np.zeros((24, 32), np.uint8)
        image[:, :] = int(pose.x_mm) + 3 * int(pose.y_mm)
        image[0, frame_index] = 255
        if self.name == "high":
            image = 255 - image
        return CapturedFrame(image=image, pixel_spacing_mm=(0.2, 0.2))


@pytest.fixture
def plan_file(tmp_path):
    path = tmp_path / "plan.yaml"
    path.write_text("# bench plan\n" + yaml.safe_dump(PLAN, sort_keys=False))
    return path


def _run(plan_file, out, low=None, high=None):
    sources = {"low": low or PatternSource("low"), "high": high or PatternSource("high")}
    return run_acquisition(load_plan(plan_file), out, plan_file=plan_file, sources=sources, progress=False)


def test_complete_session_round_trip(plan_file, tmp_path):
    out = tmp_path / "sess"
    result = _run(plan_file, out)
    assert result.finished and result.captured_frames == 6 * 2 * 2 and result.skipped_poses == 0
    assert (out / PLAN_NAME).read_bytes() == plan_file.read_bytes()
    session = read_session(out)
    assert session.finished and session.devices == ("low", "high") and session.specimen == "bench-01"
    assert session.paired_poses() == list(range(6))
    assert not session.incomplete
    grouped = session.by_pose()
    assert sorted(grouped) == list(range(6))
    frames = grouped[4]["high"]
    assert [f.frame_index for f in frames] == [0, 1]
    assert frames[1].file == "frames/high/pose0004_f01.png"
    assert frames[1].pose == Pose(10.0, 5.0, 0.0, 0.0)
    image = frames[1].load()
    expected = np.full((24, 32), 10 + 15, np.uint8)
    expected[0, 1] = 255
    np.testing.assert_array_equal(image, 255 - expected)
    assert frames[1].pixel_spacing_mm == (0.2, 0.2) and frames[1].truth is None
    # every line is valid JSON ending with a newline; events are ordered by pass
    records, good, torn = parse_log(out / LOG_NAME)
    assert torn == 0 and good == (out / LOG_NAME).stat().st_size
    events = [r["event"] for r in records]
    assert events[0] == "session_start" and events[-1] == "session_done"
    assert events.count("pose_done") == 12


def test_resume_after_crash_takes_only_missing_poses(plan_file, tmp_path):
    out = tmp_path / "sess"
    # crash in the second pass, in the middle of pose 2 (after its frame 0)
    high = PatternSource("high", crash_after=5)
    with pytest.raises(Crash):
        _run(plan_file, out, high=high)
    partial = read_session(out)
    assert not partial.finished
    assert {p for d, p in partial.completed if d == "low"} == set(range(6))
    assert {p for d, p in partial.completed if d == "high"} == {0, 1}
    assert partial.incomplete == {("high", 2)}
    assert partial.paired_poses() == [0, 1]

    low2, high2 = PatternSource("low"), PatternSource("high")
    result = _run(plan_file, out, low=low2, high=high2)
    assert low2.taken == []  # the low pass was finished: nothing re-taken
    assert high2.taken == [(p, f) for p in range(2, 6) for f in range(2)]
    assert result.skipped_poses == 6 + 2 and result.captured_poses == 4 and result.finished
    session = read_session(out)
    assert session.paired_poses() == list(range(6))
    # the re-taken pose 2 frame 0 supersedes the logged frame from before the crash
    records = [r for r in parse_log(out / LOG_NAME)[0] if r["event"] == "frame"]
    retakes = [r for r in records if (r["device"], r["pose_index"], r["frame_index"]) == ("high", 2, 0)]
    assert len(retakes) == 2
    assert session.frames_for(2, "high")[0].time == retakes[-1]["time"]
    # resuming a finished session captures nothing
    again = _run(plan_file, out)
    assert again.captured_frames == 0 and again.skipped_poses == 12


def test_torn_last_line_is_ignored_and_cut_on_resume(plan_file, tmp_path):
    out = tmp_path / "sess"
    with pytest.raises(Crash):
        _run(plan_file, out, low=PatternSource("low", crash_after=3))
    log = out / LOG_NAME
    torn = b'{"event": "frame", "device": "low", "pose_in'
    with open(log, "ab") as handle:
        handle.write(torn)
    session = read_session(out)  # the reader ignores the torn tail
    assert {p for d, p in session.completed} == {0}
    result = _run(plan_file, out)
    assert result.dropped_bytes == len(torn) and result.finished
    records, good, leftover = parse_log(log)
    assert leftover == 0
    resume = [r for r in records if r["event"] == "resume"]
    assert resume and resume[0]["dropped_bytes"] == len(torn)


def test_corrupt_middle_line_is_an_error(plan_file, tmp_path):
    out = tmp_path / "sess"
    _run(plan_file, out)
    log = out / LOG_NAME
    lines = log.read_bytes().split(b"\n")
    lines[3] = b"{not json"
    log.write_bytes(b"\n".join(lines))
    with pytest.raises(DatasetError, match=r"log.jsonl: line 4 is not a valid log record"):
        read_session(out)


def test_sha256_drift_and_missing_file_detected(plan_file, tmp_path):
    out = tmp_path / "sess"
    _run(plan_file, out)
    target = out / "frames" / "low" / "pose0003_f01.png"
    original = target.read_bytes()
    target.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
    with pytest.raises(DatasetError, match=r"frame file frames/low/pose0003_f01.png has changed since capture"):
        read_session(out)
    assert read_session(out, verify=False).paired_poses() == list(range(6))
    target.unlink()
    with pytest.raises(DatasetError, match=r"frame file frames/low/pose0003_f01.png is missing"):
        read_session(out)


def test_resume_with_a_different_plan_is_refused(plan_file, tmp_path):
    out = tmp_path / "sess"
    with pytest.raises(Crash):
        _run(plan_file, out, low=PatternSource("low", crash_after=1))
    changed = dict(PLAN, frames_per_pose=1)
    other = tmp_path / "other.yaml"
    other.write_text(yaml.safe_dump(changed))
    with pytest.raises(ConfigError, match="started with a different plan"):
        _run(other, out)


def test_read_session_errors(tmp_path):
    with pytest.raises(DatasetError, match="session folder not found"):
        read_session(tmp_path / "missing")
    (tmp_path / "s").mkdir()
    with pytest.raises(DatasetError, match="session log not found"):
        read_session(tmp_path / "s")
    (tmp_path / "s" / LOG_NAME).write_text(json.dumps({"event": "frame"}) + "\n")
    with pytest.raises(DatasetError, match="first line is not a session_start record"):
        read_session(tmp_path / "s")


def test_killed_cli_session_resumes_without_retaking_finished_poses(tmp_path):
    """SIGKILL a real `pocusiq acquire` mid-run, then resume: only missing poses are taken."""
    import os
    import signal
    import subprocess
    import sys
    import time

    plan = {
        "specimen": "kill-test",
        "stage": {"kind": "simulated", "limits_mm": {"x": [0, 40], "y": [0, 5], "z": [0, 1]}, "speed_mm_s": 40},
        "poses": {"x_mm": [10, 20, 30], "y_mm": [0, 2]},
        "phantom": {"preset": "random_tissue", "seed": 3, "width_mm": 40, "depth_mm": 12},
        "devices": [
            {"name": name, "kind": "simulated", "profile": name, "frame_size": [120, 110], "color": "grey",
             "fov_mm": 10, "depth_mm": 10, "image_spacing_mm": 0.1, "overlay": False}
            for name in ("pocus", "high_end")
        ],
    }
    plan_path = tmp_path / "plan.yaml"
    plan_path.write_text(yaml.safe_dump(plan))
    out = tmp_path / "sess"
    log = out / LOG_NAME
    proc = subprocess.Popen(
        [sys.executable, "-m", "pocusiq.cli", "acquire", "--plan", str(plan_path), "--out", str(out), "--no-progress"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if log.exists() and log.read_bytes().count(b'"pose_done"') >= 3:
                break
            time.sleep(0.02)
        assert proc.poll() is None, proc.stderr.read().decode()
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    before = read_session(out)
    done_before = set(before.completed)
    assert 3 <= len(done_before) < 12
    result = run_acquisition(load_plan(plan_path), out, plan_file=plan_path, progress=False)
    assert result.finished and result.skipped_poses == len(done_before)
    assert result.captured_poses == 12 - len(done_before)
    after = read_session(out)
    assert after.paired_poses() == list(range(6))
    # finished frames from before the kill were kept untouched (same logged hash and time)
    for device, pose_index in done_before:
        old = before.frames_for(pose_index, device)[0]
        assert after.frames_for(pose_index, device)[0].time == old.time
    assert not list((out / "frames").glob("**/.*.tmp*"))


def test_empty_log_from_a_crash_before_the_first_line_starts_afresh(plan_file, tmp_path):
    out = tmp_path / "sess"
    out.mkdir()
    (out / LOG_NAME).write_bytes(b'{"event": "sess')  # torn first line, nothing else
    result = _run(plan_file, out)
    assert result.finished and result.captured_frames == 24 and result.dropped_bytes > 0
    assert read_session(out).paired_poses() == list(range(6))
