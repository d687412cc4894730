"""Import paired images from other layouts into the pocusiq paired dataset format.

Supported sources (images in any format Pillow reads: PNG, JPEG, BMP, TIFF):

``folder``     ``SRC/low/<name>`` + ``SRC/high/<name>`` with equal names (matched by file stem).
``usenhance``  the USenhance-2023 challenge layout ``<...>/<organ>/{low_quality,high_quality}/<name>``;
               every folder that holds both ``low_quality/`` and ``high_quality/`` is imported
               (e.g. ``train_datasets/thyroid``); the organ is recorded in ``params`` and the
               device names, and is part of the specimen id.
``ab``         pix2pix side-by-side images ``A|B`` (A = low on the left half, B = high on the
               right half), flat or in ``train/ val/ test/`` sub-folders.

Output: ``DIR/low``, ``DIR/high``, ``DIR/manifest.csv`` with ``source = real`` and splits
made by specimen (:func:`pocusiq.data.splits.split_by_specimen`).

Specimen ids: none of these layouts names the subject/phantom, so the specimen is derived
from the file stem by :func:`pocusiq.data.splits.specimen_from_name` (a trailing frame number
after ``_``/``-``/``.``/space is dropped: ``case07_012`` -> ``case07``; otherwise each image is
its own specimen), or by a user regex (``specimen_pattern``, group ``specimen`` or group 1).
For ``usenhance`` the specimen is ``<folder path>/<derived>`` (e.g. ``train/thyroid/case07``).
For ``ab`` files written by :func:`pocusiq.data.exporters.export_ab`, the specimen stored in
the PNG's ``pocusiq.specimen`` text chunk is used. If several images of one subject do not
share a derivable name, pass ``specimen_pattern``, or splits may leak tissue.

Pair ids are the sanitised file stems (characters outside ``[A-Za-z0-9._-]`` become ``-``);
where stems repeat across folders, the folder path is prefixed (``train-1``, ``val-1``).
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.imaging.grey import read_grey_image, read_png_text
from pocusiq.data.splits import DEFAULT_FRACTIONS, specimen_from_name, split_by_specimen
from pocusiq.data.writer import PairedDatasetWriter
from pocusiq.errors import DatasetError, ImageFileError

PathLike = str | os.PathLike[str]

IMAGE_EXTENSIONS: frozenset[str] = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff"})
IMPORT_FORMATS: tuple[str, ...] = ("folder", "usenhance", "ab")
SPECIMEN_TEXT_KEY = "pocusiq.specimen"

__all__ = [
    "IMAGE_EXTENSIONS",
    "IMPORT_FORMATS",
    "ImportOptions",
    "ImportSummary",
    "import_ab",
    "import_dataset",
    "import_folder",
    "import_usenhance",
    "sanitise_id",
]


@dataclass(frozen=True)
class ImportOptions:
    """How to import.

    Attributes:
        fractions: (train, val, test) shares of specimens.
        seed: split seed.
        specimen_pattern: regex deriving the specimen from a file stem (None: the default rule).
        convert_rgb: convert colour images to luma instead of rejecting them.
        spacing_mm: pixel spacing in mm to record, or None (unknown).
        resume: keep pairs already complete in the output folder (else the folder must be empty).
        progress: show a tqdm progress bar.
    """

    fractions: tuple[float, float, float] = DEFAULT_FRACTIONS
    seed: int = 0
    specimen_pattern: str | None = None
    convert_rgb: bool = False
    spacing_mm: float | None = None
    resume: bool = False
    progress: bool = False


@dataclass
class ImportSummary:
    """Result of an import: output folder, pairs per split, distinct specimens, files left out (with why)."""

    root: Path
    pairs: int = 0
    splits: dict[str, int] = field(default_factory=dict)
    specimens: int = 0
    skipped: list[str] = field(default_factory=list)


@dataclass
class _Candidate:
    """One pair to import: where its pixels come from and what to record."""

    stem: str
    folder: str  # relative folder path, used to make ids unique
    specimen: str
    low: Path
    high: Path | None  # None for A|B images (both halves in ``low``)
    params: dict[str, Any]
    low_device: str = ""
    high_device: str = ""


def sanitise_id(text: str) -> str:
    """A pair id from free text: characters outside ``[A-Za-z0-9._-]`` -> ``-``, no leading punctuation."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).lstrip("._-")
    cleaned = re.sub(r"\.png$", "-png", cleaned)
    return cleaned or "x"


def _images(folder: Path) -> dict[str, Path]:
    """stem -> path of the image files directly in ``folder``; DatasetError on two files with one stem."""
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.is_file() and not path.name.startswith(".") and path.suffix.lower() in IMAGE_EXTENSIONS:
            if path.stem in found:
                raise DatasetError(f"{path}: same name as {found[path.stem]} (ambiguous pairing)")
            found[path.stem] = path
    return found


def _specimen(stem: str, pattern: str | None, source: Path) -> str:
    try:
        return specimen_from_name(stem, pattern)
    except ValueError as exc:
        raise DatasetError(f"{source}: {exc}") from exc


def _pair_up(low_dir: Path, high_dir: Path, summary: ImportSummary) -> list[tuple[str, Path, Path]]:
    """(stem, low file, high file) for equal stems; unpaired files are noted in ``summary.skipped``."""
    low, high = _images(low_dir), _images(high_dir)
    for stem in sorted(set(low) - set(high)):
        summary.skipped.append(f"{low[stem]}: no partner in {high_dir}")
    for stem in sorted(set(high) - set(low)):
        summary.skipped.append(f"{high[stem]}: no partner in {low_dir}")
    return [(stem, low[stem], high[stem]) for stem in sorted(set(low) & set(high))]


def _collect_folder(src: Path, options: ImportOptions, summary: ImportSummary) -> list[_Candidate]:
    low_dir, high_dir = src / "low", src / "high"
    for needed in (low_dir, high_dir):
        if not needed.is_dir():
            raise DatasetError(f"{src}: no {needed.name}/ folder (format 'folder' needs low/ and high/)")
    return [
        _Candidate(
            stem=stem,
            folder="",
            specimen=_specimen(stem, options.specimen_pattern, low_path),
            low=low_path,
            high=high_path,
            params={"format": "folder", "low_file": f"low/{low_path.name}", "high_file": f"high/{high_path.name}"},
        )
        for stem, low_path, high_path in _pair_up(low_dir, high_dir, summary)
    ]


def _collect_usenhance(src: Path, options: ImportOptions, summary: ImportSummary) -> list[_Candidate]:
    organ_dirs = sorted(
        {p.parent for p in src.rglob("low_quality") if p.is_dir() and (p.parent / "high_quality").is_dir()}
    )
    if not organ_dirs:
        raise DatasetError(
            f"{src}: no <organ>/low_quality + <organ>/high_quality folders (USenhance-2023 layout)"
        )
    candidates: list[_Candidate] = []
    for organ_dir in organ_dirs:
        organ = organ_dir.name
        rel = organ_dir.relative_to(src).as_posix()
        rel = organ if rel == "." else rel
        for stem, low_path, high_path in _pair_up(organ_dir / "low_quality", organ_dir / "high_quality", summary):
            candidates.append(
                _Candidate(
                    stem=stem,
                    folder=rel,
                    specimen=f"{rel}/{_specimen(stem, options.specimen_pattern, low_path)}",
                    low=low_path,
                    high=high_path,
                    params={
                        "format": "usenhance",
                        "dataset": "USenhance-2023",
                        "organ": organ,
                        "low_file": low_path.relative_to(src).as_posix(),
                        "high_file": high_path.relative_to(src).as_posix(),
                    },
                    low_device=f"usenhance:{organ}:low_quality",
                    high_device=f"usenhance:{organ}:high_quality",
                )
            )
    return candidates


def _collect_ab(src: Path, options: ImportOptions, summary: ImportSummary) -> list[_Candidate]:
    folders = [src] + sorted(p for p in src.rglob("*") if p.is_dir())
    candidates: list[_Candidate] = []
    for folder in folders:
        rel = folder.relative_to(src).as_posix()
        for stem, path in _images(folder).items():
            specimen = None
            if path.suffix.lower() == ".png":
                specimen = read_png_text(path).get(SPECIMEN_TEXT_KEY) or None
            candidates.append(
                _Candidate(
                    stem=stem,
                    folder="" if rel == "." else rel,
                    specimen=specimen or _specimen(stem, options.specimen_pattern, path),
                    low=path,
                    high=None,
                    params={"format": "ab", "ab_file": path.relative_to(src).as_posix()},
                )
            )
    if not candidates:
        raise DatasetError(f"{src}: no image files (format 'ab' needs side-by-side A|B images)")
    return candidates


def _assign_ids(candidates: list[_Candidate]) -> list[str]:
    """Sanitised stems; prefixed with the folder path where stems repeat. DatasetError on collisions."""
    stems = [sanitise_id(c.stem) for c in candidates]
    if len(set(stems)) == len(stems):
        ids = stems
    else:
        ids = [sanitise_id(f"{c.folder}-{c.stem}" if c.folder else c.stem) for c in candidates]
    seen: dict[str, _Candidate] = {}
    for pair_id, candidate in zip(ids, candidates):
        if pair_id in seen:
            raise DatasetError(
                f"{candidate.low}: its pair id {pair_id!r} collides with that of {seen[pair_id].low}; rename one"
            )
        seen[pair_id] = candidate
    return ids


def _load(candidate: _Candidate, options: ImportOptions) -> tuple[np.ndarray, np.ndarray]:
    try:
        if candidate.high is None:
            both = read_grey_image(candidate.low, convert=options.convert_rgb)
            width = both.shape[1]
            if width % 2:
                raise DatasetError(
                    f"{candidate.low}: width {width} is odd; an A|B image has two halves of equal width"
                )
            return both[:, : width // 2].copy(), both[:, width // 2 :].copy()
        low = read_grey_image(candidate.low, convert=options.convert_rgb)
        high = read_grey_image(candidate.high, convert=options.convert_rgb)
    except ImageFileError as exc:
        raise DatasetError(f"cannot import: {exc}") from exc
    if low.shape != high.shape:
        raise DatasetError(
            f"{candidate.low} ({low.shape[1]}x{low.shape[0]}) and {candidate.high} "
            f"({high.shape[1]}x{high.shape[0]}) differ in size; register/resample them first (pocusiq pair)"
        )
    return low, high


def _same_spacing(recorded: float, wanted: float | None) -> bool:
    """True if a resumed row's ``spacing_mm`` (NaN = unknown) is the one this import records."""
    return math.isnan(recorded) if wanted is None else recorded == float(wanted)


def _write(out: PathLike, candidates: list[_Candidate], options: ImportOptions, summary: ImportSummary) -> ImportSummary:
    from tqdm.auto import tqdm

    if not candidates:
        raise DatasetError(f"nothing to import into {out}: no complete pairs found ({len(summary.skipped)} unpaired files)")
    ids = _assign_ids(candidates)
    splits = split_by_specimen([c.specimen for c in candidates], options.fractions, seed=options.seed)
    with PairedDatasetWriter(out, resume=options.resume) as writer:
        for pair_id, candidate in tqdm(
            list(zip(ids, candidates)), desc="import", unit="pair", disable=not options.progress
        ):
            split = splits[candidate.specimen]
            row = writer.row(pair_id)
            done = (
                row is not None
                and row.split == split
                and row.params == candidate.params
                and _same_spacing(row.spacing_mm, options.spacing_mm)
            )
            if not (done and writer.has(pair_id)):
                low, high = _load(candidate, options)
                writer.add(
                    pair_id,
                    low,
                    high,
                    split=split,
                    source="real",
                    specimen=candidate.specimen,
                    spacing_mm=options.spacing_mm,
                    params=candidate.params,
                    low_device=candidate.low_device,
                    high_device=candidate.high_device,
                )
            summary.splits[split] = summary.splits.get(split, 0) + 1
    summary.pairs = len(candidates)
    summary.specimens = len(splits)
    return summary


def _source(src: PathLike) -> Path:
    path = Path(src)
    if not path.is_dir():
        raise DatasetError(f"{path}: import source is not a folder")
    return path


def import_folder(src: PathLike, out: PathLike, options: ImportOptions = ImportOptions()) -> ImportSummary:
    """Import ``src/low/*`` + ``src/high/*`` (equal stems) into the dataset folder ``out``."""
    summary = ImportSummary(root=Path(out))
    return _write(out, _collect_folder(_source(src), options, summary), options, summary)


def import_usenhance(src: PathLike, out: PathLike, options: ImportOptions = ImportOptions()) -> ImportSummary:
    """Import a USenhance-2023 tree (``<organ>/{low_quality,high_quality}/*``) into ``out``."""
    summary = ImportSummary(root=Path(out))
    return _write(out, _collect_usenhance(_source(src), options, summary), options, summary)


def import_ab(src: PathLike, out: PathLike, options: ImportOptions = ImportOptions()) -> ImportSummary:
    """Import pix2pix ``A|B`` side-by-side images (A = low, left) under ``src`` into ``out``."""
    summary = ImportSummary(root=Path(out))
    return _write(out, _collect_ab(_source(src), options, summary), options, summary)


def import_dataset(
    fmt: str, src: PathLike, out: PathLike, options: ImportOptions = ImportOptions()
) -> ImportSummary:
    """Dispatch on ``fmt`` in :data:`IMPORT_FORMATS`."""
    importers = {"folder": import_folder, "usenhance": import_usenhance, "ab": import_ab}
    if fmt not in importers:
        raise ValueError(f"unknown import format {fmt!r} (expected one of {', '.join(IMPORT_FORMATS)})")
    return importers[fmt](src, out, options)

