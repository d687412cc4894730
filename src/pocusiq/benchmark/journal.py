"""The benchmark's result journal: one JSON line per finished (method, pair), appended and fsynced.

The journal is what makes a benchmark resumable: every result is durable the moment its line is
written, and a re-run skips every record already there with the same key (method name and
fingerprint, pair id and content digest, protocol hash). The per-image CSV and the summary are
derived from the journal and rewritten atomically (:mod:`pocusiq.atomic`).

An append of one short line is the journal's unit of atomicity. If a process is killed in the
middle of a line, the torn tail is ignored when reading and cut off before the next append, so
the file always holds whole records only. Later records with the same key replace earlier ones
(a method that failed and then succeeded on a re-run keeps its success).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

__all__ = ["ResultJournal", "record_key"]

KEY_FIELDS: tuple[str, ...] = ("method", "method_fingerprint", "pair_id", "pair_digest", "protocol_hash")


def record_key(record: dict[str, Any]) -> tuple[str, ...]:
    """The resume key of a journal record: :data:`KEY_FIELDS` as a tuple of strings."""
    return tuple(str(record.get(name, "")) for name in KEY_FIELDS)


class ResultJournal:
    """Append-only JSON-lines journal at ``path`` (created on first append).

    Args:
        path: the journal file, e.g. ``OUT/journal.jsonl``.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def read(self) -> list[dict[str, Any]]:
        """All whole records in file order (a torn or unparseable line is skipped)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return []
        records: list[dict[str, Any]] = []
        for line in data.split(b"\n"):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError):
                continue
            if isinstance(record, dict):
                records.append(record)
        return records

    def latest(self) -> dict[tuple[str, ...], dict[str, Any]]:
        """Records by :func:`record_key`; the last record of each key wins."""
        return {record_key(record): record for record in self.read()}

    def _cut_torn_tail(self) -> None:
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return
        if size == 0:
            return
        with open(self.path, "rb+") as handle:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) == b"\n":
                return
            handle.seek(0)
            data = handle.read()
            handle.truncate(data.rfind(b"\n") + 1)
            handle.flush()
            os.fsync(handle.fileno())

    def append(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records (one JSON line each) and fsync before returning."""
        lines = [json.dumps(record, sort_keys=True, allow_nan=True, separators=(",", ":")) for record in records]
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._cut_torn_tail()
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        with open(self.path, "ab") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
