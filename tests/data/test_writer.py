from __future__ import annotations

import numpy as np
import pytest

from pocusiq.atomic import sha256_file
from pocusiq.imaging.grey import read_grey_image
from pocusiq.data.manifest import JOURNAL_NAME, MANIFEST_NAME, high_path, low_path, mask_path, read_manifest
from pocusiq.data.writer import PairedDatasetWriter, read_journal
from pocusiq.errors import DatasetError


def _pair(seed: int, shape=(12, 10), dtype=np.uint8):
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max + 1
    return rng.integers(0, top, shape).astype(dtype), rng.integers(0, top, shape).astype(dtype)


def _add(writer, pair_id, seed, **kwargs):
    low, high = _pair(seed, **kwargs)
    writer.add(pair_id, low, high, split="train", source="sim", specimen=f"sp{seed}", spacing_mm=0.1)
    return low, high


def test_round_trip_arrays_checksums_and_masks(tmp_path):
    low16, high16 = _pair(1, dtype=np.uint16)
    low8, high8 = _pair(2)
    mask = low8 > 100
    with PairedDatasetWriter(tmp_path / "ds") as writer:
        writer.add("a", low16, high16, split="train", source="real", specimen="s1", pose="p0",
                   spacing_mm=0.08, params={"gain_db": 3.5}, low_device="iQ", high_device="Logiq")
        writer.add("b", low8, high8, split="test", source="sim", specimen="s2", masks={"lumen": mask})
    root = tmp_path / "ds"
    rows = {row.id: row for row in read_manifest(root)}
    assert set(rows) == {"a", "b"} and not (root / JOURNAL_NAME).exists()
    np.testing.assert_array_equal(read_grey_image(low_path(root, "a")), low16)
    np.testing.assert_array_equal(read_grey_image(high_path(root, "a")), high16)
    np.testing.assert_array_equal(read_grey_image(mask_path(root, "b", "lumen")), np.where(mask, 255, 0))
    assert rows["a"].low_sha256 == sha256_file(low_path(root, "a"))
    assert rows["a"].high_sha256 == sha256_file(high_path(root, "a"))
    assert rows["b"].masks == {"lumen": sha256_file(mask_path(root, "b", "lumen"))}
    assert (rows["a"].height, rows["a"].width, rows["a"].spacing_mm) == (12, 10, 0.08)
    assert rows["a"].params == {"gain_db": 3.5} and rows["a"].low_device == "iQ"


def test_has_detects_missing_and_changed_files(tmp_path):
    with PairedDatasetWriter(tmp_path) as writer:
        _add(writer, "a", 1)
        _add(writer, "b", 2)
        _add(writer, "c", 3)
    writer = PairedDatasetWriter(tmp_path)
    assert writer.has("a") and writer.has("b") and writer.has("c") and not writer.has("zzz")
    low_path(tmp_path, "a").unlink()
    high_path(tmp_path, "b").write_bytes(low_path(tmp_path, "c").read_bytes())
    assert not writer.has("a") and not writer.has("b") and writer.has("c")
    writer.close()


def test_killed_writer_is_recovered_from_its_journal(tmp_path):
    writer = PairedDatasetWriter(tmp_path)
    _add(writer, "a", 1)
    _add(writer, "b", 2)
    # simulate a kill: no close(); the journal holds both rows, the manifest none; the OS releases
    # a killed process's flock
    writer._lock.close()
    assert [r.id for r in read_journal(tmp_path)] == ["a", "b"]
    assert not (tmp_path / MANIFEST_NAME).exists()
    # a kill in the middle of appending a third row leaves an incomplete last line
    with open(tmp_path / JOURNAL_NAME, "ab") as handle:
        handle.write(b'{"id":"c","split":"tra')
    # ... and a leftover temp file from an interrupted image write
    (tmp_path / "low" / ".c.abc123.tmp.png").write_bytes(b"partial")
    resumed = PairedDatasetWriter(tmp_path)
    assert resumed.has("a") and resumed.has("b") and not resumed.has("c")
    assert [r.id for r in read_manifest(tmp_path)] == ["a", "b"]  # compacted on reopen
    assert not (tmp_path / JOURNAL_NAME).exists()
    assert not (tmp_path / "low" / ".c.abc123.tmp.png").exists()
    _add(resumed, "c", 3)
    resumed.close()
    assert [r.id for r in read_manifest(tmp_path)] == ["a", "b", "c"]


def test_malformed_complete_journal_line_is_an_error(tmp_path):
    (tmp_path / JOURNAL_NAME).write_text('{"id": "a"}\nnot json\n')
    with pytest.raises(DatasetError, match=r"manifest\.journal\.jsonl, line 1: malformed journal entry"):
        PairedDatasetWriter(tmp_path)


def test_resume_false_refuses_an_existing_dataset(tmp_path):
    with PairedDatasetWriter(tmp_path) as writer:
        _add(writer, "a", 1)
    with pytest.raises(DatasetError, match="already holds a dataset; resume it"):
        PairedDatasetWriter(tmp_path, resume=False)


@pytest.mark.parametrize(
    "kwargs,error,match",
    [
        (dict(pair_id="a/b"), ValueError, "invalid pair id 'a/b'"),
        (dict(split="dev"), ValueError, "pair a: split 'dev' is not one of train, val, test"),
        (dict(source="phantom"), ValueError, "source 'phantom'"),
        (dict(specimen=""), ValueError, "specimen must be a non-empty string"),
        (dict(high=np.zeros((12, 11), np.uint8)), ValueError, r"low shape \(12, 10\) differs from high shape \(12, 11\)"),
        (dict(low=np.zeros((12, 10), np.float32)), TypeError, "low must be a 2-D uint8/uint16 numpy array, got float32"),
        (dict(masks={"m": np.zeros((3, 3), bool)}), ValueError, "mask 'm' shape"),
        (dict(params={"x": object()}), TypeError, "params must be JSON-serialisable"),
        (dict(spacing_mm=0.0), ValueError, "spacing_mm must be positive"),
        (dict(spacing_mm=float("inf")), ValueError, r"spacing_mm must be positive and finite \(or None\), got inf"),
    ],
)
def test_add_rejects_bad_arguments_and_writes_nothing(tmp_path, kwargs, error, match):
    low, high = _pair(0)
    args = dict(pair_id="a", low=low, high=high, split="train", source="sim", specimen="s")
    args.update(kwargs)
    with PairedDatasetWriter(tmp_path) as writer:
        with pytest.raises(error, match=match):
            writer.add(args.pop("pair_id"), args.pop("low"), args.pop("high"), **args)
    assert read_manifest(tmp_path) == []
    assert not (tmp_path / "low").exists()


def test_a_second_writer_of_the_same_folder_is_refused_until_the_first_closes(tmp_path):
    """Two writers of one folder (two training runs into one --out) used to delete each other's
    in-flight temporary files; now the second is refused at once, and nothing of the first is lost."""
    first = PairedDatasetWriter(tmp_path / "ds")
    low, _ = _add(first, "a", 1)
    with pytest.raises(DatasetError, match="another writer"):
        PairedDatasetWriter(tmp_path / "ds")
    first.close()
    with PairedDatasetWriter(tmp_path / "ds") as second:  # released: resumes
        assert second.has("a")
        _add(second, "b", 2)
    assert {row.id for row in read_manifest(tmp_path / "ds")} == {"a", "b"}
    np.testing.assert_array_equal(read_grey_image(low_path(tmp_path / "ds", "a")), low)
