"""Write a paired dataset pair by pair, safe against interruption.

Layout written (see :mod:`pocusiq.data.manifest`)::

    DIR/low/<id>.png, DIR/high/<id>.png, DIR/masks/<id>_<name>.png, DIR/manifest.csv

Crash safety: every image is written atomically (temp file + rename); after a pair's files
are on disk its manifest row is appended to ``DIR/manifest.journal.jsonl`` and fsynced. On
:meth:`PairedDatasetWriter.close` (and when a writer is reopened with ``resume=True``) the
journal is merged into ``manifest.csv``, written atomically, and the journal is removed.
A kill at any moment therefore loses at most the pair in flight: its files may exist without
a row, so :meth:`PairedDatasetWriter.has` reports it missing and it is written again.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.atomic import sha256_file
from pocusiq.imaging.grey import write_grey_png
from pocusiq.data.manifest import (
    HIGH_DIR,
    JOURNAL_NAME,
    LOW_DIR,
    MANIFEST_NAME,
    MASKS_DIR,
    SOURCES,
    SPLITS,
    ManifestRow,
    check_pair_id,
    high_path,
    low_path,
    mask_path,
    read_manifest,
    write_manifest,
)
from pocusiq.errors import DatasetError
from pocusiq.journal import JsonLinesJournal

PathLike = str | os.PathLike[str]

__all__ = ["PairedDatasetWriter", "read_journal"]


def read_journal(root: PathLike) -> list[ManifestRow]:
    """Rows in ``root/manifest.journal.jsonl`` (later rows for an id win); a torn last line is ignored.

    Raises DatasetError naming the journal and line if another line is malformed.
    """
    path = Path(root) / JOURNAL_NAME
    contents = JsonLinesJournal(path).read()
    rows: list[ManifestRow] = []
    for number, record in zip(contents.line_numbers, contents.records):
        try:
            rows.append(ManifestRow.from_record(record, "row"))
        except (DatasetError, AttributeError, TypeError) as exc:  # also: a value that is not a string
            raise DatasetError(f"{path}, line {number}: malformed journal entry ({exc})") from exc
    return rows


WRITER_LOCK_NAME = ".pocusiq-writer.lock"
"""Lock file a :class:`PairedDatasetWriter` holds in its dataset folder (empty; kept afterwards)."""


def _lock_folder(root: Path):
    """Open and exclusively flock ``root / WRITER_LOCK_NAME``; DatasetError when another writer holds it.
    Returns the open file (closing it releases the lock), or None where ``fcntl`` does not exist."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, as before
        return None
    handle = open(root / WRITER_LOCK_NAME, "a")  # noqa: SIM115 - held until close()
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise DatasetError(
            f"{root}: another writer (this or another process) is writing this dataset "
            f"(lock {WRITER_LOCK_NAME} is held); wait for it to finish, then rerun to resume, or use another folder"
        ) from exc
    return handle


class PairedDatasetWriter:
    """Adds pairs to a paired dataset folder; use as a context manager or call :meth:`close`.

    Args:
        root: dataset folder (created if needed).
        resume: if True, keep what is already there (``manifest.csv`` + journal) and let
            :meth:`has` report finished pairs; if False, ``root`` must not already hold a
            dataset (DatasetError otherwise: nothing is deleted).

    One writer per folder: the writer holds an exclusive lock on ``root/.pocusiq-writer.lock``
    (``fcntl.flock``; released by :meth:`close` or when the process ends) and a second writer of
    the same folder, in this or another process, gets a DatasetError at once. Without it two runs
    of ``bench/train_default_model.py`` into one ``--out`` wrote the same simulated dataset, and the
    second deleted the first's in-flight temporary files (it removes those of a killed writer), which
    crashed the first. Not thread safe: use one writer from one thread.
    """

    def __init__(self, root: PathLike, *, resume: bool = True) -> None:
        self.root = Path(root)
        self._rows: dict[str, ManifestRow] = {}
        self._journal = JsonLinesJournal(self.root / JOURNAL_NAME)
        self._closed = False
        if self.root.exists() and not self.root.is_dir():
            raise DatasetError(f"{self.root}: exists and is not a folder")
        existing = (self.root / MANIFEST_NAME).exists() or (self.root / JOURNAL_NAME).exists()
        if not resume and (existing or any(self._pngs(LOW_DIR)) or any(self._pngs(HIGH_DIR))):
            raise DatasetError(
                f"{self.root}: already holds a dataset; resume it (resume=True) or choose an empty folder"
            )
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = _lock_folder(self.root)
        try:
            self._remove_leftover_temporaries()
            if existing:
                if (self.root / MANIFEST_NAME).exists():
                    for row in read_manifest(self.root, strict=False):
                        self._rows[row.id] = row
                for row in read_journal(self.root):
                    self._rows[row.id] = row
                self._compact()
        except BaseException:
            if self._lock is not None:
                self._lock.close()
            raise

    def _remove_leftover_temporaries(self) -> None:
        """Delete temp files that :func:`pocusiq.atomic.atomic_path` left when a writer was killed.

        Only names of that helper's pattern (``.<stem>.<random>.tmp<suffix>``) in this dataset's
        own folders are touched.
        """
        for folder in (self.root, self.root / LOW_DIR, self.root / HIGH_DIR, self.root / MASKS_DIR):
            if folder.is_dir():
                for path in folder.glob(".*.tmp.*"):
                    if path.is_file() and path.suffix in (".png", ".csv", ".jsonl"):
                        path.unlink()

    def _pngs(self, folder: str):
        path = self.root / folder
        return path.glob("*.png") if path.is_dir() else iter(())

    def _compact(self) -> None:
        """Write all known rows to manifest.csv atomically, then drop the journal."""
        write_manifest(self.root, list(self._rows.values()))
        journal = self.root / JOURNAL_NAME
        if journal.exists():
            journal.unlink()

    # ------------------------------------------------------------------ queries
    @property
    def rows(self) -> list[ManifestRow]:
        """Rows known so far (finished pairs), sorted by id."""
        return [self._rows[key] for key in sorted(self._rows)]

    def row(self, pair_id: str) -> ManifestRow | None:
        """The row recorded for ``pair_id`` (complete or not on disk), or None."""
        return self._rows.get(pair_id)

    def has(self, pair_id: str) -> bool:
        """True if ``pair_id`` has a row and its low/high/mask files exist with the recorded sha256."""
        row = self._rows.get(pair_id)
        if row is None:
            return False
        files = [(low_path(self.root, pair_id), row.low_sha256), (high_path(self.root, pair_id), row.high_sha256)]
        files += [(mask_path(self.root, pair_id, name), digest) for name, digest in row.masks.items()]
        for path, digest in files:
            if not path.is_file() or sha256_file(path) != digest:
                return False
        return True

    # ------------------------------------------------------------------ writing
    def add(
        self,
        pair_id: str,
        low: np.ndarray,
        high: np.ndarray,
        *,
        split: str,
        source: str,
        specimen: str,
        pose: str = "",
        spacing_mm: float | None = None,
        masks: dict[str, np.ndarray] | None = None,
        params: dict[str, Any] | None = None,
        low_device: str = "",
        high_device: str = "",
    ) -> ManifestRow:
        """Write one pair (overwriting any previous files of ``pair_id``) and record its row.

        Args:
            pair_id: file stem, ``[A-Za-z0-9][A-Za-z0-9._-]*``.
            low, high: ``(H, W)`` ``uint8`` or ``uint16`` arrays of equal shape (dtypes may differ).
            split: ``train`` | ``val`` | ``test``.
            source: ``sim`` | ``real``.
            specimen: specimen/phantom id (non-empty).
            pose: probe pose / frame label.
            spacing_mm: pixel spacing in mm, or None if unknown.
            masks: name -> ``(H, W)`` bool / ``uint8`` (non-zero = inside), saved as 0/255 8-bit PNG.
            params: JSON-serialisable simulator parameters or provenance.
            low_device, high_device: device or simulator profile names.

        Returns:
            The recorded :class:`ManifestRow`.

        Raises:
            ValueError / TypeError for bad arguments (naming ``pair_id``); DatasetError if closed.
        """
        if self._closed:
            raise DatasetError(f"{self.root}: writer is closed")
        check_pair_id(pair_id)
        if split not in SPLITS:
            raise ValueError(f"pair {pair_id}: split {split!r} is not one of {', '.join(SPLITS)}")
        if source not in SOURCES:
            raise ValueError(f"pair {pair_id}: source {source!r} is not one of {', '.join(SOURCES)}")
        if not specimen:
            raise ValueError(f"pair {pair_id}: specimen must be a non-empty string")
        for name, image in (("low", low), ("high", high)):
            if not isinstance(image, np.ndarray) or image.ndim != 2 or image.dtype not in (np.uint8, np.uint16):
                raise TypeError(
                    f"pair {pair_id}: {name} must be a 2-D uint8/uint16 numpy array, got "
                    f"{getattr(image, 'dtype', type(image).__name__)} {getattr(image, 'shape', '')}"
                )
        if low.shape != high.shape:
            raise ValueError(f"pair {pair_id}: low shape {low.shape} differs from high shape {high.shape}")
        spacing = math.nan if spacing_mm is None else float(spacing_mm)
        if not (math.isnan(spacing) or (math.isfinite(spacing) and spacing > 0)):
            raise ValueError(f"pair {pair_id}: spacing_mm must be positive and finite (or None), got {spacing_mm}")
        params = dict(params or {})
        try:
            json.dumps(params)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"pair {pair_id}: params must be JSON-serialisable ({exc})") from exc
        mask_arrays: dict[str, np.ndarray] = {}
        for name, mask in (masks or {}).items():
            check_pair_id(name, "mask name")
            mask = np.asarray(mask)
            if mask.shape != low.shape:
                raise ValueError(f"pair {pair_id}: mask {name!r} shape {mask.shape} differs from image {low.shape}")
            mask_arrays[name] = np.where(mask != 0, np.uint8(255), np.uint8(0))

        # Drop the old row first: if we are killed mid-way the pair reads as missing.
        self._rows.pop(pair_id, None)
        paths = {"low": low_path(self.root, pair_id), "high": high_path(self.root, pair_id)}
        write_grey_png(paths["low"], low)
        write_grey_png(paths["high"], high)
        mask_digests: dict[str, str] = {}
        for name, mask in sorted(mask_arrays.items()):
            path = mask_path(self.root, pair_id, name)
            write_grey_png(path, mask)
            mask_digests[name] = sha256_file(path)
        row = ManifestRow(
            id=pair_id,
            split=split,
            source=source,
            specimen=str(specimen),
            pose=str(pose),
            spacing_mm=spacing,
            height=int(low.shape[0]),
            width=int(low.shape[1]),
            low_sha256=sha256_file(paths["low"]),
            high_sha256=sha256_file(paths["high"]),
            masks=mask_digests,
            low_device=str(low_device),
            high_device=str(high_device),
            params=params,
        )
        self._journal.append(row.to_record())
        self._rows[pair_id] = row
        return row

    def close(self) -> None:
        """Write ``manifest.csv`` atomically (rows sorted by id) and remove the journal. Idempotent."""
        if self._closed:
            return
        try:
            self._journal.close()
            self._compact()
        finally:
            self._closed = True
            if self._lock is not None:
                self._lock.close()  # releases the flock
                self._lock = None

    def __enter__(self) -> PairedDatasetWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
