"""Peak signal-to-noise ratio (PSNR) in dB.

``PSNR = 10 log10(L^2 / MSE)`` with ``L`` the data range (255 for uint8) and ``MSE`` the mean squared
difference over all pixels, as MATLAB's ``psnr`` and scikit-image's ``peak_signal_noise_ratio``
define it. Value range: (-inf, +inf] dB, ``+inf`` for identical images; higher is better. Typical
ultrasound enhancement results lie between 15 and 35 dB.
"""

from __future__ import annotations

import numpy as np

from pocusiq.metrics.validation import (
    as_image_array,
    check_same_shape,
    resolve_data_range,
)

__all__ = ["psnr", "mse"]


def _mse_checked(x: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Per-image MSE of validated same-shape arrays, as a float64 array over the leading axes."""
    diff = x.astype(np.float64)  # a fresh copy: subtract in place
    diff -= ref
    if diff.ndim == 2:
        flat = diff.reshape(-1)
        return np.asarray(np.einsum("i,i->", flat, flat) / flat.size)
    flat = diff.reshape(diff.shape[0], -1)
    return np.einsum("ij,ij->i", flat, flat) / flat.shape[1]


def mse(x: np.ndarray, ref: np.ndarray) -> float | np.ndarray:
    """Mean squared error between ``x`` and ``ref`` (same shape, ``(H, W)`` or ``(N, H, W)``).

    Returns:
        A float (in squared intensity units) for one pair, an array of ``N`` values for a batch.
    """
    x = as_image_array(x, "x", allow_batch=True)
    ref = as_image_array(ref, "ref", allow_batch=True)
    check_same_shape(x, ref)
    err = _mse_checked(x, ref)
    return float(err) if x.ndim == 2 else err


def psnr(x: np.ndarray, ref: np.ndarray, *, data_range: float | None = None) -> float | np.ndarray:
    """PSNR of ``x`` against ``ref`` in dB.

    Args:
        x: test image ``(H, W)`` or batch ``(N, H, W)``; uint8 (range 255), other integer types
            (their type range) or float (then ``data_range`` is required).
        ref: reference image, same shape as ``x``.
        data_range: max minus min possible value, e.g. 1.0 for float images in [0, 1].

    Returns:
        dB as a float (``inf`` for identical images), or a float64 array of ``N`` values for a batch.

    Raises:
        TypeError, ValueError: see :mod:`pocusiq.metrics.validation`.
    """
    x = as_image_array(x, "x", allow_batch=True)
    ref = as_image_array(ref, "ref", allow_batch=True)
    check_same_shape(x, ref)
    rng = resolve_data_range(data_range, x, ref)
    err = np.atleast_1d(_mse_checked(x, ref))
    with np.errstate(divide="ignore"):
        db = 10.0 * np.log10((rng * rng) / err)
    return float(db[0]) if x.ndim == 2 else db
