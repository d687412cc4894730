"""Gantry calibration: where each device's image sits on the stage, measured on a wire phantom.

The standard approach of the ultrasound-guidance community (PLUS toolkit's fCal, SlicerIGT):
image a phantom whose point targets (wires seen in cross-section) are at known positions,
at known stage poses, find the targets in every frame and solve for the image-to-stage
transform by least squares. Here the phantom's wires run along the stage's y axis, so each
target is a point ``T_k = (x_mm, z_mm)`` in stage coordinates, the same in every slice.

Model (the geometry of :mod:`pocusiq.acquire.scanner` and :mod:`pocusiq.pair.geometry`): a
frame taken at stage pose ``(x, z, tilt)`` maps frame pixel ``p = (col, row)`` to::

    world(p) = (x, z) + d + R(tilt + rot) @ diag(s_col, s_row) @ (p - a)

with, per device, ``d = (dx_mm, dz_mm)`` the offset of the probe face centre from the stage
pose (the mounting offset), ``rot`` the in-plane mounting rotation (degrees, same sign as
``tilt_deg``), ``(s_col, s_row)`` the pixel spacing (mm) and ``a = (col, row)`` the frame
pixel at the probe face centre -- the point the stage tilts about. ``R(t) = [[cos t, -sin t],
[sin t, cos t]]``.

Solved per device by robust least squares (:func:`scipy.optimize.least_squares`, soft-L1
loss) over every matched (frame, target):

* always: ``rot``, ``dx_mm``, ``dz_mm``;
* ``pivot`` ``a`` (2 values) only when the plan's poses have at least two tilts: with one
  tilt only ``d - R S a`` is observable, so ``a`` is fixed at its nominal value (the imaging
  region's top centre, the convention of :mod:`pocusiq.pair.geometry`) and the result is
  exact at that tilt only (``pivot_observed: false``);
* the pixel spacing (col and row) when ``calibration.refine_spacing`` is on.

Out-of-plane placement (the image plane's offset along y, yaw, pitch) is not observable with
wires parallel to y and is not modelled; the simulator images 2-D slices.

Steps: detect point targets in every frame (:func:`pocusiq.metrics.targets.find_point_targets`,
sub-pixel centres, inside the imaging region given by the injected :data:`FramePreparer`);
match them to the known targets: first a consensus shift of the nominal placement (the shift, within ``search_mm``, that brings the most detections within
``2 * match_gate_mm`` of a target), then nearest-target matching with a shrinking gate
(3, 2, 1 x ``match_gate_mm``), re-solving after each; detections matching no target (UI
marks, speckle peaks) are outliers. Then checks, with a :class:`~pocusiq.errors.CalibrationError`
that says what to add: targets matched in fewer than ``min_frames`` frames; a Jacobian that
is rank deficient or whose condition number (columns scaled to unit norm) exceeds
:data:`MAX_CONDITION`, or offsets/rotation more uncertain than :data:`MAX_STD_MM` /
:data:`MAX_STD_DEG`, naming the poorly determined parameters and the poses that would
determine them ("add poses with lateral translation", "add tilts", ...).

Uncertainty: the covariance ``sigma^2 (J^T J)^-1`` of the parameters at the solution
(``sigma^2`` the residual variance of the inliers), reported as a standard deviation per
parameter.

Calibration file (JSON, written atomically, format :data:`CALIBRATION_FORMAT`)::

    {"format": "pocusiq-calibration/1", "created": "...", "session": "...", "plan_sha256": "...",
     "targets_mm": [[x, z], ...],
     "devices": {"pocus": {
         "mount": {"dx_mm": ..., "dz_mm": ..., "rotation_deg": ...},
         "pixel_spacing_mm": [s_col, s_row], "pivot_px": [col, row], "pivot_observed": true,
         "std": {"rotation_deg": ..., "dx_mm": ..., ...},
         "holder_from_pixel": [[...], [...]],      # world_from_pixel at the stage pose (0, 0, tilt 0)
         "condition_number": ..., "frames_total": ..., "frames_with_targets": ...,
         "matches": ..., "outliers": ...,
         "residuals_mm": {"rms": ..., "median": ..., "p95": ..., "max": ...},
         "per_target": [{"target": 0, "x_mm": ..., "z_mm": ..., "matches": ..., "rms_mm": ..., "max_mm": ...}],
         "matches_detail": [[pose_index, frame_index, target, col, row, res_x_mm, res_z_mm,
                             predicted_col, predicted_row], ...]}}}

``pocusiq pair --calibration CAL`` uses it as the nominal placement (:meth:`DeviceCalibration.world_from_pixel`).

Hand-written matching and model (NumPy, SciPy's least_squares): the PLUS toolkit solves the
same problem in C++ for N-wire phantoms and is not a Python dependency one can install.
"""

from __future__ import annotations

import io
import json
import math
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.acquire.plan import CalibrationConfig, MountConfig, Pose
from pocusiq.acquire.session import Session, frame_spacing, utc_now
from pocusiq.atomic import atomic_write_bytes, atomic_write_text
from pocusiq.errors import CalibrationError

__all__ = [
    "CALIBRATION_FORMAT",
    "MAX_CONDITION",
    "Calibration",
    "DeviceCalibration",
    "FrameTargets",
    "calibrate_session",
    "detect_session_targets",
    "load_calibration",
    "save_calibration_figure",
    "solve_device",
]

CALIBRATION_FORMAT = "pocusiq-calibration/1"

#: Largest accepted condition number of the column-normalised Jacobian. Measured with the
#: example plan's 18 poses and 10 wires (0.3 px detection noise, ``tests/acquire``): tilts of
#: -t/0/+t deg give a condition number of about 170 / t (34 at 5 deg, 84 at 2, 168 at 1, 843 at
#: 0.2) and an offset standard deviation of about 0.2 mm / t; so 200 asks for tilts of at least
#: ~1 deg when the pivot is solved. A rank-deficient problem gives > 1e15.
MAX_CONDITION = 200.0

#: Largest accepted standard deviation of the mounting offset (mm) and rotation (deg): the
#: pairing needs the placement to ~0.1-0.2 mm (``bench/pairing.py``'s target p95 <= 0.2 mm).
MAX_STD_MM = 0.2
MAX_STD_DEG = 0.2

#: Smallest fraction of all detections that must match a target. Simulated POCUS frames of the
#: example plan have ~17 % unmatched detections (UI marks); a wrong shift of a repeating
#: target layout matched 10 % in the tests.
MIN_MATCHED_FRACTION = 0.3

PathLike = str | os.PathLike[str]

# advice per parameter when it is poorly determined
_ADVICE = {
    "rotation_deg": "add poses with lateral translation (x) so targets cross the image, or targets at several depths",
    "dx_mm": "find the targets in more frames (more poses with the wires in view)",
    "dz_mm": "find the targets in more frames (more poses with the wires in view)",
    "pivot_col_px": "add tilts (at least two tilt angles several degrees apart)",
    "pivot_row_px": "add tilts (at least two tilt angles several degrees apart)",
    "spacing_col_mm": "add poses with lateral translation (x) so targets cross the image width",
    "spacing_row_mm": "add poses at several heights (z) or targets at several depths",
}


@dataclass(frozen=True)
class FrameTargets:
    """Point targets found in one frame.

    ``points`` is (n, 2) float64 of sub-pixel ``(col, row)`` frame-pixel centres; ``pose`` the
    stage pose of the frame (as the stage reported it).
    """

    device: str
    pose_index: int
    frame_index: int
    pose: Pose
    points: np.ndarray
    frame_size: tuple[int, int]  # (width, height)
    region: tuple[int, int, int, int] | None = None  # imaging region (col0, row0, width, height)


@dataclass(frozen=True)
class DeviceCalibration:
    """One device's solved image-to-stage transform (see the module docstring's model)."""

    name: str
    pixel_spacing_mm: tuple[float, float]
    rotation_deg: float
    offset_mm: tuple[float, float]
    pivot_px: tuple[float, float]
    pivot_observed: bool
    std: dict[str, float] = field(default_factory=dict)
    condition_number: float = math.nan
    frames_total: int = 0
    frames_with_targets: int = 0
    matches: int = 0
    outliers: int = 0
    residuals_mm: dict[str, float] = field(default_factory=dict)
    per_target: list[dict[str, float]] = field(default_factory=list)
    matches_detail: list[list[float]] = field(default_factory=list, repr=False)

    @property
    def mount(self) -> MountConfig:
        """The mounting offset/rotation in the plan's terms (``d`` and ``rot``)."""
        return MountConfig(dx_mm=self.offset_mm[0], dz_mm=self.offset_mm[1], rotation_deg=self.rotation_deg)

    def world_from_pixel(self, pose: Pose) -> np.ndarray:
        """(2, 3) map frame pixel (col, row) -> stage/world (x_mm, z_mm) at ``pose``."""
        return _world_from_pixel(
            pose, self.offset_mm, self.rotation_deg, self.pixel_spacing_mm, self.pivot_px
        )

    @property
    def holder_from_pixel(self) -> np.ndarray:
        """``world_from_pixel`` at the stage pose (0, 0, tilt 0)."""
        return self.world_from_pixel(Pose(0.0, 0.0, 0.0, 0.0))

    def as_dict(self) -> dict[str, Any]:
        return {
            "mount": {"dx_mm": self.offset_mm[0], "dz_mm": self.offset_mm[1], "rotation_deg": self.rotation_deg},
            "pixel_spacing_mm": list(self.pixel_spacing_mm),
            "pivot_px": list(self.pivot_px),
            "pivot_observed": self.pivot_observed,
            "std": dict(self.std),
            "holder_from_pixel": self.holder_from_pixel.tolist(),
            "condition_number": self.condition_number,
            "frames_total": self.frames_total,
            "frames_with_targets": self.frames_with_targets,
            "matches": self.matches,
            "outliers": self.outliers,
            "residuals_mm": dict(self.residuals_mm),
            "per_target": [dict(t) for t in self.per_target],
            "matches_detail": [list(m) for m in self.matches_detail],
        }

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any], source: str = "<dict>") -> DeviceCalibration:
        try:
            mount = data["mount"]
            spacing = [float(v) for v in data["pixel_spacing_mm"]]
            pivot = [float(v) for v in data["pivot_px"]]
            if len(spacing) != 2 or len(pivot) != 2 or min(spacing) <= 0:
                raise ValueError("pixel_spacing_mm and pivot_px must be two numbers, spacing > 0")
            values = [float(mount["dx_mm"]), float(mount["dz_mm"]), float(mount["rotation_deg"]), *spacing, *pivot]
            if not all(math.isfinite(v) for v in values):
                raise ValueError("non-finite value")
            return cls(
                name=name,
                pixel_spacing_mm=(spacing[0], spacing[1]),
                rotation_deg=float(mount["rotation_deg"]),
                offset_mm=(float(mount["dx_mm"]), float(mount["dz_mm"])),
                pivot_px=(pivot[0], pivot[1]),
                pivot_observed=bool(data.get("pivot_observed", False)),
                std={str(k): _number(v) for k, v in (data.get("std") or {}).items()},
                condition_number=_number(data.get("condition_number")),
                frames_total=int(data.get("frames_total", 0)),
                frames_with_targets=int(data.get("frames_with_targets", 0)),
                matches=int(data.get("matches", 0)),
                outliers=int(data.get("outliers", 0)),
                residuals_mm={str(k): _number(v) for k, v in (data.get("residuals_mm") or {}).items()},
                per_target=[dict(t) for t in data.get("per_target") or []],
                matches_detail=[list(m) for m in data.get("matches_detail") or []],
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise CalibrationError(f"{source}: device {name!r}: malformed calibration ({exc})") from exc


@dataclass(frozen=True)
class Calibration:
    """A calibration file's content: one :class:`DeviceCalibration` per device."""

    devices: dict[str, DeviceCalibration]
    targets_mm: tuple[tuple[float, float], ...] = ()
    session: str = ""
    plan_sha256: str = ""
    created: str = ""
    source: str = "<memory>"

    def device(self, name: str) -> DeviceCalibration:
        if name not in self.devices:
            raise CalibrationError(
                f"{self.source}: no calibration for device {name!r} (calibrated: {', '.join(self.devices) or 'none'})"
            )
        return self.devices[name]

    def as_dict(self) -> dict[str, Any]:
        return {
            "format": CALIBRATION_FORMAT,
            "created": self.created,
            "session": self.session,
            "plan_sha256": self.plan_sha256,
            "targets_mm": [list(t) for t in self.targets_mm],
            "devices": {name: dev.as_dict() for name, dev in self.devices.items()},
        }

    def save(self, path: PathLike) -> None:
        """Write the calibration as JSON, atomically (NaN, e.g. a target never matched, as null)."""
        atomic_write_text(path, json.dumps(_nan_to_none(self.as_dict()), indent=1, allow_nan=False) + "\n")


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


def _number(value: Any) -> float:
    return math.nan if value is None else float(value)


def load_calibration(path: PathLike) -> Calibration:
    """Read a calibration file. Raises CalibrationError naming the file and what is wrong."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CalibrationError(f"{path}: calibration file not found") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CalibrationError(f"{path}: cannot read calibration file ({exc})") from exc
    if not isinstance(data, dict) or data.get("format") != CALIBRATION_FORMAT:
        found = data.get("format") if isinstance(data, dict) else type(data).__name__
        raise CalibrationError(f"{path}: not a calibration file (format {found!r}, expected {CALIBRATION_FORMAT})")
    devices = data.get("devices")
    if not isinstance(devices, dict) or not devices:
        raise CalibrationError(f"{path}: field 'devices': expected a non-empty mapping")
    return Calibration(
        devices={str(n): DeviceCalibration.from_dict(str(n), d, str(path)) for n, d in devices.items()},
        targets_mm=tuple((float(t[0]), float(t[1])) for t in data.get("targets_mm") or []),
        session=str(data.get("session", "")),
        plan_sha256=str(data.get("plan_sha256", "")),
        created=str(data.get("created", "")),
        source=str(path),
    )


# ----------------------------------------------------------------------------- model


def _rotation(deg: np.ndarray | float) -> np.ndarray:
    a = np.radians(deg)
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s], [s, c]])


def _world_from_pixel(
    pose: Pose,
    offset: Sequence[float],
    rotation_deg: float,
    spacing: Sequence[float],
    pivot: Sequence[float],
) -> np.ndarray:
    linear = _rotation(pose.tilt_deg + rotation_deg) @ np.diag([float(spacing[0]), float(spacing[1])])
    origin = np.array([pose.x_mm + offset[0], pose.z_mm + offset[1]]) - linear @ np.asarray(pivot, float)
    return np.hstack([linear, origin[:, None]])


@dataclass
class _Problem:
    """The stacked observations of one device: frame poses and (pixel, target) matches."""

    pose_xz: np.ndarray  # (m, 2) stage (x, z) of each match's frame
    tilt: np.ndarray  # (m,) stage tilt (deg)
    pixels: np.ndarray  # (m, 2) detected (col, row)
    targets: np.ndarray  # (m, 2) the matched target (x, z)


class _Model:
    """Parameter vector <-> (offset, rotation, spacing, pivot) for one device."""

    def __init__(self, free_pivot: bool, free_spacing: bool, spacing0: Sequence[float], pivot0: Sequence[float]):
        self.free_pivot = free_pivot
        self.free_spacing = free_spacing
        self.spacing0 = np.asarray(spacing0, float)
        self.pivot0 = np.asarray(pivot0, float)
        self.names = ["rotation_deg", "dx_mm", "dz_mm"]
        if free_pivot:
            self.names += ["pivot_col_px", "pivot_row_px"]
        if free_spacing:
            self.names += ["spacing_col_mm", "spacing_row_mm"]

    def pack(self, rotation: float, offset: Sequence[float], spacing: Sequence[float], pivot: Sequence[float]) -> np.ndarray:
        values = [rotation, offset[0], offset[1]]
        if self.free_pivot:
            values += [pivot[0], pivot[1]]
        if self.free_spacing:
            values += [spacing[0], spacing[1]]
        return np.asarray(values, float)

    def unpack(self, x: np.ndarray) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
        rotation, offset = float(x[0]), np.asarray(x[1:3], float)
        i = 3
        pivot = self.pivot0
        if self.free_pivot:
            pivot = np.asarray(x[i : i + 2], float)
            i += 2
        spacing = self.spacing0
        if self.free_spacing:
            spacing = np.asarray(x[i : i + 2], float)
        return rotation, offset, spacing, pivot

    def world(self, x: np.ndarray, pose_xz: np.ndarray, tilt: np.ndarray, pixels: np.ndarray) -> np.ndarray:
        rotation, offset, spacing, pivot = self.unpack(x)
        a = np.radians(tilt + rotation)
        c, s = np.cos(a), np.sin(a)
        u = (pixels[:, 0] - pivot[0]) * spacing[0]
        v = (pixels[:, 1] - pivot[1]) * spacing[1]
        return np.stack([pose_xz[:, 0] + offset[0] + c * u - s * v, pose_xz[:, 1] + offset[1] + s * u + c * v], axis=1)

    def residuals(self, x: np.ndarray, problem: _Problem) -> np.ndarray:
        return (self.world(x, problem.pose_xz, problem.tilt, problem.pixels) - problem.targets).ravel()

    def jacobian(self, x: np.ndarray, problem: _Problem) -> np.ndarray:
        """Central-difference Jacobian of :meth:`residuals` (the model is smooth and cheap)."""
        steps = np.array([1e-4 if n.startswith(("rotation", "pivot")) else 1e-6 for n in self.names])
        columns = []
        for j, h in enumerate(steps):
            e = np.zeros_like(x)
            e[j] = h
            columns.append((self.residuals(x + e, problem) - self.residuals(x - e, problem)) / (2 * h))
        return np.stack(columns, axis=1)


# ----------------------------------------------------------------------------- matching


def _frame_arrays(frames: Sequence[FrameTargets]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stack all detections: frame index per detection, pose (x, z), tilt, pixels."""
    owner, pose_xz, tilt, pixels = [], [], [], []
    for i, frame in enumerate(frames):
        pts = np.asarray(frame.points, float).reshape(-1, 2)
        owner.append(np.full(len(pts), i))
        pose_xz.append(np.tile([frame.pose.x_mm, frame.pose.z_mm], (len(pts), 1)))
        tilt.append(np.full(len(pts), frame.pose.tilt_deg))
        pixels.append(pts)
    if not owner:
        return np.zeros(0, int), np.zeros((0, 2)), np.zeros(0), np.zeros((0, 2))
    return np.concatenate(owner), np.concatenate(pose_xz), np.concatenate(tilt), np.concatenate(pixels)


def _match(world: np.ndarray, owner: np.ndarray, targets: np.ndarray, gate: float) -> np.ndarray:
    """Target index per detection (-1 = none within ``gate``); one detection per (frame, target)."""
    if len(world) == 0:
        return np.zeros(0, int)
    dist = np.linalg.norm(world[:, None, :] - targets[None, :, :], axis=2)
    nearest = np.argmin(dist, axis=1)
    best = dist[np.arange(len(world)), nearest]
    match = np.where(best <= gate, nearest, -1)
    # keep only the closest detection of each (frame, target)
    order = np.argsort(best)
    seen: set[tuple[int, int]] = set()
    for j in order:
        if match[j] < 0:
            continue
        key = (int(owner[j]), int(match[j]))
        if key in seen:
            match[j] = -1
        else:
            seen.add(key)
    return match


def _consensus_shift(world: np.ndarray, targets: np.ndarray, search_mm: float, gate: float) -> np.ndarray:
    """The (dx, dz) shift within ``search_mm`` that puts the most detections within ``gate`` of a
    target (ties: the smaller summed distance); candidates are all target - detection
    differences, on a 0.1 mm lattice."""
    if len(world) == 0:
        return np.zeros(2)
    diffs = (targets[None, :, :] - world[:, None, :]).reshape(-1, 2)
    diffs = diffs[np.linalg.norm(diffs, axis=1) <= search_mm]
    if len(diffs) == 0:
        return np.zeros(2)
    candidates = np.unique(np.round(diffs / 0.1).astype(np.int64), axis=0) * 0.1
    best_score, best_cost, best = -1, math.inf, np.zeros(2)
    for start in range(0, len(candidates), 256):
        chunk = candidates[start : start + 256]  # (c, 2)
        moved = world[None, :, None, :] + chunk[:, None, None, :]  # (c, n, 1, 2)
        dist = np.linalg.norm(moved - targets[None, None, :, :], axis=3).min(axis=2)  # (c, n)
        inside = dist <= gate
        scores = inside.sum(axis=1)
        costs = np.where(inside, dist, 0.0).sum(axis=1)
        for k in np.flatnonzero(scores == scores.max()):
            if scores[k] > best_score or (scores[k] == best_score and costs[k] < best_cost):
                best_score, best_cost, best = int(scores[k]), float(costs[k]), chunk[k]
    return np.asarray(best, float)


def _poorly_determined(jac: np.ndarray, names: Sequence[str]) -> tuple[float, list[str]]:
    """Condition number of the column-normalised Jacobian and the parameters of its weakest direction."""
    norms = np.linalg.norm(jac, axis=0)
    if np.any(norms <= 1e-12):
        return math.inf, [n for n, v in zip(names, norms) if v <= 1e-12]
    scaled = jac / norms
    _, sv, vt = np.linalg.svd(scaled, full_matrices=False)
    cond = math.inf if sv[-1] <= sv[0] * 1e-15 else float(sv[0] / sv[-1])
    weakest = np.abs(vt[-1])
    return cond, [n for n, w in zip(names, weakest) if w >= 0.3]


def _advice(params: Sequence[str]) -> str:
    tips: list[str] = []
    others = [n for n in params if n not in ("dx_mm", "dz_mm")]
    for name in others or params:  # an offset is poorly determined because of the others
        tip = _ADVICE.get(name)
        if tip and tip not in tips:
            tips.append(tip)
    return "; ".join(tips) or "add poses"


def solve_device(
    name: str,
    frames: Sequence[FrameTargets],
    targets_mm: Sequence[Sequence[float]],
    config: CalibrationConfig,
    *,
    spacing0: Sequence[float],
    pivot0: Sequence[float],
    mount0: MountConfig | None = None,
) -> DeviceCalibration:
    """Match one device's detections to the targets and solve its image-to-stage transform.

    Args:
        name: device name (for messages).
        frames: the device's frames with their detections (pixel (col, row)).
        targets_mm: known targets (x_mm, z_mm) in stage coordinates.
        config: the plan's calibration section (gates, robust scale, spacing refinement).
        spacing0: nominal (col, row) pixel spacing (mm); the start of the refinement.
        pivot0: nominal probe-face pixel (col, row): the start (tilts) or the fixed value.
        mount0: nominal mounting, the starting point (default: none).

    Raises:
        CalibrationError: targets matched in fewer than ``config.min_frames`` frames, or an
            ill-conditioned problem (says which poses to add).
    """
    from scipy.optimize import least_squares

    targets = np.asarray(targets_mm, float).reshape(-1, 2)
    mount0 = mount0 or MountConfig()
    tilts = sorted({round(f.pose.tilt_deg, 6) for f in frames})
    model = _Model(len(tilts) >= 2, config.refine_spacing, spacing0, pivot0)
    x = model.pack(mount0.rotation_deg, (mount0.dx_mm, mount0.dz_mm), spacing0, pivot0)
    owner, pose_xz, tilt, pixels = _frame_arrays(frames)
    with_detections = len({int(o) for o in owner})
    if with_detections < config.min_frames:
        raise CalibrationError(
            f"device {name!r}: point targets were detected in only {with_detections} of {len(frames)} "
            f"frames (need at least {config.min_frames}); check that the wires are in the field of view "
            f"at the planned poses, the gain and the depth, or add poses over the wires"
        )

    def solve(x0: np.ndarray, match: np.ndarray, model: _Model) -> np.ndarray:
        keep = match >= 0
        problem = _Problem(pose_xz[keep], tilt[keep], pixels[keep], targets[match[keep]])
        if 2 * int(keep.sum()) < len(model.names):
            return x0
        result = least_squares(
            model.residuals, x0, args=(problem,), loss="soft_l1", f_scale=config.robust_scale_mm,
            x_scale="jac", method="trf",
        )
        return result.x

    # 1. consensus shift of the nominal placement; 2. match with a shrinking gate and re-solve
    gate = config.match_gate_mm
    shift = _consensus_shift(model.world(x, pose_xz, tilt, pixels), targets, config.search_mm, 2.0 * gate)
    x[1:3] += shift
    # the first solves keep pivot and spacing at their nominal values (rotation and offset only),
    # so a few coarse matches cannot pull them far
    coarse = _Model(False, False, spacing0, pivot0)
    xc = x[:3].copy()  # rotation, dx, dz: the first three parameters of every model
    for factor in (3.0, 2.0):
        match = _match(coarse.world(xc, pose_xz, tilt, pixels), owner, targets, factor * gate)
        xc = solve(xc, match, coarse)
    x = model.pack(float(xc[0]), xc[1:3], spacing0, pivot0)
    for factor in (2.0, 1.0, 1.0):
        match = _match(model.world(x, pose_xz, tilt, pixels), owner, targets, factor * gate)
        x = solve(x, match, model)
    match = _match(model.world(x, pose_xz, tilt, pixels), owner, targets, gate)
    matched_frames = len({int(o) for o in owner[match >= 0]})
    if matched_frames < config.min_frames:
        raise CalibrationError(
            f"device {name!r}: targets were matched in only {matched_frames} of {len(frames)} frames "
            f"(need at least {config.min_frames}; {with_detections} frames had detections): the "
            f"nominal mounting may be off by more than calibration.search_mm ({config.search_mm:g} mm), "
            f"calibration.targets_mm may not be where the wires are, or add poses over the wires"
        )
    keep = match >= 0
    if keep.sum() < MIN_MATCHED_FRACTION * len(keep):
        raise CalibrationError(
            f"device {name!r}: only {int(keep.sum())} of {len(keep)} detections "
            f"({keep.mean():.0%}, need {MIN_MATCHED_FRACTION:.0%}) match a target: the wires are not where "
            f"calibration.targets_mm says, or the nominal mounting is off by more than calibration.search_mm "
            f"({config.search_mm:g} mm) and a repeating target layout matched at a wrong shift"
        )
    problem = _Problem(pose_xz[keep], tilt[keep], pixels[keep], targets[match[keep]])
    jac = model.jacobian(x, problem)
    cond, weak = _poorly_determined(jac, model.names)
    if not math.isfinite(cond) or cond > MAX_CONDITION or 2 * len(problem.pixels) <= len(model.names):
        raise CalibrationError(
            f"device {name!r}: the calibration is ill-conditioned (condition number "
            f"{cond:.3g} > {MAX_CONDITION:g}; poorly determined: {', '.join(weak) or 'all'}) "
            f"from {int(keep.sum())} matches in {matched_frames} frames: {_advice(weak)}"
        )
    residual = (model.world(x, problem.pose_xz, problem.tilt, problem.pixels) - problem.targets)
    dist = np.linalg.norm(residual, axis=1)
    # covariance from the inliers of the robust fit (residual within 3 robust scales)
    inlier = dist <= 3.0 * config.robust_scale_mm
    std: dict[str, float] = {}
    if int(inlier.sum()) * 2 > len(model.names):
        j_in = jac.reshape(len(dist), 2, -1)[inlier].reshape(-1, len(model.names))
        dof = max(1, 2 * int(inlier.sum()) - len(model.names))
        sigma2 = float(np.sum(residual[inlier] ** 2)) / dof
        try:
            cov = sigma2 * np.linalg.inv(j_in.T @ j_in)
            std = {n: float(math.sqrt(max(cov[i, i], 0.0))) for i, n in enumerate(model.names)}
        except np.linalg.LinAlgError:
            std = {n: math.inf for n in model.names}
    uncertain = [n for n in ("dx_mm", "dz_mm") if std.get(n, 0.0) > MAX_STD_MM]
    uncertain += [n for n in ("rotation_deg",) if std.get(n, 0.0) > MAX_STD_DEG]
    if uncertain:
        shown = ", ".join(f"{n} +- {std[n]:.3g}" for n in uncertain)
        rms = float(np.sqrt(np.mean(dist**2)))
        misfit = (
            f"; the residuals are large (rms {rms:.3g} mm): a wrong fixed pixel spacing (set "
            f"calibration.refine_spacing), wires not where calibration.targets_mm says, or poor detections"
            if rms > config.robust_scale_mm else ""
        )
        raise CalibrationError(
            f"device {name!r}: the calibration is too uncertain ({shown}; limits {MAX_STD_MM:g} mm, "
            f"{MAX_STD_DEG:g} deg; condition number {cond:.3g}, poorly determined: {', '.join(weak) or 'none'}) "
            f"from {int(keep.sum())} matches in {matched_frames} frames: {_advice(weak or uncertain)}{misfit}"
        )
    rotation, offset, spacing, pivot = model.unpack(x)
    per_target = []
    tidx = match[keep]
    for k, (tx, tz) in enumerate(targets):
        sel = tidx == k
        per_target.append(
            {
                "target": k,
                "x_mm": float(tx),
                "z_mm": float(tz),
                "matches": int(sel.sum()),
                "rms_mm": float(np.sqrt(np.mean(dist[sel] ** 2))) if sel.any() else math.nan,
                "max_mm": float(dist[sel].max()) if sel.any() else math.nan,
            }
        )
    # the pixel where the calibration predicts each matched target: p - S^-1 R(tilt + rot)^T r
    angle = np.radians(problem.tilt + rotation)
    back_u = np.cos(angle) * residual[:, 0] + np.sin(angle) * residual[:, 1]
    back_v = -np.sin(angle) * residual[:, 0] + np.cos(angle) * residual[:, 1]
    predicted = problem.pixels - np.stack([back_u / spacing[0], back_v / spacing[1]], axis=1)
    detail = []
    kept_owner = owner[keep]
    for j in range(len(dist)):
        frame = frames[int(kept_owner[j])]
        detail.append(
            [frame.pose_index, frame.frame_index, int(tidx[j]), float(problem.pixels[j, 0]),
             float(problem.pixels[j, 1]), float(residual[j, 0]), float(residual[j, 1]),
             float(predicted[j, 0]), float(predicted[j, 1])]
        )
    return DeviceCalibration(
        name=name,
        pixel_spacing_mm=(float(spacing[0]), float(spacing[1])),
        rotation_deg=float(rotation),
        offset_mm=(float(offset[0]), float(offset[1])),
        pivot_px=(float(pivot[0]), float(pivot[1])),
        pivot_observed=model.free_pivot,
        std=std,
        condition_number=float(cond),
        frames_total=len(frames),
        frames_with_targets=matched_frames,
        matches=int(keep.sum()),
        outliers=int((~keep).sum()),
        residuals_mm={
            "rms": float(np.sqrt(np.mean(dist**2))),
            "median": float(np.median(dist)),
            "p95": float(np.percentile(dist, 95)),
            "max": float(dist.max()),
        },
        per_target=per_target,
        matches_detail=detail,
    )


# ----------------------------------------------------------------------------- sessions


#: ``prepare(frame, region) -> (grey, valid, box)``: a frame's grey image (H, W), where targets
#: may lie (bool (H, W)) and its imaging region box (col0, row0, width, height); ``region`` is
#: the logged / plan region or None (then the preparer finds it). Default: :func:`prepare_frame`.
FramePreparer = Callable[
    [np.ndarray, tuple[int, int, int, int] | None], tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]
]


def prepare_frame(
    image: np.ndarray, region: tuple[int, int, int, int] | None
) -> tuple[np.ndarray, np.ndarray, tuple[int, int, int, int]]:
    """A frame's grey image (BT.601 luma of RGB, :func:`pocusiq.imaging.intensity.luma`), the
    pixels where wires may lie (inside the imaging region, less black and coloured UI pixels:
    :func:`target_pixels`) and the region's box: ``region`` if given (logged or in the plan),
    else :func:`pocusiq.imaging.region.find_imaging_region`."""
    from pocusiq.imaging.intensity import luma

    grey = luma(image) if image.ndim == 3 else image
    if region is not None:
        box = tuple(int(v) for v in region)
        inside = region_mask(image.shape, box)
    else:
        from pocusiq.imaging.region import find_imaging_region

        found = find_imaging_region(image)
        box, inside = found.box, found.mask
    return grey, inside & target_pixels(image, grey), box  # type: ignore[return-value]


def default_detector(grey: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """Sub-pixel (col, row) centres of the point targets inside ``valid`` of a grey frame
    (:func:`pocusiq.metrics.targets.find_point_targets`, its default thresholds: no target in
    the speckle of real screenshots)."""
    from pocusiq.metrics.targets import find_point_targets

    targets = find_point_targets(grey, valid=valid)
    return np.asarray([[t.col, t.row] for t in targets], float).reshape(-1, 2)


def target_pixels(image: np.ndarray, grey: np.ndarray) -> np.ndarray:
    """Where targets may lie (:func:`pocusiq.metrics.targets.valid_pixels`): not black margin,
    not coloured UI marks (e.g. an app's logo inside the image). ``image`` is the frame (grey
    or RGB), ``grey`` its grey version."""
    from pocusiq.metrics.targets import valid_pixels

    saturation = None
    if image.ndim == 3:
        rgb = image[..., :3].astype(np.int16)
        saturation = rgb.max(axis=2) - rgb.min(axis=2)
    return valid_pixels(grey, saturation=saturation)


def region_mask(shape: tuple[int, ...], box: Sequence[int]) -> np.ndarray:
    """bool (H, W) mask of the box (col0, row0, width, height)."""
    c0, r0, w, h = (int(v) for v in box)
    mask = np.zeros(shape[:2], bool)
    mask[r0 : r0 + h, c0 : c0 + w] = True
    return mask


def detect_session_targets(
    session: Session,
    devices: Sequence[str],
    prepare: FramePreparer | None = None,
    detect: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[FrameTargets]]:
    """Point targets in every finished frame of ``devices``.

    ``prepare`` (:data:`FramePreparer`, default :func:`prepare_frame`) gives each frame's grey
    image, the pixels where targets may lie and its imaging region (the frame record's
    ``region``, else the plan device's, else found); ``detect(grey_frame, valid_mask) -> (n, 2) (col, row)`` defaults to
    :func:`default_detector`. The stage pose of a frame is the position the stage reported
    (``stage_position``), else the planned pose. ``progress(done, total)`` after each frame.
    """
    detect = detect or default_detector
    prepare = prepare or prepare_frame
    out: dict[str, list[FrameTargets]] = {name: [] for name in devices}
    records = [r for r in session.frames if r.device in out]
    for done, record in enumerate(records, start=1):
        image = record.load()
        try:
            plan_region = session.plan.device(record.device).region
        except KeyError:
            plan_region = None
        grey, valid, box = prepare(image, record.region or plan_region)
        points = np.asarray(detect(grey, valid), float).reshape(-1, 2)
        stage = record.raw.get("stage_position")
        pose = Pose.from_dict(stage) if stage else record.pose
        out[record.device].append(
            FrameTargets(record.device, record.pose_index, record.frame_index, pose, points,
                         (record.width, record.height), tuple(int(v) for v in box))
        )
        if progress is not None:
            progress(done, len(records))
    return out


def _nominal_pivot(region: Sequence[int] | None, frame_size: tuple[int, int]) -> tuple[float, float]:
    """The probe face centre's pixel by convention (:mod:`pocusiq.pair.geometry`): the region's top centre."""
    if region is not None:
        c0, r0, w, _ = region
        return c0 + (w - 1) / 2.0, r0 - 0.5
    return (frame_size[0] - 1) / 2.0, -0.5


def calibrate_session(
    session: Session,
    config: CalibrationConfig | None = None,
    *,
    prepare: FramePreparer | None = None,
    detect: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
    use_mount: bool = True,
    detections: Mapping[str, Sequence[FrameTargets]] | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Calibrate every device (``config.devices``, default all) of an acquired session.

    Args:
        session: a session acquired with a calibration plan.
        config: the calibration section (default: the session plan's).
        prepare: frame preparation (grey, valid pixels, region; :data:`FramePreparer`);
            default :func:`prepare_frame`.
        detect: point-target detector (see :func:`detect_session_targets`).
        use_mount: start from the plan's device mounting (else from no offset/rotation).
        detections: precomputed detections per device (skips detection).

    Raises:
        CalibrationError: no calibration section, or a device cannot be calibrated.
    """
    config = config or session.plan.calibration
    if config is None:
        raise CalibrationError(
            f"{session.root}: the session's plan has no 'calibration' section (targets_mm); "
            f"give the calibration plan with --plan"
        )
    names = list(config.devices or session.devices)
    if detections is None:
        found = detect_session_targets(session, names, prepare, detect, progress)
    else:
        found = dict(detections)
    devices: dict[str, DeviceCalibration] = {}
    for name in names:
        frames = list(found.get(name, []))
        if not frames:
            raise CalibrationError(f"{session.root}: device {name!r} has no finished frames")
        records = [f for f in session.frames if f.device == name]
        spacing0 = frame_spacing(records[0], session)
        try:
            device = session.plan.device(name)
        except KeyError:
            device = None
        regions = [f.region for f in frames if f.region is not None]
        region = tuple(int(np.median([r[i] for r in regions])) for i in range(4)) if regions else None
        pivot0 = _nominal_pivot(region, frames[0].frame_size)
        mount0 = getattr(device, "mount", None) if use_mount else None
        devices[name] = solve_device(
            name, frames, config.targets_mm, config, spacing0=spacing0, pivot0=pivot0, mount0=mount0
        )
    return Calibration(
        devices=devices,
        targets_mm=tuple(config.targets_mm),
        session=str(session.root),
        plan_sha256=session.plan.fingerprint,
        created=utc_now(),
    )


# ----------------------------------------------------------------------------- report


def report_lines(calibration: Calibration, truth: Mapping[str, MountConfig] | None = None) -> list[str]:
    """Human-readable summary: per device the transform +- std, residuals and per-target rows."""
    lines = []
    for name, dev in calibration.devices.items():
        sd = dev.std
        lines.append(
            f"{name}: mount dx {dev.offset_mm[0]:+.3f} +- {sd.get('dx_mm', math.nan):.3f} mm, "
            f"dz {dev.offset_mm[1]:+.3f} +- {sd.get('dz_mm', math.nan):.3f} mm, "
            f"rotation {dev.rotation_deg:+.3f} +- {sd.get('rotation_deg', math.nan):.3f} deg"
        )
        lines.append(
            f"  spacing {dev.pixel_spacing_mm[0]:.5f} x {dev.pixel_spacing_mm[1]:.5f} mm/px"
            + (f" (+- {sd['spacing_col_mm']:.5f}, {sd['spacing_row_mm']:.5f})" if "spacing_col_mm" in sd else " (fixed)")
            + f"; pivot (col, row) {dev.pivot_px[0]:.2f}, {dev.pivot_px[1]:.2f} px"
            + (f" (+- {sd['pivot_col_px']:.2f}, {sd['pivot_row_px']:.2f})" if dev.pivot_observed else " (not observed: one tilt)")
        )
        r = dev.residuals_mm
        lines.append(
            f"  {dev.matches} matches in {dev.frames_with_targets}/{dev.frames_total} frames, "
            f"{dev.outliers} unmatched detections; residual rms {r['rms']:.3f} mm, median {r['median']:.3f}, "
            f"p95 {r['p95']:.3f}, max {r['max']:.3f} mm; condition number {dev.condition_number:.1f}"
        )
        for t in dev.per_target:
            lines.append(
                f"    target {t['target']} ({t['x_mm']:.2f}, {t['z_mm']:.2f}) mm: {t['matches']} matches, "
                f"rms {t['rms_mm']:.3f} mm, max {t['max_mm']:.3f} mm"
            )
        if truth and name in truth:
            m = truth[name]
            lines.append(
                f"  true mount dx {m.dx_mm:+.3f} dz {m.dz_mm:+.3f} mm rotation {m.rotation_deg:+.3f} deg; "
                f"error {dev.offset_mm[0] - m.dx_mm:+.3f}, {dev.offset_mm[1] - m.dz_mm:+.3f} mm, "
                f"{dev.rotation_deg - m.rotation_deg:+.3f} deg"
            )
    return lines


def save_calibration_figure(calibration: Calibration, path: PathLike) -> None:
    """PNG: per device, found target positions vs the positions the calibration predicts
    (frame pixels, all frames overlaid) and the residual vectors (mm). Written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    names = list(calibration.devices)
    fig = Figure(figsize=(10, 4.2 * len(names)), dpi=100)
    for i, name in enumerate(names):
        dev = calibration.devices[name]
        detail = np.asarray(dev.matches_detail, float).reshape(-1, 9)
        ax = fig.add_subplot(len(names), 2, 2 * i + 1)
        ax2 = fig.add_subplot(len(names), 2, 2 * i + 2)
        if len(detail):
            found = detail[:, 3:5]
            preds = detail[:, 7:9]
            res = detail[:, 5:7]
            ax.scatter(found[:, 0], found[:, 1], s=14, marker="+", color="tab:red", label="found")
            ax.scatter(preds[:, 0], preds[:, 1], s=18, facecolors="none", edgecolors="tab:blue", label="predicted")
            ax.invert_yaxis()
            ax.set_aspect("equal")
            ax.legend(loc="lower right", fontsize=8)
            ax2.scatter(res[:, 0], res[:, 1], s=10, color="tab:red")
            lim = max(0.05, float(np.abs(res).max()) * 1.2)
            ax2.set_xlim(-lim, lim)
            ax2.set_ylim(lim, -lim)
            ax2.axhline(0, color="grey", lw=0.5)
            ax2.axvline(0, color="grey", lw=0.5)
            ax2.set_aspect("equal")
        ax.set_title(f"{name}: found vs predicted targets (frame pixels)", fontsize=9)
        ax.set_xlabel("col (px)")
        ax.set_ylabel("row (px)")
        r = dev.residuals_mm
        ax2.set_title(f"{name}: residuals (mm), rms {r.get('rms', math.nan):.3f}, max {r.get('max', math.nan):.3f}", fontsize=9)
        ax2.set_xlabel("x error (mm)")
        ax2.set_ylabel("z error (mm)")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(path, buffer.getvalue())
