"""The demo pipeline end to end at toy scale (a few steps; learning is checked elsewhere)."""

from __future__ import annotations

import csv

import pytest

from pocusiq.train.checkpoints import load_checkpoint
from pocusiq.train.demo import DemoConfig, format_table, run_demo


@pytest.mark.slow
def test_demo_writes_report_figure_checkpoint_and_reuses_them(tmp_path, capsys):
    out = tmp_path / "runs" / "demo"
    config = DemoConfig(out=str(out), n_pairs=20, size=64, steps=2, threads=1, progress=False)
    result = run_demo(config)
    assert result.steps == 2 and result.n_test >= 1
    report = (out / "report.md").read_text()
    assert "| SSIM |" in report and "| PSNR (dB) |" in report and "±" in report
    assert (out / "triplets.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with open(out / "test_metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == result.n_test
    assert load_checkpoint(result.checkpoint).config.preset == "cpu"
    # re-running reuses the simulated data and the finished run (no new steps)
    again = run_demo(config)
    assert again.steps == 2
    assert again.timings["simulate_s"] < result.timings["simulate_s"] + 5
    with pytest.raises(ValueError, match="n_pairs must be >= 20"):
        run_demo(DemoConfig(out=str(out), n_pairs=5))


def test_format_table_mean_and_std():
    import numpy as np

    rows = [{"metric": "SSIM", "better": "higher", "input": np.array([0.2, 0.4]), "enhanced": np.array([0.5, 0.5])}]
    table = format_table(rows, 2)
    assert "| SSIM | 0.300 ± 0.100 | 0.500 ± 0.000 | higher |" in table
