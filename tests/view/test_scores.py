"""NIQE/PIQE before and after, and numbers read generically from a JSON report."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from pocusiq.errors import PocusiqError
from pocusiq.metrics import niqe, piqe
from pocusiq.view.frames import Frames
from pocusiq.view.pairs import Pair
from pocusiq.view.scores import load_report, metric_info, quality_rows, report_rows, run_rows

from .conftest import speckle


def _frames(*frames):
    return Frames(list(frames), list(range(len(frames))), len(frames), None, 255.0)


def test_quality_rows_are_the_metrics_of_the_region():
    before = np.zeros((300, 400), np.uint8)
    before[50:250, 100:300] = speckle(200, 200, 1)
    after = before.copy()
    after[50:250, 100:300] = speckle(200, 200, 2) // 2 + 60
    pair = Pair("a.png", Path("a.png"), Path("b.png"), "image", region=(100, 50, 200, 200), region_kind="box")
    rows, scope = quality_rows(pair, _frames(before), _frames(after))
    by_key = {r.key: r for r in rows}
    crop_b, crop_a = before[50:250, 100:300], after[50:250, 100:300]
    assert by_key["niqe"].before == pytest.approx(niqe(crop_b))
    assert by_key["niqe"].after == pytest.approx(niqe(crop_a))
    assert by_key["piqe"].before == pytest.approx(piqe(crop_b))
    assert by_key["piqe"].after == pytest.approx(piqe(crop_a))
    assert by_key["niqe"].higher_is_better is False and by_key["niqe"].label == "NIQE"
    assert "x=100 y=50 200x200" in scope


def test_niqe_on_a_too_small_image_is_na_with_the_reason():
    small = speckle(80, 120)
    pair = Pair("s.png", Path("s.png"), Path("s.png"), "image", region=(0, 0, 120, 80), region_kind="full")
    rows, _ = quality_rows(pair, _frames(small), _frames(255 - small))
    row = {r.key: r for r in rows}["niqe"]
    assert row.before is None and row.after is None
    assert "96" in row.note and "80x120" in row.note
    assert {r.key: r for r in rows}["piqe"].before == pytest.approx(piqe(small))


def test_cine_scores_are_the_mean_over_sampled_frames():
    frames = [speckle(200, 200, seed) for seed in range(10)]
    pair = Pair("v.avi", Path("v.avi"), Path("v.avi"), "video", region=(0, 0, 200, 200), region_kind="full")
    rows, scope = quality_rows(pair, _frames(*frames), _frames(*frames))
    expected = np.mean([piqe(frames[i]) for i in (0, 3, 6, 9)])
    assert {r.key: r for r in rows}["piqe"].before == pytest.approx(expected)
    assert "mean of 4 of 10" in scope


REPORT = {
    "model": "m",
    "summary": {"targets_kept_mean": 0.5, "files": 2},
    "files": [
        {"input": "in/a.png", "output": "out/sub/a.png", "targets_kept": 0.75, "spots_invented": 2,
         "streaks": {"count": 1, "score": 0.1}, "niqe": 4.5, "ok": True},
        {"input": "in/b.png", "output": "out/b.png", "targets_kept": 0.25},
    ],
}


def test_report_rows_take_every_number_of_the_files_record():
    pair = Pair("sub/a.png", Path("/x/in/a.png"), Path("/x/out/sub/a.png"), "image")
    rows = report_rows(REPORT, pair)
    assert {r.key: r.after for r in rows} == {"targets_kept": 0.75, "spots_invented": 2.0,
                                              "streaks.count": 1.0, "streaks.score": 0.1, "niqe": 4.5}
    niqe_row = next(r for r in rows if r.key == "niqe")
    assert niqe_row.label == "NIQE" and niqe_row.higher_is_better is False  # from the registry
    assert next(r for r in rows if r.key == "targets_kept").label == "targets kept"
    assert run_rows(REPORT, [pair, Pair("b.png", Path("in/b.png"), Path("out/b.png"), "image")]) and \
        {r.key for r in run_rows(REPORT, [pair])} == {"summary.targets_kept_mean", "summary.files",
                                                       "files[1].targets_kept"}


def test_report_keyed_by_file_name():
    report = {"a.png": {"targets_kept": 1.0}, "b.png": {"targets_kept": 0.0}}
    pair = Pair("a.png", Path("in/a.png"), Path("out/a.png"), "image")
    assert [(r.key, r.after) for r in report_rows(report, pair)] == [("targets_kept", 1.0)]
    assert [r.key for r in run_rows(report, [pair])] == ["b.png.targets_kept"]


def test_metric_info_from_registry_and_unknown_keys():
    assert metric_info("ssim")[:2] == ("SSIM", True)
    assert metric_info("psnr") == ("PSNR (dB)", True, "")  # the registry's display title carries the unit
    assert metric_info("fidelity.spots_invented") == ("spots invented", None, "")


def test_bad_report_is_a_clear_error(tmp_path):
    bad = tmp_path / "r.json"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(PocusiqError, match="r.json"):
        load_report(bad)
    bad.write_text(json.dumps(REPORT), encoding="utf-8")
    assert load_report(bad) == REPORT
