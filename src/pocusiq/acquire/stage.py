"""Motion stages: the :class:`Stage` interface and a :class:`SimulatedStage`.

A stage carries the probe holder to absolute poses (x, y, z in mm, in-plane tilt in degrees)
within soft limits. Every implementation checks the target against its limits *before*
commanding any motion and raises :class:`pocusiq.errors.StageError` for a target outside
them, a controller error/alarm, or a timeout. ``move_to`` returns only once the stage is
idle at the target. The GRBL serial implementation is :class:`pocusiq.acquire.grbl.GrblStage`.
"""

from __future__ import annotations

import math
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

from pocusiq.acquire.plan import Pose
from pocusiq.errors import StageError

__all__ = ["SimulatedStage", "Stage", "check_limits"]


def check_limits(
    pose: Pose,
    limits_mm: Mapping[str, tuple[float, float]],
    tilt_limits_deg: tuple[float, float],
) -> None:
    """Raise StageError if ``pose`` is outside the soft limits (mm per axis, degrees for tilt)."""
    values = {"x": pose.x_mm, "y": pose.y_mm, "z": pose.z_mm}
    for axis, value in values.items():
        if axis not in limits_mm:
            continue
        low, high = limits_mm[axis]
        if not (math.isfinite(value) and low <= value <= high):
            raise StageError(
                f"soft limit: {axis} = {value:g} mm is outside [{low:g}, {high:g}] mm; move refused"
            )
    low, high = tilt_limits_deg
    if not (math.isfinite(pose.tilt_deg) and low <= pose.tilt_deg <= high):
        raise StageError(
            f"soft limit: tilt = {pose.tilt_deg:g} deg is outside [{low:g}, {high:g}] deg; move refused"
        )


class Stage(ABC):
    """A motion stage moving the probe holder to absolute poses.

    Attributes: ``limits_mm`` ``{"x": (min, max), "y": ..., "z": ...}`` and
    ``tilt_limits_deg`` ``(min, max)``. Use as a context manager to close the connection.
    """

    limits_mm: dict[str, tuple[float, float]]
    tilt_limits_deg: tuple[float, float]

    @abstractmethod
    def home(self) -> None:
        """Run the homing cycle (establishes machine zero)."""

    @abstractmethod
    def move_to(self, pose: Pose) -> None:
        """Move to ``pose`` (absolute) and return once idle there. StageError on failure."""

    @abstractmethod
    def position(self) -> Pose:
        """The current position as reported by the stage."""

    @abstractmethod
    def stop(self) -> None:
        """Stop all motion immediately."""

    def close(self) -> None:
        """Release the connection (default: nothing to release)."""

    def __enter__(self) -> Stage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class SimulatedStage(Stage):
    """A stage with no hardware: moves are instant, or take ``distance / speed_mm_s`` seconds.

    ``sleep`` is injectable for tests. The simulated stage is always exact (no backlash).
    """

    def __init__(
        self,
        limits_mm: Mapping[str, tuple[float, float]],
        tilt_limits_deg: tuple[float, float] = (0.0, 0.0),
        speed_mm_s: float = 0.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if speed_mm_s < 0:
            raise ValueError(f"speed_mm_s must be >= 0, got {speed_mm_s}")
        self.limits_mm = {k: (float(v[0]), float(v[1])) for k, v in limits_mm.items()}
        self.tilt_limits_deg = (float(tilt_limits_deg[0]), float(tilt_limits_deg[1]))
        self.speed_mm_s = float(speed_mm_s)
        self._sleep = sleep
        self._pose = self._home_pose()
        self.homed = False
        self.moves = 0

    def _home_pose(self) -> Pose:
        """The home position: each axis at its lower soft limit, tilt 0 (clamped into its limits)."""
        return Pose(
            self.limits_mm.get("x", (0.0, 0.0))[0],
            self.limits_mm.get("y", (0.0, 0.0))[0],
            self.limits_mm.get("z", (0.0, 0.0))[0],
            min(max(0.0, self.tilt_limits_deg[0]), self.tilt_limits_deg[1]),
        )

    def home(self) -> None:
        self._pose = self._home_pose()
        self.homed = True

    def move_to(self, pose: Pose) -> None:
        check_limits(pose, self.limits_mm, self.tilt_limits_deg)
        if self.speed_mm_s > 0:
            distance = math.dist(
                (self._pose.x_mm, self._pose.y_mm, self._pose.z_mm), (pose.x_mm, pose.y_mm, pose.z_mm)
            )
            self._sleep(distance / self.speed_mm_s)
        self._pose = pose
        self.moves += 1

    def position(self) -> Pose:
        return self._pose

    def stop(self) -> None:
        """Nothing moves asynchronously in the simulation; kept for the interface."""
