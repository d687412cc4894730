"""Acquisition session folders: the append-only log written by ``pocusiq acquire`` and its reader.

Session folder format (``pocusiq-session/1``)
=============================================

::

    SESSION_DIR/
      plan.yaml                  exact copy of the plan file the session was started with
      log.jsonl                  append-only log, one JSON object per line (UTF-8, '\\n'-terminated)
      frames/<device>/pose0003_f00.png
                                 one PNG per captured frame: 8-bit grey (H, W) or RGB (H, W, 3)
      frames/<device>/originals/pose0003_f00.dcm
                                 (folder devices only) the scanner's exported file, byte-exact

Every log line has an ``"event"`` key. Readers must ignore events and keys they do not know.

``session_start`` (first line, once)::

    {"event": "session_start", "format": "pocusiq-session/1", "specimen": "sim-abdominal-001",
     "plan_sha256": "<canonical plan hash>", "devices": ["pocus", "high_end"],
     "num_poses": 9, "frames_per_pose": 1, "time": "2026-11-25T11:40:00.123456+00:00"}

``frame`` (one per captured frame)::

    {"event": "frame", "device": "pocus", "pose_index": 3, "frame_index": 0,
     "pose": {"x_mm": 30.0, "y_mm": 5.0, "z_mm": 0.0, "tilt_deg": 0.0},   # as planned
     "stage_position": {"x_mm": 30.0, ...},             # as the stage reported it after the move
     "file": "frames/pocus/pose0003_f00.png",          # relative to SESSION_DIR, '/'-separated
     "sha256": "<hex sha256 of the file's bytes>",
     "time": "2026-11-25T11:40:01.5+00:00",             # ISO 8601 UTC, time of capture
     "width": 640, "height": 480, "channels": 3,       # channels 1 (grey) or 3 (RGB)
     "pixel_spacing_mm": [0.125, 0.125] | null,         # [col, row] mm per pixel, if known
     "region": [col0, row0, width, height] | null,      # imaging region in the frame, if known
     "truth": {...} | null,                              # simulated devices only, see below
     "original_file": "frames/x/originals/...", "original_sha256": "...",  # folder devices only
     "metadata": {...}                                  # optional, source-specific (profile, source_file)
    }

``pixel_spacing_mm`` and ``region`` are what a real lab would know (from the plan's device
section, a DICOM header, or the simulator's nominal settings); they are hints, not truth.
For ``simulated`` devices ``region`` is null: the pairing step must find the imaging region
itself, as on a real screen capture.

``truth`` (simulated devices: the ground truth for the pairing accuracy bench)::

    {"world_from_pixel": [[a, b, c], [d, e, f]],   # (x_mm, z_mm) = M @ [col, row, 1]
     "region": [col0, row0, width, height],        # the imaging rectangle inside the frame
     "slice_y_mm": 5.0,                             # the phantom slice this frame images
     "image_spacing_mm": 0.125,                     # isotropic pixel size inside the region
     "image_angle_deg": 2.0,                        # in-plane rotation (tilt + mounting), see below
     "probe_origin_mm": [x, z],                     # world position of the probe face centre
     "phantom": {"preset": "abdominal", "seed": 7, ...}}

Coordinates: ``col``/``row`` are 0-based pixel-centre coordinates in the saved frame (pixel
(0, 0)'s centre is ``col = row = 0``). World ``x_mm`` runs laterally along the specimen and
``z_mm`` is depth below the specimen's top surface, both in the phantom's frame; for two frames
of the same pose and slice, ``inv(M_a) @ M_b`` (as 3x3 matrices) maps frame b's pixels onto
frame a's.
Angles (pose ``tilt_deg``, mounting rotation, ``image_angle_deg``): positive turns the
image's lateral axis from +x towards +z, so ``M = [[s cos a, -s sin a, tx], [s sin a,
s cos a, tz]]``. The probe face centre (``probe_origin_mm``) is at frame pixel
``(col0 + (width - 1) / 2, row0 - 0.5)``: the top edge of the region, centred.

``pose_done`` (all frames of one device at one pose are written and logged)::

    {"event": "pose_done", "device": "pocus", "pose_index": 3, "time": "..."}

Other events: ``resume`` (``dropped_bytes``: size of a torn last line removed on resume),
``pass_start`` / ``pass_done`` (``device``), ``session_done``.

Rules: frame files are written atomically before their line is logged; each line is flushed
and fsynced. A (device, pose) is finished only once its ``pose_done`` line exists; a resumed
session re-takes unfinished poses, so a later ``frame`` line for the same (device,
pose_index, frame_index) supersedes an earlier one. A torn last line (a crash mid-write:
bytes after the last newline, or an unparsable final line) is ignored by the reader and cut
off by the writer on resume. The one-pass-per-device order means a crashed session may have
all poses of the first device and only some of the second.

Reader: :func:`read_session` returns a :class:`Session` with the plan, the devices and the
latest frame record of every finished (device, pose), verifying every frame file's sha256
(:class:`pocusiq.errors.DatasetError` on a missing or changed file)::

    session = read_session("sess")                 # verify=False skips the sha256 check
    for pose_index in session.paired_poses():      # poses finished for every device
        low = session.frames_for(pose_index, "pocus")[0]        # FrameRecord
        high = session.frames_for(pose_index, "high_end")[0]
        image = low.load()                          # uint8 (H, W) or (H, W, 3) RGB
        low.pixel_spacing_mm, low.region, low.pose  # hints; low.truth: FrameTruth or None
        x_mm, z_mm = low.truth.pixel_to_world(col, row)   # truth.world_from_pixel: (2, 3)

``session.by_pose()`` gives ``{pose_index: {device: [FrameRecord, ...]}}``; ``session.plan``
is the validated :class:`~pocusiq.acquire.plan.AcquisitionPlan` (poses, device settings).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.acquire.plan import AcquisitionPlan, Pose, load_plan
from pocusiq.atomic import sha256_file
from pocusiq.errors import ConfigError, DatasetError, ImageFileError
from pocusiq.journal import JsonLinesJournal

__all__ = [
    "FRAMES_DIR",
    "LOG_NAME",
    "PLAN_NAME",
    "SESSION_FORMAT",
    "FrameRecord",
    "FrameTruth",
    "Session",
    "SessionLog",
    "frame_file_name",
    "frame_spacing",
    "parse_log",
    "read_session",
    "utc_now",
]

SESSION_FORMAT = "pocusiq-session/1"
LOG_NAME = "log.jsonl"
PLAN_NAME = "plan.yaml"
FRAMES_DIR = "frames"


def utc_now() -> str:
    """The current time as ISO 8601 UTC with microseconds, e.g. ``2026-11-25T11:40:00.1+00:00``."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat()


def frame_file_name(device: str, pose_index: int, frame_index: int, suffix: str = ".png") -> str:
    """Relative path of a frame file: ``frames/<device>/pose0003_f00.png``."""
    return f"{FRAMES_DIR}/{device}/pose{pose_index:04d}_f{frame_index:02d}{suffix}"


@dataclass(frozen=True)
class FrameTruth:
    """Ground truth of a simulated frame.

    ``world_from_pixel`` is a (2, 3) float64 affine map: ``(x_mm, z_mm) = M @ [col, row, 1]``;
    ``region`` is ``(col0, row0, width, height)`` in pixels.
    """

    world_from_pixel: np.ndarray
    region: tuple[int, int, int, int]
    slice_y_mm: float
    image_spacing_mm: float | None = None
    image_angle_deg: float | None = None
    probe_origin_mm: tuple[float, float] | None = None
    phantom: dict[str, Any] = field(default_factory=dict)

    def pixel_to_world(self, col: Any, row: Any) -> tuple[np.ndarray, np.ndarray]:
        """Map pixel-centre coordinates (arrays or scalars) to world ``(x_mm, z_mm)``."""
        col = np.asarray(col, dtype=np.float64)
        row = np.asarray(row, dtype=np.float64)
        m = self.world_from_pixel
        return m[0, 0] * col + m[0, 1] * row + m[0, 2], m[1, 0] * col + m[1, 1] * row + m[1, 2]

    def world_to_pixel(self, x_mm: Any, z_mm: Any) -> tuple[np.ndarray, np.ndarray]:
        """Inverse of :meth:`pixel_to_world`: world (mm) to pixel-centre ``(col, row)``."""
        full = np.vstack([self.world_from_pixel, [0.0, 0.0, 1.0]])
        inv = np.linalg.inv(full)
        x_mm = np.asarray(x_mm, dtype=np.float64)
        z_mm = np.asarray(z_mm, dtype=np.float64)
        return inv[0, 0] * x_mm + inv[0, 1] * z_mm + inv[0, 2], inv[1, 0] * x_mm + inv[1, 1] * z_mm + inv[1, 2]

    def as_dict(self) -> dict[str, Any]:
        return {
            "world_from_pixel": [[float(v) for v in row] for row in self.world_from_pixel],
            "region": [int(v) for v in self.region],
            "slice_y_mm": float(self.slice_y_mm),
            "image_spacing_mm": self.image_spacing_mm,
            "image_angle_deg": self.image_angle_deg,
            "probe_origin_mm": None if self.probe_origin_mm is None else [float(v) for v in self.probe_origin_mm],
            "phantom": dict(self.phantom),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FrameTruth:
        matrix = np.asarray(data["world_from_pixel"], dtype=np.float64)
        if matrix.shape != (2, 3):
            raise ValueError(f"world_from_pixel must be 2x3, got shape {matrix.shape}")
        origin = data.get("probe_origin_mm")
        return cls(
            world_from_pixel=matrix,
            region=tuple(int(v) for v in data["region"]),  # type: ignore[arg-type]
            slice_y_mm=float(data.get("slice_y_mm", 0.0)),
            image_spacing_mm=data.get("image_spacing_mm"),
            image_angle_deg=data.get("image_angle_deg"),
            probe_origin_mm=None if origin is None else (float(origin[0]), float(origin[1])),
            phantom=dict(data.get("phantom") or {}),
        )


@dataclass(frozen=True)
class FrameRecord:
    """One captured frame as logged. ``path`` is absolute; ``file`` is relative to the session."""

    device: str
    pose_index: int
    frame_index: int
    pose: Pose
    file: str
    path: Path
    sha256: str
    time: str
    width: int
    height: int
    channels: int
    pixel_spacing_mm: tuple[float, float] | None
    region: tuple[int, int, int, int] | None
    truth: FrameTruth | None
    raw: dict[str, Any] = field(repr=False, compare=False, default_factory=dict)

    def load(self) -> np.ndarray:
        """The frame as uint8, (H, W) for grey or (H, W, 3) RGB.

        Raises ImageFileError naming the file if it is missing or cannot be decoded.
        """
        from PIL import Image

        try:
            with Image.open(self.path) as img:
                return np.asarray(img.convert("RGB") if self.channels == 3 else img.convert("L"))
        except (OSError, SyntaxError, ValueError) as exc:  # missing, truncated, not an image
            raise ImageFileError(f"{self.path}: cannot read frame ({exc})") from exc

    @classmethod
    def from_log(cls, root: Path, data: Mapping[str, Any]) -> FrameRecord:
        spacing = data.get("pixel_spacing_mm")
        region = data.get("region")
        truth = data.get("truth")
        return cls(
            device=str(data["device"]),
            pose_index=int(data["pose_index"]),
            frame_index=int(data["frame_index"]),
            pose=Pose.from_dict(data["pose"]),
            file=str(data["file"]),
            path=root / str(data["file"]),
            sha256=str(data["sha256"]),
            time=str(data["time"]),
            width=int(data["width"]),
            height=int(data["height"]),
            channels=int(data["channels"]),
            pixel_spacing_mm=None if spacing is None else (float(spacing[0]), float(spacing[1])),
            region=None if region is None else tuple(int(v) for v in region),  # type: ignore[arg-type]
            truth=None if truth is None else FrameTruth.from_dict(truth),
            raw=dict(data),
        )


def _check_event(record: dict[str, Any]) -> None:
    if "event" not in record:
        raise ValueError("not an object with an 'event' key")


def _log_journal(path: str | os.PathLike[str]) -> JsonLinesJournal:
    """The log file as a :class:`pocusiq.journal.JsonLinesJournal` (keys in record order, no NaN)."""
    return JsonLinesJournal(path, check=_check_event, sort_keys=False, allow_nan=False, what="log")


def parse_log(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], int, int]:
    """Parse a session log: ``(records, good_bytes, torn_bytes)``.

    ``good_bytes`` is the length of the intact prefix (whole, parsable lines); ``torn_bytes``
    the size of a torn tail after it (0 if none). Raises DatasetError if the log is missing or
    a line that is not the last one is unparsable (that is corruption, not a crash mid-write).
    """
    if not Path(path).exists():
        raise DatasetError(f"{path}: session log not found")
    contents = _log_journal(path).read()
    return contents.records, contents.good_bytes, contents.torn_bytes


class SessionLog:
    """Appender for ``log.jsonl``: one JSON object per line, flushed and fsynced per line.

    Opening an existing log reads its records and cuts off a torn last line
    (``dropped_bytes`` says how many bytes were removed).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._journal = _log_journal(self.path)
        self.records: list[dict[str, Any]] = []
        self.dropped_bytes = 0
        if self.path.exists():
            self.records = self._journal.read().records
            self.dropped_bytes = self._journal.repair()

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record (must have an ``event`` key) durably."""
        if "event" not in record:
            raise ValueError("a log record needs an 'event' key")
        self._journal.append(record)
        self.records.append(dict(record))

    def completed(self) -> set[tuple[str, int]]:
        """The finished ``(device, pose_index)`` pairs (those with a ``pose_done`` line)."""
        return {
            (str(r["device"]), int(r["pose_index"])) for r in self.records if r.get("event") == "pose_done"
        }

    def close(self) -> None:
        self._journal.close()

    def __enter__(self) -> SessionLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class Session:
    """A read session: the plan, device names (pass order) and the finished frames.

    ``frames`` holds the latest record of every frame of every finished (device, pose);
    ``incomplete`` lists the (device, pose_index) pairs that were started but not finished.
    """

    root: Path
    plan: AcquisitionPlan
    specimen: str
    devices: tuple[str, ...]
    frames: tuple[FrameRecord, ...]
    completed: frozenset[tuple[str, int]]
    incomplete: frozenset[tuple[str, int]]
    finished: bool

    def pose(self, pose_index: int) -> Pose:
        return self.plan.poses[pose_index]

    def frames_for(self, pose_index: int, device: str) -> list[FrameRecord]:
        """Frames of one device at one pose, by frame index (empty if not finished)."""
        return sorted(
            (f for f in self.frames if f.pose_index == pose_index and f.device == device),
            key=lambda f: f.frame_index,
        )

    def by_pose(self) -> dict[int, dict[str, list[FrameRecord]]]:
        """``{pose_index: {device: [frames by frame_index]}}`` for all finished frames."""
        grouped: dict[int, dict[str, list[FrameRecord]]] = {}
        for frame in sorted(self.frames, key=lambda f: (f.pose_index, f.device, f.frame_index)):
            grouped.setdefault(frame.pose_index, {}).setdefault(frame.device, []).append(frame)
        return grouped

    def paired_poses(self, devices: Iterable[str] | None = None) -> list[int]:
        """Pose indices finished for every one of ``devices`` (default: all devices)."""
        wanted = tuple(self.devices if devices is None else devices)
        return [
            i for i in range(len(self.plan.poses)) if all((d, i) in self.completed for d in wanted)
        ]


def _plan_device(session: Session, name: str) -> Any:
    try:
        return session.plan.device(name)
    except KeyError:
        return None


def frame_spacing(record: FrameRecord, session: Session) -> tuple[float, float]:
    """(col, row) pixel spacing in mm of a frame; ConfigError if unknown."""
    if record.pixel_spacing_mm is not None:
        return record.pixel_spacing_mm
    device = _plan_device(session, record.device)
    if device is not None and getattr(device, "pixel_spacing_mm", None) is not None:
        return tuple(float(v) for v in device.pixel_spacing_mm)  # type: ignore[return-value]
    if device is not None and getattr(device, "image_spacing_mm", None) is not None:
        s = float(device.image_spacing_mm)
        return s, s
    raise ConfigError(
        f"{session.root}: pixel spacing of device {record.device!r} is unknown ({record.file}); "
        f"set pixel_spacing_mm in the plan's device section"
    )


def read_session(root: str | os.PathLike[str], verify: bool = True) -> Session:
    """Read a session folder; with ``verify`` check every finished frame file's sha256.

    Raises DatasetError if the folder, log or a frame file is missing, a line is corrupt, or
    a frame file's content no longer matches its logged sha256; ConfigError if plan.yaml is
    invalid.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: session folder not found")
    records, _, _ = parse_log(root / LOG_NAME)
    if not records or records[0].get("event") != "session_start":
        raise DatasetError(f"{root / LOG_NAME}: first line is not a session_start record")
    start = records[0]
    if start.get("format") != SESSION_FORMAT:
        raise DatasetError(
            f"{root / LOG_NAME}: unsupported session format {start.get('format')!r} (expected {SESSION_FORMAT})"
        )
    plan = load_plan(root / PLAN_NAME)
    latest: dict[tuple[str, int, int], tuple[int, dict[str, Any]]] = {}
    started: set[tuple[str, int]] = set()
    completed: set[tuple[str, int]] = set()
    finished = False
    for number, record in enumerate(records, start=1):
        event = record.get("event")
        if event == "frame":
            try:
                key = (str(record["device"]), int(record["pose_index"]), int(record["frame_index"]))
            except (KeyError, TypeError, ValueError) as exc:
                raise DatasetError(f"{root / LOG_NAME}: line {number}: bad frame record ({exc})") from exc
            latest[key] = (number, record)
            started.add(key[:2])
            completed.discard(key[:2])  # a re-take after a pose_done (not written by us) reopens it
        elif event == "pose_done":
            completed.add((str(record["device"]), int(record["pose_index"])))
        elif event == "session_done":
            finished = True
    frames: list[FrameRecord] = []
    for (device, pose_index, _), (number, record) in sorted(latest.items()):
        if (device, pose_index) not in completed:
            continue
        try:
            frame = FrameRecord.from_log(root, record)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise DatasetError(f"{root / LOG_NAME}: line {number}: bad frame record ({exc})") from exc
        if verify:
            if not frame.path.is_file():
                raise DatasetError(f"{root}: frame file {frame.file} is missing (log line {number})")
            digest = sha256_file(frame.path)
            if digest != frame.sha256:
                raise DatasetError(
                    f"{root}: frame file {frame.file} has changed since capture "
                    f"(sha256 {digest[:12]}... != logged {frame.sha256[:12]}..., log line {number})"
                )
        frames.append(frame)
    return Session(
        root=root,
        plan=plan,
        specimen=str(start.get("specimen", plan.specimen)),
        devices=tuple(start.get("devices") or (d.name for d in plan.devices)),
        frames=tuple(frames),
        completed=frozenset(completed),
        incomplete=frozenset(started - completed),
        finished=finished,
    )
