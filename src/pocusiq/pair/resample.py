"""Resampling of 2-D frames: to a new pixel spacing, through an affine map, and masked smoothing.

All functions take and return NumPy arrays (H, W) and use :func:`scipy.ndimage.affine_transform`
(linear interpolation by default). Pixel centres are the sample points: pixel ``(0, 0)`` of
the input and of the output lie at the same physical position in :func:`resample_to_spacing`.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import ndimage as ndi

from pocusiq.pair.geometry import as3x3

__all__ = ["masked_gaussian", "resample_affine", "resample_to_spacing"]


def _spacing_pair(value: float | tuple[float, float], what: str) -> tuple[float, float]:
    pair = (value, value) if np.isscalar(value) else tuple(value)  # type: ignore[arg-type]
    if len(pair) != 2:
        raise ValueError(f"{what} must be one number or (col, row) in mm, got {value!r}")
    sx, sy = float(pair[0]), float(pair[1])
    if not (math.isfinite(sx) and math.isfinite(sy) and sx > 0 and sy > 0):
        raise ValueError(f"{what} must be positive (mm per pixel), got {value!r}")
    return sx, sy


def resample_affine(
    image: np.ndarray,
    input_from_output: np.ndarray,
    out_shape: tuple[int, int],
    *,
    order: int = 1,
    cval: float = 0.0,
) -> np.ndarray:
    """Sample ``image`` on an output grid: output pixel ``(c, r)`` takes the input value at
    ``input_from_output @ [c, r, 1]`` (input ``(col, row)``, pixel-centre coordinates).

    Args:
        image: (H, W) array (any real dtype; computed in float64).
        input_from_output: (2, 3) or (3, 3) affine, output pixel -> input pixel.
        out_shape: (rows, cols) of the output.
        order: spline order (0 nearest, 1 linear, 3 cubic).
        cval: value for samples outside the input.

    Returns:
        float64 array of ``out_shape``.
    """
    if np.asarray(image).ndim != 2:
        raise ValueError(f"image must be 2-D (H, W), got shape {np.shape(image)}")
    m = as3x3(input_from_output)
    # ndimage works in (row, col) order: swap both the input and output axes.
    swap = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    m_rc = swap @ m @ swap
    return ndi.affine_transform(
        np.asarray(image, dtype=np.float64),
        m_rc[:2, :2],
        offset=m_rc[:2, 2],
        output_shape=tuple(int(v) for v in out_shape),
        order=order,
        mode="constant",
        cval=cval,
    )


def resample_to_spacing(
    image: np.ndarray,
    spacing_mm: float | tuple[float, float],
    target_spacing_mm: float | tuple[float, float],
    *,
    order: int = 1,
) -> np.ndarray:
    """Resample a (H, W) image from ``spacing_mm`` to ``target_spacing_mm`` (mm per pixel).

    Spacings are one number (square pixels) or ``(col, row)``. Pixel ``(0, 0)`` keeps its
    physical position; output pixel ``(c, r)`` samples input ``(c * t_c / s_c, r * t_r / s_r)``.
    The output covers the input's extent: ``floor((n - 1) * s / t) + 1`` pixels per axis.
    When downsampling, the input is first low-pass filtered (Gaussian, sigma = 0.4 output
    pixels per axis) to avoid aliasing speckle.

    Returns:
        float64 (H', W').
    """
    image = np.asarray(image)
    if image.ndim != 2 or min(image.shape) == 0:
        raise ValueError(f"image must be a non-empty 2-D (H, W) array, got shape {image.shape}")
    sx, sy = _spacing_pair(spacing_mm, "spacing_mm")
    tx, ty = _spacing_pair(target_spacing_mm, "target_spacing_mm")
    h, w = image.shape
    out_h = int(math.floor((h - 1) * sy / ty + 1e-9)) + 1
    out_w = int(math.floor((w - 1) * sx / tx + 1e-9)) + 1
    data = np.asarray(image, dtype=np.float64)
    sigma = (0.4 * max(ty / sy - 1.0, 0.0), 0.4 * max(tx / sx - 1.0, 0.0))
    if max(sigma) > 0:
        data = ndi.gaussian_filter(data, sigma)
    matrix = np.array([[tx / sx, 0.0, 0.0], [0.0, ty / sy, 0.0]])
    return resample_affine(data, matrix, (out_h, out_w), order=order, cval=0.0)


def masked_gaussian(image: np.ndarray, mask: np.ndarray | None, sigma_px: float | tuple[float, float]) -> np.ndarray:
    """Gaussian smoothing that ignores pixels outside ``mask`` (normalised convolution).

    ``sigma_px`` is one number or ``(row, col)`` in pixels. Inside the mask the result is the
    weighted mean of masked pixels only, so black margins do not darken the image edge;
    outside it the result is 0.

    Returns:
        float64 (H, W).
    """
    data = np.asarray(image, dtype=np.float64)
    if mask is None:
        return ndi.gaussian_filter(data, sigma_px)
    weights = np.asarray(mask, dtype=np.float64)
    if weights.shape != data.shape:
        raise ValueError(f"mask shape {weights.shape} differs from image shape {data.shape}")
    num = ndi.gaussian_filter(data * weights, sigma_px)
    den = ndi.gaussian_filter(weights, sigma_px)
    out = np.zeros_like(data)
    inside = weights > 0
    out[inside] = num[inside] / np.maximum(den[inside], 1e-12)
    return out
