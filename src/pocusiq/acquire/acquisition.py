"""Run an acquisition plan into a session folder, resuming a crashed session.

:func:`run_acquisition` makes one pass per device (in plan order) over the same poses: move
the stage, wait ``settle_s``, capture ``frames_per_pose`` frames, write each frame atomically
as PNG and log it (see :mod:`pocusiq.acquire.session` for the folder format), then log
``pose_done``. Re-running on the same folder with the same plan skips every (device, pose)
that has a ``pose_done`` line and re-takes only the rest; a different plan is refused.
Between passes a callback lets the caller pause (e.g. while the operator swaps probes).
"""

from __future__ import annotations

import hashlib
import io
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from pocusiq.acquire.plan import AcquisitionPlan, DeviceConfig, StageConfig
from pocusiq.acquire.session import (
    FRAMES_DIR,
    LOG_NAME,
    PLAN_NAME,
    SESSION_FORMAT,
    SessionLog,
    frame_file_name,
    utc_now,
)
from pocusiq.acquire.sources import CapturedFrame, FrameSource
from pocusiq.acquire.stage import SimulatedStage, Stage
from pocusiq.atomic import atomic_path, atomic_write_bytes, atomic_write_text, sha256_file
from pocusiq.errors import ConfigError

__all__ = ["AcquisitionResult", "encode_png", "open_source", "open_stage", "run_acquisition"]


@dataclass(frozen=True)
class AcquisitionResult:
    """What one run did: frames captured now, (device, pose) pairs skipped as already done."""

    session_dir: Path
    captured_frames: int
    captured_poses: int
    skipped_poses: int
    dropped_bytes: int
    finished: bool


def open_stage(config: StageConfig) -> Stage:
    """The stage a plan's ``stage`` section describes (GRBL opens its serial port)."""
    if config.kind == "simulated":
        return SimulatedStage(config.limits_mm, config.tilt_limits_deg, config.speed_mm_s)
    if config.kind == "grbl":
        from pocusiq.acquire.grbl import GrblStage

        return GrblStage.from_config(config, wakeup_s=2.0)
    raise ValueError(f"unknown stage kind {config.kind!r}")


def open_source(device: DeviceConfig, plan: AcquisitionPlan) -> FrameSource:
    """The frame source for one device of ``plan``."""
    from pocusiq.acquire.plan import FolderDeviceConfig, SimulatedDeviceConfig, VideoDeviceConfig

    if isinstance(device, SimulatedDeviceConfig):
        from pocusiq.acquire.scanner import SimulatedScanner

        return SimulatedScanner.from_config(device, plan.phantom)
    if isinstance(device, VideoDeviceConfig):
        from pocusiq.acquire.sources import VideoCaptureSource

        return VideoCaptureSource.from_config(device)
    if isinstance(device, FolderDeviceConfig):
        from pocusiq.acquire.sources import FolderWatchSource

        return FolderWatchSource.from_config(device)
    raise ValueError(f"unknown device kind {device.kind!r}")


def encode_png(image: np.ndarray) -> bytes:
    """PNG bytes of a uint8 grey (H, W) or RGB (H, W, 3) image."""
    from PIL import Image

    if image.dtype != np.uint8 or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ValueError(f"expected uint8 (H, W) or (H, W, 3), got {image.dtype} {image.shape}")
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L" if image.ndim == 2 else "RGB").save(buffer, format="PNG", compress_level=3)
    return buffer.getvalue()


def _start_or_resume(plan: AcquisitionPlan, out: Path, plan_file: Path | None) -> SessionLog:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: the session folder is an existing file")
    log_path = out / LOG_NAME
    log: SessionLog | None = None
    if log_path.exists():
        log = SessionLog(log_path)
        if log.records:
            if log.records[0].get("event") != "session_start":
                log.close()
                raise ConfigError(f"{log_path}: not a pocusiq session log (no session_start line)")
            if log.records[0].get("plan_sha256") != plan.fingerprint:
                log.close()
                raise ConfigError(
                    f"{out}: this session was started with a different plan ({out / PLAN_NAME}); "
                    f"resume it with that plan or choose a new --out folder"
                )
            # temporary files of atomic writes cut short by the crash
            for stale in (out / FRAMES_DIR).glob("**/.*.tmp*"):
                stale.unlink(missing_ok=True)
            log.append({"event": "resume", "time": utc_now(), "dropped_bytes": log.dropped_bytes})
            return log
        # an empty log (killed before its first line was complete): start afresh in it
    out.mkdir(parents=True, exist_ok=True)
    if plan_file is not None:
        atomic_write_bytes(out / PLAN_NAME, Path(plan_file).read_bytes())
    else:
        atomic_write_text(out / PLAN_NAME, yaml.safe_dump(plan.raw, sort_keys=False))
    if log is None:
        log = SessionLog(log_path)
    log.append(
        {
            "event": "session_start",
            "format": SESSION_FORMAT,
            "specimen": plan.specimen,
            "plan_sha256": plan.fingerprint,
            "devices": [d.name for d in plan.devices],
            "num_poses": len(plan.poses),
            "frames_per_pose": plan.frames_per_pose,
            "time": utc_now(),
        }
    )
    return log


def _frame_record(
    out: Path,
    device: str,
    pose_index: int,
    frame_index: int,
    plan: AcquisitionPlan,
    frame: CapturedFrame,
) -> dict:
    image = np.asarray(frame.image)
    data = encode_png(image)
    relative = frame_file_name(device, pose_index, frame_index)
    atomic_write_bytes(out / relative, data)
    record = {
        "event": "frame",
        "device": device,
        "pose_index": pose_index,
        "frame_index": frame_index,
        "pose": plan.poses[pose_index].as_dict(),
        "file": relative,
        "sha256": hashlib.sha256(data).hexdigest(),
        "time": utc_now(),
        "width": int(image.shape[1]),
        "height": int(image.shape[0]),
        "channels": 1 if image.ndim == 2 else 3,
        "pixel_spacing_mm": None if frame.pixel_spacing_mm is None else [float(v) for v in frame.pixel_spacing_mm],
        "region": None if frame.region is None else [int(v) for v in frame.region],
        "truth": None if frame.truth is None else frame.truth.as_dict(),
    }
    if frame.original is not None:
        original = Path(frame.original)
        suffix = original.suffix.lower()
        if not suffix:
            with open(original, "rb") as handle:
                suffix = ".dcm" if handle.read(132)[128:132] == b"DICM" else ".bin"
        original_rel = relative.rsplit("/", 1)[0] + "/originals/" + Path(relative).stem + suffix
        target = out / original_rel
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            shutil.copyfile(original, tmp)
        record["original_file"] = original_rel
        record["original_sha256"] = sha256_file(target)
    if frame.metadata:
        record["metadata"] = dict(frame.metadata)
    return record


def run_acquisition(
    plan: AcquisitionPlan,
    out_dir: str | Path,
    *,
    plan_file: str | Path | None = None,
    stage: Stage | None = None,
    sources: Mapping[str, FrameSource] | None = None,
    progress: bool = True,
    before_pass: Callable[[DeviceConfig], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> AcquisitionResult:
    """Acquire ``plan`` into ``out_dir`` (new, or a session of the same plan to resume).

    ``plan_file`` is copied byte-exact into the session (else the plan is dumped as YAML).
    ``stage``/``sources`` override the ones the plan describes (tests, custom hardware);
    stages and sources opened here are closed here. ``before_pass(device)`` is called before
    each device's pass that has poses left. Raises ConfigError (different plan),
    StageError, ImageFileError / CaptureTimeoutError from the hardware.
    """
    from tqdm import tqdm

    out = Path(out_dir)
    log = _start_or_resume(plan, out, Path(plan_file) if plan_file is not None else None)
    owned_stage = stage is None
    opened: dict[str, FrameSource] = {}
    captured_frames = captured_poses = skipped = 0
    try:
        done = log.completed()
        todo = {
            d.name: [i for i in range(len(plan.poses)) if (d.name, i) not in done] for d in plan.devices
        }
        skipped = sum(len(plan.poses) - len(v) for v in todo.values())
        if any(todo.values()):
            if stage is None:
                stage = open_stage(plan.stage)
                if plan.stage.kind == "simulated" or plan.stage.home:
                    stage.home()
            for device in plan.devices:
                poses = todo[device.name]
                if not poses:
                    continue
                if before_pass is not None:
                    before_pass(device)
                source = (sources or {}).get(device.name)
                if source is None:
                    source = opened[device.name] = open_source(device, plan)
                source.start_pass()
                log.append({"event": "pass_start", "device": device.name, "time": utc_now()})
                bar = tqdm(poses, desc=f"acquire {device.name}", unit="pose", disable=not progress, leave=False)
                for pose_index in bar:
                    stage.move_to(plan.poses[pose_index])
                    if plan.settle_s > 0:
                        sleep(plan.settle_s)
                    actual = stage.position()
                    for frame_index in range(plan.frames_per_pose):
                        frame = source.capture(actual, pose_index, frame_index)
                        record = _frame_record(out, device.name, pose_index, frame_index, plan, frame)
                        record["stage_position"] = actual.as_dict()
                        log.append(record)
                        captured_frames += 1
                    log.append(
                        {"event": "pose_done", "device": device.name, "pose_index": pose_index, "time": utc_now()}
                    )
                    captured_poses += 1
                bar.close()
                log.append({"event": "pass_done", "device": device.name, "time": utc_now()})
        finished = len(log.completed()) == len(plan.devices) * len(plan.poses)
        if finished and not any(r.get("event") == "session_done" for r in log.records):
            log.append({"event": "session_done", "time": utc_now()})
        return AcquisitionResult(
            session_dir=out,
            captured_frames=captured_frames,
            captured_poses=captured_poses,
            skipped_poses=skipped,
            dropped_bytes=log.dropped_bytes,
            finished=finished,
        )
    finally:
        log.close()
        for source in opened.values():
            source.close()
        if owned_stage and stage is not None:
            stage.close()
