"""Acquisition plan: the YAML file that says what a gantry session captures.

A plan names the specimen, the stage (simulated or a GRBL controller) and its soft limits,
the pose grid (x, y, z in mm and an in-plane tilt in degrees), the settle time after each
move, the frames per pose, and the devices (frame sources) to capture, in pass order.
:func:`load_plan` validates everything up front and raises
:class:`pocusiq.errors.ConfigError` naming the file and the offending field, so a session
never fails half-way through on a typo. The sections' fields, types and ranges are declared
on their dataclasses and read by the config toolkit (:mod:`pocusiq.config`); what is parsed by
hand here is what a dataclass cannot say: the stage and device ``kind`` that selects the
dataclass, the pose-grid shorthand, the simulated devices' per-profile defaults, and the
checks between sections (poses inside the limits, images inside the phantom).

Plan file (all lengths in mm, angles in degrees, times in seconds)::

    specimen: sim-abdominal-001          # id written into the session
    stage:
      kind: simulated                     # simulated | grbl
      limits_mm: {x: [0, 80], y: [0, 20], z: [0, 10]}   # soft limits, checked before moving
      tilt_limits_deg: [-15, 15]          # optional, default [0, 0]
      # simulated only:  speed_mm_s: 0    # travel speed (0 = instant)
      # grbl only:       port: /dev/ttyUSB0 (or a pyserial URL), baudrate: 115200,
      #                  feed_mm_per_min: 1000, home: true, tilt_axis: A (or null),
      #                  reply_timeout_s: 2, move_timeout_s: 60, position_tolerance_mm: 0.01
    poses:                                # a grid (x fastest, then tilt, z, y) ...
      x_mm: [20, 30, 40]                  # a list, or {start: 20, stop: 40, num: 3}
      y_mm: [0, 5, 10]
      z_mm: [0]                           # optional, default [0]
      tilt_deg: [0]                       # optional, default [0]
    # ... or an explicit list:  poses: [{x_mm: 20, y_mm: 0, z_mm: 0, tilt_deg: 0}, ...]
    settle_s: 0.2                         # wait after each move before capturing
    frames_per_pose: 1
    phantom:                              # needed only by simulated devices
      preset: abdominal                   # random_tissue | abdominal | ex_vivo_slab | resolution | wire_phantom
      seed: 7
      width_mm: 80
      depth_mm: 60
      spacing_mm: 0.1
      # wires_mm: [[30, 10], [40, 20]]    # optional extra wires [x_mm, z_mm], the same in every slice
    # calibration:                        # only in a calibration plan (pocusiq calibrate), see below
    #   targets_mm: [[30, 10], [40, 20]]
    devices:                              # one pass per device, in this order
      - name: pocus                       # [A-Za-z0-9_-]+, used as the frames/ sub-folder
        kind: simulated                   # simulated | video | folder
        profile: pocus                    # simulator profile: pocus | high_end
      - name: high_end
        kind: simulated
        profile: high_end
        mount: {dx_mm: 1.5, dz_mm: 0.5, rotation_deg: 2.0}

Device kinds and their fields:

* ``simulated`` -- :class:`SimulatedDeviceConfig`: ``profile``, ``frame_size`` [width, height]
  in pixels, ``color`` (``rgb`` | ``grey``), ``fov_mm`` (lateral field of view), ``depth_mm``,
  ``pixel_spacing_mm`` (image pixel size, isotropic), ``overlay`` (UI text / depth scale),
  ``mount`` (the probe's offset/rotation on the holder relative to the stage pose). Defaults
  depend on the profile (see :data:`SIMULATED_DEFAULTS`).
* ``video`` -- :class:`VideoDeviceConfig`: ``source`` (camera index, file path or stream URL
  for ``cv2.VideoCapture``), ``flush_frames`` (frames discarded after each move so the grabbed
  frame is fresh), ``color``.
* ``folder`` -- :class:`FolderDeviceConfig`: ``path`` (the folder a scanner exports into),
  ``pattern`` (glob, e.g. ``*.dcm``), ``stable_s`` (a new file counts as complete once its size
  has not changed for this long), ``timeout_s``, ``color``.

``video`` and ``folder`` devices may state a known ``pixel_spacing_mm`` ([col, row] or one
number) and ``region`` ([col0, row0, width, height], the imaging region inside the frame);
both are copied into every frame record of the session. Every device may give its ``mount``
on the probe holder (``dx_mm``, ``dz_mm``, ``rotation_deg``: the probe face centre's offset
from the stage pose and the in-plane rotation, same sign as ``tilt_deg``); the simulated
scanner applies it, and for real devices it is the nominal placement the pairing starts from
(``session.plan.device(name).mount``).

A *calibration plan* (``pocusiq calibrate``, :mod:`pocusiq.acquire.calibration`) is an
acquisition plan over a wire (point-target) phantom with one more section,
:class:`CalibrationConfig`::

    calibration:
      targets_mm: [[30, 10], [40, 20]]    # wire cross-sections [x_mm, z_mm] in stage coordinates
      refine_spacing: true                # also solve each device's pixel spacing (col, row)
      min_frames: 6                       # frames per device in which targets must be found
      match_gate_mm: 1.5                  # a detection farther than this from its target is an outlier
      search_mm: 10                       # largest error of the nominal mounting the matching searches
      robust_scale_mm: 0.2                # soft-L1 loss scale of the least-squares fit
      devices: [pocus, high_end]          # default: every device

The wires run along the stage's y axis (the slice direction), so a target's (x, z) is the same
in every slice. In a simulated plan the phantom gets wires at ``targets_mm`` unless
``phantom.wires_mm`` says otherwise (e.g. to simulate a phantom that is not where the plan
says).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocusiq import config as cfgkit
from pocusiq.config import read_config_file, setting
from pocusiq.errors import ConfigError

__all__ = [
    "SIMULATED_DEFAULTS",
    "AcquisitionPlan",
    "CalibrationConfig",
    "DeviceConfig",
    "FolderDeviceConfig",
    "MountConfig",
    "PhantomConfig",
    "Pose",
    "SimulatedDeviceConfig",
    "StageConfig",
    "VideoDeviceConfig",
    "load_plan",
    "plan_from_dict",
]

AXES = ("x", "y", "z")
DEVICE_NAME_RE = re.compile(r"^[A-Za-z0-9_-]+$")
PHANTOM_PRESETS = ("random_tissue", "abdominal", "ex_vivo_slab", "resolution", "wire_phantom")


@dataclass(frozen=True)
class Pose:
    """One gantry pose: probe position over the specimen (mm) and in-plane tilt (degrees).

    ``x_mm`` moves the probe laterally along the image plane, ``y_mm`` between parallel
    slices, ``z_mm`` is the probe height offset (positive = pressed deeper into the
    specimen), ``tilt_deg`` rotates the image plane in-plane about the probe face centre:
    positive turns the image's lateral axis from +x towards depth +z (and its beam axis from
    +z towards -x), i.e. clockwise on a screen showing x to the right and depth downwards.
    Mounting rotations (``mount.rotation_deg``) use the same sign.
    """

    x_mm: float
    y_mm: float
    z_mm: float = 0.0
    tilt_deg: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"x_mm": self.x_mm, "y_mm": self.y_mm, "z_mm": self.z_mm, "tilt_deg": self.tilt_deg}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pose:
        return cls(
            float(data["x_mm"]),
            float(data["y_mm"]),
            float(data.get("z_mm", 0.0)),
            float(data.get("tilt_deg", 0.0)),
        )


@dataclass(frozen=True)
class StageConfig:
    """The motion stage: kind, soft limits and controller settings."""

    kind: str  # "simulated" | "grbl"
    limits_mm: dict[str, tuple[float, float]]
    tilt_limits_deg: tuple[float, float] = (0.0, 0.0)
    speed_mm_s: float = setting(0.0, ge=0.0)
    port: str | None = None
    baudrate: int = setting(115200, ge=1)
    feed_mm_per_min: float = setting(1000.0, gt=0.0)
    home: bool = True
    tilt_axis: str | None = setting(None, choices=("A", "B", "C"))
    reply_timeout_s: float = setting(2.0, gt=0.0)
    move_timeout_s: float = setting(60.0, gt=0.0)
    position_tolerance_mm: float = setting(0.01, gt=0.0)


#: Stage fields each stage kind accepts (the others belong to the other kind).
STAGE_FIELDS = {
    "simulated": ("kind", "limits_mm", "tilt_limits_deg", "speed_mm_s"),
    "grbl": ("kind", "limits_mm", "tilt_limits_deg", "port", "baudrate", "feed_mm_per_min", "home", "tilt_axis",
             "reply_timeout_s", "move_timeout_s", "position_tolerance_mm"),
}


@dataclass(frozen=True)
class MountConfig:
    """Probe mounting on the holder: offset (mm) and in-plane rotation (deg) vs. the stage pose."""

    dx_mm: float = 0.0
    dz_mm: float = 0.0
    rotation_deg: float = 0.0


@dataclass(frozen=True)
class PhantomConfig:
    """The simulated specimen (see :func:`pocusiq.simulate.phantoms.make_phantom`)."""

    preset: str = setting("abdominal", choices=PHANTOM_PRESETS)
    seed: int = setting(0, ge=0)
    width_mm: float = setting(80.0, gt=0.0)
    depth_mm: float = setting(60.0, gt=0.0)
    spacing_mm: float = setting(0.1, gt=0.0)
    wires_mm: tuple[tuple[float, float], ...] = ()  # extra wires (x_mm, z_mm), the same in every slice


@dataclass(frozen=True)
class CalibrationConfig:
    """The ``calibration`` section of a calibration plan (see the module docstring).

    ``targets_mm`` are the wires' (x_mm, z_mm) in stage coordinates (x along the stage's x
    axis, z depth below the stage's z zero; the wires run along y). The defaults were chosen
    on simulated sessions (``bench/calibration.py``): ``match_gate_mm`` 1.5 keeps every true
    match of a wire phantom with >= 5 mm between wires while rejecting UI marks and speckle
    peaks; ``robust_scale_mm`` 0.2 is about 4x the detection noise of a wire in POCUS speckle.
    """

    targets_mm: tuple[tuple[float, float], ...]
    refine_spacing: bool = True
    min_frames: int = setting(6, ge=1)
    match_gate_mm: float = setting(1.5, gt=0.0)
    search_mm: float = setting(10.0, gt=0.0)
    robust_scale_mm: float = setting(0.2, gt=0.0)
    devices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DeviceConfig:
    """Fields shared by every device: its name, (if known) pixel spacing and imaging region,
    and the probe's mounting on the holder (offset/rotation relative to the stage pose)."""

    name: str
    kind: str
    pixel_spacing_mm: tuple[float, float] | None = setting(None, gt=0.0)  # (col, row) mm per pixel
    region: tuple[int, int, int, int] | None = setting(None, ge=0)  # (col0, row0, width, height) in pixels
    mount: MountConfig = field(default_factory=MountConfig)


@dataclass(frozen=True)
class SimulatedDeviceConfig(DeviceConfig):
    """A simulated scanner (simulator profile) rendered into a frame of ``frame_size``."""

    profile: str = "pocus"
    frame_size: tuple[int, int] = setting((640, 480), ge=16)  # (width, height) pixels
    color: str = setting("rgb", choices=("rgb", "grey"))
    fov_mm: float = setting(40.0, gt=0.0)
    depth_mm: float = setting(50.0, gt=0.0)
    image_spacing_mm: float = setting(0.125, gt=0.0)
    overlay: bool = True


@dataclass(frozen=True)
class VideoDeviceConfig(DeviceConfig):
    """A frame grabber / screen capture read through ``cv2.VideoCapture``."""

    source: int | str = 0
    flush_frames: int = setting(0, ge=0)
    color: str = setting("rgb", choices=("rgb", "grey"))


@dataclass(frozen=True)
class FolderDeviceConfig(DeviceConfig):
    """A folder a scanner exports files into (DICOM, PNG, JPEG, TIFF)."""

    path: str = "."
    pattern: str = "*"
    stable_s: float = setting(0.5, gt=0.0)
    timeout_s: float = setting(60.0, gt=0.0)
    poll_s: float = setting(0.05, gt=0.0)
    color: str = setting("grey", choices=("rgb", "grey"))


#: Dataclass of each device kind.
DEVICE_KINDS: dict[str, type[DeviceConfig]] = {
    "simulated": SimulatedDeviceConfig, "video": VideoDeviceConfig, "folder": FolderDeviceConfig,
}


#: Per-profile defaults for simulated devices: a POCUS screen capture (RGB, black margins, UI
#: overlay) and a high-end frame (grey, small margins), with different field of view, depth
#: and pixel spacing, as the pairing step must deal with on real devices.
SIMULATED_DEFAULTS: dict[str, dict[str, Any]] = {
    "pocus": {
        "frame_size": (640, 480),
        "color": "rgb",
        "fov_mm": 40.0,
        "depth_mm": 50.0,
        "image_spacing_mm": 0.125,
        "overlay": True,
    },
    "high_end": {
        "frame_size": (448, 432),
        "color": "grey",
        "fov_mm": 38.0,
        "depth_mm": 40.0,
        "image_spacing_mm": 0.1,
        "overlay": False,
    },
}


@dataclass(frozen=True)
class AcquisitionPlan:
    """A validated acquisition plan (see the module docstring for the file format)."""

    specimen: str
    stage: StageConfig
    poses: tuple[Pose, ...]
    devices: tuple[DeviceConfig, ...]
    settle_s: float = 0.0
    frames_per_pose: int = 1
    phantom: PhantomConfig | None = None
    calibration: CalibrationConfig | None = None
    source: str = "<dict>"
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    def device(self, name: str) -> DeviceConfig:
        for dev in self.devices:
            if dev.name == name:
                return dev
        raise KeyError(name)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the plan's content (canonical JSON), ignoring comments and formatting."""
        canonical = json.dumps(self.raw, sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- validation


class _Fields:
    """Reads typed fields from a mapping, raising ConfigError with ``source: field 'a.b'``."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, what: str) -> ConfigError:
        return ConfigError(f"{self.source}: field '{where}': {what}")

    def mapping(self, value: Any, where: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(where, f"expected a mapping, got {_show(value)}")
        return value

    def no_unknown(self, data: Mapping[str, Any], where: str, allowed: Sequence[str]) -> None:
        for key in data:
            if key not in allowed:
                prefix = f"{where}." if where else ""
                raise self.fail(
                    f"{prefix}{key}", f"unknown key (valid: {', '.join(sorted(allowed))})"
                )

    def number(
        self,
        value: Any,
        where: str,
        *,
        minimum: float | None = None,
        positive: bool = False,
    ) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(where, f"expected a number, got {_show(value)}")
        number = float(value)
        if not math.isfinite(number):
            raise self.fail(where, f"expected a finite number, got {value!r}")
        if positive and number <= 0:
            raise self.fail(where, f"must be > 0, got {value!r}")
        if minimum is not None and number < minimum:
            raise self.fail(where, f"must be >= {minimum:g}, got {value!r}")
        return number

    def integer(self, value: Any, where: str, *, minimum: int | None = None, maximum: int | None = None) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.fail(where, f"expected an integer, got {_show(value)}")
        if minimum is not None and value < minimum:
            raise self.fail(where, f"must be >= {minimum}, got {value!r}")
        if maximum is not None and value > maximum:
            raise self.fail(where, f"must be at most {maximum}, got {value!r}")
        return int(value)

    def string(self, value: Any, where: str, *, choices: Sequence[str] | None = None) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(where, f"expected a non-empty string, got {_show(value)}")
        if choices is not None and value not in choices:
            raise self.fail(where, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def boolean(self, value: Any, where: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(where, f"expected true or false, got {_show(value)}")
        return value

    def interval(self, value: Any, where: str) -> tuple[float, float]:
        if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
            raise self.fail(where, f"expected [min, max], got {_show(value)}")
        low = self.number(value[0], f"{where}[0]")
        high = self.number(value[1], f"{where}[1]")
        if low > high:
            raise self.fail(where, f"min {low:g} is greater than max {high:g}")
        return low, high

    def axis_values(self, value: Any, where: str) -> list[float]:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return [self.number(value, where)]
        if isinstance(value, Mapping):
            self.no_unknown(value, where, ("start", "stop", "num"))
            for key in ("start", "stop", "num"):
                if key not in value:
                    raise self.fail(f"{where}.{key}", "missing")
            start = self.number(value["start"], f"{where}.start")
            stop = self.number(value["stop"], f"{where}.stop")
            num = self.integer(value["num"], f"{where}.num", minimum=1, maximum=MAX_POSES)
            if num == 1:
                return [start]
            # rounded to 1 nm (6 decimals of a mm) so that e.g. the last value equals ``stop`` exactly
            return [round(start + (stop - start) * i / (num - 1), 6) for i in range(num)]
        if isinstance(value, Sequence) and not isinstance(value, str):
            if not value:
                raise self.fail(where, "is empty")
            return [self.number(v, f"{where}[{i}]") for i, v in enumerate(value)]
        raise self.fail(where, f"expected a number, a list or {{start, stop, num}}, got {_show(value)}")


    def section(self, cls: type, data: Mapping[str, Any], where: str) -> Any:
        """``cls`` from ``data`` through the config toolkit (types, unknown keys, declared ranges),
        its errors given in this file's ``field 'a.b': ...`` style."""
        try:
            obj = cfgkit.from_dict(cls, data, prefix=f"{where}.")
            cfgkit.check(obj, f"{where}.")
        except ConfigError as exc:
            key = getattr(exc, "key", None)
            if key is None:
                raise self.fail(where, str(exc)) from None
            raise self.fail(key, exc.detail) from None
        return obj


#: Largest number of poses in a plan. A gantry pose takes at least a move and the settle time
#: (~1 s), so 100 000 poses are over a day per device; a grid is checked before it is expanded.
MAX_POSES = 100_000
#: Largest frames_per_pose: 10 000 frames is a 5.5 min cine loop at 30 fps at every pose.
MAX_FRAMES_PER_POSE = 10_000


def _show(value: Any) -> str:
    text = repr(value)
    if len(text) > 60:
        text = text[:57] + "..."
    return f"{type(value).__name__} {text}"


def _parse_stage(f: _Fields, data: Any) -> StageConfig:
    data = dict(f.mapping(data, "stage"))
    kind = f.string(data.get("kind"), "stage.kind", choices=tuple(STAGE_FIELDS))
    f.no_unknown(data, "stage", STAGE_FIELDS[kind])
    if "limits_mm" not in data:
        raise f.fail("stage.limits_mm", "missing (soft limits {x: [min, max], y: ..., z: ...})")
    limits_raw = f.mapping(data["limits_mm"], "stage.limits_mm")
    f.no_unknown(limits_raw, "stage.limits_mm", AXES)
    for axis in AXES:
        if axis not in limits_raw:
            raise f.fail(f"stage.limits_mm.{axis}", "missing")
    if kind == "grbl" and "port" not in data:
        raise f.fail("stage.port", "missing (serial device such as /dev/ttyUSB0, or a pyserial URL)")
    stage = f.section(StageConfig, data, "stage")
    for axis, (low, high) in [(f"limits_mm.{a}", stage.limits_mm[a]) for a in AXES] + [
            ("tilt_limits_deg", stage.tilt_limits_deg)]:
        if low > high:
            raise f.fail(f"stage.{axis}", f"min {low:g} is greater than max {high:g}")
    if kind == "grbl" and stage.tilt_axis is None and stage.tilt_limits_deg != (0.0, 0.0):
        raise f.fail("stage.tilt_limits_deg", "a non-zero tilt range needs stage.tilt_axis (A, B or C)")
    return stage


def _parse_poses(f: _Fields, data: Any) -> tuple[Pose, ...]:
    if isinstance(data, Mapping):
        f.no_unknown(data, "poses", ("x_mm", "y_mm", "z_mm", "tilt_deg"))
        for key in ("x_mm", "y_mm"):
            if key not in data:
                raise f.fail(f"poses.{key}", "missing")
        xs = f.axis_values(data["x_mm"], "poses.x_mm")
        ys = f.axis_values(data["y_mm"], "poses.y_mm")
        zs = f.axis_values(data.get("z_mm", [0.0]), "poses.z_mm")
        tilts = f.axis_values(data.get("tilt_deg", [0.0]), "poses.tilt_deg")
        count = len(xs) * len(ys) * len(zs) * len(tilts)
        if count > MAX_POSES:  # checked before the grid is expanded
            raise f.fail(
                "poses",
                f"a grid of {len(xs)} x {len(ys)} x {len(zs)} x {len(tilts)} (x, y, z, tilt) = {count} poses; "
                f"a plan has at most {MAX_POSES} poses",
            )
        return tuple(
            Pose(x, y, z, t) for y, z, t, x in itertools.product(ys, zs, tilts, xs)
        )
    if isinstance(data, Sequence) and not isinstance(data, str):
        if not data:
            raise f.fail("poses", "is empty")
        if len(data) > MAX_POSES:
            raise f.fail("poses", f"{len(data)} poses; a plan has at most {MAX_POSES} poses")
        poses = []
        for i, item in enumerate(data):
            where = f"poses[{i}]"
            item = f.mapping(item, where)
            f.no_unknown(item, where, ("x_mm", "y_mm", "z_mm", "tilt_deg"))
            for key in ("x_mm", "y_mm"):
                if key not in item:
                    raise f.fail(f"{where}.{key}", "missing")
            poses.append(
                Pose(
                    f.number(item["x_mm"], f"{where}.x_mm"),
                    f.number(item["y_mm"], f"{where}.y_mm"),
                    f.number(item.get("z_mm", 0.0), f"{where}.z_mm"),
                    f.number(item.get("tilt_deg", 0.0), f"{where}.tilt_deg"),
                )
            )
        return tuple(poses)
    raise f.fail("poses", f"expected a grid mapping or a list of poses, got {_show(data)}")


def _check_poses_in_limits(f: _Fields, poses: Sequence[Pose], stage: StageConfig) -> None:
    for i, pose in enumerate(poses):
        values = {"x": pose.x_mm, "y": pose.y_mm, "z": pose.z_mm}
        for axis in AXES:
            low, high = stage.limits_mm[axis]
            if not low <= values[axis] <= high:
                raise f.fail(
                    f"poses[{i}].{axis}_mm",
                    f"{values[axis]:g} mm is outside stage.limits_mm.{axis} [{low:g}, {high:g}]",
                )
        low, high = stage.tilt_limits_deg
        if not low <= pose.tilt_deg <= high:
            raise f.fail(
                f"poses[{i}].tilt_deg",
                f"{pose.tilt_deg:g} deg is outside stage.tilt_limits_deg [{low:g}, {high:g}]",
            )


def _parse_device(f: _Fields, data: Any, index: int, base_dir: Path | None) -> DeviceConfig:
    where = f"devices[{index}]"
    data = dict(f.mapping(data, where))
    if "name" not in data:
        raise f.fail(f"{where}.name", "missing")
    name = f.string(data["name"], f"{where}.name")
    if not DEVICE_NAME_RE.match(name):
        raise f.fail(f"{where}.name", f"{name!r} may only contain letters, digits, '_' and '-'")
    kind = f.string(data.get("kind"), f"{where}.kind", choices=tuple(DEVICE_KINDS))
    spacing = data.get("pixel_spacing_mm")
    if isinstance(spacing, (int, float)) and not isinstance(spacing, bool):
        data["pixel_spacing_mm"] = [spacing, spacing]  # one number: square pixels
    if kind == "simulated":
        for key in ("pixel_spacing_mm", "region"):
            if key in data:
                raise f.fail(f"{where}.{key}",
                             "not allowed for simulated devices (use image_spacing_mm; the region is computed)")
        profile = f.string(data.get("profile", "pocus"), f"{where}.profile", choices=tuple(SIMULATED_DEFAULTS))
        data = {**SIMULATED_DEFAULTS[profile], **data, "profile": profile}
    elif kind == "video":
        if "source" not in data:
            raise f.fail(f"{where}.source", "missing (camera index, video file or stream URL)")
        source = data["source"]
        if isinstance(source, bool) or not isinstance(source, (int, str)) or source == "":
            raise f.fail(f"{where}.source", f"expected a camera index or a path/URL, got {_show(source)}")
        if isinstance(source, str) and base_dir is not None and "://" not in source:
            candidate = Path(source).expanduser()
            if not candidate.is_absolute():
                data["source"] = str(base_dir / candidate)
    else:
        if "path" not in data:
            raise f.fail(f"{where}.path", "missing (the folder the scanner exports into)")
        folder = Path(f.string(data["path"], f"{where}.path")).expanduser()
        if not folder.is_absolute() and base_dir is not None:
            folder = base_dir / folder
        data["path"] = str(folder)
    device = f.section(DEVICE_KINDS[kind], data, where)
    if device.region is not None and min(device.region[2:]) < 1:
        raise f.fail(f"{where}.region", f"width and height must be >= 1, got {list(device.region)}")
    if isinstance(device, SimulatedDeviceConfig):
        width, height = device.frame_size
        cols = int(round(device.fov_mm / device.image_spacing_mm))
        rows = int(round(device.depth_mm / device.image_spacing_mm))
        if cols > width or rows > height:
            raise f.fail(
                f"{where}.frame_size",
                f"the image ({cols}x{rows} px from fov_mm/depth_mm/image_spacing_mm) does not fit "
                f"in the {width}x{height} frame",
            )
    return device


def _parse_calibration(f: _Fields, data: Any, devices: Sequence[DeviceConfig]) -> CalibrationConfig:
    config = f.section(CalibrationConfig, f.mapping(data, "calibration"), "calibration")
    if not config.targets_mm:
        raise f.fail("calibration.targets_mm", "is empty (the wires' [x_mm, z_mm] in stage coordinates)")
    if config.devices is not None:
        known = [d.name for d in devices]
        for i, name in enumerate(config.devices):
            if name not in known:
                raise f.fail(f"calibration.devices[{i}]", f"{name!r} is not a device of the plan ({', '.join(known)})")
    return config


def _parse_phantom(f: _Fields, data: Any) -> PhantomConfig:
    return f.section(PhantomConfig, f.mapping(data, "phantom"), "phantom")


def _check_simulated_coverage(
    f: _Fields, poses: Sequence[Pose], devices: Sequence[DeviceConfig], phantom: PhantomConfig
) -> None:
    """Every simulated device must image within the phantom's width and depth at every pose."""
    for device in devices:
        if not isinstance(device, SimulatedDeviceConfig):
            continue
        s = device.image_spacing_mm
        half = round(device.fov_mm / s) * s / 2.0
        depth = round(device.depth_mm / s) * s
        for i, pose in enumerate(poses):
            x0 = pose.x_mm + device.mount.dx_mm
            z0 = pose.z_mm + device.mount.dz_mm
            a = math.radians(pose.tilt_deg + device.mount.rotation_deg)
            corners = [
                (x0 + u * math.cos(a) - v * math.sin(a), z0 + u * math.sin(a) + v * math.cos(a))
                for u in (-half, half)
                for v in (0.0, depth)
            ]
            xs = [c[0] for c in corners]
            zs = [c[1] for c in corners]
            eps = 1e-6
            # above the surface (z < 0, a tilted probe) is allowed: it images as no echo
            if min(xs) < -eps or max(xs) > phantom.width_mm + eps or max(zs) > phantom.depth_mm + eps:
                raise f.fail(
                    f"poses[{i}]",
                    f"device {device.name!r} would image x {min(xs):.1f}..{max(xs):.1f} mm, "
                    f"z {min(zs):.1f}..{max(zs):.1f} mm, outside the phantom "
                    f"(0..{phantom.width_mm:g} x 0..{phantom.depth_mm:g} mm; enlarge phantom.width_mm/depth_mm "
                    f"or move the pose)",
                )


def plan_from_dict(
    data: Any, source: str = "<dict>", base_dir: str | Path | None = None
) -> AcquisitionPlan:
    """Validate a parsed plan mapping into an :class:`AcquisitionPlan`.

    ``source`` names the plan in error messages; relative ``folder``/``video`` paths are
    resolved against ``base_dir`` (the plan file's folder). Raises ConfigError.
    """
    f = _Fields(source)
    if not isinstance(data, Mapping):
        raise ConfigError(f"{source}: expected a mapping at the top level, got {_show(data)}")
    f.no_unknown(
        data,
        "",
        ("specimen", "stage", "poses", "settle_s", "frames_per_pose", "phantom", "devices", "calibration"),
    )
    for key in ("specimen", "stage", "poses", "devices"):
        if key not in data:
            raise f.fail(key, "missing")
    specimen = str(data["specimen"]) if isinstance(data["specimen"], (int, str)) else None
    if not specimen:
        raise f.fail("specimen", f"expected a non-empty id, got {_show(data['specimen'])}")
    stage = _parse_stage(f, data["stage"])
    poses = _parse_poses(f, data["poses"])
    _check_poses_in_limits(f, poses, stage)
    settle_s = f.number(data.get("settle_s", 0.0), "settle_s", minimum=0)
    frames_per_pose = f.integer(data.get("frames_per_pose", 1), "frames_per_pose", minimum=1,
                                maximum=MAX_FRAMES_PER_POSE)
    devices_raw = data["devices"]
    if not isinstance(devices_raw, Sequence) or isinstance(devices_raw, str) or not devices_raw:
        raise f.fail("devices", f"expected a non-empty list of devices, got {_show(devices_raw)}")
    base = Path(base_dir) if base_dir is not None else None
    devices = tuple(_parse_device(f, d, i, base) for i, d in enumerate(devices_raw))
    names = [d.name for d in devices]
    for i, name in enumerate(names):
        if name in names[:i]:
            raise f.fail(f"devices[{i}].name", f"duplicate device name {name!r}")
    calibration = None
    if "calibration" in data:
        calibration = _parse_calibration(f, data["calibration"], devices)
    phantom = None
    if "phantom" in data:
        phantom = _parse_phantom(f, data["phantom"])
    elif any(d.kind == "simulated" for d in devices):
        phantom = PhantomConfig()
    if phantom is not None and calibration is not None and "wires_mm" not in (data.get("phantom") or {}):
        # a simulated calibration phantom has its wires where the calibration plan says
        phantom = dataclasses.replace(phantom, wires_mm=calibration.targets_mm)
    if phantom is not None:
        _check_simulated_coverage(f, poses, devices, phantom)
    return AcquisitionPlan(
        specimen=specimen,
        stage=stage,
        poses=poses,
        devices=devices,
        settle_s=settle_s,
        frames_per_pose=frames_per_pose,
        phantom=phantom,
        calibration=calibration,
        source=source,
        raw=json.loads(json.dumps(data, default=str)),
    )


def load_plan(path: str | Path, overrides: Sequence[str] = ()) -> AcquisitionPlan:
    """Read and validate a plan YAML file. Raises ConfigError naming the file and field.

    ``overrides``: ``--set`` items in the file's layout (``settle_s=0.5``, ``phantom.seed=3``,
    ``devices.1.profile=high_end``); the plan's fingerprint covers the result.
    """
    path = Path(path)
    data = read_config_file(path, "plan file")
    source = str(path)
    if overrides:
        if not isinstance(data, Mapping):
            raise ConfigError(f"{source}: expected a mapping at the top level, got {_show(data)}")
        data = cfgkit.apply_overrides(data, overrides)
        source = f"{path} (with --set {' '.join(overrides)})"
    return plan_from_dict(data, source=source, base_dir=path.resolve().parent)
