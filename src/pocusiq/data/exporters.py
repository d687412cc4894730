"""Export a paired dataset to other layouts.

``ab``: pix2pix side-by-side images, ``OUT/<split>/<id>.png`` = ``low | high`` (A = low on the
left, B = high on the right), a greyscale PNG of size ``H x 2W``. If one half is 16-bit and
the other 8-bit, the 8-bit half is scaled to 16 bits (x 257, exact). Each file carries PNG
text chunks ``pocusiq.specimen``, ``pocusiq.split``, ``pocusiq.source``, ``pocusiq.spacing_mm``
so that :func:`pocusiq.data.importers.import_ab` recovers the specimens (and so the splits
stay leak-free) when the export is imported again. Masks are not exported.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pocusiq.imaging.grey import common_bit_depth, read_grey_image, write_grey_png
from pocusiq.data.manifest import SPLITS, high_path, low_path, read_manifest
from pocusiq.errors import DatasetError, ImageFileError

PathLike = str | os.PathLike[str]

EXPORT_FORMATS: tuple[str, ...] = ("ab",)

__all__ = ["EXPORT_FORMATS", "ExportSummary", "export_ab", "side_by_side"]


@dataclass
class ExportSummary:
    """Result of an export: output folder and files written per split."""

    root: Path
    files: dict[str, int] = field(default_factory=dict)


def side_by_side(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """``(H, W)`` low and high -> ``(H, 2W)`` ``low | high`` (8-bit half promoted if the other is 16-bit)."""
    if low.shape != high.shape:
        raise ValueError(f"low {low.shape} and high {high.shape} differ in size")
    low, high = common_bit_depth(low, high)
    return np.concatenate([low, high], axis=1)


def export_ab(
    root: PathLike, out: PathLike, *, split: str | None = None, progress: bool = False
) -> ExportSummary:
    """Write every pair (or those of ``split``) of dataset ``root`` as ``out/<split>/<id>.png`` A|B images.

    Raises:
        DatasetError: naming the file if the dataset's manifest or an image cannot be read.
        ValueError: for a bad ``split``.
    """
    from tqdm.auto import tqdm

    if split is not None and split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)} or None, got {split!r}")
    rows = [row for row in read_manifest(root) if split is None or row.split == split]
    if not rows:
        raise DatasetError(f"{root}: no pairs to export" + (f" in split {split!r}" if split else ""))
    summary = ExportSummary(root=Path(out))
    for row in tqdm(rows, desc="export", unit="pair", disable=not progress):
        try:
            low = read_grey_image(low_path(root, row.id))
            high = read_grey_image(high_path(root, row.id))
        except ImageFileError as exc:
            raise DatasetError(f"cannot export pair {row.id}: {exc}") from exc
        if low.shape != high.shape:
            raise DatasetError(f"{root}: pair {row.id}: low {low.shape} and high {high.shape} differ in size")
        text = {
            "pocusiq.specimen": row.specimen,
            "pocusiq.split": row.split,
            "pocusiq.source": row.source,
            "pocusiq.spacing_mm": "" if math.isnan(row.spacing_mm) else repr(row.spacing_mm),
        }
        write_grey_png(Path(out) / row.split / f"{row.id}.png", side_by_side(low, high), text=text)
        summary.files[row.split] = summary.files.get(row.split, 0) + 1
    return summary
