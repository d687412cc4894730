"""Append-only JSON-lines journals that stay readable after a kill at any moment.

A journal is a UTF-8 file of one JSON object per ``\\n``-terminated line. Each append is
written, flushed and fsynced before it returns, so a record is durable once ``append``
returns. A process killed mid-append leaves a *torn tail*: bytes after the last newline, or
(if the file system kept a garbled line) a final line that does not parse. Readers ignore a
torn tail and writers cut it off (:meth:`JsonLinesJournal.repair`) before appending, so the
file holds whole records only. A bad line that is *not* the last one is corruption, not a
crash, and is reported (:class:`pocusiq.errors.DatasetError` naming the file and line).

Used by the paired-dataset writer (``manifest.journal.jsonl``, :mod:`pocusiq.data.writer`),
the benchmark's result journal (:mod:`pocusiq.benchmark.journal`) and the acquisition
session log (:mod:`pocusiq.acquire.session`).

Why hand-written: the standard library's :mod:`json` does the encoding; no library we use
appends JSON lines with an fsync per record and recovers a torn tail (the ``jsonlines``
package does neither), and the logic is ~100 lines.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pocusiq.errors import DatasetError

__all__ = ["JournalContents", "JsonLinesJournal"]

RecordCheck = Callable[[dict[str, Any]], None]
"""Extra validation of a parsed record: raises ValueError if the line is not a valid record."""

_TAIL_CHUNK = 1 << 16


@dataclass(frozen=True)
class JournalContents:
    """What :meth:`JsonLinesJournal.read` found.

    Attributes:
        records: the whole, valid records in file order.
        line_numbers: the 1-based line number of each record (for error messages).
        good_bytes: length in bytes of the intact prefix (whole, valid lines).
        torn_bytes: size in bytes of the torn tail after it (0 if none).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    line_numbers: list[int] = field(default_factory=list)
    good_bytes: int = 0
    torn_bytes: int = 0


class JsonLinesJournal:
    """One JSON-lines journal file; appends open the file lazily (``"ab"``) and keep it open.

    Args:
        path: the journal file (its folder is created on the first append).
        check: optional extra validation of each parsed record (raise ValueError if invalid);
            a record must in any case be a JSON object.
        sort_keys: write keys sorted (True) or in the mapping's order.
        allow_nan: allow NaN/Infinity in records (written as the non-standard JSON tokens that
            Python's :mod:`json` reads back); False raises ValueError for them.
        what: what a line is called in error messages (``"journal"``, ``"log"``).

    Use as a context manager or call :meth:`close`. One writer per file, in one process.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        check: RecordCheck | None = None,
        sort_keys: bool = True,
        allow_nan: bool = False,
        what: str = "journal",
    ) -> None:
        self.path = Path(path)
        self.what = what
        self._check = check
        self._sort_keys = sort_keys
        self._allow_nan = allow_nan
        self._handle: Any = None

    # ------------------------------------------------------------------ reading
    def _parse(self, line: bytes) -> dict[str, Any]:
        """One line -> record; ValueError (incl. JSON/Unicode errors) if it is not a valid record."""
        record = json.loads(line.decode("utf-8"))
        if not isinstance(record, dict):
            raise ValueError(f"not a JSON object ({type(record).__name__})")
        if self._check is not None:
            self._check(record)
        return record

    def read(self, *, missing_ok: bool = True) -> JournalContents:
        """All whole records, ignoring a torn tail.

        Raises:
            DatasetError: naming the file if it is missing (only with ``missing_ok=False``) or
                unreadable, or naming the file and line if a line other than the last is invalid.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            if missing_ok:
                return JournalContents()
            raise DatasetError(f"{self.path}: {self.what} not found") from None
        except OSError as exc:
            raise DatasetError(f"{self.path}: cannot read {self.what} ({exc.strerror or exc})") from exc
        lines = data.split(b"\n")  # lines[-1]: b"" for a clean file, else the torn tail
        contents = JournalContents()
        offset = 0
        for number, line in enumerate(lines[:-1], start=1):
            if line.strip():
                try:
                    record = self._parse(line)
                except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
                    if number == len(lines) - 1 and lines[-1] == b"":
                        break  # the final line is garbled: torn
                    raise DatasetError(f"{self.path}: line {number} is not a valid {self.what} record ({exc})") from exc
                contents.records.append(record)
                contents.line_numbers.append(number)
            offset += len(line) + 1
        return JournalContents(contents.records, contents.line_numbers, offset, len(data) - offset)

    def _torn_tail_start(self, handle: Any, size: int) -> int:
        """Offset where the torn tail begins (``size`` if none), reading only the file's end."""
        end = size
        # Bytes after the last newline are torn.
        while True:
            start = max(0, end - _TAIL_CHUNK)
            handle.seek(start)
            chunk = handle.read(end - start)
            cut = chunk.rfind(b"\n")
            if cut >= 0:
                last_newline = start + cut
                break
            if start == 0:
                return 0  # no newline at all: the whole file is one torn line
            end = start
        if last_newline + 1 < size:
            return last_newline + 1
        # The file ends with a newline: the last line is torn only if it does not parse.
        end = last_newline
        line_start = 0
        while end > 0:
            start = max(0, end - _TAIL_CHUNK)
            handle.seek(start)
            cut = handle.read(end - start).rfind(b"\n")
            if cut >= 0:
                line_start = start + cut + 1
                break
            end = start
        handle.seek(line_start)
        line = handle.read(last_newline - line_start)
        if not line.strip():
            return size
        try:
            self._parse(line)
        except ValueError:
            return line_start
        return size

    def repair(self) -> int:
        """Cut a torn tail off the file (reading only its end); returns the bytes removed."""
        self.close()
        try:
            size = self.path.stat().st_size
        except FileNotFoundError:
            return 0
        if size == 0:
            return 0
        with open(self.path, "rb+") as handle:
            keep = self._torn_tail_start(handle, size)
            if keep == size:
                return 0
            handle.truncate(keep)
            handle.flush()
            os.fsync(handle.fileno())
        return size - keep

    # ------------------------------------------------------------------ writing
    def _line(self, record: Mapping[str, Any]) -> bytes:
        text = json.dumps(
            dict(record), sort_keys=self._sort_keys, allow_nan=self._allow_nan, separators=(",", ":")
        )
        return text.encode("ascii") + b"\n"  # json.dumps escapes non-ASCII by default

    def append(self, record: Mapping[str, Any]) -> None:
        """Append one record durably (written, flushed and fsynced before returning)."""
        self.extend([record])

    def extend(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Append records (one line each) with a single write and fsync.

        Raises:
            ValueError / TypeError: a record is not JSON-serialisable (nothing is written).
        """
        payload = b"".join(self._line(record) for record in records)
        if not payload:
            return
        if self._handle is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._handle = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._handle.write(payload)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        """Close the append handle (idempotent)."""
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def __enter__(self) -> JsonLinesJournal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
