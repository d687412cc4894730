"""``pocusiq view``: one self-contained page, escaped, with the numbers; the command's exit codes."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from pocusiq.cli import main
from pocusiq.enhance.files import enhance_files
from pocusiq.view.page import PageOptions, build_page, script_json
from pocusiq.view.pairs import pairs_from_enhance_dir

from .conftest import speckle, write_clip, write_png

EVIL = "<img src=x onerror=alert(1)>"


def _folder(tmp_path, enhancer, name="scan.png", size=(128, 224)):
    write_png(tmp_path / "in" / name, speckle(*size))
    report = enhance_files(enhancer, [tmp_path / "in"], tmp_path / "out", roi="full")
    assert report.ok
    return tmp_path / "out"


def test_page_is_self_contained_and_escapes_file_names(tmp_path, negate_enhancer):
    out = _folder(tmp_path, negate_enhancer, name=f"{EVIL}.png")
    pairs, _ = pairs_from_enhance_dir(out)
    page = build_page(pairs, source=str(out))
    assert EVIL not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    srcs = re.findall(r'\bsrc="([^"]*)"', page)
    assert len(srcs) == 2 and all(s.startswith("data:image/png;base64,") for s in srcs)
    assert not re.search(r'(?:src|href)="(?:https?:)?//', page)  # nothing fetched from anywhere
    assert "<link" not in page and "default-src 'none'" in page
    # the after image is the negated input: decode the inlined PNGs
    import base64
    import io

    from PIL import Image

    before, after = (np.asarray(Image.open(io.BytesIO(base64.b64decode(s.split(",", 1)[1])))) for s in srcs)
    np.testing.assert_array_equal(after, 255 - before)


def test_page_shows_niqe_piqe_and_report_numbers(tmp_path, negate_enhancer):
    out = _folder(tmp_path, negate_enhancer)
    report = out / "report.json"
    report.write_text(json.dumps({"files": [{"output": str(out / "scan.png"), "targets_kept": 0.5,
                                             "spots_invented": 3}]}), encoding="utf-8")
    pairs, _ = pairs_from_enhance_dir(out)
    page = build_page(pairs, PageOptions(reports=[report]))
    assert 'data-metric="niqe"' in page and 'data-metric="piqe"' in page
    assert 'data-metric="targets_kept"' in page and ">0.5<" in page and ">3<" in page
    assert "NIQE needs" not in page  # 128x224 is large enough


def test_script_json_cannot_close_the_script():
    text = script_json({"name": "</script><script>alert(1)</script>", "x": "a&b"})
    assert "</script" not in text and "<" not in text and "&" not in text
    assert json.loads(text)["name"] == "</script><script>alert(1)</script>"


def test_cine_card_holds_every_shown_frame_in_step(tmp_path, negate_enhancer):
    clip = write_clip(tmp_path / "in" / "loop.avi", 20)
    enhance_files(negate_enhancer, [clip], tmp_path / "out", roi="full")
    pairs, _ = pairs_from_enhance_dir(tmp_path / "out")
    page = build_page(pairs, PageOptions(max_cine_frames=8, scores=False))
    data = json.loads(re.search(r'<script type="application/json" class="cine-data">(.*?)</script>', page).group(1))
    assert len(data["before"]) == len(data["after"]) == len(data["labels"]) == 5  # 20 frames, every 4th
    assert data["labels"] == [1, 5, 9, 13, 17]
    assert data["fps"] == pytest.approx(25 / 4)
    assert "20 frames at 25 frames/s" in page


def test_view_command_writes_the_page_and_reports_skips(tmp_path, negate_enhancer, capsys):
    out = _folder(tmp_path, negate_enhancer)
    assert main(["view", str(out)]) == 0
    assert (out / "pocusiq-view.html").is_file()
    (tmp_path / "in" / "scan.png").unlink()
    assert main(["view", str(out), "--out", str(tmp_path / "p.html")]) == 2  # nothing left to compare
    assert "its input" in capsys.readouterr().err
    assert main(["view"]) == 2
    assert main(["view", "--before", str(tmp_path)]) == 2
    assert main(["view", str(tmp_path / "nope")]) == 2


def test_view_command_before_after_folders(tmp_path):
    write_png(tmp_path / "b" / "x.png", speckle(64, 64))
    write_png(tmp_path / "a" / "x.png", 255 - speckle(64, 64))
    write_png(tmp_path / "a" / "extra.png", speckle(64, 64))
    page = tmp_path / "v.html"
    assert main(["view", "--before", str(tmp_path / "b"), "--after", str(tmp_path / "a"), "--out", str(page)]) == 1
    text = page.read_text(encoding="utf-8")
    assert "skipped: extra.png" in text and text.count('class="card still"') == 1


def test_screenshot_sized_page_scores_the_imaging_region_only(tmp_path, negate_enhancer):
    """A 1928x1080 screen capture: the page inlines it losslessly and scores only the image inside."""
    shot = np.zeros((1080, 1928, 3), np.uint8)
    shot[100:1000, 500:1400] = speckle(900, 900)[..., None]
    shot[20:60, 20:300] = (200, 40, 40)  # UI outside the image
    write_png(tmp_path / "in" / "shot.png", shot)
    assert enhance_files(negate_enhancer, [tmp_path / "in"], tmp_path / "out").ok  # roi auto
    pairs, _ = pairs_from_enhance_dir(tmp_path / "out")
    page = build_page(pairs)
    box = re.search(r"x=(\d+) y=(\d+) (\d+)x(\d+) px", page).groups()
    x, y, w, h = map(int, box)
    assert abs(x - 500) <= 8 and abs(y - 100) <= 8 and abs(w - 900) <= 16 and abs(h - 900) <= 16
    assert "1928x1080 px" in page


def test_real_pocus_screenshot_page(tmp_path, negate_enhancer, shared_data):
    source = shared_data / "real" / "pocus" / "interson-phantom.png"
    if not source.is_file():
        pytest.skip(f"{source} not in the shared data")
    assert enhance_files(negate_enhancer, [source], tmp_path / "out").ok
    pairs, _ = pairs_from_enhance_dir(tmp_path / "out")
    page = build_page(pairs)
    niqe_row = re.search(r'data-metric="niqe".*?</tr>', page, re.S).group(0)
    values = re.findall(r"<td>([0-9.]+)</td>", niqe_row)
    assert len(values) == 2  # NIQE before and after computed on the detected region
