"""Test fixtures for pocusiq.acquire: a fake GRBL 1.1 controller on a pseudo-terminal."""

from __future__ import annotations

import os
import re
import select
import threading
import tty
from collections.abc import Callable, Iterator

import pytest

BANNER = b"\r\nGrbl 1.1h ['$' for help]\r\n"


class FakeGrbl:
    """A thread answering on the master side of a pty like GRBL 1.1 firmware would.

    ``port`` is the slave device path to open with pyserial. Behaviour knobs (set by tests):
    ``run_reports`` status reports showing ``Run`` before a move finishes; ``error_next``
    answer the next G1 with ``error:N``; ``alarm_next`` answer the next G1 with ``ok`` then
    push ``ALARM:N`` and enter Alarm; ``drop_next`` swallow the next G1 without a reply;
    ``home_alarm`` answer ``$H`` with ``ALARM:N`` (homing failed);
    ``start_in_alarm`` start in Alarm state (homing required); ``axes`` 3 or 4 (A axis);
    ``wco`` a work coordinate offset: status reports give ``MPos`` and, every ``wco_every``-th
    report starting with the first, ``WCO`` (GRBL 1.1 with ``$10=1``).
    Everything received is recorded in ``lines`` (G-code/$ lines) and ``realtime`` (bytes).
    """

    def __init__(self, axes: int = 3, start_in_alarm: bool = False, wco: tuple[float, ...] | None = None) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.port = os.ttyname(self.slave)
        self.axes = axes
        self.wco = list(wco) if wco is not None else [0.0] * axes
        self.wco_every = 3
        self.pos = [0.0] * axes
        self.target = list(self.pos)
        self.state = "Alarm" if start_in_alarm else "Idle"
        self.run_reports = 2
        self._runs_left = 0
        self.error_next: int | None = None
        self.alarm_next: int | None = None
        self.drop_next = False
        self.home_alarm: int | None = None
        self.lines: list[str] = []
        self.realtime: list[bytes] = []
        self.status_states: list[str] = []
        self._buffer = b""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # -- protocol -------------------------------------------------------------------
    def _send(self, data: bytes) -> None:
        os.write(self.master, data)

    def _status(self) -> None:
        if self.state == "Run":
            if self._runs_left > 0:
                self._runs_left -= 1
                self.pos = [p + (t - p) / 2 for p, t in zip(self.pos, self.target)]
            else:
                self.pos = list(self.target)
                self.state = "Idle"
        # positions are kept in work coordinates; MPos = WPos + WCO as GRBL reports it
        mpos = ",".join(f"{v + o:.3f}" for v, o in zip(self.pos, self.wco))
        feed = 500 if self.state == "Run" else 0
        self.status_states.append(self.state)
        extra = ""
        if any(self.wco) and len(self.status_states) % self.wco_every == 1:  # now and then, as GRBL
            extra = "|WCO:" + ",".join(f"{o:.3f}" for o in self.wco)
        self._send(f"<{self.state}|MPos:{mpos}|FS:{feed},0{extra}>\r\n".encode())

    def _line(self, line: str) -> None:
        self.lines.append(line)
        if line == "":
            self._send(b"ok\r\n")
        elif line == "$H" and self.home_alarm is not None:
            self.state = "Alarm"
            self._send(f"ALARM:{self.home_alarm}\r\n[MSG:Reset to continue]\r\n".encode())
        elif line == "$H":
            self.pos = [0.0] * self.axes
            self.target = list(self.pos)
            self.state = "Idle"
            self._send(b"ok\r\n")
        elif line.startswith("$X"):
            self.state = "Idle"
            self._send(b"[MSG:Caution: Unlocked]\r\nok\r\n")
        elif self.state == "Alarm":
            self._send(b"error:9\r\n")
        elif line.startswith("G1"):
            if self.drop_next:
                self.drop_next = False
                return
            if self.error_next is not None:
                code, self.error_next = self.error_next, None
                self._send(f"error:{code}\r\n".encode())
                return
            words = dict(re.findall(r"([XYZAF])(-?[0-9.]+)", line))
            for i, axis in enumerate("XYZA"[: self.axes]):
                if axis in words:
                    self.target[i] = float(words[axis])
            self._send(b"ok\r\n")
            if self.alarm_next is not None:
                code, self.alarm_next = self.alarm_next, None
                self.state = "Alarm"
                self._send(f"ALARM:{code}\r\n".encode())
                return
            self.state = "Run"
            self._runs_left = self.run_reports
        elif line.startswith(("G21", "G90", "G4")):
            self._send(b"ok\r\n")
        else:
            self._send(b"error:20\r\n")

    def _realtime(self, byte: bytes) -> None:
        self.realtime.append(byte)
        if byte == b"?":
            self._status()
        elif byte == b"!":
            if self.state == "Run":
                self.state = "Hold:0"
        elif byte == b"~":
            if self.state.startswith("Hold"):
                self.state = "Run"
        elif byte == b"\x18":
            if self.state == "Run":
                self.state = "Alarm"
            elif self.state != "Alarm":
                self.state = "Idle"
            self.target = list(self.pos)
            self._buffer = b""
            self._send(BANNER)

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self.master], [], [], 0.02)
            if not ready:
                continue
            try:
                data = os.read(self.master, 1024)
            except OSError:
                return
            for value in data:
                byte = bytes([value])
                if byte in (b"?", b"!", b"~", b"\x18"):
                    self._realtime(byte)
                elif byte == b"\n":
                    line = self._buffer.decode("ascii").strip()
                    self._buffer = b""
                    self._line(line)
                elif byte != b"\r":
                    self._buffer += byte

    def close(self) -> None:
        if self._stop.is_set():  # closing twice could close someone else's reused fd numbers
            return
        self._stop.set()
        self._thread.join(timeout=2)
        for fd in (self.master, self.slave):
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def make_fake_grbl() -> Iterator[Callable[..., FakeGrbl]]:
    """Factory ``make_fake_grbl(axes=3, start_in_alarm=False)``; all are closed at teardown."""
    made: list[FakeGrbl] = []

    def make(**kwargs) -> FakeGrbl:
        fake = FakeGrbl(**kwargs)
        made.append(fake)
        return fake

    yield make
    for fake in made:
        fake.close()


@pytest.fixture
def fake_grbl(make_fake_grbl) -> FakeGrbl:
    """A fake 3-axis GRBL controller, idle, on a fresh pty."""
    return make_fake_grbl()
