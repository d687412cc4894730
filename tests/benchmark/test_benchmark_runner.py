"""run_benchmark on tiny datasets: outputs, failures, resume, metrics, reports."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from benchmark_synthetic import invert, shrink

import pocusiq.metrics as metrics
from pocusiq.benchmark.baselines import median
from pocusiq.benchmark.protocol import PreprocessingSettings, protocol_from_dict
from pocusiq.benchmark.report import results_table
from pocusiq.benchmark.runner import check_method_output, prepare_image, run_benchmark
from pocusiq.imaging.grey import read_grey_image
from pocusiq.errors import ConfigError, DatasetError

FAST = protocol_from_dict(
    {"name": "test-fast", "version": 1, "metrics": {"names": ["ssim", "psnr", "gcnr"]}, "report": {"example_pairs": 2}}
)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


class Counting:
    """A method that counts its calls (and can fail on chosen calls)."""

    def __init__(self, interrupt_on: int | None = None) -> None:
        self.calls = 0
        self.interrupt_on = interrupt_on

    def __call__(self, image: np.ndarray) -> np.ndarray:
        self.calls += 1
        if self.calls == self.interrupt_on:
            raise KeyboardInterrupt
        return median(image, size=3)


def test_outputs_tables_and_known_values(make_dataset, tmp_path: Path) -> None:
    ds = make_dataset(n=4, size=64)
    out = tmp_path / "bench"
    result = run_benchmark(ds, ["median", "srad"], FAST, out)

    assert [m.name for m in result.methods] == ["identity", "median", "srad"]  # identity added first
    rows = _csv_rows(out / "per_image.csv")
    assert len(rows) == 4 * 4  # 4 pairs x (identity, median, srad, target)
    assert {r["method"] for r in rows} == {"identity", "median", "srad", "target"}
    assert all(r["status"] == "ok" and r["protocol_hash"] == FAST.hash for r in rows)

    # The input column is the unprocessed low image scored against the high image.
    low = read_grey_image(ds / "low" / "p1.png")
    high = read_grey_image(ds / "high" / "p1.png")
    row = next(r for r in rows if r["method"] == "identity" and r["pair_id"] == "p1")
    assert float(row["ssim"]) == pytest.approx(metrics.ssim(low, high), rel=1e-5)
    assert float(row["psnr"]) == pytest.approx(metrics.psnr(low, high), rel=1e-5)
    # gCNR: the cyst mask against the default ring (gap 2 px, width 8 px).
    cyst = read_grey_image(ds / "masks" / "p1_cysts.png") > 0
    ring = metrics.background_ring(cyst, width=8, gap=2)
    assert float(row["gcnr"]) == pytest.approx(metrics.gcnr(low, cyst, ring), rel=1e-5)
    target = next(r for r in rows if r["method"] == "target" and r["pair_id"] == "p1")
    assert target["ssim"] == "" and float(target["gcnr"]) == pytest.approx(metrics.gcnr(high, cyst, ring), rel=1e-5)

    summary = json.loads((out / "summary.json").read_text())
    assert summary["protocol"]["hash"] == FAST.hash
    assert summary["protocol"]["settings"]["metrics"]["names"] == ["ssim", "psnr", "gcnr"]
    assert summary["seeds"]["protocol_seed"] == 0
    assert {"python", "pocusiq", "numpy", "scikit-image"} <= set(summary["versions"])
    ssims = [float(r["ssim"]) for r in rows if r["method"] == "median"]
    stats = summary["methods"]["median"]["metrics"]["ssim"]
    assert stats["mean"] == pytest.approx(np.mean(ssims), rel=1e-4)
    assert stats["std"] == pytest.approx(np.std(ssims, ddof=1), rel=1e-3)
    assert stats["n"] == 4

    md = (out / "report.md").read_text()
    assert FAST.hash in md
    for label in ("| input (identity) |", "| median |", "| srad |", "| target (high-end) |"):
        assert label in md
    assert "| Method | SSIM ↑ | PSNR (dB) ↑ | gCNR ↑ |" in md
    assert "→" in md
    page = (out / "report.html").read_text()
    assert "<td>median</td>" in page and "data:image/png;base64," in page and FAST.hash in page
    for figure in ("figures/examples.png", "figures/boxplots.png"):
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out.rglob(".*.tmp*"))  # no leftover temporary files


def test_failing_methods_are_reported_and_others_complete(make_dataset, tmp_path: Path) -> None:
    ds = make_dataset(n=3, size=64)

    def nan_output(image):
        return np.full(image.shape, np.nan)

    def raises(image):
        raise RuntimeError("boom")

    def unit_range(image):
        return image / 255.0

    def fails_on_p1(image):
        if image.dtype == np.uint8 and np.array_equal(image, read_grey_image(ds / "low" / "p1.png")):
            raise ValueError("only p1")
        return image.copy()

    methods = {"good": invert, "small": shrink, "nan": nan_output, "boom": raises, "unit": unit_range, "picky": fails_on_p1}
    result = run_benchmark(ds, methods, FAST, tmp_path / "out", report=True)

    errors = {(f["method"], f["pair_id"]): f["error"] for f in result.failures}
    assert len(errors) == 4 * 3 + 1
    assert errors[("small", "p0")] == "method 'small' failed on pair 'p0': returned shape (32, 32), expected (64, 64) (the input's shape)"
    assert errors[("nan", "p2")] == "method 'nan' failed on pair 'p2': returned NaN or infinite values"
    assert errors[("boom", "p1")] == "method 'boom' failed on pair 'p1': raised RuntimeError: boom"
    assert errors[("unit", "p0")].startswith("method 'unit' failed on pair 'p0': returned float64 values in [0, 1")
    assert errors[("unit", "p0")].endswith("expected uint8 like its input (range 0..255)")
    assert errors[("picky", "p1")] == "method 'picky' failed on pair 'p1': raised ValueError: only p1"
    assert ("picky", "p0") not in errors

    summary = result.summary["methods"]
    assert summary["good"]["n_ok"] == 3 and summary["good"]["n_failed"] == 0
    assert summary["picky"]["n_ok"] == 2 and summary["picky"]["n_failed"] == 1
    assert summary["boom"]["metrics"]["ssim"]["mean"] is None
    md = (tmp_path / "out" / "report.md").read_text()
    assert "## Failures (13)" in md and "method 'boom' failed on pair 'p1'" in md


def test_resume_skips_done_work_and_redoes_changed_work(make_dataset, tmp_path: Path) -> None:
    ds = make_dataset(n=4, size=64)
    out = tmp_path / "out"
    method = Counting()
    first = run_benchmark(ds, {"m": method}, FAST, out, report=False)
    assert method.calls == 4 and first.computed == 4 * 3

    again = run_benchmark(ds, {"m": method}, FAST, out, report=False)
    assert method.calls == 4 and again.computed == 0 and again.skipped == 12
    assert len(_csv_rows(out / "per_image.csv")) == 12
    assert again.summary["methods"]["m"]["metrics"]["psnr"] == first.summary["methods"]["m"]["metrics"]["psnr"]

    # A new method runs alone; the others are reused.
    extra = Counting()
    run_benchmark(ds, {"m": method, "extra": extra}, FAST, out, report=False)
    assert (method.calls, extra.calls) == (4, 4)

    # Another protocol (different hash) recomputes; so does fresh.
    changed = protocol_from_dict({"name": "test-fast", "version": 1, "metrics": {"names": ["ssim", "psnr", "gcnr"], "border_px": 2}})
    run_benchmark(ds, {"m": method}, changed, out, report=False)
    assert method.calls == 8
    run_benchmark(ds, {"m": method}, FAST, out, report=False, resume=False)
    assert method.calls == 12
    # The CSV holds only the current configuration's rows.
    assert len(_csv_rows(out / "per_image.csv")) == 12


def test_interrupted_run_keeps_results_and_resumes(make_dataset, tmp_path: Path) -> None:
    ds = make_dataset(n=4, size=64)
    out = tmp_path / "out"
    method = Counting(interrupt_on=3)
    with pytest.raises(KeyboardInterrupt):
        run_benchmark(ds, {"m": method}, FAST, out, report=False)
    kept = _csv_rows(out / "per_image.csv")  # written on the way out
    assert sorted(r["pair_id"] for r in kept if r["method"] == "m") == ["p0", "p1"]

    # Simulate a kill in the middle of a journal line: the torn tail is ignored and cut.
    with open(out / "journal.jsonl", "ab") as handle:
        handle.write(b'{"method": "m", "pair_id": "p2", "sta')
    result = run_benchmark(ds, {"m": method}, FAST, out, report=False)
    assert method.calls == 3 + 2  # only p2 and p3 were run again
    assert result.summary["methods"]["m"]["n_ok"] == 4
    lines = (out / "journal.jsonl").read_bytes().split(b"\n")
    assert lines[-1] == b"" and all(json.loads(line) for line in lines[:-1])


def test_failures_are_retried_on_resume(make_dataset, tmp_path: Path) -> None:
    ds = make_dataset(n=2, size=64)
    state = {"broken": True}

    def flaky(image):
        if state["broken"]:
            raise RuntimeError("not yet")
        return image.copy()

    first = run_benchmark(ds, {"flaky": flaky}, FAST, tmp_path / "out", report=False)
    assert len(first.failures) == 2
    state["broken"] = False
    second = run_benchmark(ds, {"flaky": flaky}, FAST, tmp_path / "out", report=False)
    assert second.failures == [] and second.summary["methods"]["flaky"]["n_ok"] == 2


def test_no_reference_metrics_are_computed_once_per_output_image(make_dataset, tmp_path: Path, monkeypatch) -> None:
    ds = make_dataset(n=2, size=(96, 192))
    calls = {"niqe": 0, "piqe": 0}
    niqe = metrics.niqe

    def counted(name):
        original = getattr(metrics, name)

        def wrapper(x, **kwargs):
            calls[name] += 1
            return original(x, **kwargs)

        return wrapper

    import dataclasses

    for name in ("niqe", "piqe"):  # the runner calls what the registry lists
        monkeypatch.setitem(metrics.METRICS, name, dataclasses.replace(metrics.METRICS[name], function=counted(name)))
    protocol = protocol_from_dict({"name": "t", "version": 1, "metrics": {"names": ["psnr", "niqe", "piqe"]}, "report": {"example_pairs": 0}})
    result = run_benchmark(ds, ["median"], protocol, tmp_path / "out", report=False)
    assert calls == {"niqe": 2 * 3, "piqe": 2 * 3}  # (identity, median, target) per pair
    rows = _csv_rows(tmp_path / "out" / "per_image.csv")
    assert all(r["niqe"] and r["piqe"] for r in rows)
    low = read_grey_image(ds / "low" / "p0.png")
    identity_row = next(r for r in rows if r["method"] == "identity" and r["pair_id"] == "p0")
    assert float(identity_row["niqe"]) == pytest.approx(niqe(low), rel=1e-5)
    assert result.summary["target"]["metrics"]["niqe"]["n"] == 2
    run_benchmark(ds, ["median"], protocol, tmp_path / "out", report=False)
    assert calls == {"niqe": 6, "piqe": 6}


def test_gcnr_is_na_without_masks(make_dataset, tmp_path: Path) -> None:
    ds = make_dataset(n=2, size=64, masks=False)
    result = run_benchmark(ds, ["median"], FAST, tmp_path / "out", report=False)
    rows = _csv_rows(tmp_path / "out" / "per_image.csv")
    assert all(r["gcnr"] == "" and r["metric_errors"] == "" for r in rows)
    assert result.summary["methods"]["median"]["metrics"]["gcnr"]["mean"] is None
    header, table = results_table(result.summary)
    assert header[3] == "gCNR ↑"
    assert [row[3] for row in table] == ["n/a", "n/a", "n/a"]  # input, median, target


def test_split_limit_and_empty_split(make_dataset, tmp_path: Path) -> None:
    ds = make_dataset(n=3, size=64, split="train")
    with pytest.raises(DatasetError, match=r"no pairs in split 'test' \(pairs per split: train 3\)"):
        run_benchmark(ds, ["median"], FAST, tmp_path / "out")
    result = run_benchmark(ds, ["median"], FAST, tmp_path / "out", split="train", limit=2, report=False)
    assert result.summary["dataset"]["pair_ids"] == ["p0", "p1"]
    assert result.protocol.split == "train" and result.protocol.hash != FAST.hash


def test_unknown_metric_option_is_a_config_error(make_dataset, tmp_path: Path) -> None:
    # refused when the protocol is read (the registry lists each metric's options), before any run
    with pytest.raises(ConfigError, match=r"metrics.ssim: pocusiq.metrics.ssim has no option\(s\) 'window'"):
        protocol_from_dict({"name": "t", "version": 1, "metrics": {"names": ["ssim"], "ssim": {"window": 7}}})


def test_check_method_output() -> None:
    image = np.zeros((4, 5), np.uint8)
    assert check_method_output(image.copy(), image) is None
    assert check_method_output([[0]], image) == "returned list, expected a numpy array"
    assert check_method_output(np.zeros((4, 5), np.uint16), image) == "returned uint16 values in [0, 0], expected uint8 like its input (range 0..255)"
    assert check_method_output(np.full((4, 5), np.inf), image) == "returned NaN or infinite values"


def test_prepare_image_converts_and_resizes() -> None:
    image16 = np.full((10, 12), 257 * 200, np.uint16)
    out = prepare_image(image16, PreprocessingSettings())
    assert out.dtype == np.uint8 and (out == 200).all()
    out = prepare_image(image16, PreprocessingSettings(dtype="native", resize=(20, 24)))
    assert out.shape == (20, 24) and out.dtype == np.uint16 and (out == 257 * 200).all()
    mask = np.zeros((10, 12), bool)
    mask[:5] = True
    resized = prepare_image(mask, PreprocessingSettings(resize=(20, 24)), mask=True)
    assert resized.dtype == bool and resized[:10].all() and not resized[10:].any()


def test_model_checkpoint_method_end_to_end(make_dataset, tmp_path: Path) -> None:
    """``model:PATH`` runs a trained generator checkpoint through pocusiq.Enhancer."""
    from pocusiq.models import build_generator
    from pocusiq.train.checkpoints import save_checkpoint
    from pocusiq.train.config import ModelConfig, TrainConfig

    model = ModelConfig(ngf=4, depth=3)
    checkpoint = save_checkpoint(tmp_path / "run" / "best.safetensors", generator=build_generator(model), config=TrainConfig(model=model))
    ds = make_dataset(n=2, size=64)
    result = run_benchmark(ds, {"gan": f"model:{checkpoint}"}, FAST, tmp_path / "out", report=False)
    assert result.failures == []
    assert result.summary["methods"]["gan"]["n_ok"] == 2
    assert result.summary["methods"]["gan"]["spec"] == f"model:{checkpoint}"


def test_native_protocol_scores_a_mixed_bit_depth_pair_on_16_bits(tmp_path: Path) -> None:
    from pocusiq.benchmark.runner import load_pair
    from pocusiq.data.manifest import read_manifest
    from pocusiq.data.writer import PairedDatasetWriter

    rng = np.random.default_rng(5)
    high8 = rng.integers(0, 256, (32, 32), dtype=np.uint8)
    low16 = high8.astype(np.uint16) * np.uint16(257)  # the same image, stored on 16 bits
    with PairedDatasetWriter(tmp_path / "ds") as writer:
        writer.add("p0", low16, high8, split="test", source="real", specimen="s0")
    native = protocol_from_dict({"name": "n", "version": 1, "preprocessing": {"dtype": "native"},
                                 "metrics": {"names": ["ssim", "psnr"]}})
    pair = load_pair(tmp_path / "ds", read_manifest(tmp_path / "ds")[0], native)
    assert pair.low.dtype == pair.high.dtype == np.uint16
    np.testing.assert_array_equal(pair.high, low16)
    # The identity method's output equals the target: SSIM 1, PSNR inf (not n/a from a dtype clash).
    result = run_benchmark(tmp_path / "ds", ["identity"], native, tmp_path / "out", report=False)
    [record] = [r for r in result.records if r["method"] == "identity"]
    assert record["ssim"] == pytest.approx(1.0) and record["psnr"] == np.inf and record["metric_errors"] == ""
