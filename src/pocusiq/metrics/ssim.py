"""Structural similarity (SSIM), MATLAB ``ssim`` definition, in numpy and (differentiable) torch.

Definition (Wang et al. 2004, as MATLAB's ``ssim`` computes it by default):

- local means, variances and covariance from an 11x11 Gaussian window with sigma = 1.5 px
  (MATLAB: ``filtSize = 2*ceil(3*sigma)+1``), normalised to sum 1, image borders padded by
  replicating the edge pixel (MATLAB ``imgaussfilt(..., 'Padding', 'replicate')``);
- variances as the biased (population) estimate ``E[x^2] - E[x]^2``;
- ``C1 = (0.01 L)^2``, ``C2 = (0.03 L)^2`` with ``L`` the data range (255 for uint8);
- SSIM map ``(2 mu_x mu_y + C1)(2 s_xy + C2) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2))``;
- the score is the mean of the map over the *whole* image.

scikit-image's ``structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False, data_range=L)`` computes the same map but averages it only over the
interior (the 5-pixel border is dropped because skimage pads by reflection); :func:`ssim_map`
lets tests compare that interior exactly.

Value range: [-1, 1], 1 for identical images; higher is better.

The numpy version is written here (rather than calling skimage) to get MATLAB's border handling
and a batched ``(N, H, W)`` form; the torch version exists because the trainer's SSIM loss needs
gradients. Both use the same window, padding and constants, so they agree to float32 precision.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import ndimage

from pocusiq.metrics.validation import (
    as_float_image,
    as_image_array,
    check_same_shape,
    resolve_data_range,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["ssim", "ssim_map", "ssim_torch", "gaussian_window_1d", "SSIM_SIGMA", "SSIM_RADIUS", "SSIM_K1", "SSIM_K2"]

SSIM_SIGMA = 1.5
"""Standard deviation of the Gaussian window, in pixels."""
SSIM_RADIUS = 5
"""Window half-width in pixels: ``ceil(3 * sigma)``, so the window is 11x11."""
SSIM_K1 = 0.01
SSIM_K2 = 0.03


def gaussian_window_1d(sigma: float = SSIM_SIGMA, radius: int = SSIM_RADIUS) -> np.ndarray:
    """Sampled 1-D Gaussian ``exp(-k^2 / (2 sigma^2))`` for ``k = -radius..radius``, normalised to sum 1.

    Returns:
        float64 array of length ``2 * radius + 1``; its outer product with itself is the 2-D window.
    """
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    if radius < 0:
        raise ValueError(f"radius must be non-negative, got {radius}")
    k = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.exp(-(k**2) / (2.0 * sigma**2))
    return w / w.sum()


def _filter(img: np.ndarray, window: np.ndarray) -> np.ndarray:
    """Separable Gaussian filtering of the last two axes, replicate padding (same size output)."""
    out = ndimage.correlate1d(img, window, axis=-1, mode="nearest")
    return ndimage.correlate1d(out, window, axis=-2, mode="nearest")


def _prepare(x: np.ndarray, ref: np.ndarray, data_range: float | None) -> tuple[np.ndarray, np.ndarray, float]:
    x = as_image_array(x, "x", allow_batch=True)
    ref = as_image_array(ref, "ref", allow_batch=True)
    check_same_shape(x, ref)
    rng = resolve_data_range(data_range, x, ref)
    return as_float_image(x), as_float_image(ref), rng


def _ssim_map_float(x: np.ndarray, ref: np.ndarray, data_range: float) -> np.ndarray:
    window = gaussian_window_1d()
    c1 = (SSIM_K1 * data_range) ** 2
    c2 = (SSIM_K2 * data_range) ** 2
    mu_x = _filter(x, window)
    mu_y = _filter(ref, window)
    mu_xx = mu_x * mu_x
    mu_yy = mu_y * mu_y
    mu_xy = mu_x * mu_y
    s_xx = _filter(x * x, window) - mu_xx
    s_yy = _filter(ref * ref, window) - mu_yy
    s_xy = _filter(x * ref, window) - mu_xy
    num = (2.0 * mu_xy + c1) * (2.0 * s_xy + c2)
    den = (mu_xx + mu_yy + c1) * (s_xx + s_yy + c2)
    return num / den


def ssim_map(x: np.ndarray, ref: np.ndarray, *, data_range: float | None = None) -> np.ndarray:
    """Local SSIM map (MATLAB ``[~, ssimmap] = ssim(x, ref)``).

    Args:
        x: test image, ``(H, W)`` or a batch ``(N, H, W)``; integer or float.
        ref: reference image, same shape as ``x``.
        data_range: max minus min possible value. ``None`` takes it from the integer dtype
            (uint8 -> 255); required for float images.

    Returns:
        float64 array of the input's shape, values in [-1, 1].
    """
    xf, rf, rng = _prepare(x, ref, data_range)
    return _ssim_map_float(xf, rf, rng)


def ssim(x: np.ndarray, ref: np.ndarray, *, data_range: float | None = None) -> float | np.ndarray:
    """Mean SSIM of ``x`` against ``ref`` (MATLAB ``ssim(x, ref)``).

    Args:
        x: test image, ``(H, W)`` or a batch ``(N, H, W)``; uint8 (range 255), other integer types
            (their type range) or float (then ``data_range`` is required).
        ref: reference image, same shape as ``x``.
        data_range: max minus min possible value, e.g. 1.0 for float images in [0, 1].

    Returns:
        A float in [-1, 1] for one image pair (1 = identical), or a float64 array of ``N`` values
        for a batch.

    Raises:
        TypeError, ValueError: see :mod:`pocusiq.metrics.validation`.
    """
    smap = ssim_map(x, ref, data_range=data_range)
    if smap.ndim == 2:
        return float(smap.mean())
    return smap.mean(axis=(1, 2))


def ssim_torch(
    x: "torch.Tensor",
    y: "torch.Tensor",
    *,
    data_range: float = 1.0,
    reduction: Literal["mean", "sum", "none"] = "mean",
) -> "torch.Tensor":
    """Differentiable SSIM with the same definition as :func:`ssim` (for losses: use ``1 - ssim_torch``).

    Args:
        x: images ``(N, C, H, W)``, float; channels are treated independently.
        y: reference images, same shape as ``x``.
        data_range: max minus min possible value (1.0 for images in [0, 1]; 2.0 for [-1, 1]).
        reduction: ``"mean"`` -> scalar mean over the batch; ``"sum"`` -> scalar sum over the
            batch; ``"none"`` -> ``(N,)`` per-image SSIM (each the mean over C, H, W).

    Returns:
        A tensor in [-1, 1] on ``x``'s device, differentiable w.r.t. ``x`` and ``y``; float64 for
        float64 inputs, else float32 (half/bfloat16 inputs and autocast regions are computed in
        float32, because the local variances lose too much precision in 16-bit floats).

    Raises:
        TypeError: not tensors, or not floating point.
        ValueError: wrong rank, mismatched shapes, bad ``data_range`` or ``reduction``.
    """
    import torch

    if not isinstance(x, torch.Tensor) or not isinstance(y, torch.Tensor):
        raise TypeError(f"x and y must be torch tensors, got {type(x).__name__} and {type(y).__name__}")
    if not (x.is_floating_point() and y.is_floating_point()):
        raise TypeError(f"x and y must be floating point tensors, got {x.dtype} and {y.dtype}")
    if x.ndim != 4:
        raise ValueError(f"x: expected shape (N, C, H, W), got {tuple(x.shape)}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
    rng = float(data_range)
    if not np.isfinite(rng) or rng <= 0:
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")

    # Low-precision inputs (fp16/bf16, or autocast) lose the variance E[x^2] - E[x]^2 to
    # cancellation, so the moments are always computed in at least float32 with autocast off.
    work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
    with torch.autocast(device_type=x.device.type, enabled=False):
        per_image = _ssim_per_image_torch(x.to(work_dtype), y.to(work_dtype), rng)
    if reduction == "none":
        return per_image
    if reduction == "sum":
        return per_image.sum()
    return per_image.mean()


def _ssim_per_image_torch(x: "torch.Tensor", y: "torch.Tensor", rng: float) -> "torch.Tensor":
    """Per-image SSIM ``(N,)`` of ``(N, C, H, W)`` tensors (MATLAB definition, replicate padding)."""
    import torch
    import torch.nn.functional as F

    n, c = x.shape[0], x.shape[1]
    win = torch.as_tensor(gaussian_window_1d(), dtype=x.dtype, device=x.device)
    k = win.numel()
    r = SSIM_RADIUS
    c1 = (SSIM_K1 * rng) ** 2
    c2 = (SSIM_K2 * rng) ** 2
    # One batched blur over the five moment images.
    stacked = torch.cat([x, y, x * x, y * y, x * y], dim=1)
    win_h = win.view(1, 1, 1, k).expand(5 * c, 1, 1, k).contiguous()
    win_v = win.view(1, 1, k, 1).expand(5 * c, 1, k, 1).contiguous()
    # Replicate padding (as MATLAB), then valid separable convolutions.
    padded = F.pad(stacked, (r, r, r, r), mode="replicate")
    moments = F.conv2d(F.conv2d(padded, win_h, groups=5 * c), win_v, groups=5 * c)
    mu_x, mu_y, e_xx, e_yy, e_xy = torch.split(moments, c, dim=1)
    mu_xx = mu_x * mu_x
    mu_yy = mu_y * mu_y
    mu_xy = mu_x * mu_y
    s_xx = e_xx - mu_xx
    s_yy = e_yy - mu_yy
    s_xy = e_xy - mu_xy
    smap = ((2 * mu_xy + c1) * (2 * s_xy + c2)) / ((mu_xx + mu_yy + c1) * (s_xx + s_yy + c2))
    return smap.reshape(n, -1).mean(dim=1)
