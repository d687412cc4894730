"""Turn an acquisition session (``pocusiq acquire``) into a registered paired dataset.

:func:`pair_session` reads the session (:func:`pocusiq.acquire.session.read_session`), and for
every pose (and frame index) pairs the low-end (POCUS) frame with the high-end frame using
:func:`pocusiq.pair.frames.pair_frames`. Accepted pairs are written with
:class:`pocusiq.data.writer.PairedDatasetWriter` (the project's paired format and its
manifest; the registration transform, quality and geometry go into ``params``), and
``DATASET_DIR/pair_report.csv`` gets one row per pose saying what happened and why.

Per frame, from the session and its plan:

* pixel spacing: the frame record's ``pixel_spacing_mm`` (DICOM header, simulator), else
  the plan's device ``pixel_spacing_mm``, else (simulated devices) ``image_spacing_mm``;
  none of these -> :class:`~pocusiq.errors.ConfigError` before anything is written;
* imaging region: the record's ``region`` if known, else detected;
* nominal placement: probe face at (stage ``x_mm`` + mount ``dx_mm``, stage ``z_mm`` + mount
  ``dz_mm``), angle stage ``tilt_deg`` + mount ``rotation_deg`` (mount from the plan's device
  section where given; ``use_mount=False`` ignores it, leaving registration to find it).

``pair_report.csv`` columns: :data:`REPORT_COLUMNS`. ``status`` is ``accepted``,
``rejected`` (quality below threshold) or ``failed`` (region not found, registration failed
or diverged, overlap too small, frame missing); ``reason`` says why. For simulated sessions
(frames with ``truth``) the target registration error (:mod:`pocusiq.pair.tre`) is reported
per pair as well.
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.acquire.calibration import Calibration
from pocusiq.acquire.session import FrameRecord, Session, frame_spacing, read_session
from pocusiq.atomic import atomic_write_text
from pocusiq.data.importers import sanitise_id
from pocusiq.data.manifest import SPLITS
from pocusiq.data.writer import PairedDatasetWriter
from pocusiq.errors import ConfigError, DatasetError, PocusiqError
from pocusiq.pair.frames import PairingConfig, PairResult, pair_frames
from pocusiq.pair.geometry import FramePlacement
from pocusiq.pair.tre import target_registration_error

PathLike = str | os.PathLike[str]

__all__ = [
    "REPORT_COLUMNS",
    "REPORT_NAME",
    "PairReportRow",
    "PairingSummary",
    "choose_devices",
    "frame_placement",
    "frame_spacing",
    "pair_session",
    "read_pair_report",
    "write_pair_report",
]

REPORT_NAME = "pair_report.csv"
REPORT_COLUMNS: tuple[str, ...] = (
    "pose_index",
    "frame_index",
    "pair_id",
    "status",
    "reason",
    "ncc",
    "nmi",
    "transform",
    "spacing_mm",
    "height",
    "width",
    "tre_median_mm",
    "tre_p95_mm",
    "tre_max_mm",
    "x_mm",
    "y_mm",
    "z_mm",
    "tilt_deg",
    "low_file",
    "high_file",
)


@dataclass
class PairReportRow:
    """One row of ``pair_report.csv`` (numbers are NaN where they do not apply)."""

    pose_index: int
    frame_index: int
    pair_id: str
    status: str
    reason: str = ""
    ncc: float = math.nan
    nmi: float = math.nan
    transform: str = ""
    spacing_mm: float = math.nan
    height: int = 0
    width: int = 0
    tre_median_mm: float = math.nan
    tre_p95_mm: float = math.nan
    tre_max_mm: float = math.nan
    x_mm: float = math.nan
    y_mm: float = math.nan
    z_mm: float = math.nan
    tilt_deg: float = math.nan
    low_file: str = ""
    high_file: str = ""

    def to_record(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for name in REPORT_COLUMNS:
            value = getattr(self, name)
            if isinstance(value, float):
                out[name] = "" if math.isnan(value) else f"{value:.6g}"
            else:
                out[name] = str(value)
        return out


@dataclass
class PairingSummary:
    """What :func:`pair_session` did: the report rows and where things were written."""

    dataset_dir: Path
    report_path: Path
    rows: list[PairReportRow] = field(default_factory=list)

    @property
    def accepted(self) -> int:
        return sum(r.status == "accepted" for r in self.rows)

    @property
    def rejected(self) -> int:
        """Rows not accepted (quality rejections and failures)."""
        return len(self.rows) - self.accepted

    @property
    def rejection_rate(self) -> float:
        return self.rejected / len(self.rows) if self.rows else math.nan

    def tre_values(self, accepted_only: bool = True) -> np.ndarray:
        """Per-pair p95 TREs (mm) of rows with ground truth."""
        vals = [
            r.tre_p95_mm
            for r in self.rows
            if not math.isnan(r.tre_p95_mm) and (r.status == "accepted" or not accepted_only)
        ]
        return np.asarray(vals, dtype=np.float64)


def write_pair_report(path: PathLike, rows: list[PairReportRow]) -> None:
    """Write ``pair_report.csv`` atomically (rows sorted by pose, frame)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(REPORT_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: (r.pose_index, r.frame_index)):
        writer.writerow(row.to_record())
    atomic_write_text(path, buffer.getvalue())


def read_pair_report(path: PathLike) -> list[dict[str, str]]:
    """Rows of a ``pair_report.csv`` as dicts of strings. Raises DatasetError if missing/malformed."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DatasetError(f"{path}: pair report not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read pair report ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames is None or tuple(reader.fieldnames) != REPORT_COLUMNS:
        raise DatasetError(f"{path}: unexpected columns {reader.fieldnames}")
    return list(reader)


def _device_config(session: Session, name: str) -> Any:
    """The plan's device section named ``name``, or None if the plan has none."""
    try:
        return session.plan.device(name)
    except KeyError:
        return None


def choose_devices(session: Session, low: str | None = None, high: str | None = None) -> tuple[str, str]:
    """The (low, high) device names: given, else by simulated profile, else the only two devices.

    Raises ConfigError naming the session's devices when the choice is ambiguous or unknown.
    """
    names = list(session.devices)
    for given in (low, high):
        if given is not None and given not in names:
            raise ConfigError(f"{session.root}: device {given!r} not in the session (devices: {', '.join(names)})")
    if low is not None and high is not None:
        if low == high:
            raise ConfigError(f"{session.root}: low and high device are both {low!r}")
        return low, high
    profiles = {n: getattr(_device_config(session, n), "profile", None) for n in names}
    guess_low = low or next((n for n in names if profiles[n] == "pocus"), None)
    guess_high = high or next((n for n in names if profiles[n] == "high_end" and n != guess_low), None)
    if guess_low is None and guess_high is None and len(names) == 2:
        return names[0], names[1]
    others = [n for n in names if n not in (guess_low, guess_high)]
    if guess_low is None and len(others) == 1:
        guess_low = others[0]
    elif guess_high is None and len(others) == 1:
        guess_high = others[0]
    if guess_low is None or guess_high is None or guess_low == guess_high:
        raise ConfigError(
            f"{session.root}: cannot tell the low-end and high-end devices apart among "
            f"{', '.join(names)}; give --low and --high"
        )
    return guess_low, guess_high


def frame_placement(
    record: FrameRecord, session: Session, use_mount: bool = True, calibration: Calibration | None = None
) -> FramePlacement:
    """Nominal placement of a frame from its stage pose, spacing and the device's mounting.

    With a ``calibration`` that has the frame's device, its measured mounting, pixel spacing
    and probe-face pixel (:mod:`pocusiq.acquire.calibration`) replace the plan's nominal ones.
    """
    pose = record.pose
    if calibration is not None and record.device in calibration.devices:
        cal = calibration.devices[record.device]
        return FramePlacement(
            spacing_mm=cal.pixel_spacing_mm,
            probe_mm=(pose.x_mm + cal.offset_mm[0], pose.z_mm + cal.offset_mm[1]),
            angle_deg=pose.tilt_deg + cal.rotation_deg,
            pivot_px=cal.pivot_px,
        )
    device = _device_config(session, record.device)
    mount = getattr(device, "mount", None) if use_mount else None
    dx = float(getattr(mount, "dx_mm", 0.0) or 0.0)
    dz = float(getattr(mount, "dz_mm", 0.0) or 0.0)
    rot = float(getattr(mount, "rotation_deg", 0.0) or 0.0)
    return FramePlacement(
        spacing_mm=frame_spacing(record, session),
        probe_mm=(pose.x_mm + dx, pose.z_mm + dz),
        angle_deg=pose.tilt_deg + rot,
    )


def _pair_id(specimen: str, pose_index: int, frame_index: int, frames_per_pose: int) -> str:
    pid = f"{sanitise_id(specimen)}_p{pose_index:04d}"
    return pid if frames_per_pose <= 1 else f"{pid}_f{frame_index:02d}"


def _tre(result: PairResult, low: FrameRecord, high: FrameRecord) -> np.ndarray | None:
    if low.truth is None or high.truth is None:
        return None
    return target_registration_error(
        result.low_frame_from_out,
        result.high_frame_from_out,
        low.truth.world_from_pixel,
        high.truth.world_from_pixel,
        result.low.shape,
    )


def pair_session(
    session_dir: PathLike,
    out_dir: PathLike,
    *,
    config: PairingConfig | None = None,
    low_device: str | None = None,
    high_device: str | None = None,
    split: str = "train",
    use_mount: bool = True,
    use_logged_region: bool = True,
    calibration: Calibration | None = None,
    progress: Callable[[int, int], None] | None = None,
    warn: Callable[[str], None] | None = None,
) -> PairingSummary:
    """Pair every pose of a session and write the dataset and ``pair_report.csv``.

    Args:
        session_dir: an acquisition session folder (format ``pocusiq-session/1``).
        out_dir: dataset folder to create (must not already hold a dataset).
        config: :class:`~pocusiq.pair.frames.PairingConfig`.
        low_device, high_device: device names; chosen automatically when None
            (:func:`choose_devices`).
        split: split of every pair (``train``/``val``/``test``): one session images one
            specimen, and pairs of one specimen share a split.
        use_mount: use the plan's device mounting offsets in the nominal placement.
        use_logged_region: use a frame record's ``region`` when logged (else always detect).
        calibration: a gantry calibration (:func:`pocusiq.acquire.calibration.load_calibration`):
            the nominal placement of the devices it has, instead of the plan's mounting.
        warn: called with a message when the calibration does not fit the session (a device
            not calibrated, tilted poses with a pivot the calibration did not observe).
        progress: optional callback ``(done, total)`` after each pose.

    Returns:
        :class:`PairingSummary`.

    Raises:
        DatasetError: the session cannot be read, or ``out_dir`` already holds a dataset.
        ConfigError: devices cannot be chosen, or a frame's pixel spacing is unknown.
        ValueError: a bad ``split``.
    """
    cfg = config or PairingConfig()
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    session = read_session(session_dir)
    low_name, high_name = choose_devices(session, low_device, high_device)
    out = Path(out_dir)
    by_pose = session.by_pose()
    kinds = {getattr(_device_config(session, n), "kind", "") for n in (low_name, high_name)}
    source = "sim" if kinds == {"simulated"} else "real"
    if calibration is not None and warn is not None:
        for name in (low_name, high_name):
            cal = calibration.devices.get(name)
            if cal is None:
                warn(f"{calibration.source}: no calibration for device {name!r}; its plan mounting is used")
            elif not cal.pivot_observed and any(abs(p.tilt_deg) > 1e-9 for p in session.plan.poses):
                warn(
                    f"{calibration.source}: device {name!r} was calibrated at one tilt only, so its tilt "
                    f"pivot is nominal; tilted poses may be off (add tilts to the calibration plan)"
                )
    for frames in by_pose.values():  # fail fast on unknown spacing, before writing anything
        for name in (low_name, high_name):
            for record in frames.get(name, []):
                frame_spacing(record, session)
    frames_per_pose = session.plan.frames_per_pose
    rows: list[PairReportRow] = []
    total = len(session.plan.poses)
    with PairedDatasetWriter(out, resume=False) as writer:
        for pose_index, pose in enumerate(session.plan.poses):
            frames = by_pose.get(pose_index, {})
            lows = {f.frame_index: f for f in frames.get(low_name, [])}
            highs = {f.frame_index: f for f in frames.get(high_name, [])}
            indices = sorted(set(lows) | set(highs)) or [0]
            for frame_index in indices:
                pid = _pair_id(session.specimen, pose_index, frame_index, frames_per_pose)
                row = PairReportRow(
                    pose_index=pose_index,
                    frame_index=frame_index,
                    pair_id=pid,
                    status="failed",
                    x_mm=pose.x_mm,
                    y_mm=pose.y_mm,
                    z_mm=pose.z_mm,
                    tilt_deg=pose.tilt_deg,
                )
                rows.append(row)
                low, high = lows.get(frame_index), highs.get(frame_index)
                if low is None or high is None:
                    missing = [n for n, f in ((low_name, low), (high_name, high)) if f is None]
                    row.reason = f"missing {' and '.join(missing)} frame (pose not finished)"
                    continue
                row.low_file, row.high_file = low.file, high.file
                try:
                    result = pair_frames(
                        low.load(),
                        high.load(),
                        frame_placement(low, session, use_mount, calibration),
                        frame_placement(high, session, use_mount, calibration),
                        cfg,
                        low_region=low.region if use_logged_region else None,
                        high_region=high.region if use_logged_region else None,
                    )
                except PocusiqError as exc:
                    row.reason = str(exc)
                    continue
                row.ncc, row.nmi = result.quality.ncc, result.quality.nmi
                row.transform = result.registration.kind
                row.spacing_mm = result.spacing_mm
                row.height, row.width = result.low.shape
                tre = _tre(result, low, high)
                if tre is not None:
                    row.tre_median_mm = float(np.median(tre))
                    row.tre_p95_mm = float(np.percentile(tre, 95))
                    row.tre_max_mm = float(np.max(tre))
                if not result.accepted:
                    row.status, row.reason = "rejected", result.reason
                    continue
                params = result.params()
                params.update(
                    {
                        "session": str(Path(session_dir)),
                        "pose_index": pose_index,
                        "frame_index": frame_index,
                        "low_file": low.file,
                        "high_file": high.file,
                        "low_spacing_mm": list(frame_spacing(low, session)),
                        "high_spacing_mm": list(frame_spacing(high, session)),
                    }
                )
                writer.add(
                    pid,
                    result.low,
                    result.high,
                    split=split,
                    source=source,
                    specimen=session.specimen,
                    pose=f"x={pose.x_mm:g} y={pose.y_mm:g} z={pose.z_mm:g} tilt={pose.tilt_deg:g}",
                    spacing_mm=result.spacing_mm,
                    params=params,
                    low_device=low_name,
                    high_device=high_name,
                )
                row.status = "accepted"
            if progress is not None:
                progress(pose_index + 1, total)
    report = out / REPORT_NAME
    write_pair_report(report, rows)
    return PairingSummary(dataset_dir=out, report_path=report, rows=rows)
