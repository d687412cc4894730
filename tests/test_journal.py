"""pocusiq.journal: durable JSON-lines appends, torn-tail recovery, corruption reported by line."""

from __future__ import annotations

import json
import math

import pytest

from pocusiq.errors import DatasetError
from pocusiq.journal import JsonLinesJournal


def test_round_trip_with_line_numbers_and_nan(tmp_path):
    path = tmp_path / "sub" / "j.jsonl"
    with JsonLinesJournal(path, allow_nan=True) as journal:
        journal.append({"b": 1, "a": "é"})
        journal.extend([{"x": math.nan}, {"y": [1, 2]}])
    contents = JsonLinesJournal(path).read()
    assert contents.records[0] == {"a": "é", "b": 1} and math.isnan(contents.records[1]["x"])
    assert contents.line_numbers == [1, 2, 3]
    assert contents.good_bytes == path.stat().st_size and contents.torn_bytes == 0
    assert path.read_bytes().startswith(b'{"a":"\\u00e9","b":1}\n')  # sorted keys, ASCII


def test_nan_is_refused_unless_allowed(tmp_path):
    with pytest.raises(ValueError):
        JsonLinesJournal(tmp_path / "j.jsonl").append({"x": math.nan})
    assert not (tmp_path / "j.jsonl").exists()


@pytest.mark.parametrize(
    "tail",
    [b'{"id": 3, "na', b'{"id": 3, "name": [}\n', b"\x00\x00\x00\n"],
    ids=["cut-short", "garbled-final-line", "zero-filled-final-line"],
)
def test_torn_tail_is_ignored_then_cut_before_appending(tmp_path, tail):
    path = tmp_path / "j.jsonl"
    whole = b'{"id":1}\n{"id":2}\n'
    path.write_bytes(whole + tail)
    journal = JsonLinesJournal(path)
    contents = journal.read()
    assert contents.records == [{"id": 1}, {"id": 2}]
    assert (contents.good_bytes, contents.torn_bytes) == (len(whole), len(tail))
    assert journal.repair() == len(tail)
    assert journal.repair() == 0
    journal.append({"id": 3})
    journal.close()
    assert path.read_bytes() == whole + b'{"id":3}\n'


def test_repair_finds_the_last_line_of_a_long_record(tmp_path):
    path = tmp_path / "j.jsonl"
    big = json.dumps({"blob": "x" * 200_000}).encode()  # longer than one tail-scan chunk
    path.write_bytes(big + b"\n" + big[:-1] + b"\n")  # final line garbled (no closing brace)
    assert JsonLinesJournal(path).repair() == len(big)
    assert path.read_bytes() == big + b"\n"
    path.write_bytes(big[:150_000])  # one torn line, no newline at all
    assert JsonLinesJournal(path).repair() == 150_000 and path.read_bytes() == b""


def test_corrupt_line_before_the_end_names_file_and_line(tmp_path):
    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"id":1}\nnot json\n{"id":3}\n')
    with pytest.raises(DatasetError, match=r"j\.jsonl: line 2 is not a valid journal record"):
        JsonLinesJournal(path).read()
    path.write_bytes(b'{"id":1}\n[1, 2]\n{"id":3}\n')
    with pytest.raises(DatasetError, match=r"line 2 is not a valid log record \(not a JSON object \(list\)\)"):
        JsonLinesJournal(path, what="log").read()


def test_check_rejects_records_and_missing_file(tmp_path):
    def needs_event(record):
        if "event" not in record:
            raise ValueError("no 'event' key")

    path = tmp_path / "j.jsonl"
    path.write_bytes(b'{"event":"a"}\n{"other":1}\n{"event":"b"}\n')
    with pytest.raises(DatasetError, match=r"line 2 .*no 'event' key"):
        JsonLinesJournal(path, check=needs_event).read()
    assert JsonLinesJournal(tmp_path / "none.jsonl").read().records == []
    with pytest.raises(DatasetError, match=r"none\.jsonl: journal not found"):
        JsonLinesJournal(tmp_path / "none.jsonl").read(missing_ok=False)
