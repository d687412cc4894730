from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pocusiq.cli import main
from pocusiq.imaging.grey import write_grey_png
from pocusiq.data.manifest import MANIFEST_NAME, read_manifest, write_manifest
from pocusiq.data.validate import DatasetProblem, validate_dataset
from pocusiq.data.writer import PairedDatasetWriter
from pocusiq.errors import DatasetError


def _tree_digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _messages(root: Path) -> list[str]:
    return [str(p) for p in validate_dataset(root)]


def _only(root: Path, path: str) -> list[str]:
    return [p.message for p in validate_dataset(root) if p.path == path]


def test_valid_dataset_has_no_problems_and_cli_exits_zero(make_dataset, capsys):
    root = make_dataset(n=8, masks=True)
    assert validate_dataset(root) == []
    assert main(["dataset", "validate", str(root)]) == 0
    assert "OK, 8 pairs (train 4, val 2, test 2), 4 specimens" in capsys.readouterr().out


def test_missing_partner(make_dataset):
    root = make_dataset()
    (root / "high" / "p1.png").unlink()
    assert _only(root, "low/p1.png") == ["missing partner high/p1.png"]
    assert _only(root, "manifest.csv (id p1)") == ["row has no file high/p1.png"]


def test_size_mismatch(make_dataset):
    root = make_dataset()
    write_grey_png(root / "high" / "p2.png", np.zeros((24, 30), np.uint8))
    messages = _only(root, "high/p2.png")
    assert "size mismatch: 30x24 but low/p2.png is 32x24" in messages
    assert "size 30x24 differs from the manifest's 32x24" in messages
    assert any(m.startswith("checksum drift") for m in messages)


def test_truncated_and_unreadable_files(make_dataset):
    root = make_dataset()
    data = (root / "low" / "p0.png").read_bytes()
    (root / "low" / "p0.png").write_bytes(data[: len(data) // 2])
    (root / "high" / "p3.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    low_msgs = _only(root, "low/p0.png")
    assert any(m.startswith("unreadable: cannot decode image, truncated or corrupt") for m in low_msgs)
    assert _only(root, "high/p3.png") == ["truncated PNG file (no complete IHDR header)"]


def test_wrong_channels_and_bit_depth(make_dataset):
    root = make_dataset()
    rgb = np.zeros((24, 32, 3), np.uint8)
    Image.fromarray(rgb).save(root / "low" / "p0.png")
    Image.fromarray(np.zeros((24, 32), bool)).save(root / "low" / "p1.png")  # 1-bit PNG
    assert "wrong channels: RGB (3 channel(s)); expected 1-channel greyscale" in _only(root, "low/p0.png")
    assert "wrong bit depth: 1 bits; expected 8 or 16" in _only(root, "low/p1.png")


def test_duplicate_pixels(make_dataset):
    root = make_dataset()
    for folder in ("low", "high"):
        (root / folder / "p3.png").write_bytes((root / folder / "p1.png").read_bytes())
    assert "duplicate: identical pixels to low/p1.png" in _only(root, "low/p3.png")
    assert "duplicate: identical pixels to high/p1.png" in _only(root, "high/p3.png")


def test_checksum_drift(make_dataset):
    root = make_dataset()
    write_grey_png(root / "low" / "p2.png", np.full((24, 32), 7, np.uint8))
    [message] = _only(root, "low/p2.png")
    assert message.startswith("checksum drift: sha256 ") and "differs from manifest" in message


def test_files_not_in_manifest_and_rows_without_files(make_dataset):
    root = make_dataset()
    for folder in ("low", "high"):
        write_grey_png(root / folder / "extra.png", np.full((24, 32), 9 if folder == "low" else 3, np.uint8))
    rows = read_manifest(root)
    for folder in ("low", "high"):
        (root / folder / "p0.png").unlink()
    (root / "low" / "notes.txt").write_text("hi")
    assert _only(root, "low/extra.png") == ["not in manifest.csv"]
    assert _only(root, "high/extra.png") == ["not in manifest.csv"]
    assert _only(root, "manifest.csv (id p0)") == ["row has no file low/p0.png or high/p0.png"]
    assert _only(root, "low/notes.txt") == ["not a .png file (the dataset holds PNG images only)"]
    assert len(rows) == 4


def test_bad_split_source_duplicate_id_and_leaking_specimen(make_dataset):
    root = make_dataset()
    rows = read_manifest(root)
    rows[0].split = "training"
    rows[1].source = "phantom"
    rows[3].specimen = rows[2].specimen = "s9"
    rows[2].split, rows[3].split = "val", "test"  # s9 now in val (p2) and test (p3)
    write_manifest(root, rows)
    text = (root / MANIFEST_NAME).read_text()
    (root / MANIFEST_NAME).write_text(text + text.splitlines()[2] + "\n")  # duplicate row of p1
    messages = _messages(root)
    assert not any("'s0' appears" in m for m in messages)  # a bad split value is not also a leak
    assert "manifest.csv line 2 (id p0): bad split value 'training' (expected one of train, val, test)" in messages
    assert "manifest.csv line 3 (id p1): bad source value 'phantom' (expected one of sim, real)" in messages
    assert "manifest.csv line 6 (id p1): duplicate id 'p1' (also on line 3)" in messages
    assert (
        "manifest.csv: specimen 's9' appears in splits test, val (tissue leaks between splits; split by specimen)"
        in messages
    )


def test_mask_problems(make_dataset):
    root = make_dataset(masks=True)
    (root / "masks" / "p0_bright.png").unlink()
    write_grey_png(root / "masks" / "p1_bright.png", np.zeros((5, 5), np.uint8))
    write_grey_png(root / "masks" / "p2_other.png", np.zeros((24, 32), np.uint8))
    assert _only(root, "manifest.csv (id p0)") == ["row lists mask file masks/p0_bright.png, which is missing"]
    p1 = _only(root, "masks/p1_bright.png")
    assert "size mismatch: 5x5 but low/p1.png is 32x24" in p1 and any(m.startswith("checksum drift") for m in p1)
    assert _only(root, "masks/p2_other.png") == ["not in manifest.csv (no row lists this mask)"]


def test_missing_or_malformed_manifest_and_interrupted_writer(make_dataset, tmp_path):
    root = make_dataset()
    (root / MANIFEST_NAME).write_text("id,split\n")
    assert _only(root, MANIFEST_NAME) == ["header lacks column(s) source, specimen, pose, spacing_mm, height, "
                                          "width, low_sha256, high_sha256, masks, low_device, high_device, params"]
    (root / MANIFEST_NAME).unlink()
    assert _only(root, MANIFEST_NAME) == ["missing (every pocusiq dataset has a manifest.csv)"]

    other = tmp_path / "killed"
    writer = PairedDatasetWriter(other)
    writer.add("a", np.zeros((4, 4), np.uint8), np.ones((4, 4), np.uint8), split="train", source="sim", specimen="s")
    (other / "high" / ".a.x1.tmp.png").write_bytes(b"")
    messages = _messages(other)  # killed: journal but no manifest.csv yet
    assert "manifest.journal.jsonl: left by an interrupted writer (1 pair(s) recorded only there); " \
           "re-run the command that wrote the dataset to finish it" in messages
    assert "high/.a.x1.tmp.png: leftover temporary file of an interrupted write (safe to delete)" in messages
    with pytest.raises(DatasetError, match="not a folder"):
        validate_dataset(tmp_path / "nope")


def test_cli_reports_every_problem_exits_one_and_modifies_nothing(make_dataset, capsys):
    root = make_dataset(masks=True)
    (root / "high" / "p1.png").unlink()
    write_grey_png(root / "low" / "p2.png", np.full((24, 32), 7, np.uint8))
    before = _tree_digest(root)
    assert main(["dataset", "validate", str(root)]) == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert "low/p1.png: missing partner high/p1.png" in lines
    assert any(line.startswith("low/p2.png: checksum drift") for line in lines)
    assert lines == [str(p) for p in validate_dataset(root)]
    assert "problem(s)" in captured.err
    assert _tree_digest(root) == before


def test_problem_str():
    assert str(DatasetProblem("low/a.png", "bad")) == "low/a.png: bad"
