from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pocusiq.cli import main
from pocusiq.data.exporters import export_ab, side_by_side
from pocusiq.imaging.grey import read_grey_image, read_png_text, write_grey_png
from pocusiq.data.importers import ImportOptions, import_ab, import_folder, import_usenhance, sanitise_id
from pocusiq.data.manifest import high_path, low_path, read_manifest
from pocusiq.data.validate import validate_dataset
from pocusiq.errors import DatasetError


def _img(seed: int, shape=(16, 20)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape).astype(np.uint8)


def _no_leak(rows) -> None:
    splits: dict[str, set[str]] = {}
    for row in rows:
        splits.setdefault(row.specimen, set()).add(row.split)
    assert all(len(s) == 1 for s in splits.values()), splits


def test_import_folder_keeps_pixels_and_groups_frames_by_specimen(tmp_path):
    src = tmp_path / "src"
    expected = {}
    for case in range(6):
        for frame in range(3):
            stem = f"case{case}_{frame:03d}"
            low, high = _img(10 * case + frame), _img(100 + 10 * case + frame)
            write_grey_png(src / "low" / f"{stem}.png", low)
            (src / "high").mkdir(parents=True, exist_ok=True)
            Image.fromarray(high).save(src / "high" / f"{stem}.bmp")  # any format, matched by stem
            expected[stem] = (low, high)
    write_grey_png(src / "low" / "orphan.png", _img(999))
    summary = import_folder(src, tmp_path / "out", ImportOptions(fractions=(0.5, 0.25, 0.25), spacing_mm=0.1))
    rows = read_manifest(tmp_path / "out")
    assert summary.pairs == 18 and summary.specimens == 6 and len(rows) == 18
    assert summary.skipped == [f"{src / 'low' / 'orphan.png'}: no partner in {src / 'high'}"]
    assert {row.specimen for row in rows} == {f"case{c}" for c in range(6)}
    _no_leak(rows)
    assert {row.split for row in rows} == {"train", "val", "test"}
    for row in rows:
        np.testing.assert_array_equal(read_grey_image(low_path(tmp_path / "out", row.id)), expected[row.id][0])
        np.testing.assert_array_equal(read_grey_image(high_path(tmp_path / "out", row.id)), expected[row.id][1])
        assert row.source == "real" and row.spacing_mm == 0.1
    assert validate_dataset(tmp_path / "out") == []


def test_import_folder_specimen_pattern_and_errors(tmp_path):
    src = tmp_path / "src"
    for stem in ("P1-a", "P1-b", "P2-a"):
        write_grey_png(src / "low" / f"{stem}.png", _img(len(stem)))
        write_grey_png(src / "high" / f"{stem}.png", _img(7))
    import_folder(src, tmp_path / "out", ImportOptions(specimen_pattern=r"^(P\d+)-"))
    assert sorted({r.specimen for r in read_manifest(tmp_path / "out")}) == ["P1", "P2"]

    with pytest.raises(DatasetError, match="already holds a dataset"):
        import_folder(src, tmp_path / "out")
    write_grey_png(src / "high" / "P2-a.png", _img(7, (16, 21)))
    with pytest.raises(DatasetError, match=r"P2-a\.png \(20x16\) and .*P2-a\.png \(21x16\) differ in size"):
        import_folder(src, tmp_path / "out2")
    with pytest.raises(DatasetError, match=r"low: no low/ folder \(format 'folder' needs low/ and high/\)"):
        import_folder(src / "low", tmp_path / "out3")


def test_import_usenhance_records_organ_and_keeps_folders_apart(tmp_path):
    src = tmp_path / "usenhance"
    pixels = {}
    for p, part in enumerate(("train_datasets", "test_datasets")):
        for o, organ in enumerate(("thyroid", "breast")):
            for k in range(3):
                low, high = _img(100 * p + 10 * o + k), _img(1000 + 100 * p + 10 * o + k)
                write_grey_png(src / part / organ / "low_quality" / f"{k}.png", low)
                write_grey_png(src / part / organ / "high_quality" / f"{k}.png", high)
                pixels[(part, organ, str(k))] = (low, high)
    import_usenhance(src, tmp_path / "out")
    rows = read_manifest(tmp_path / "out")
    assert len(rows) == 12
    row = next(r for r in rows if r.id == "test_datasets-thyroid-1")
    assert row.params["organ"] == "thyroid" and row.params["dataset"] == "USenhance-2023"
    assert row.specimen == "test_datasets/thyroid/1" and row.low_device == "usenhance:thyroid:low_quality"
    np.testing.assert_array_equal(
        read_grey_image(high_path(tmp_path / "out", row.id)), pixels[("test_datasets", "thyroid", "1")][1]
    )
    assert len({r.specimen for r in rows}) == 12
    assert validate_dataset(tmp_path / "out") == []
    with pytest.raises(DatasetError, match="USenhance-2023 layout"):
        import_usenhance(src / "train_datasets" / "thyroid" / "low_quality", tmp_path / "none")


def test_export_ab_then_import_ab_round_trips_pixels_ids_and_specimens(make_dataset, tmp_path):
    root = make_dataset(n=8)
    summary = export_ab(root, tmp_path / "ab")
    assert summary.files == {"train": 4, "val": 2, "test": 2}
    ab = read_grey_image(tmp_path / "ab" / "val" / "p4.png")
    assert ab.shape == (24, 64)
    np.testing.assert_array_equal(ab[:, :32], read_grey_image(low_path(root, "p4")))
    np.testing.assert_array_equal(ab[:, 32:], read_grey_image(high_path(root, "p4")))
    assert read_png_text(tmp_path / "ab" / "val" / "p4.png")["pocusiq.specimen"] == "s2"

    import_ab(tmp_path / "ab", tmp_path / "back")
    original = {r.id: r for r in read_manifest(root)}
    back = read_manifest(tmp_path / "back")
    assert sorted(r.id for r in back) == sorted(original)
    for row in back:
        assert row.specimen == original[row.id].specimen
        assert row.low_sha256 == original[row.id].low_sha256  # same pixels -> same PNG bytes
        assert row.high_sha256 == original[row.id].high_sha256
    _no_leak(back)


def test_import_ab_pix2pix_layout_with_repeated_names_and_odd_width(tmp_path):
    src = tmp_path / "facades"
    for split in ("train", "val"):
        for k in (1, 2):
            low, high = _img(k), _img(k + 50)
            write_grey_png(src / split / f"{k}.png", side_by_side(low, high))
    import_ab(src, tmp_path / "out")
    rows = read_manifest(tmp_path / "out")
    assert sorted(r.id for r in rows) == ["train-1", "train-2", "val-1", "val-2"]
    np.testing.assert_array_equal(read_grey_image(low_path(tmp_path / "out", "val-2")), _img(2))
    np.testing.assert_array_equal(read_grey_image(high_path(tmp_path / "out", "val-2")), _img(52))
    write_grey_png(tmp_path / "odd" / "x.png", np.zeros((4, 7), np.uint8))
    with pytest.raises(DatasetError, match=r"x\.png: width 7 is odd"):
        import_ab(tmp_path / "odd", tmp_path / "out_odd")


def test_side_by_side_promotes_8_bit_half():
    low = np.array([[1, 255]], np.uint8)
    high = np.array([[2, 65535]], np.uint16)
    assert side_by_side(low, high).tolist() == [[257, 65535, 2, 65535]]


def test_sanitise_id():
    assert sanitise_id("scan 01 (left)") == "scan-01-left-"
    assert sanitise_id("a.png") == "a-png"
    assert sanitise_id("..hidden") == "hidden"


def test_cli_import_validate_export(tmp_path, capsys):
    src = tmp_path / "src"
    for k in range(4):
        write_grey_png(src / "low" / f"s{k}_1.png", _img(k))
        write_grey_png(src / "high" / f"s{k}_1.png", _img(k + 9))
    out = tmp_path / "out"
    assert main(["dataset", "import", "--format", "folder", str(src), "--out", str(out), "--seed", "3"]) == 0
    assert "imported 4 pairs" in capsys.readouterr().out
    assert main(["dataset", "validate", str(out)]) == 0
    assert main(["dataset", "export", "--format", "ab", str(out), "--out", str(tmp_path / "ab"), "--split", "train"]) == 0
    assert "A|B images" in capsys.readouterr().out
    assert all(p.parent.name == "train" for p in (tmp_path / "ab").rglob("*.png"))
    assert main(["dataset", "import", "--format", "ab", str(tmp_path / "nope"), "--out", str(tmp_path / "x")]) == 2
    assert "import source is not a folder" in capsys.readouterr().err


def test_import_resume_restores_only_what_is_missing(tmp_path):
    src = tmp_path / "src"
    for k in range(3):
        write_grey_png(src / "low" / f"c{k}_0.png", _img(k))
        write_grey_png(src / "high" / f"c{k}_0.png", _img(k + 5))
    out = tmp_path / "out"
    import_folder(src, out)
    reference = {p.name: p.read_bytes() for p in out.rglob("*.png")}
    (out / "high" / "c1_0.png").unlink()
    before = (out / "low" / "c2_0.png").stat().st_mtime_ns
    import_folder(src, out, ImportOptions(resume=True))
    assert {p.name: p.read_bytes() for p in out.rglob("*.png")} == reference
    assert (out / "low" / "c2_0.png").stat().st_mtime_ns == before  # complete pairs are not rewritten
    assert validate_dataset(out) == []
    # A resume that records another pixel spacing updates every row (no stale spacing left).
    import_folder(src, out, ImportOptions(resume=True, spacing_mm=0.2))
    assert [row.spacing_mm for row in read_manifest(out)] == [0.2, 0.2, 0.2]


@pytest.mark.shared_data
def test_real_carotid_frames_group_by_acquisition(shared_data, tmp_path):
    """Real file names ``<acquisition>VAS_slice_<n>.png``: frames of one acquisition share a split."""
    images = sorted((shared_data / "real" / "carotid" / "images").glob("*.png"))[::4]  # 2 frames/acquisition
    assert len({p.name.split("VAS_slice")[0] for p in images}) >= 3
    src = tmp_path / "src"
    for folder in ("low", "high"):
        (src / folder).mkdir(parents=True)
        for path in images:
            (src / folder / path.name).symlink_to(path)
    with pytest.raises(DatasetError, match="RGB image with differing colour channels"):
        import_folder(src, tmp_path / "strict")
    import_folder(src, tmp_path / "out", ImportOptions(convert_rgb=True))
    rows = read_manifest(tmp_path / "out")
    acquisitions = {path.name.split("VAS_slice")[0] for path in images}
    assert {row.specimen.split("VAS_slice")[0] for row in rows} == acquisitions
    assert len({row.specimen for row in rows}) == len(acquisitions)
    _no_leak(rows)
    rgb = np.asarray(Image.open(images[0]).convert("RGB"), dtype=np.float64)
    luma = np.rint(rgb @ np.array([0.299, 0.587, 0.114])).astype(np.uint8)
    np.testing.assert_array_equal(read_grey_image(low_path(tmp_path / "out", sanitise_id(images[0].stem))), luma)
