"""``pocusiq enhance --report``: image quality and fidelity of each enhanced still, before vs after.

For every still image enhanced (PNG/JPEG/TIFF; DICOM and video outputs are not scored yet), the
imaging region that was enhanced is cropped from the input and from the output, both as 8-bit
greyscale (BT.601 luma for colour; 16-bit / 257; float x 255), coloured UI pixels inside the
region masked (:func:`pocusiq.metrics.targets.valid_pixels`), and scored with NIQE and PIQE
(before and after) and :func:`pocusiq.metrics.fidelity.fidelity_report` (targets found in the input).

Files written in the output folder:

- ``quality.json`` — flat ``{output file (relative to the folder): {metric: value}}``; values are
  numbers (``null`` where a metric does not apply, e.g. no point target in the image). Metrics:
  ``niqe_before``, ``niqe_after``, ``piqe_before``, ``piqe_after`` and every field of
  :class:`pocusiq.metrics.fidelity.FidelityReport` except ``failures`` (``keeps_every_target``:
  1 or 0). Directions and titles: :data:`pocusiq.metrics.METRICS` (NIQE/PIQE: lower is better).
- ``quality.md`` — a small table of the same, one row per file, with the failed checks in words.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.atomic import atomic_write_text
from pocusiq.imaging.intensity import luma, to_unit
from pocusiq.imaging.region import ImagingRegion

__all__ = ["grey_uint8", "region_grey", "score_still", "write_quality_report", "QUALITY_JSON", "QUALITY_MD"]

QUALITY_JSON = "quality.json"
QUALITY_MD = "quality.md"


def grey_uint8(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """``(grey uint8 (H, W), saturation (H, W) or None)`` of a decoded still (grey, grey+alpha, RGB[A])."""
    if pixels.ndim == 3 and pixels.shape[2] >= 3:
        colour = pixels[..., :3]
        grey = luma(colour)
        scale = 255.0 / (255.0 if colour.dtype == np.uint8 else 65535.0 if colour.dtype == np.uint16 else 1.0)
        saturation = (colour.max(axis=2).astype(np.float64) - colour.min(axis=2)) * scale
        return np.clip(np.floor(grey * scale + 0.5), 0, 255).astype(np.uint8), saturation
    if pixels.ndim == 3:
        pixels = pixels[..., 0]
    return np.rint(to_unit(pixels) * 255.0).astype(np.uint8), None


def region_grey(pixels: np.ndarray, region: ImagingRegion | None) -> tuple[np.ndarray, np.ndarray]:
    """``(grey uint8 (h, w), valid bool (h, w))`` of a decoded still's
    imaging region: :func:`grey_uint8` cropped to the region's bounding box (the whole image when
    ``region`` is None), and the pixels where targets may lie (:func:`pocusiq.metrics.targets.valid_pixels`:
    not black margin, not coloured UI, inside the region)."""
    from pocusiq.metrics.targets import valid_pixels

    grey, saturation = grey_uint8(pixels)
    inside = np.ones(grey.shape, bool)
    if region is not None:
        x, y, w, h = region.box
        rows, cols = slice(y, y + h), slice(x, x + w)
        grey = grey[rows, cols]
        saturation = None if saturation is None else saturation[rows, cols]
        inside = region.crop_mask()
    return grey, valid_pixels(grey, saturation=saturation) & inside


def score_still(original: np.ndarray, enhanced: np.ndarray, region: ImagingRegion | None) -> tuple[dict[str, float], str]:
    """NIQE/PIQE before and after, and the fidelity report, inside ``region``.

    Returns:
        ``({metric: value}, failures in words)``.
    """
    from pocusiq.metrics import fidelity_report, niqe, piqe

    before, valid = region_grey(original, region)
    after, _ = grey_uint8(enhanced)
    if region is not None:
        x, y, w, h = region.box
        after = after[y : y + h, x : x + w]
    def scored(metric, image: np.ndarray) -> float:
        try:
            return float(metric(image))
        except ValueError:  # e.g. NIQE needs two 96 x 96 blocks: n/a for smaller regions
            return math.nan

    values: dict[str, float] = {
        "niqe_before": scored(niqe, before),
        "niqe_after": scored(niqe, after),
        "piqe_before": scored(piqe, before),
        "piqe_after": scored(piqe, after),
    }
    report = fidelity_report(before, after, valid=valid)
    fields = report.as_dict()
    failures = fields.pop("failures")
    values.update({k: float(v) for k, v in fields.items()})
    return values, failures


def _json_value(v: float) -> float | None:
    return v if math.isfinite(v) else None


def write_quality_report(out_dir: Path, scores: dict[str, tuple[dict[str, float], str]]) -> tuple[Path, Path]:
    """Write ``quality.json`` and ``quality.md`` for ``{output name: (values, failures)}``."""
    out_dir = Path(out_dir)
    data: dict[str, Any] = {name: {k: _json_value(v) for k, v in values.items()} for name, (values, _) in scores.items()}
    json_path = out_dir / QUALITY_JSON
    atomic_write_text(json_path, json.dumps(data, indent=1, sort_keys=False) + "\n")
    cols = [("niqe_before", "NIQE in"), ("niqe_after", "NIQE out"), ("piqe_before", "PIQE in"),
            ("piqe_after", "PIQE out"), ("point_contrast_kept", "wire contrast kept"),
            ("point_width_ratio", "wire width ratio"), ("gcnr_change", "cyst gCNR change"),
            ("invented_blobs", "new spots"), ("streak_ratio", "streak ratio"),
            ("keeps_every_target", "keeps every target")]
    lines = [
        "# pocusiq enhance: quality before → after (imaging region; machine-enhanced, not for diagnosis)",
        "",
        "| file | " + " | ".join(title for _, title in cols) + " | failed checks |",
        "|---|" + "---|" * len(cols) + "---|",
    ]
    for name, (values, failures) in scores.items():
        cells = []
        for key, _ in cols:
            v = values.get(key, math.nan)
            cells.append("n/a" if not math.isfinite(v) else ("yes" if v else "no") if key == "keeps_every_target"
                         else f"{v:.2f}")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {failures or '—'} |")
    lines += ["", "NIQE/PIQE: lower is better. Fidelity: pocusiq.metrics.fidelity (targets found in the input); "
              "all numbers in quality.json."]
    md_path = out_dir / QUALITY_MD
    atomic_write_text(md_path, "\n".join(lines) + "\n")
    return json_path, md_path
