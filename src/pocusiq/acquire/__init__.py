"""pocusiq.acquire: gantry acquisition of paired POCUS / high-end frames.

A plan (:mod:`~pocusiq.acquire.plan`) says which poses to visit and which devices to capture;
a :class:`~pocusiq.acquire.stage.Stage` (simulated, or GRBL over serial in
:mod:`~pocusiq.acquire.grbl`) moves the probe holder; frame sources
(:mod:`~pocusiq.acquire.sources`, :mod:`~pocusiq.acquire.scanner`) capture; and
:func:`~pocusiq.acquire.acquisition.run_acquisition` writes a resumable session folder whose
format is documented in :mod:`~pocusiq.acquire.session` (read it with :func:`read_session`).
"""

from pocusiq.acquire.acquisition import AcquisitionResult, open_source, open_stage, run_acquisition
from pocusiq.acquire.grbl import GrblStage
from pocusiq.acquire.plan import AcquisitionPlan, Pose, load_plan, plan_from_dict
from pocusiq.acquire.scanner import SimulatedScanner
from pocusiq.acquire.session import FrameRecord, FrameTruth, Session, SessionLog, read_session
from pocusiq.acquire.sources import (
    CapturedFrame,
    CaptureTimeoutError,
    FolderWatchSource,
    FrameSource,
    VideoCaptureSource,
)
from pocusiq.acquire.stage import SimulatedStage, Stage

__all__ = [
    "AcquisitionPlan",
    "AcquisitionResult",
    "CaptureTimeoutError",
    "CapturedFrame",
    "FolderWatchSource",
    "FrameRecord",
    "FrameSource",
    "FrameTruth",
    "GrblStage",
    "Pose",
    "Session",
    "SessionLog",
    "SimulatedScanner",
    "SimulatedStage",
    "Stage",
    "VideoCaptureSource",
    "load_plan",
    "open_source",
    "open_stage",
    "plan_from_dict",
    "read_session",
    "run_acquisition",
]
