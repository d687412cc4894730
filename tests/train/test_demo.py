"""The demo pipeline end to end at toy scale (a few steps; learning is checked elsewhere)."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from pocusiq.train.checkpoints import load_checkpoint
from pocusiq.train.demo import DemoConfig, fidelity_section, format_table, run_demo


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
    # the report's table is the per-image scores' mean ± std (population std, as format_table)
    ssim_in = np.array([float(r["ssim_input"]) for r in rows])
    ssim_out = np.array([float(r["ssim_enhanced"]) for r in rows])
    assert f"| SSIM | {ssim_in.mean():.3f} ± {ssim_in.std():.3f} | {ssim_out.mean():.3f} ± {ssim_out.std():.3f} |" in report
    assert "trained 2 of 2 steps" in report and f"`{result.checkpoint.name}`" in report
    assert "| keeps every target |" in report and "| wire width ratio (max) |" in report
    # re-running reuses the simulated data and the finished run: no file rewritten, no new steps
    kept = {p: p.stat().st_mtime_ns for p in [*(out / "data").rglob("*.png"), out / "last.safetensors"]}
    assert len(kept) > 1
    again = run_demo(config)
    assert again.steps == 2 and again.checkpoint == result.checkpoint
    assert {p: p.stat().st_mtime_ns for p in kept} == kept
    with pytest.raises(ValueError, match="n_pairs must be >= 20"):
        run_demo(DemoConfig(out=str(out), n_pairs=5))


def test_format_table_mean_and_std():
    rows = [{"metric": "SSIM", "better": "higher", "input": np.array([0.2, 0.4]), "enhanced": np.array([0.5, 0.5])}]
    table = format_table(rows, 2)
    assert "| SSIM | 0.300 ± 0.100 | 0.500 ± 0.000 | higher |" in table


def test_fidelity_section_identity_keeps_everything_and_blur_does_not():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    low = np.clip(ndimage.gaussian_filter(rng.rayleigh(size=(128, 128)), 1.0) / 3, 0, 1)
    low[60:63, 60:63] = 1.0  # a wire
    same = fidelity_section([{"id": "a", "low": low, "enhanced": low.copy()}])
    assert "| keeps every target | 1.00 | 1.00 | higher |" in same
    blurred = fidelity_section([{"id": "a", "low": low, "enhanced": ndimage.gaussian_filter(low, 3.0)}])
    assert "| keeps every target | 0.00 | 0.00 | higher |" in blurred
