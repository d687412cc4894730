from __future__ import annotations

import math

import pytest

from pocusiq.data.manifest import MANIFEST_COLUMNS, MANIFEST_NAME, ManifestRow, read_manifest, write_manifest
from pocusiq.errors import DatasetError

SHA_A = "a" * 64
SHA_B = "b" * 64


def _row(pair_id: str, **changes) -> ManifestRow:
    values = dict(
        id=pair_id, split="train", source="real", specimen="case, 1", pose="x=1mm", spacing_mm=0.125,
        height=4, width=5, low_sha256=SHA_A, high_sha256=SHA_B, masks={"lumen": SHA_A},
        low_device="Butterfly iQ+", high_device='GE "Logiq"', params={"organ": "carotid", "depth_mm": 40.0},
    )
    values.update(changes)
    return ManifestRow(**values)


def test_write_then_read_gives_the_same_rows_sorted_by_id(tmp_path):
    rows = [_row("b2"), _row("a1", spacing_mm=math.nan, masks={}, params={})]
    write_manifest(tmp_path, rows)
    back = read_manifest(tmp_path)
    assert [r.id for r in back] == ["a1", "b2"]
    assert back[1] == rows[0]  # commas/quotes in fields survive the CSV round trip
    assert math.isnan(back[0].spacing_mm) and back[0].masks == {} and back[0].params == {}
    header = (tmp_path / MANIFEST_NAME).read_text().splitlines()[0]
    assert header == ",".join(MANIFEST_COLUMNS)


def test_write_rejects_duplicate_ids(tmp_path):
    with pytest.raises(ValueError, match="duplicate pair id"):
        write_manifest(tmp_path, [_row("a"), _row("a")])


def test_read_reports_missing_manifest_and_columns(tmp_path):
    with pytest.raises(DatasetError, match=r"manifest\.csv: manifest not found"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST_NAME).write_text("id,split\nx,train\n")
    with pytest.raises(DatasetError, match="header lacks column"):
        read_manifest(tmp_path)


def test_read_names_the_line_of_a_bad_value(tmp_path):
    write_manifest(tmp_path, [_row("a"), _row("b")])
    path = tmp_path / MANIFEST_NAME
    path.write_text(path.read_text().replace(",0.125,", ",wide,", 1))
    with pytest.raises(DatasetError, match=r"line 2: spacing_mm 'wide' is not a number"):
        read_manifest(tmp_path)


def test_strict_read_rejects_bad_split_but_lenient_read_keeps_it(tmp_path):
    write_manifest(tmp_path, [_row("a", split="training")])
    with pytest.raises(DatasetError, match=r"bad split value 'training' \(expected one of train, val, test\)"):
        read_manifest(tmp_path)
    assert read_manifest(tmp_path, strict=False)[0].split == "training"


def test_row_problems_cover_each_field():
    bad = _row("../x", split="dev", source="phantom", specimen="", low_sha256="123", spacing_mm=-1.0)
    text = "\n".join(bad.problems())
    for expected in ("invalid pair id '../x'", "bad split value 'dev'", "bad source value 'phantom'",
                     "empty specimen id", "low_sha256 '123' is not a sha256", "spacing_mm -1.0 must be positive"):
        assert expected in text
    assert _row("ok").problems() == []
