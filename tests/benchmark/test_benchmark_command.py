"""``pocusiq benchmark`` command line."""

from __future__ import annotations

import json
from pathlib import Path

from pocusiq.cli import main


def _protocol(tmp_path: Path) -> Path:
    path = tmp_path / "protocol.yaml"
    path.write_text("name: cli-test\nversion: 1\nmetrics: {names: [ssim, psnr, gcnr]}\nreport: {example_pairs: 1}\n")
    return path


def test_cli_runs_methods_and_writes_reports(make_dataset, tmp_path: Path, capsys) -> None:
    ds = make_dataset(n=2, size=64)
    out = tmp_path / "bench"
    argv = ["benchmark", "--data", str(ds), "--method", "median:size=3", "--method", "inv=benchmark_synthetic:invert",
            "--protocol", str(_protocol(tmp_path)), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "protocol cli-test v1" in printed and "computed 8, reused 0" in printed
    for label in ("input (identity)", "median:size=3", "inv", "target (high-end)"):
        assert label in printed
    for name in ("per_image.csv", "summary.json", "report.md", "report.html", "figures/boxplots.png", "figures/examples.png"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["methods"]["inv"]["spec"] == "benchmark_synthetic:invert"
    # A second run resumes.
    assert main([*argv, "--no-report"]) == 0
    assert "computed 0, reused 8" in capsys.readouterr().out


def test_cli_reports_failed_methods_with_exit_code_1(make_dataset, tmp_path: Path, capsys) -> None:
    ds = make_dataset(n=1, size=64)
    argv = ["benchmark", "--data", str(ds), "--method", "benchmark_synthetic:shrink", "--protocol", str(_protocol(tmp_path)),
            "--out", str(tmp_path / "o"), "--no-progress", "--no-report"]
    assert main(argv) == 1
    assert "FAILED: method 'benchmark_synthetic:shrink' failed on pair 'p0': returned shape (32, 32)" in capsys.readouterr().out


def test_cli_unknown_method_is_a_clear_error(make_dataset, tmp_path: Path, capsys) -> None:
    ds = make_dataset(n=1, size=64)
    assert main(["benchmark", "--data", str(ds), "--method", "wavelet", "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "pocusiq benchmark: error: unknown method 'wavelet': built-in methods are identity, median" in err


def test_cli_missing_dataset(tmp_path: Path, capsys) -> None:
    assert main(["benchmark", "--data", str(tmp_path / "none"), "--method", "median", "--out", str(tmp_path / "o")]) == 2
    assert "manifest not found" in capsys.readouterr().err


def test_cli_bad_limit_exits_2_with_a_message(make_dataset, tmp_path: Path, capsys) -> None:
    ds = make_dataset(n=1, size=64)
    assert main(["benchmark", "--data", str(ds), "--method", "median", "--limit", "0", "--out", str(tmp_path / "o")]) == 2
    assert "pocusiq benchmark: error: limit must be a positive number of pairs, got 0" in capsys.readouterr().err
