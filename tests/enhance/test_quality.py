"""``pocusiq enhance --report``: quality.json / quality.md with NIQE/PIQE and fidelity, before vs after."""

from __future__ import annotations

import json
import math

import numpy as np
from PIL import Image

from pocusiq.cli import main
from pocusiq.enhance.quality import QUALITY_JSON, QUALITY_MD, grey_uint8, score_still
from pocusiq.imaging.region import resolve_region

from .synthetic import screenshot_frame as _small_screenshot


def screenshot_frame(seed):
    """The test screenshot at twice its size (NIQE needs two 96 x 96 blocks in the region)."""
    frame, box = _small_screenshot(seed=seed)
    return np.repeat(np.repeat(frame, 2, axis=0), 2, axis=1), tuple(2 * v for v in box)


def test_identity_scores_perfect_inside_the_region():
    frame, box = screenshot_frame(seed=3)
    region = resolve_region(frame, "auto")
    values, failures = score_still(frame, frame.copy(), region)
    assert failures == "" and values["keeps_every_target"] == 1.0
    assert values["niqe_before"] == values["niqe_after"] and values["piqe_before"] == values["piqe_after"]
    assert values["invented_blobs"] == 0 and values["streak_ratio"] == 1.0


def test_a_painted_streak_is_reported():
    frame, box = screenshot_frame(seed=3)
    region = resolve_region(frame, "auto")
    x, y, w, h = region.box
    out = frame.copy()
    out[y + h // 2 : y + h // 2 + 2, x : x + w] = 255  # a bright line across the imaging region
    values, failures = score_still(frame, out, region)
    assert values["keeps_every_target"] == 0.0 and values["streak_ratio"] > 1.5 and "streak" in failures


def test_grey_uint8_conversions():
    rgb = np.zeros((2, 2, 3), np.uint16)
    rgb[0, 0] = (65535, 65535, 65535)
    grey, sat = grey_uint8(rgb)
    assert grey[0, 0] == 255 and grey[1, 1] == 0 and sat.max() == 0
    grey, sat = grey_uint8(np.full((2, 2), 0.5, np.float32))
    assert grey[0, 0] == 128 and sat is None


def test_cli_report_writes_flat_json_and_table(tiny_checkpoint, tmp_path, capsys):
    frame, _ = screenshot_frame(seed=1)
    Image.fromarray(frame).save(tmp_path / "shot.png")
    out = tmp_path / "o"
    code = main(["enhance", str(tmp_path / "shot.png"), "--model", str(tiny_checkpoint), "--out", str(out),
                 "--engine", "torch", "--report"])
    assert code == 0
    data = json.loads((out / QUALITY_JSON).read_text())
    assert list(data) == ["shot.png"]
    row = data["shot.png"]
    for key in ("niqe_before", "niqe_after", "piqe_before", "piqe_after", "point_contrast_kept",
                "gcnr_change", "invented_blobs", "streak_ratio", "keeps_every_target"):
        assert key in row
    assert all(v is None or (isinstance(v, (int, float)) and math.isfinite(v)) for v in row.values())
    assert row["keeps_every_target"] in (0.0, 1.0)
    table = (out / QUALITY_MD).read_text()
    assert "| shot.png |" in table and "not for diagnosis" in table
    assert "report: shot.png: NIQE" in capsys.readouterr().out
