"""A gantry driven by a GRBL 1.1 motion controller over a serial port (pyserial).

Protocol (GRBL 1.1 interface, ``doc/markdown/interface.md`` of gnea/grbl):

* A G-code line is sent terminated by ``\\n``; the controller answers ``ok`` or ``error:N``
  (N is looked up in :data:`GRBL_ERRORS`). ``ok`` for a motion means *planned*, not done.
* Real-time commands are single bytes with no newline: ``?`` status report, ``!`` feed hold,
  ``~`` cycle start, ``0x18`` (Ctrl-X) soft reset.
* Status reports look like ``<Run|MPos:10.000,0.000,0.000|FS:500,0>`` (or ``WPos:`` and an
  occasional ``WCO:`` work-coordinate offset, depending on ``$10``); states are ``Idle``,
  ``Run``, ``Hold:0/1``, ``Jog``, ``Alarm``, ``Door:N``, ``Check``, ``Home``, ``Sleep``.
* Push messages may arrive at any time: ``ALARM:N`` (:data:`GRBL_ALARMS`), ``[MSG:...]``,
  and the welcome banner ``Grbl 1.1h ['$' for help]`` after a reset.

:class:`GrblStage` homes with ``$H``, sets millimetres and absolute mode (``G21 G90``), and
moves with ``G1 X.. Y.. Z.. [A..] F..`` in work coordinates. After the ``ok`` it polls ``?``
until the controller is ``Idle`` *at the target* (within ``position_tolerance_mm``; right
after ``ok`` GRBL may still report Idle at the old position before the block starts), or
raises :class:`~pocusiq.errors.StageError` after ``move_timeout_s``. Targets outside the soft
limits are refused before anything is sent. On ``error:N``, ``ALARM:N``, a status showing
Alarm/Door, or a missing reply, the stage stops at once (feed hold ``!``, then soft reset
``0x18`` once the hold is complete, which purges the planner without losing position),
marks itself faulted (further moves are refused until :meth:`GrblStage.home`), and raises
StageError with the code's meaning.

The position reported is the work position: ``WPos`` if the controller reports it, else
``MPos - WCO`` with the last ``WCO`` seen (zero until one is reported).

The protocol is spoken here on pyserial directly: it is a few line types, and the stage needs
its own stop-on-error and arrival checks, which a G-code file streamer does not give.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass

from pocusiq.acquire.plan import Pose, StageConfig
from pocusiq.acquire.stage import Stage, check_limits
from pocusiq.errors import StageError

__all__ = ["GRBL_ALARMS", "GRBL_ERRORS", "GrblStage", "GrblStatus", "parse_status"]

#: GRBL 1.1 ``error:N`` codes and their meaning.
GRBL_ERRORS: dict[int, str] = {
    1: "G-code words consist of a letter and a value; letter was not found",
    2: "numeric value format is not valid or missing an expected value",
    3: "'$' system command was not recognized or supported",
    4: "negative value received for an expected positive value",
    5: "homing cycle is not enabled via settings",
    6: "minimum step pulse time must be greater than 3 usec",
    7: "EEPROM read failed; reset and restored to default values",
    8: "'$' command cannot be used unless the controller is idle",
    9: "G-code locked out during alarm or jog state",
    10: "soft limits cannot be enabled without homing also enabled",
    11: "max characters per line exceeded; line was not executed",
    12: "'$' setting value exceeds the maximum step rate supported",
    13: "safety door detected as opened and door state initiated",
    14: "build info or startup line exceeded EEPROM line length limit",
    15: "jog target exceeds machine travel; command ignored",
    16: "jog command with no '=' or contains prohibited G-code",
    17: "laser mode requires PWM output",
    20: "unsupported or invalid G-code command found in block",
    21: "more than one G-code command from the same modal group in block",
    22: "feed rate has not yet been set or is undefined",
    23: "G-code command in block requires an integer value",
    24: "two G-code commands that both require XYZ axis words in block",
    25: "a G-code word was repeated in the block",
    26: "a G-code command requires XYZ axis words but none were found",
    27: "N line number value is out of range",
    28: "a G-code command is missing a required P or L value word",
    29: "work coordinate systems G59.1-G59.3 are not supported",
    30: "G53 requires G0 or G1 motion mode",
    31: "unused axis words in block while G80 motion mode cancel is active",
    32: "G2/G3 arc without XYZ axis words in the selected plane",
    33: "motion command has an invalid target",
    34: "G2/G3 arc radius definition has a mathematical error",
    35: "G2/G3 arc offset definition is missing the IJK word",
    36: "unused, leftover G-code words in block",
    37: "G43.1 tool length offset on an axis other than the configured one",
    38: "tool number greater than max supported value",
}

#: GRBL 1.1 ``ALARM:N`` codes and their meaning.
GRBL_ALARMS: dict[int, str] = {
    1: "hard limit triggered; machine position is likely lost, re-homing is highly recommended",
    2: "G-code motion target exceeds machine travel (soft limit); position retained",
    3: "reset while in motion; position is likely lost, re-homing is highly recommended",
    4: "probe fail: probe not in the expected initial state",
    5: "probe fail: probe did not contact the workpiece within the programmed travel",
    6: "homing fail: reset during active homing cycle",
    7: "homing fail: safety door was opened during homing cycle",
    8: "homing fail: cycle failed to clear limit switch when pulling off",
    9: "homing fail: could not find limit switch within search distance",
}

REALTIME_STATUS = b"?"
REALTIME_FEED_HOLD = b"!"
REALTIME_CYCLE_START = b"~"
REALTIME_SOFT_RESET = b"\x18"


@dataclass(frozen=True)
class GrblStatus:
    """A parsed status report: machine state and positions (mm; tuples of 3 or more axes)."""

    state: str
    mpos: tuple[float, ...] | None
    wpos: tuple[float, ...] | None
    wco: tuple[float, ...] | None
    feed: float | None

    @property
    def base_state(self) -> str:
        """State without the sub-state, e.g. ``Hold`` for ``Hold:0``."""
        return self.state.split(":", 1)[0]


def parse_status(line: str) -> GrblStatus:
    """Parse ``<State|MPos:x,y,z|FS:f,s|WCO:...>``; ValueError if it is not a status report."""
    line = line.strip()
    if not (line.startswith("<") and line.endswith(">")):
        raise ValueError(f"not a status report: {line!r}")
    fields = line[1:-1].split("|")
    state = fields[0]
    mpos = wpos = wco = None
    feed = None
    for item in fields[1:]:
        key, _, value = item.partition(":")
        if key in ("MPos", "WPos", "WCO"):
            numbers = tuple(float(v) for v in value.split(","))
            if key == "MPos":
                mpos = numbers
            elif key == "WPos":
                wpos = numbers
            else:
                wco = numbers
        elif key in ("FS", "F"):
            feed = float(value.split(",")[0])
    if not state:
        raise ValueError(f"status report without a state: {line!r}")
    return GrblStatus(state, mpos, wpos, wco, feed)


class GrblStage(Stage):
    """A GRBL 1.1 gantry on a serial port.

    Parameters: ``port`` a device path (``/dev/ttyUSB0``, a pty) or pyserial URL;
    ``limits_mm`` soft limits ``{"x": (min, max), ...}`` in work coordinates (mm);
    ``tilt_axis`` the rotary axis letter for tilt (``A``) or None (tilt must then be 0);
    ``feed_mm_per_min`` feed rate of moves; ``reply_timeout_s`` how long to wait for an
    ``ok``/status reply; ``move_timeout_s`` for a move or homing to finish; ``poll_s``
    interval between status queries (GRBL advises at most 5-10 Hz); ``wakeup_s`` pause
    after opening (an Arduino resets when the port opens and needs about 2 s; 0 for a pty).
    Raises StageError if the port cannot be opened or no status report comes back.
    """

    def __init__(
        self,
        port: str,
        limits_mm: Mapping[str, tuple[float, float]],
        tilt_limits_deg: tuple[float, float] = (0.0, 0.0),
        *,
        baudrate: int = 115200,
        tilt_axis: str | None = None,
        feed_mm_per_min: float = 1000.0,
        reply_timeout_s: float = 2.0,
        move_timeout_s: float = 60.0,
        position_tolerance_mm: float = 0.01,
        poll_s: float = 0.1,
        wakeup_s: float = 0.0,
    ) -> None:
        import serial  # pyserial

        self.port_name = port
        self.limits_mm = {k: (float(v[0]), float(v[1])) for k, v in limits_mm.items()}
        self.tilt_limits_deg = (float(tilt_limits_deg[0]), float(tilt_limits_deg[1]))
        self.tilt_axis = tilt_axis
        self.feed_mm_per_min = float(feed_mm_per_min)
        self.reply_timeout_s = float(reply_timeout_s)
        self.move_timeout_s = float(move_timeout_s)
        self.position_tolerance_mm = float(position_tolerance_mm)
        self.poll_s = float(poll_s)
        self._wco: tuple[float, ...] = (0.0, 0.0, 0.0, 0.0)
        self._fault: str | None = None
        self._rx = b""
        try:
            self._serial = serial.serial_for_url(port, baudrate=baudrate, timeout=0.02)
        except (serial.SerialException, OSError, ValueError) as exc:
            raise StageError(f"cannot open GRBL controller port {port!r}: {exc}") from exc
        try:
            if wakeup_s > 0:
                time.sleep(wakeup_s)
            self._serial.reset_input_buffer()  # drop a start-up banner / stale replies
            status = self._first_status()
            if status.base_state == "Alarm":
                self._fault = (
                    f"controller on {port} is in Alarm state (needs homing '$H' or unlock '$X')"
                )
            else:
                self._command("G21 G90", self.reply_timeout_s)
        except BaseException:
            self._serial.close()
            raise

    @classmethod
    def from_config(cls, config: StageConfig, **kwargs: float) -> GrblStage:
        """Open the stage described by a plan's ``stage`` section (``kind: grbl``)."""
        if config.kind != "grbl" or not config.port:
            raise ValueError(f"not a GRBL stage config: kind={config.kind!r}, port={config.port!r}")
        return cls(
            config.port,
            config.limits_mm,
            config.tilt_limits_deg,
            baudrate=config.baudrate,
            tilt_axis=config.tilt_axis,
            feed_mm_per_min=config.feed_mm_per_min,
            reply_timeout_s=config.reply_timeout_s,
            move_timeout_s=config.move_timeout_s,
            position_tolerance_mm=config.position_tolerance_mm,
            **kwargs,
        )

    # ------------------------------------------------------------------ serial plumbing

    def _first_status(self) -> GrblStatus:
        """The first status report after opening, skipping a banner or messages before it."""
        self._serial.write(REALTIME_STATUS)
        deadline = time.monotonic() + self.reply_timeout_s
        while (line := self._readline(deadline)) is not None:
            if line.startswith("<"):
                try:
                    status = parse_status(line)
                except ValueError:
                    continue
                if status.wco is not None:
                    self._wco = status.wco
                return status
        raise StageError(
            f"no status report from {self.port_name!r} within {self.reply_timeout_s:g} s "
            "(is a GRBL 1.1 controller connected, at the right baud rate?)"
        )

    def _readline(self, deadline: float) -> str | None:
        """One reply line (without line ending), or None when ``deadline`` passes."""
        while True:
            newline = self._rx.find(b"\n")
            if newline >= 0:
                raw, self._rx = self._rx[:newline], self._rx[newline + 1 :]
                line = raw.decode("ascii", errors="replace").strip()
                if line:
                    return line
                continue
            if time.monotonic() >= deadline:
                return None
            chunk = self._serial.read(max(1, self._serial.in_waiting))
            if chunk:
                self._rx += chunk

    def _fail(self, message: str) -> StageError:
        """Stop the machine, remember the fault, and return the error to raise."""
        self._fault = message
        try:
            self.stop()
        except Exception:  # noqa: BLE001 - the original failure is the one to report
            pass
        return StageError(message)

    def _check_push(self, line: str, doing: str) -> None:
        """Raise for push messages that mean the controller stopped or reset."""
        if line.startswith("ALARM:"):
            code = _code(line)
            meaning = GRBL_ALARMS.get(code, "unknown alarm code")
            raise self._fail(
                f"GRBL controller on {self.port_name} raised ALARM:{code} ({meaning}) during {doing}"
            )
        if line.startswith("Grbl "):
            raise self._fail(
                f"GRBL controller on {self.port_name} reset unexpectedly during {doing} ({line!r})"
            )

    def _command(self, command: str, timeout: float) -> None:
        """Send one G-code/$ line and wait for ``ok``; StageError on error/alarm/timeout."""
        self._serial.write(command.encode("ascii") + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                raise self._fail(
                    f"GRBL controller on {self.port_name}: no reply to {command!r} within {timeout:g} s"
                )
            if line == "ok":
                return
            if line.startswith("error:"):
                raise self._fail(f"GRBL controller on {self.port_name} rejected {command!r}: {_describe_error(line)}")
            self._check_push(line, repr(command))
            # status reports and [MSG:...] lines in between are not the answer; keep reading

    def status(self, timeout: float | None = None) -> GrblStatus:
        """Query a real-time status report (``?``). StageError on alarm or no report in time."""
        timeout = self.reply_timeout_s if timeout is None else timeout
        self._serial.write(REALTIME_STATUS)
        deadline = time.monotonic() + timeout
        while True:
            line = self._readline(deadline)
            if line is None:
                raise self._fail(
                    f"GRBL controller on {self.port_name}: no status report within {timeout:g} s"
                )
            if line.startswith("<"):
                try:
                    status = parse_status(line)
                except ValueError as exc:
                    raise self._fail(f"GRBL controller on {self.port_name}: {exc}") from exc
                if status.wco is not None:
                    self._wco = status.wco
                return status
            if line.startswith("error:"):
                raise self._fail(f"GRBL controller on {self.port_name} reported {_describe_error(line)}")
            self._check_push(line, "a status query")

    def _work_position(self, status: GrblStatus) -> tuple[float, ...]:
        if status.wpos is not None:
            return status.wpos
        if status.mpos is None:
            raise self._fail(f"GRBL controller on {self.port_name}: status report without a position")
        wco = self._wco + (0.0,) * max(0, len(status.mpos) - len(self._wco))
        return tuple(m - w for m, w in zip(status.mpos, wco))

    # ------------------------------------------------------------------ Stage interface

    def home(self) -> None:
        """Run the homing cycle ``$H`` (clears a fault); returns once homing has finished."""
        if self._fault is not None:
            self._serial.write(REALTIME_SOFT_RESET)
            deadline = time.monotonic() + self.reply_timeout_s
            while (line := self._readline(deadline)) is not None and not line.startswith("Grbl "):
                pass
        self._fault = None
        self._command("$H", self.move_timeout_s)
        self._command("G21 G90", self.reply_timeout_s)
        status = self.status()
        if status.base_state != "Idle":
            raise self._fail(
                f"GRBL controller on {self.port_name} is {status.state!r} after homing, not Idle"
            )

    def move_to(self, pose: Pose) -> None:
        """Move to ``pose`` (work coordinates, mm/deg) and wait until Idle there."""
        check_limits(pose, self.limits_mm, self.tilt_limits_deg)
        if self.tilt_axis is None and pose.tilt_deg != 0.0:
            raise StageError(
                f"tilt {pose.tilt_deg:g} deg requested but the GRBL stage on {self.port_name} has no tilt axis"
            )
        if self._fault is not None:
            raise StageError(f"stage on {self.port_name} is stopped after a fault ({self._fault}); home it first")
        target = [pose.x_mm, pose.y_mm, pose.z_mm]
        words = f"X{pose.x_mm:.3f} Y{pose.y_mm:.3f} Z{pose.z_mm:.3f}"
        if self.tilt_axis is not None:
            words += f" {self.tilt_axis}{pose.tilt_deg:.3f}"
            target.append(pose.tilt_deg)
        command = f"G1 {words} F{self.feed_mm_per_min:.0f}"
        self._command(command, self.reply_timeout_s)
        deadline = time.monotonic() + self.move_timeout_s
        last: GrblStatus | None = None
        while time.monotonic() < deadline:
            status = self.status()
            last = status
            if status.base_state in ("Alarm", "Door"):
                raise self._fail(
                    f"GRBL controller on {self.port_name} entered state {status.state!r} during {command!r}"
                )
            if status.base_state == "Idle":
                position = self._work_position(status)
                if len(position) >= len(target) and all(
                    abs(p - t) <= self.position_tolerance_mm for p, t in zip(position, target)
                ):
                    return
            time.sleep(self.poll_s)
        where = "no status" if last is None else f"last status {last.state!r} at {self._work_position(last)}"
        raise self._fail(
            f"GRBL controller on {self.port_name}: move {command!r} not finished within "
            f"{self.move_timeout_s:g} s ({where})"
        )

    def position(self) -> Pose:
        position = self._work_position(self.status())
        tilt = position[3] if self.tilt_axis is not None and len(position) > 3 else 0.0
        return Pose(position[0], position[1], position[2], tilt)

    def stop(self) -> None:
        """Feed hold (``!``), wait for the hold to complete, then soft reset (``0x18``)."""
        self._serial.write(REALTIME_FEED_HOLD)
        deadline = time.monotonic() + min(1.0, self.reply_timeout_s)
        while time.monotonic() < deadline:
            self._serial.write(REALTIME_STATUS)
            line = self._readline(min(deadline, time.monotonic() + 0.2))
            if line is not None and line.startswith("<"):
                state = line[1:].split("|", 1)[0]
                if state in ("Hold:0", "Idle", "Alarm") or state.startswith("Door"):
                    break
        self._serial.write(REALTIME_SOFT_RESET)
        self._serial.flush()
        deadline = time.monotonic() + min(1.0, self.reply_timeout_s)
        while (line := self._readline(deadline)) is not None and not line.startswith("Grbl "):
            pass

    def close(self) -> None:
        if self._serial.is_open:
            self._serial.close()


def _describe_error(line: str) -> str:
    """``error:N`` -> ``error:N (meaning)`` (:data:`GRBL_ERRORS`)."""
    code = _code(line)
    return f"error:{code} ({GRBL_ERRORS.get(code, 'unknown error code')})"


def _code(line: str) -> int:
    try:
        return int(line.split(":", 1)[1].strip())
    except (IndexError, ValueError):
        return -1
