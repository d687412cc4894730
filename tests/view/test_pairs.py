"""Which output belongs to which input: README lines, side-by-side halves, two folders."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from pocusiq.enhance.files import README_NAME, enhance_files
from pocusiq.errors import ImageFileError
from pocusiq.view.frames import read_for_view
from pocusiq.view.pairs import pairs_from_dirs, pairs_from_enhance_dir, read_readme

from .conftest import speckle, write_png


def test_readme_lines_parsed_latest_wins(tmp_path):
    (tmp_path / README_NAME).write_text(
        "IMPORTANT: ...\n\n== pocusiq 0.1.0 enhance, model m\n"
        "OK     in/a b.png -> out/a b.png (image, 1 frame(s), region sector (10, 20, 300, 200))\n"
        "FAILED in/c.png: broken\n"
        "OK     in/v.mp4 -> out/v.mp4 (video, 30 frame(s), )\n"
        "== again\nOK     /abs/a b.png -> out/a b.png (image, 1 frame(s), region full (0, 0, 640, 480))\n",
        encoding="utf-8")
    entries = read_readme(tmp_path)
    assert [(e.source, e.output, e.kind, e.frames) for e in entries] == [
        ("in/a b.png", "out/a b.png", "image", 1), ("in/v.mp4", "out/v.mp4", "video", 30),
        ("/abs/a b.png", "out/a b.png", "image", 1)]
    assert entries[0].region == (10, 20, 300, 200) and entries[0].region_kind == "sector"
    assert entries[1].region is None
    assert entries[2].region == (0, 0, 640, 480)


def _enhanced_folder(tmp_path, enhancer, side_by_side=False):
    inputs = tmp_path / "in"
    originals = {name: write_png(inputs / "sub" / name, speckle(64, 96, seed=i))
                 for i, name in enumerate(["one.png", "two.png"])}
    report = enhance_files(enhancer, [inputs], tmp_path / "out", roi="full", side_by_side=side_by_side)
    assert report.ok
    return originals, tmp_path / "out"


def test_pairs_map_each_output_to_its_own_input(tmp_path, negate_enhancer):
    originals, out = _enhanced_folder(tmp_path, negate_enhancer)
    pairs, skipped = pairs_from_enhance_dir(out)
    assert skipped == []
    assert [p.name for p in pairs] == ["sub/one.png", "sub/two.png"]
    for pair in pairs:
        before = read_for_view(pair.before, "image").frames[0]
        after = read_for_view(pair.after, "image").frames[0]
        np.testing.assert_array_equal(before, speckle(64, 96, seed=["one.png", "two.png"].index(pair.after.name)))
        np.testing.assert_array_equal(after, 255 - before)  # the negate model: the right input
        assert pair.region == (0, 0, 96, 64) and pair.region_kind == "full"


def test_input_gone_uses_left_half_of_side_by_side(tmp_path, negate_enhancer):
    originals, out = _enhanced_folder(tmp_path, negate_enhancer, side_by_side=True)
    shutil.rmtree(tmp_path / "in")
    pairs, skipped = pairs_from_enhance_dir(out)
    assert skipped == [] and len(pairs) == 2  # side-by-side files are not pairs of their own
    pair = pairs[0]
    assert pair.before_is_left_half and "left half" in pair.note
    before = read_for_view(pair.before, "image", left_half=True).frames[0]
    np.testing.assert_array_equal(before, speckle(64, 96, seed=0))


def test_input_gone_without_side_by_side_is_skipped_with_reason(tmp_path, negate_enhancer):
    _, out = _enhanced_folder(tmp_path, negate_enhancer)
    (tmp_path / "in" / "sub" / "two.png").unlink()
    pairs, skipped = pairs_from_enhance_dir(out)
    assert [p.name for p in pairs] == ["sub/one.png"]
    assert len(skipped) == 1 and "sub/two.png" in skipped[0] and "--before" in skipped[0]


def test_view_run_from_another_folder_finds_relative_inputs(tmp_path, negate_enhancer, monkeypatch):
    project = tmp_path / "project"
    write_png(project / "in" / "x.png", speckle(32, 32))
    monkeypatch.chdir(project)
    enhance_files(negate_enhancer, ["in"], "out", roi="full")  # README holds in/x.png -> out/x.png
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    pairs, skipped = pairs_from_enhance_dir(project / "out")
    assert skipped == []
    assert pairs[0].before.resolve() == (project / "in" / "x.png").resolve()
    assert pairs[0].region_kind == "full"  # the README line was matched too


def test_before_after_folders_match_by_name_and_stem(tmp_path):
    write_png(tmp_path / "b" / "a.png", speckle(32, 32))
    write_png(tmp_path / "b" / "d" / "c.tif", speckle(32, 32))
    write_png(tmp_path / "a" / "a.png", speckle(32, 32, 1))
    write_png(tmp_path / "a" / "d" / "c.png", speckle(32, 32, 1))
    write_png(tmp_path / "a" / "lonely.png", speckle(32, 32, 1))
    pairs, skipped = pairs_from_dirs(tmp_path / "b", tmp_path / "a")
    assert {(p.name, p.before.name) for p in pairs} == {("a.png", "a.png"), ("d/c.png", "c.tif")}
    assert len(skipped) == 1 and "lonely.png" in skipped[0]


def test_not_a_folder_or_empty_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ImageFileError, match="not a folder"):
        pairs_from_enhance_dir(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ImageFileError, match="no enhanced"):
        pairs_from_enhance_dir(tmp_path / "empty")
    with pytest.raises(ImageFileError, match="--before"):
        pairs_from_dirs(tmp_path / "missing", tmp_path / "empty")
