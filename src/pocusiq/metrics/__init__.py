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

Fidelity of an output to its input (:mod:`pocusiq.metrics.fidelity`; targets from simulation
masks or found by :mod:`pocusiq.metrics.targets`): :func:`fidelity_report` and one registry entry
per number (kind :data:`FIDELITY`).

Inputs: 2-D arrays ``(H, W)``; uint8 has data range 255 (other integer types: their type range);
float images need an explicit ``data_range`` where the metric depends on it. ``ssim``, ``psnr``,
``niqe`` and ``piqe`` also take batches ``(N, H, W)`` and return ``N`` values. Errors:
:class:`TypeError`/:class:`ValueError` with the argument named.

:data:`METRICS` is the metric registry (kind, direction, range, unit, display, options): the
benchmark protocol, runner and report read it and nothing else.
Importing this package does not import torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pocusiq.metrics import fidelity as _fid
from pocusiq.metrics.contrast import background_ring, cnr, gcnr
from pocusiq.metrics.fidelity import FidelityReport, fidelity_report
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
    "fidelity_report",
    "FidelityReport",
    "MetricInfo",
    "METRICS",
    "FIDELITY",
    "FULL_REFERENCE",
    "NO_REFERENCE",
    "REGION",
]


FULL_REFERENCE = "full-reference"
"""Kind: called ``function(x, ref, **options)`` (the enhanced image against the high-end target)."""
NO_REFERENCE = "no-reference"
"""Kind: called ``function(x, **options)``."""
REGION = "region"
"""Kind: called ``function(x, target_mask, background_mask, **options)`` per target region."""
FIDELITY = "fidelity"
"""Kind: called ``function(x, source, masks=None, **options)``: the output against the image it was
made from (``masks``: optional simulation masks naming the targets; else found in ``source``)."""
KINDS = (FULL_REFERENCE, NO_REFERENCE, REGION, FIDELITY)


@dataclass(frozen=True)
class MetricInfo:
    """One image-quality metric: how to call it and how to read it (the registry's row).

    Attributes:
        name: short name used in protocols, CSV columns and tables (``"ssim"``).
        function: the metric (see ``kind`` for how it is called).
        kind: :data:`FULL_REFERENCE`, :data:`NO_REFERENCE`, :data:`REGION` or :data:`FIDELITY`.
        higher_is_better: direction of improvement.
        unit: ``"dB"``, ``"mm"`` or ``""``.
        value_range: (low, high) of possible values (``float("inf")`` where unbounded).
        display: column title in reports (``"PSNR (dB)"``).
        decimals: digits shown in reports.
        options: keyword options the function accepts from a benchmark protocol
            (``metrics.<name>: {...}``); anything else is refused when the protocol is read.
    """

    name: str
    function: Callable[..., Any]
    kind: str
    higher_is_better: bool
    unit: str
    value_range: tuple[float, float]
    display: str
    decimals: int = 3
    options: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"metric {self.name!r}: kind must be one of {KINDS}, got {self.kind!r}")

    @property
    def full_reference(self) -> bool:
        return self.kind == FULL_REFERENCE

    @property
    def arrow(self) -> str:
        """"↑" where higher is better, else "↓"."""
        return "↑" if self.higher_is_better else "↓"


_INF = float("inf")

METRICS: dict[str, MetricInfo] = {
    info.name: info
    for info in (
        MetricInfo("ssim", ssim, FULL_REFERENCE, True, "", (-1.0, 1.0), "SSIM", 3, ("data_range",)),
        MetricInfo("psnr", psnr, FULL_REFERENCE, True, "dB", (-_INF, _INF), "PSNR (dB)", 2, ("data_range",)),
        MetricInfo("niqe", niqe, NO_REFERENCE, False, "", (0.0, _INF), "NIQE", 2, ("data_range",)),
        MetricInfo("piqe", piqe, NO_REFERENCE, False, "", (0.0, 100.0), "PIQE", 2, ("data_range",)),
        MetricInfo("gcnr", gcnr, REGION, True, "", (0.0, 1.0), "gCNR", 3, ("bins",)),
        MetricInfo("cnr", cnr, REGION, True, "", (-_INF, _INF), "CNR", 2, ()),
        MetricInfo("point_contrast_kept", _fid.point_contrast_kept, FIDELITY, True, "", (-_INF, _INF),
                   "wire contrast kept (min)", 2),
        MetricInfo("point_width_ratio", _fid.point_width_ratio, FIDELITY, False, "", (0.0, _INF),
                   "wire width ratio (max)", 2),
        MetricInfo("gcnr_change", _fid.gcnr_change, FIDELITY, True, "", (-1.0, 1.0), "cyst gCNR change (min)", 3),
        MetricInfo("pixel_gcnr_change", _fid.pixel_gcnr_change, FIDELITY, True, "", (-1.0, 1.0),
                   "cyst pixel gCNR change (min)", 3),
        MetricInfo("invented_blobs", _fid.invented_blobs, FIDELITY, False, "", (0.0, _INF), "new spots", 2),
        MetricInfo("invented_area_px", _fid.invented_area_px, FIDELITY, False, "px", (0.0, _INF),
                   "new spot area (px)", 0),
        MetricInfo("missing_blobs", _fid.missing_blobs, FIDELITY, False, "", (0.0, _INF), "lost targets", 2),
        MetricInfo("streak_ratio", _fid.streak_ratio, FIDELITY, False, "", (0.0, _INF), "streak ratio", 2),
        MetricInfo("checkerboard_ratio", _fid.checkerboard_ratio, FIDELITY, False, "", (0.0, _INF),
                   "checkerboard ratio", 2),
        MetricInfo("seam_ratio", _fid.seam_ratio, FIDELITY, False, "", (0.0, _INF), "seam ratio", 2),
        MetricInfo("keeps_every_target", _fid.keeps_every_target, FIDELITY, True, "", (0.0, 1.0),
                   "keeps every target", 2),
    )
}
"""The metric registry, by name: the one table the benchmark protocol, runner and report read.
Adding a metric is one entry here (its function, kind, direction, range, unit, display)."""
