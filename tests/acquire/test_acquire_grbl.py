"""GrblStage against a fake GRBL 1.1 controller on a pseudo-terminal."""

from __future__ import annotations

import pytest

from pocusiq.acquire.grbl import GrblStage, parse_status
from pocusiq.acquire.plan import Pose
from pocusiq.errors import StageError

LIMITS = {"x": (0.0, 100.0), "y": (0.0, 50.0), "z": (0.0, 20.0)}


def _stage(fake, **kwargs) -> GrblStage:
    options = {"reply_timeout_s": 0.5, "move_timeout_s": 3.0, "poll_s": 0.005}
    options.update(kwargs)
    return GrblStage(fake.port, LIMITS, **options)


def test_home_and_absolute_move_waits_for_idle(fake_grbl):
    with _stage(fake_grbl, feed_mm_per_min=750) as stage:
        stage.home()
        stage.move_to(Pose(12.5, 7.25, 3.0))
        assert stage.position() == Pose(12.5, 7.25, 3.0, 0.0)
    assert fake_grbl.lines[:3] == ["G21 G90", "$H", "G21 G90"]
    assert "G1 X12.500 Y7.250 Z3.000 F750" in fake_grbl.lines
    # the move returned only after status reports went Run -> Idle
    run_then_idle = fake_grbl.status_states
    assert "Run" in run_then_idle
    assert run_then_idle.index("Run") < len(run_then_idle) - 1
    assert run_then_idle[-1] == "Idle"
    # real-time '?' is sent without a newline: no '?' ever shows up inside a line
    assert all("?" not in line for line in fake_grbl.lines)


def test_error_reply_stops_and_names_the_code(fake_grbl):
    stage = _stage(fake_grbl)
    try:
        fake_grbl.error_next = 22
        with pytest.raises(StageError, match=r"error:22 \(feed rate has not yet been set or is undefined\)"):
            stage.move_to(Pose(1.0, 1.0, 1.0))
        # immediate stop: feed hold then soft reset
        assert b"!" in fake_grbl.realtime and b"\x18" in fake_grbl.realtime
        assert fake_grbl.realtime.index(b"!") < fake_grbl.realtime.index(b"\x18")
        # further moves are refused until homed again
        sent = len(fake_grbl.lines)
        with pytest.raises(StageError, match="home it first"):
            stage.move_to(Pose(2.0, 2.0, 2.0))
        assert len(fake_grbl.lines) == sent
        stage.home()
        stage.move_to(Pose(2.0, 2.0, 2.0))
        assert stage.position() == Pose(2.0, 2.0, 2.0)
    finally:
        stage.close()


def test_alarm_during_move_is_a_stage_error(fake_grbl):
    with _stage(fake_grbl) as stage:
        fake_grbl.alarm_next = 1
        with pytest.raises(StageError, match=r"ALARM:1 \(hard limit triggered"):
            stage.move_to(Pose(5.0, 5.0, 0.0))
        assert b"!" in fake_grbl.realtime


def test_homing_failure_alarm(fake_grbl):
    with _stage(fake_grbl) as stage:
        fake_grbl.home_alarm = 9
        with pytest.raises(StageError, match=r"ALARM:9 \(homing fail: could not find limit switch.*during '\$H'"):
            stage.home()
        with pytest.raises(StageError, match="home it first"):
            stage.move_to(Pose(1.0, 1.0, 1.0))


def test_dropped_reply_times_out(fake_grbl):
    with _stage(fake_grbl, reply_timeout_s=0.3) as stage:
        fake_grbl.drop_next = True
        with pytest.raises(StageError, match=r"no reply to 'G1 X5.000 Y0.000 Z0.000 F1000' within 0.3 s"):
            stage.move_to(Pose(5.0, 0.0, 0.0))


def test_move_timeout_when_never_idle(fake_grbl):
    with _stage(fake_grbl, move_timeout_s=0.2) as stage:
        fake_grbl.run_reports = 10**6
        with pytest.raises(StageError, match=r"not finished within 0.2 s \(last status 'Run'"):
            stage.move_to(Pose(5.0, 0.0, 0.0))


@pytest.mark.parametrize(
    ("pose", "message"),
    [
        (Pose(100.5, 0.0, 0.0), r"x = 100.5 mm is outside \[0, 100\] mm"),
        (Pose(0.0, -1.0, 0.0), r"y = -1 mm is outside \[0, 50\] mm"),
        (Pose(0.0, 0.0, 0.0, 5.0), r"tilt = 5 deg is outside \[0, 0\] deg"),
    ],
)
def test_soft_limits_refused_before_sending(fake_grbl, pose, message):
    with _stage(fake_grbl) as stage:
        sent = list(fake_grbl.lines)
        with pytest.raises(StageError, match=message):
            stage.move_to(pose)
        assert fake_grbl.lines == sent
        assert b"!" not in fake_grbl.realtime


def test_start_in_alarm_requires_homing(make_fake_grbl):
    fake = make_fake_grbl(start_in_alarm=True)
    with _stage(fake) as stage:
        with pytest.raises(StageError, match="Alarm state"):
            stage.move_to(Pose(1.0, 1.0, 1.0))
        stage.home()
        stage.move_to(Pose(1.0, 1.0, 1.0))
        assert stage.position() == Pose(1.0, 1.0, 1.0)


def test_tilt_axis_moves_a(make_fake_grbl):
    fake = make_fake_grbl(axes=4)
    with _stage(fake, tilt_axis="A", tilt_limits_deg=(-10.0, 10.0)) as stage:
        stage.move_to(Pose(3.0, 4.0, 5.0, -7.5))
        assert stage.position() == Pose(3.0, 4.0, 5.0, -7.5)
    assert "G1 X3.000 Y4.000 Z5.000 A-7.500 F1000" in fake.lines


def test_work_position_from_mpos_minus_wco(make_fake_grbl):
    fake = make_fake_grbl(wco=(-100.0, -50.0, -20.0))
    fake.wco_every = 10**6  # only the very first status report (read on connect) carries WCO
    with _stage(fake) as stage:
        stage.move_to(Pose(12.0, 3.0, 1.5))
        assert stage.position() == Pose(12.0, 3.0, 1.5)
    assert "G1 X12.000 Y3.000 Z1.500 F1000" in fake.lines


def test_no_controller_on_port_is_a_clear_error(make_fake_grbl):
    fake = make_fake_grbl()
    fake.close()  # nothing answers any more
    with pytest.raises(StageError):
        GrblStage(fake.port, LIMITS, reply_timeout_s=0.2)


def test_parse_status_positions():
    status = parse_status("<Run|WPos:1.000,-2.500,3.000|FS:500,0|WCO:10.000,0.000,0.000>")
    assert status.state == "Run" and status.wpos == (1.0, -2.5, 3.0)
    assert status.wco == (10.0, 0.0, 0.0) and status.feed == 500.0
    assert parse_status("<Hold:0|MPos:0,0,0|FS:0,0>").base_state == "Hold"
    with pytest.raises(ValueError, match="not a status report"):
        parse_status("ok")


def test_acquisition_on_grbl_stage_visits_every_pose(fake_grbl, tmp_path):
    """run_acquisition drives a GrblStage: one G1 per (device, pose), frames logged at each."""
    import numpy as np

    from pocusiq.acquire.acquisition import run_acquisition
    from pocusiq.acquire.plan import plan_from_dict
    from pocusiq.acquire.session import read_session
    from pocusiq.acquire.sources import CapturedFrame, FrameSource

    class PositionSource(FrameSource):
        def __init__(self, name):
            self.name = name
            self.seen = []

        def capture(self, pose, pose_index, frame_index):
            self.seen.append(pose)
            return CapturedFrame(image=np.full((8, 8), pose_index, np.uint8))

    plan = plan_from_dict(
        {
            "specimen": "s",
            "stage": {"kind": "grbl", "port": fake_grbl.port, "limits_mm": {"x": [0, 50], "y": [0, 50], "z": [0, 5]}},
            "poses": {"x_mm": [5, 15], "y_mm": [1, 2]},
            "devices": [{"name": "a", "kind": "video", "source": 0}, {"name": "b", "kind": "video", "source": 0}],
        }
    )
    sources = {"a": PositionSource("a"), "b": PositionSource("b")}
    with GrblStage.from_config(plan.stage, poll_s=0.005) as stage:
        assert stage.port_name == fake_grbl.port and stage.limits_mm["x"] == (0.0, 50.0)
        result = run_acquisition(plan, tmp_path / "s", stage=stage, sources=sources, progress=False)
    assert result.finished and result.captured_frames == 8
    moves = [line for line in fake_grbl.lines if line.startswith("G1")]
    assert moves == [f"G1 X{x:.3f} Y{y:.3f} Z0.000 F1000" for _ in "ab" for y in (1, 2) for x in (5, 15)]
    # frames were taken where the stage reported it was (after the move finished)
    assert sources["b"].seen == list(plan.poses)
    session = read_session(tmp_path / "s")
    assert session.paired_poses() == [0, 1, 2, 3]
    frame = session.frames_for(3, "a")[0]
    assert frame.raw["stage_position"] == {"x_mm": 15.0, "y_mm": 2.0, "z_mm": 0.0, "tilt_deg": 0.0}
