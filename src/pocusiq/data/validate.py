"""Check a paired dataset folder and report every problem, per file; modifies nothing.

:func:`validate_dataset` returns a list of :class:`DatasetProblem` (``path`` relative to the
dataset folder, ``message``); an empty list means the folder is a valid pocusiq dataset
(layout in :mod:`pocusiq.data.manifest`). Checked:

* ``manifest.csv``: present, parseable, valid values (id, split in train/val/test, source in
  sim/real, non-empty specimen, sha256 digests), no duplicate ids, no specimen in two splits,
  no journal left by an interrupted writer;
* every file in ``low/``, ``high/``, ``masks/``: a PNG, greyscale (1 channel) with 8 or 16 bits,
  decodable to the end (not truncated), sha256 equal to the manifest's, size equal to its
  partner's and to the manifest's, pixels not identical to another image (duplicate);
* simulated pairs all of one size (a mix means two ``simulate`` runs with another ``--size``);
  real pairs may keep their native sizes;
* a malformed manifest row is reported and the other rows are still checked;
* pairing: each ``low/<id>.png`` has ``high/<id>.png`` and vice versa; files not in the
  manifest; manifest rows (and masks) without files; leftover temporary files.
"""

from __future__ import annotations

import hashlib
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pocusiq.atomic import sha256_file
from pocusiq.imaging.grey import png_header, read_grey_image
from pocusiq.data.manifest import (
    HIGH_DIR,
    JOURNAL_NAME,
    LOW_DIR,
    MANIFEST_NAME,
    MASKS_DIR,
    SPLITS,
    ManifestRow,
    read_manifest,
)
from pocusiq.data.writer import read_journal
from pocusiq.errors import DatasetError, ImageFileError

PathLike = str | os.PathLike[str]

__all__ = ["DatasetProblem", "validate_dataset"]


@dataclass(frozen=True, order=True)
class DatasetProblem:
    """One problem: ``path`` relative to the dataset folder (e.g. ``low/p1.png``) and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def _size(shape: tuple[int, ...]) -> str:
    return f"{shape[1]}x{shape[0]}"  # width x height, as image sizes are usually written


class _Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.problems: list[DatasetProblem] = []
        self.pixel_hashes: dict[str, dict[str, str]] = defaultdict(dict)  # folder -> digest -> first path

    def add(self, path: str, message: str) -> None:
        self.problems.append(DatasetProblem(path, message))

    def list_folder(self, folder: str) -> dict[str, Path]:
        """stem -> path of the PNG files in ``folder``; other files are reported."""
        found: dict[str, Path] = {}
        directory = self.root / folder
        if not directory.is_dir():
            return found
        for path in sorted(directory.iterdir()):
            rel = f"{folder}/{path.name}"
            if path.is_dir():
                self.add(rel, "unexpected sub-folder")
            elif path.name.startswith("."):
                if ".tmp" in path.name:
                    self.add(rel, "leftover temporary file of an interrupted write (safe to delete)")
                else:
                    self.add(rel, "unexpected hidden file")
            elif path.suffix != ".png":
                self.add(rel, "not a .png file (the dataset holds PNG images only)")
            else:
                found[path.stem] = path
        return found

    def check_image(self, rel: str, path: Path, expected_sha: str | None, folder: str) -> np.ndarray | None:
        """Format, decodability, checksum and duplicate checks of one file; its pixels or None."""
        try:
            header = png_header(path)
        except ImageFileError as exc:
            self.add(rel, str(exc).removeprefix(f"{path}: "))
            return None
        if header.channels != 1 or header.colour_type != 0:
            self.add(
                rel,
                f"wrong channels: {header.colour_name} ({header.channels} channel(s)); expected 1-channel greyscale",
            )
        elif header.bit_depth not in (8, 16):
            self.add(rel, f"wrong bit depth: {header.bit_depth} bits; expected 8 or 16")
        if expected_sha is not None:
            digest = sha256_file(path)
            if digest != expected_sha:
                self.add(
                    rel,
                    f"checksum drift: sha256 {digest[:12]}... differs from manifest {expected_sha[:12]}... "
                    "(file changed after the manifest was written)",
                )
        try:
            pixels = read_grey_image(path, convert=True)
        except ImageFileError as exc:
            self.add(rel, "unreadable: " + str(exc).removeprefix(f"{path}: "))
            return None
        if folder != MASKS_DIR:
            key = hashlib.sha256(f"{pixels.dtype}{pixels.shape}".encode() + pixels.tobytes()).hexdigest()
            first = self.pixel_hashes[folder].setdefault(key, rel)
            if first != rel:
                self.add(rel, f"duplicate: identical pixels to {first}")
        return pixels


def validate_dataset(root: PathLike) -> list[DatasetProblem]:
    """Check the paired dataset folder ``root``; returns its problems sorted by path (empty = valid).

    Raises:
        DatasetError: only if ``root`` is not a folder.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(f"{root}: not a folder")
    check = _Checker(root)

    rows: list[ManifestRow] | None = None
    malformed: list[tuple[int, str, str]] = []
    if not (root / MANIFEST_NAME).exists():
        check.add(MANIFEST_NAME, "missing (every pocusiq dataset has a manifest.csv)")
    else:
        try:
            rows = read_manifest(root, strict=False, malformed=malformed)
        except DatasetError as exc:
            check.add(MANIFEST_NAME, str(exc).removeprefix(str(root / MANIFEST_NAME)).lstrip(": ,"))
    for line, row_id, message in malformed:  # reported, and the other rows are still checked
        check.add(f"{MANIFEST_NAME} line {line}" + (f" (id {row_id})" if row_id else ""), f"malformed row: {message}")
    unparsed_ids = {row_id for _, row_id, _ in malformed if row_id}
    if (root / JOURNAL_NAME).exists():
        try:
            pending = len(read_journal(root))
        except DatasetError:
            pending = -1
        detail = f"{pending} pair(s) recorded only there" if pending >= 0 else "malformed"
        check.add(
            JOURNAL_NAME,
            f"left by an interrupted writer ({detail}); re-run the command that wrote the dataset to finish it",
        )
    for name in sorted(p.name for p in root.iterdir() if p.name.startswith(".") and ".tmp" in p.name):
        check.add(name, "leftover temporary file of an interrupted write (safe to delete)")

    by_id: dict[str, ManifestRow] = {}
    if rows is not None:
        if not rows:
            check.add(MANIFEST_NAME, "no pairs (the manifest has a header but no rows)")
        first_line: dict[str, int] = {}
        splits_of: dict[str, set[str]] = defaultdict(set)
        for line, row in enumerate(rows, start=2):
            where = f"{MANIFEST_NAME} line {line} (id {row.id})"
            for message in row.problems():
                check.add(where, message)
            if row.id in first_line:
                check.add(where, f"duplicate id {row.id!r} (also on line {first_line[row.id]})")
                continue
            first_line[row.id] = line
            by_id[row.id] = row
            if row.split in SPLITS:
                splits_of[row.specimen].add(row.split)
        sim_sizes: dict[tuple[int, int], list[str]] = defaultdict(list)
        for row in by_id.values():
            if row.source == "sim" and row.height and row.width:
                sim_sizes[(row.width, row.height)].append(row.id)
        if len(sim_sizes) > 1:  # real pairs keep native sizes; simulated ones come from one --size
            ranked = sorted(sim_sizes.items(), key=lambda item: (-len(item[1]), item[0]))
            listing = ", ".join(
                f"{w}x{h} ({len(ids)} pair{'s' if len(ids) != 1 else ''}, e.g. {sorted(ids)[0]})"
                for (w, h), ids in ranked
            )
            check.add(
                MANIFEST_NAME,
                f"mixed image sizes among simulated pairs: {listing} (two simulate runs with another --size "
                "wrote into one folder?)",
            )
        for specimen, splits in sorted(splits_of.items()):
            if len(splits) > 1:
                check.add(
                    MANIFEST_NAME,
                    f"specimen {specimen!r} appears in splits {', '.join(sorted(splits))} "
                    "(tissue leaks between splits; split by specimen)",
                )

    low = check.list_folder(LOW_DIR)
    high = check.list_folder(HIGH_DIR)
    masks = check.list_folder(MASKS_DIR)
    if not (root / LOW_DIR).is_dir():
        check.add(LOW_DIR, "folder missing")
    if not (root / HIGH_DIR).is_dir():
        check.add(HIGH_DIR, "folder missing")

    for stem in sorted(set(low) - set(high)):
        check.add(f"{LOW_DIR}/{stem}.png", f"missing partner {HIGH_DIR}/{stem}.png")
    for stem in sorted(set(high) - set(low)):
        check.add(f"{HIGH_DIR}/{stem}.png", f"missing partner {LOW_DIR}/{stem}.png")

    if rows is not None:
        for folder, files in ((LOW_DIR, low), (HIGH_DIR, high)):
            for stem in sorted(set(files) - set(by_id) - unparsed_ids):
                check.add(f"{folder}/{stem}.png", f"not in {MANIFEST_NAME}")
        for pair_id, row in sorted(by_id.items()):
            missing = [f"{folder}/{pair_id}.png" for folder, files in ((LOW_DIR, low), (HIGH_DIR, high)) if pair_id not in files]
            if missing:
                check.add(f"{MANIFEST_NAME} (id {pair_id})", f"row has no file {' or '.join(missing)}")

    expected_masks: dict[str, tuple[str, str]] = {}  # mask stem -> (pair id, sha256)
    for pair_id, row in by_id.items():
        for name, digest in row.masks.items():
            expected_masks[f"{pair_id}_{name}"] = (pair_id, digest)

    shapes: dict[str, tuple[int, ...]] = {}
    for folder, files in ((LOW_DIR, low), (HIGH_DIR, high)):
        for stem, path in sorted(files.items()):
            rel = f"{folder}/{stem}.png"
            row = by_id.get(stem)
            digest = None if row is None else (row.low_sha256 if folder == LOW_DIR else row.high_sha256)
            pixels = check.check_image(rel, path, digest, folder)
            if pixels is None:
                continue
            if row is not None and row.height and row.width and pixels.shape != (row.height, row.width):
                check.add(rel, f"size {_size(pixels.shape)} differs from the manifest's {row.width}x{row.height}")
            if folder == LOW_DIR:
                shapes[stem] = pixels.shape
            elif stem in shapes and shapes[stem] != pixels.shape:
                check.add(
                    rel,
                    f"size mismatch: {_size(pixels.shape)} but {LOW_DIR}/{stem}.png is {_size(shapes[stem])}",
                )

    for stem, path in sorted(masks.items()):
        rel = f"{MASKS_DIR}/{stem}.png"
        expected = expected_masks.get(stem)
        if expected is None and rows is not None:
            check.add(rel, f"not in {MANIFEST_NAME} (no row lists this mask)")
        pixels = check.check_image(rel, path, None if expected is None else expected[1], MASKS_DIR)
        if pixels is not None and expected is not None and expected[0] in shapes:
            if pixels.shape != shapes[expected[0]]:
                check.add(
                    rel,
                    f"size mismatch: {_size(pixels.shape)} but {LOW_DIR}/{expected[0]}.png is "
                    f"{_size(shapes[expected[0]])}",
                )
    for stem, (pair_id, _) in sorted(expected_masks.items()):
        if stem not in masks:
            check.add(f"{MANIFEST_NAME} (id {pair_id})", f"row lists mask file {MASKS_DIR}/{stem}.png, which is missing")

    return sorted(check.problems)
