"""Target registration error (TRE) of a pair against the simulator's ground truth.

For a grid of target points in the output (paired) image, the high-end output pixel is the
tissue point ``world_high = M_high @ high_frame_from_out @ p`` (``M`` = the frame's true
``world_from_pixel``); the pairing claims that the POCUS output pixel at ``p`` shows the same
point, i.e. ``world_low = M_low @ low_frame_from_out @ p``. The TRE at ``p`` is
``|world_low - world_high|`` in mm: 0 for a perfect pair, whatever the devices' spacing,
field of view or mounting.
"""

from __future__ import annotations

import numpy as np

from pocusiq.pair.geometry import apply_affine

__all__ = ["target_registration_error"]


def target_registration_error(
    low_frame_from_out: np.ndarray,
    high_frame_from_out: np.ndarray,
    low_world_from_pixel: np.ndarray,
    high_world_from_pixel: np.ndarray,
    out_shape: tuple[int, int],
    *,
    grid: int = 9,
) -> np.ndarray:
    """TRE (mm) at a ``grid`` x ``grid`` lattice of points spanning the output image.

    Args:
        low_frame_from_out, high_frame_from_out: (2, 3) maps output pixel -> frame pixel, as
            found by pairing (see :class:`pocusiq.pair.frames.PairResult`).
        low_world_from_pixel, high_world_from_pixel: (2, 3) true frame pixel -> world (mm).
        out_shape: (rows, cols) of the output images.
        grid: points per axis (first and last pixel centres included).

    Returns:
        float64 array (grid * grid,) of distances in mm.
    """
    rows, cols = out_shape
    if grid < 1 or rows < 1 or cols < 1:
        raise ValueError(f"need grid >= 1 and a non-empty output shape, got {grid}, {out_shape}")
    cc, rr = np.meshgrid(np.linspace(0, cols - 1, grid), np.linspace(0, rows - 1, grid))
    lc, lr = apply_affine(low_frame_from_out, cc.ravel(), rr.ravel())
    hc, hr = apply_affine(high_frame_from_out, cc.ravel(), rr.ravel())
    lx, lz = apply_affine(low_world_from_pixel, lc, lr)
    hx, hz = apply_affine(high_world_from_pixel, hc, hr)
    return np.hypot(lx - hx, lz - hz)
