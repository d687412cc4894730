"""Adversarial benchmark runs (issue 13): metrics that cannot be computed must say so.

Before the fix NIQE on images under 96x192 raised for every image, the runner stored NaN with
status "ok", and the summary/report showed a bare "n/a" (or nothing) with 0 failures: a silent NaN.
"""

from __future__ import annotations

import json

from pocusiq.benchmark.runner import run_benchmark
from pocusiq.cli import main


def test_metric_that_fails_on_every_image_is_reported_with_its_reason(make_dataset, tmp_path, capsys):
    data = make_dataset(n=3, size=64)  # under NIQE's 96x192 minimum
    result = run_benchmark(data, ["identity", "median"], None, tmp_path / "bench", progress=False)
    niqe = result.summary["methods"]["median"]["metrics"]["niqe"]
    assert niqe["status"] == "n/a"
    assert niqe["n"] == 0 and niqe["n_unavailable"] == 3
    assert any("96x192" in reason for reason in niqe["unavailable_reasons"])
    assert result.summary["methods"]["median"]["metrics"]["ssim"]["status"] == "ok"
    warnings = result.summary["warnings"]
    assert any(w.startswith("niqe: n/a for median on 3 of 3 image(s)") and "96x192" in w for w in warnings), warnings
    report = result.paths["report_md"].read_text()
    assert "## Warnings" in report and "96x192" in report
    saved = json.loads(result.paths["summary_json"].read_text())
    assert saved["methods"]["identity"]["metrics"]["niqe"]["status"] == "n/a"

    rc = main(["benchmark", "--data", str(data), "--method", "identity", "--out", str(tmp_path / "cli"),
               "--no-progress", "--no-report"])
    out = capsys.readouterr().out
    assert rc == 0  # the methods themselves did not fail
    assert "WARNING: niqe: n/a for identity on 3 of 3 image(s)" in out and "96x192" in out


def test_metric_failing_on_some_images_is_partial(make_dataset, tmp_path, monkeypatch):
    import dataclasses

    import pocusiq.metrics as metrics

    calls = {"n": 0}
    original = metrics.METRICS["piqe"].function

    def flaky(image, **kwargs):
        calls["n"] += 1
        if calls["n"] <= 2:  # the first pair's input and target (pairs are scored one at a time)
            raise RuntimeError("flaky metric")
        return original(image, **kwargs)

    monkeypatch.setitem(metrics.METRICS, "piqe", dataclasses.replace(metrics.METRICS["piqe"], function=flaky))
    data = make_dataset(n=4, size=64)
    result = run_benchmark(data, ["identity"], None, tmp_path / "bench", progress=False, report=False)
    piqe = result.summary["methods"]["identity"]["metrics"]["piqe"]
    assert piqe["status"] == "partial" and piqe["n"] == 3 and piqe["n_unavailable"] == 1
    assert any("flaky metric" in w for w in result.summary["warnings"])


def test_region_metric_without_target_regions_says_why(make_dataset, tmp_path):
    data = make_dataset(n=2, size=64, masks=False)
    result = run_benchmark(data, ["identity"], None, tmp_path / "bench", progress=False, report=False)
    gcnr = result.summary["methods"]["identity"]["metrics"]["gcnr"]
    assert gcnr["status"] == "n/a"
    assert any("no target region" in reason for reason in gcnr["unavailable_reasons"])


def test_model_with_finite_weights_but_overflowing_outputs_is_a_failure(make_dataset, tmp_path):
    """A model whose weights load fine but whose outputs overflow to inf: before the fix the
    enhancer clamped/cast them into a white or black image scored as "ok" with 0 failures."""
    import torch

    from pocusiq.enhance.enhancer import Enhancer
    from pocusiq.enhance.tiling import TilingConfig

    class Overflow(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.tensor(3e38) * torch.tensor(3e38)  # float32 overflow -> +-inf

    enhancer = Enhancer(Overflow(), multiple=8, tiling=TilingConfig(multiple=8, tile_size=None), model_name="overflow")
    data = make_dataset(n=3, size=64)
    result = run_benchmark(data, {"identity": "identity", "overflow": enhancer}, None, tmp_path / "bench",
                           progress=False, report=False)
    failed = [f for f in result.failures if f["method"] == "overflow"]
    assert len(failed) == 3 and all("non-finite" in f["error"] for f in failed)
    assert result.summary["methods"]["overflow"]["n_ok"] == 0
