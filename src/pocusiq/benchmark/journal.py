"""The benchmark's result journal: one JSON line per finished (method, pair), appended and fsynced.

The journal is what makes a benchmark resumable: every result is durable the moment its line is
written, and a re-run skips every record already there with the same key (method name and
fingerprint, pair id and content digest, protocol hash). The per-image CSV and the summary are
derived from the journal and rewritten atomically (:mod:`pocusiq.atomic`).

An append of one short line is the journal's unit of atomicity; the file handling (fsync per
append, a torn tail ignored when reading and cut off before the next append) is the shared
:class:`pocusiq.journal.JsonLinesJournal`. Later records with the same key replace earlier ones
(a method that failed and then succeeded on a re-run keeps its success). A damaged line other
than the last raises :class:`pocusiq.errors.DatasetError` naming the file and line (delete the
journal to start the benchmark afresh).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pocusiq.journal import JsonLinesJournal

__all__ = ["ResultJournal", "record_key"]

KEY_FIELDS: tuple[str, ...] = ("method", "method_fingerprint", "pair_id", "pair_digest", "protocol_hash")


def record_key(record: dict[str, Any]) -> tuple[str, ...]:
    """The resume key of a journal record: :data:`KEY_FIELDS` as a tuple of strings."""
    return tuple(str(record.get(name, "")) for name in KEY_FIELDS)


class ResultJournal:
    """Append-only JSON-lines journal at ``path`` (created on first append).

    Args:
        path: the journal file, e.g. ``OUT/journal.jsonl``.

    Records may hold NaN (a metric that is n/a or failed); they are written as JSON ``NaN``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def _journal(self) -> JsonLinesJournal:
        return JsonLinesJournal(self.path, sort_keys=True, allow_nan=True)

    def read(self) -> list[dict[str, Any]]:
        """All whole records in file order (a torn last line is skipped).

        Raises:
            DatasetError: naming the file and line if a line other than the last is damaged.
        """
        return self._journal().read().records

    def latest(self) -> dict[tuple[str, ...], dict[str, Any]]:
        """Records by :func:`record_key`; the last record of each key wins."""
        return {record_key(record): record for record in self.read()}

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records (one JSON line each) and fsync before returning; a torn tail is cut first."""
        with self._journal() as journal:
            journal.repair()
            journal.extend(records)
