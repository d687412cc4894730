"""pocusiq.metrics: image-quality metrics over greyscale images (pure functions, numpy in/out).

Full-reference (``x`` against a reference ``ref`` of the same shape):

- :func:`ssim` — MATLAB ``ssim`` (11x11 Gaussian window sigma 1.5, K1 0.01, K2 0.03); [-1, 1],
  higher is better; :func:`ssim_torch` is the differentiable version for losses.
- :func:`psnr` — dB, higher is better (``inf`` for identical images).

No-reference (lower is better):

- :func:`niqe` — MATLAB ``niqe`` with its default pristine model; >= 0 (about 2-5 for natural
  photographs, 5-10 for speckled ultrasound).
- :func:`piqe` — MATLAB ``piqe``; 0-100.

Ultrasound fidelity (on a target mask and a background mask / point targets):
:func:`cnr`, :func:`gcnr` (0-1), :func:`background_ring`, :func:`fwhm` (mm).

Inputs: 2-D arrays ``(H, W)``; uint8 has data range 255 (other integer types: their type range);
float images need an explicit ``data_range`` where the metric depends on it. ``ssim``, ``psnr``,
``niqe`` and ``piqe`` also take batches ``(N, H, W)`` and return ``N`` values. Errors:
:class:`TypeError`/:class:`ValueError` with the argument named.

:data:`METRICS` describes the image-quality metrics (direction, range, unit) for benchmarks.
Importing this package does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pocusiq.metrics.contrast import background_ring, cnr, gcnr
from pocusiq.metrics.niqe import niqe
from pocusiq.metrics.piqe import PiqeResult, piqe, piqe_maps
from pocusiq.metrics.psnr import mse, psnr
from pocusiq.metrics.resolution import fwhm
from pocusiq.metrics.ssim import ssim, ssim_map, ssim_torch

__all__ = [
    "ssim",
    "ssim_map",
    "ssim_torch",
    "psnr",
    "mse",
    "niqe",
    "piqe",
    "piqe_maps",
    "PiqeResult",
    "cnr",
    "gcnr",
    "background_ring",
    "fwhm",
    "MetricInfo",
    "METRICS",
]


@dataclass(frozen=True)
class MetricInfo:
    """How to call and read one image-quality metric.

    Attributes:
        name: short name used in tables (``"ssim"``).
        function: the metric; full-reference ones are called ``function(x, ref, data_range=...)``,
            no-reference ones ``function(x, data_range=...)``.
        full_reference: needs a reference image.
        higher_is_better: direction of improvement.
        unit: ``"dB"`` or ``""``.
        value_range: (low, high) of possible values (``float("inf")`` where unbounded).
    """

    name: str
    function: Callable[..., Any]
    full_reference: bool
    higher_is_better: bool
    unit: str
    value_range: tuple[float, float]


METRICS: dict[str, MetricInfo] = {
    "ssim": MetricInfo("ssim", ssim, True, True, "", (-1.0, 1.0)),
    "psnr": MetricInfo("psnr", psnr, True, True, "dB", (float("-inf"), float("inf"))),
    "niqe": MetricInfo("niqe", niqe, False, False, "", (0.0, float("inf"))),
    "piqe": MetricInfo("piqe", piqe, False, False, "", (0.0, 100.0)),
}
"""The image-quality metrics of the benchmark (paper: SSIM, PSNR, NIQE, PIQE), by name."""
