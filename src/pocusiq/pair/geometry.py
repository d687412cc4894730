"""2-D affine maps between frame pixels and world millimetres, and the nominal probe placement.

Conventions (as in :mod:`pocusiq.acquire.session`): a pixel is addressed by its centre
``(col, row)``, 0-based; world coordinates are ``(x_mm, z_mm)``: lateral position and depth
in the specimen's frame. An affine map is a (2, 3) float64 array ``A`` with
``[x, z] = A @ [col, row, 1]``; :func:`as3x3` / :func:`compose` / :func:`invert` work on them.

The *nominal* placement of a frame is what a lab knows without registration: the pixel
spacing, where the probe face centre is in the world (stage pose plus the probe's mounting
offset on the holder) and the in-plane angle (stage tilt plus mounting rotation). The probe
face centre is taken as the top-centre of the imaging region's bounding box (its top edge). Registration
then corrects what the nominal placement gets wrong.

Hand-written (a few lines of NumPy) because SimpleITK transforms are not convenient for
composing pixel->world maps of cropped, resampled frames.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FramePlacement",
    "apply_affine",
    "as3x3",
    "compose",
    "invert",
    "nominal_world_from_pixel",
    "scale_translate",
]


@dataclass(frozen=True)
class FramePlacement:
    """What is known about where a frame images, before registration.

    Attributes:
        spacing_mm: (col, row) pixel spacing in mm per pixel, both > 0.
        probe_mm: world (x_mm, z_mm) of the probe face centre (stage pose + mounting offset).
        angle_deg: in-plane rotation (stage tilt + mounting rotation); positive turns the
            lateral axis +x towards depth +z.
        pivot_px: frame pixel (col, row) at the probe face centre, as a gantry calibration
            measures it (:mod:`pocusiq.acquire.calibration`); None = the imaging region's top
            centre.
    """

    spacing_mm: tuple[float, float]
    probe_mm: tuple[float, float] = (0.0, 0.0)
    angle_deg: float = 0.0
    pivot_px: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        sx, sy = (float(v) for v in self.spacing_mm)
        if not (math.isfinite(sx) and math.isfinite(sy) and sx > 0 and sy > 0):
            raise ValueError(f"pixel spacing must be two positive numbers (mm), got {self.spacing_mm}")


def as3x3(affine: np.ndarray) -> np.ndarray:
    """(2, 3) affine -> (3, 3) homogeneous matrix (a (3, 3) input is returned as float64)."""
    a = np.asarray(affine, dtype=np.float64)
    if a.shape == (3, 3):
        return a
    if a.shape != (2, 3):
        raise ValueError(f"an affine map must be (2, 3) or (3, 3), got shape {a.shape}")
    return np.vstack([a, [0.0, 0.0, 1.0]])


def compose(*affines: np.ndarray) -> np.ndarray:
    """``compose(A, B, C)`` = A o B o C (C applied first), as (2, 3)."""
    out = np.eye(3)
    for a in affines:
        out = out @ as3x3(a)
    return out[:2]


def invert(affine: np.ndarray) -> np.ndarray:
    """Inverse of an affine map, as (2, 3). Raises ValueError if it is singular."""
    m = as3x3(affine)
    if abs(np.linalg.det(m[:2, :2])) < 1e-12:
        raise ValueError("affine map is singular and cannot be inverted")
    return np.linalg.inv(m)[:2]


def apply_affine(affine: np.ndarray, cols: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Map points ``(cols, rows)`` (arrays of equal shape) through ``affine``; returns (u, v)."""
    a = as3x3(affine)
    cols = np.asarray(cols, dtype=np.float64)
    rows = np.asarray(rows, dtype=np.float64)
    return a[0, 0] * cols + a[0, 1] * rows + a[0, 2], a[1, 0] * cols + a[1, 1] * rows + a[1, 2]


def scale_translate(scale: float | tuple[float, float], offset: tuple[float, float]) -> np.ndarray:
    """The (2, 3) map ``(c, r) -> (scale_c * c + offset_c, scale_r * r + offset_r)``."""
    sc, sr = (scale, scale) if np.isscalar(scale) else scale  # type: ignore[misc]
    return np.array([[float(sc), 0.0, float(offset[0])], [0.0, float(sr), float(offset[1])]])


def nominal_world_from_pixel(
    region: tuple[int, int, int, int], placement: FramePlacement
) -> np.ndarray:
    """Nominal (2, 3) map from frame pixel ``(col, row)`` to world ``(x_mm, z_mm)``.

    Args:
        region: imaging region ``(x, y, w, h)`` in frame pixels; the probe face centre is
            placed at the top edge of its first row, centred: ``(x + (w - 1) / 2, y - 0.5)``
            (as the simulated scanner, :mod:`pocusiq.acquire.scanner`, places it), unless
            ``placement.pivot_px`` gives it.
        placement: spacing, probe position and angle.

    Returns:
        (2, 3) float64: columns scaled by ``spacing_mm[0]`` along the rotated lateral axis
        ``(cos a, sin a)``, rows by ``spacing_mm[1]`` along the rotated depth axis
        ``(-sin a, cos a)``.
    """
    x, y, w, _ = region
    sx, sy = (float(v) for v in placement.spacing_mm)
    a = math.radians(placement.angle_deg)
    ca, sa = math.cos(a), math.sin(a)
    linear = np.array([[sx * ca, -sy * sa], [sx * sa, sy * ca]])
    anchor = np.array([x + (w - 1) / 2.0, y - 0.5]) if placement.pivot_px is None else np.asarray(placement.pivot_px, float)
    offset = np.asarray(placement.probe_mm, dtype=np.float64) - linear @ anchor
    return np.hstack([linear, offset[:, None]])
