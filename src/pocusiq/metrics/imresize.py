"""MATLAB-compatible bicubic ``imresize`` (with antialiasing when shrinking).

NIQE's second scale is ``imresize(im, 0.5)`` in MATLAB; its cubic kernel (a = -0.5), kernel
widening by ``1/scale`` when downsampling, and symmetric border handling differ from
``scipy.ndimage.zoom`` and ``skimage.transform.rescale``, and those differences move NIQE by
several percent. So the MATLAB ``contributions`` construction is reproduced here as a pair of
(sparse in content, dense in storage) resampling matrices, one per axis.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["imresize_matlab", "resize_matrix"]


def _cubic(x: np.ndarray) -> np.ndarray:
    """Keys cubic convolution kernel with a = -0.5 (MATLAB's ``cubic``)."""
    ax = np.abs(x)
    ax2 = ax * ax
    ax3 = ax2 * ax
    return (1.5 * ax3 - 2.5 * ax2 + 1.0) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4.0 * ax + 2.0) * (
        (ax > 1) & (ax <= 2)
    )


def _contributions(in_length: int, out_length: int, scale: float, antialiasing: bool) -> tuple[np.ndarray, np.ndarray]:
    """MATLAB ``contributions``: per output sample, tap weights and 0-based input indices, ``(out, taps)``."""
    if in_length < 1 or out_length < 1:
        raise ValueError(f"lengths must be >= 1, got in_length={in_length}, out_length={out_length}")
    if not scale > 0:
        raise ValueError(f"scale must be positive, got {scale}")
    kernel_width = 4.0
    if scale < 1 and antialiasing:
        width = kernel_width / scale

        def h(t: np.ndarray) -> np.ndarray:
            return scale * _cubic(scale * t)

    else:
        width = kernel_width
        h = _cubic
    x = np.arange(1, out_length + 1, dtype=np.float64)[:, None]
    u = x / scale + 0.5 * (1.0 - 1.0 / scale)
    left = np.floor(u - width / 2.0)
    taps = int(math.ceil(width)) + 2
    indices = left + np.arange(taps)[None, :]  # 1-based, may fall outside [1, in_length]
    weights = h(u - indices)
    weights = weights / weights.sum(axis=1, keepdims=True)
    # Symmetric extension with the border sample repeated: [1..n, n..1] periodically.
    mirror = np.concatenate([np.arange(in_length), np.arange(in_length - 1, -1, -1)])
    idx0 = mirror[np.mod(indices.astype(np.int64) - 1, 2 * in_length)]
    return weights, idx0


def resize_matrix(in_length: int, out_length: int, scale: float, *, antialiasing: bool = True) -> np.ndarray:
    """Resampling matrix ``(out_length, in_length)`` of MATLAB's bicubic ``imresize`` along one axis.

    Args:
        in_length: input samples along the axis (>= 1).
        out_length: output samples along the axis (>= 1).
        scale: output/input scale factor (> 0), e.g. 0.5.
        antialiasing: widen the kernel by ``1/scale`` when ``scale < 1`` (MATLAB default).

    Returns:
        float64 matrix whose rows sum to 1; ``resized = M @ signal``.
    """
    weights, idx0 = _contributions(in_length, out_length, scale, antialiasing)
    matrix = np.zeros((out_length, in_length), dtype=np.float64)
    rows = np.broadcast_to(np.arange(out_length)[:, None], idx0.shape)
    np.add.at(matrix, (rows, idx0), weights)
    return matrix


def _resize_axis0(img: np.ndarray, out_length: int, scale: float) -> np.ndarray:
    weights, idx0 = _contributions(img.shape[0], out_length, scale, True)
    out = np.zeros((out_length,) + img.shape[1:], dtype=np.float64)
    for k in range(weights.shape[1]):  # a dozen taps: gather-and-add beats a dense matmul
        out += weights[:, k, None] * img[idx0[:, k]]
    return out


def imresize_matlab(image: np.ndarray, scale: float) -> np.ndarray:
    """Resize a 2-D float image like MATLAB ``imresize(image, scale)`` (bicubic, antialiased).

    Args:
        image: ``(H, W)`` float array (any intensity scale; no clipping or rounding is applied).
        scale: scale factor (> 0); the output is ``(ceil(H * scale), ceil(W * scale))``.

    Returns:
        float64 ``(ceil(H*scale), ceil(W*scale))`` array.
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim != 2:
        raise ValueError(f"image: expected shape (H, W), got {img.shape}")
    h, w = img.shape
    out_h, out_w = int(math.ceil(h * scale)), int(math.ceil(w * scale))
    rows_done = _resize_axis0(img, out_h, scale)
    return _resize_axis0(rows_done.T, out_w, scale).T
