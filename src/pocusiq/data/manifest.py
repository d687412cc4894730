"""The paired dataset's on-disk layout and its ``manifest.csv``.

A paired dataset is a folder::

    DIR/low/<id>.png            low-end (e.g. POCUS) image, 8- or 16-bit greyscale PNG
    DIR/high/<id>.png           high-end image of the same tissue, same size, registered
    DIR/masks/<id>_<name>.png   optional masks (8-bit, 0 = outside, 255 = inside), same size
    DIR/manifest.csv            one row per pair (columns below), sorted by id

``manifest.csv`` columns (:data:`MANIFEST_COLUMNS`, UTF-8, comma separated, header row):

============  ==================================================================================
id            pair id: letters, digits, ``.``, ``_``, ``-`` (the file stem in low/ and high/)
split         ``train`` | ``val`` | ``test``; assigned per specimen, never per frame
source        ``sim`` (simulated) | ``real`` (acquired/imported)
specimen      specimen/phantom/subject id; all frames of one specimen share a split
pose          probe pose / frame label (free text, may be empty)
spacing_mm    pixel spacing in mm (square pixels; empty if unknown)
height        image height in pixels (both images)
width         image width in pixels
low_sha256    sha256 of ``low/<id>.png``
high_sha256   sha256 of ``high/<id>.png``
masks         JSON object ``{mask name: sha256 of masks/<id>_<name>.png}`` (``{}`` if none)
low_device    device / simulator profile of the low image (e.g. ``sim:pocus``)
high_device   device / simulator profile of the high image (e.g. ``sim:high_end``)
params        JSON object: simulator/profile parameters or import provenance
============  ==================================================================================

While a :class:`pocusiq.data.writer.PairedDatasetWriter` is open it also keeps
``DIR/manifest.journal.jsonl`` (one JSON row per completed pair, appended and fsynced) so
that a kill at any moment loses at most the pair being written; the journal is merged into
``manifest.csv`` (written atomically) when the writer closes or is reopened.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocusiq.atomic import atomic_write_text
from pocusiq.errors import DatasetError

PathLike = str | os.PathLike[str]

MANIFEST_NAME = "manifest.csv"
JOURNAL_NAME = "manifest.journal.jsonl"
LOW_DIR = "low"
HIGH_DIR = "high"
MASKS_DIR = "masks"
SPLITS: tuple[str, ...] = ("train", "val", "test")
SOURCES: tuple[str, ...] = ("sim", "real")
MANIFEST_COLUMNS: tuple[str, ...] = (
    "id",
    "split",
    "source",
    "specimen",
    "pose",
    "spacing_mm",
    "height",
    "width",
    "low_sha256",
    "high_sha256",
    "masks",
    "low_device",
    "high_device",
    "params",
)

_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

__all__ = [
    "HIGH_DIR",
    "JOURNAL_NAME",
    "LOW_DIR",
    "MANIFEST_COLUMNS",
    "MANIFEST_NAME",
    "MASKS_DIR",
    "SOURCES",
    "SPLITS",
    "ManifestRow",
    "check_pair_id",
    "high_path",
    "low_path",
    "mask_path",
    "read_manifest",
    "write_manifest",
]


def check_pair_id(pair_id: str, what: str = "pair id") -> str:
    """Return ``pair_id`` if it is a valid file stem (``[A-Za-z0-9][A-Za-z0-9._-]*``), else ValueError."""
    if not isinstance(pair_id, str) or not _ID_PATTERN.match(pair_id) or pair_id.endswith(".png"):
        raise ValueError(
            f"invalid {what} {pair_id!r}: use letters, digits, '.', '_' and '-' "
            "(starting with a letter or digit)"
        )
    return pair_id


def low_path(root: PathLike, pair_id: str) -> Path:
    """``root/low/<id>.png``."""
    return Path(root) / LOW_DIR / f"{pair_id}.png"


def high_path(root: PathLike, pair_id: str) -> Path:
    """``root/high/<id>.png``."""
    return Path(root) / HIGH_DIR / f"{pair_id}.png"


def mask_path(root: PathLike, pair_id: str, name: str) -> Path:
    """``root/masks/<id>_<name>.png``."""
    return Path(root) / MASKS_DIR / f"{pair_id}_{name}.png"


@dataclass
class ManifestRow:
    """One pair of a paired dataset (see the module docstring for the columns' meaning).

    ``spacing_mm`` is NaN when unknown; ``masks`` maps mask name -> sha256 of its PNG;
    ``params`` is any JSON-serialisable dict.
    """

    id: str
    split: str
    source: str
    specimen: str
    pose: str = ""
    spacing_mm: float = math.nan
    height: int = 0
    width: int = 0
    low_sha256: str = ""
    high_sha256: str = ""
    masks: dict[str, str] = field(default_factory=dict)
    low_device: str = ""
    high_device: str = ""
    params: dict[str, Any] = field(default_factory=dict)

    def to_record(self) -> dict[str, str]:
        """Row as CSV strings (``masks``/``params`` as compact, key-sorted JSON)."""
        return {
            "id": self.id,
            "split": self.split,
            "source": self.source,
            "specimen": self.specimen,
            "pose": self.pose,
            "spacing_mm": "" if math.isnan(self.spacing_mm) else repr(float(self.spacing_mm)),
            "height": str(int(self.height)),
            "width": str(int(self.width)),
            "low_sha256": self.low_sha256,
            "high_sha256": self.high_sha256,
            "masks": json.dumps(self.masks, sort_keys=True, separators=(",", ":")),
            "low_device": self.low_device,
            "high_device": self.high_device,
            "params": json.dumps(self.params, sort_keys=True, separators=(",", ":")),
        }

    @classmethod
    def from_record(cls, record: dict[str, str], where: str = "manifest row") -> ManifestRow:
        """Parse a CSV/JSON record (all values strings); DatasetError naming ``where`` if malformed."""
        missing = [name for name in MANIFEST_COLUMNS if record.get(name) is None]
        if missing:
            raise DatasetError(f"{where}: missing column(s) {', '.join(missing)}")
        try:
            spacing_text = record["spacing_mm"].strip()
            spacing = math.nan if spacing_text == "" else float(spacing_text)
        except ValueError as exc:
            raise DatasetError(
                f"{where}: spacing_mm {record['spacing_mm']!r} is not a number"
            ) from exc
        try:
            height = int(record["height"])
            width = int(record["width"])
        except ValueError as exc:
            raise DatasetError(
                f"{where}: height/width {record['height']!r}/{record['width']!r} are not integers"
            ) from exc
        parsed: dict[str, Any] = {}
        for name in ("masks", "params"):
            text = record[name].strip() or "{}"
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{where}: {name} is not valid JSON ({exc.msg})") from exc
            if not isinstance(value, dict):
                raise DatasetError(f"{where}: {name} must be a JSON object, got {text[:40]!r}")
            parsed[name] = value
        return cls(
            id=record["id"],
            split=record["split"],
            source=record["source"],
            specimen=record["specimen"],
            pose=record["pose"],
            spacing_mm=spacing,
            height=height,
            width=width,
            low_sha256=record["low_sha256"],
            high_sha256=record["high_sha256"],
            masks={str(k): str(v) for k, v in parsed["masks"].items()},
            low_device=record["low_device"],
            high_device=record["high_device"],
            params=parsed["params"],
        )

    def problems(self) -> list[str]:
        """Value problems of this row (bad id/split/source, empty specimen, bad sha256), as messages."""
        found: list[str] = []
        try:
            check_pair_id(self.id)
        except ValueError as exc:
            found.append(str(exc))
        if self.split not in SPLITS:
            found.append(f"bad split value {self.split!r} (expected one of {', '.join(SPLITS)})")
        if self.source not in SOURCES:
            found.append(f"bad source value {self.source!r} (expected one of {', '.join(SOURCES)})")
        if not self.specimen:
            found.append("empty specimen id")
        for name, digest in (("low_sha256", self.low_sha256), ("high_sha256", self.high_sha256)):
            if not re.fullmatch(r"[0-9a-f]{64}", digest):
                found.append(f"{name} {digest!r} is not a sha256 hex digest")
        for name in self.masks:
            try:
                check_pair_id(name, "mask name")
            except ValueError as exc:
                found.append(str(exc))
        if not (math.isnan(self.spacing_mm) or (math.isfinite(self.spacing_mm) and self.spacing_mm > 0)):
            found.append(f"spacing_mm {self.spacing_mm} must be positive and finite (or empty if unknown)")
        return found


def read_manifest(
    root: PathLike, *, strict: bool = True, malformed: list[tuple[int, str, str]] | None = None
) -> list[ManifestRow]:
    """Read ``root/manifest.csv``.

    Args:
        root: dataset folder.
        strict: if True, also reject rows with bad values (:meth:`ManifestRow.problems`) and
            duplicate ids; if False, return such rows as they are (used by the validator).
        malformed: if a list is given (and ``strict`` is False), a row that cannot be parsed at
            all (a number that is not one, bad JSON, too many fields) is appended to it as
            ``(line number, id, message)`` and skipped, so the other rows are still returned
            and checked; otherwise such a row raises DatasetError.

    Returns:
        Rows in file order.

    Raises:
        DatasetError: naming the manifest (and row number) if missing or malformed.
    """
    path = Path(root) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise DatasetError(f"{path}: manifest not found (is {root} a pocusiq paired dataset?)") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: cannot read manifest ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = reader.fieldnames or []
    missing = [name for name in MANIFEST_COLUMNS if name not in header]
    if missing:
        raise DatasetError(f"{path}: header lacks column(s) {', '.join(missing)}")
    rows: list[ManifestRow] = []
    seen: dict[str, int] = {}
    for number, record in enumerate(reader, start=2):
        where = f"{path}, line {number}"
        try:
            if None in record:
                raise DatasetError(f"{where}: more fields than the header has")
            row = ManifestRow.from_record(record, where)
        except DatasetError as exc:
            if strict or malformed is None:
                raise
            malformed.append((number, str(record.get("id") or ""), str(exc).removeprefix(f"{where}: ")))
            continue
        if strict:
            problems = row.problems()
            if problems:
                raise DatasetError(f"{where} (id {row.id!r}): {'; '.join(problems)}")
            if row.id in seen:
                raise DatasetError(f"{where}: duplicate id {row.id!r} (also on line {seen[row.id]})")
        seen.setdefault(row.id, number)
        rows.append(row)
    return rows


def manifest_text(rows: list[ManifestRow]) -> str:
    """CSV text of ``rows`` (header + rows in the given order, ``\\n`` line ends)."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(MANIFEST_COLUMNS), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(row.to_record())
    return buffer.getvalue()


def write_manifest(root: PathLike, rows: list[ManifestRow], *, sort: bool = True) -> Path:
    """Write ``root/manifest.csv`` atomically (rows sorted by id unless ``sort=False``); returns its path.

    Raises ValueError if two rows share an id.
    """
    ids = [row.id for row in rows]
    if len(set(ids)) != len(ids):
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        raise ValueError(f"duplicate pair id(s) in manifest rows: {', '.join(dupes[:5])}")
    ordered = sorted(rows, key=lambda row: row.id) if sort else list(rows)
    path = Path(root) / MANIFEST_NAME
    atomic_write_text(path, manifest_text(ordered))
    return path
