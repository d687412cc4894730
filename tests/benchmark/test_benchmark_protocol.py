"""Benchmark protocol files: defaults, hash behaviour, validation messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pocusiq.benchmark.protocol import BenchmarkProtocol, default_protocol_path, load_protocol, protocol_from_dict
from pocusiq.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]


def _write(tmp_path: Path, text: str, name: str = "p.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_shipped_default_matches_the_dataclass_defaults() -> None:
    loaded = load_protocol()
    assert loaded.hash == BenchmarkProtocol().hash
    assert loaded.source == "<package default>"
    assert default_protocol_path().name == "default.yaml"
    assert loaded.metrics.names[:5] == ("ssim", "psnr", "niqe", "piqe", "gcnr")
    assert "keeps_every_target" in loaded.metrics.names and "point_contrast_kept" in loaded.metrics.names


@pytest.mark.parametrize("example", sorted((REPO / "examples").glob("protocol*.yaml")))
def test_examples_load(example: Path) -> None:
    protocol = load_protocol(example)
    assert protocol.name and protocol.version >= 1


def test_hash_ignores_comments_key_order_and_report_settings(tmp_path: Path) -> None:
    a = _write(tmp_path, "name: x\nversion: 2\nsplit: val\nmetrics: {border_px: 3}\n", "a.yaml")
    b = _write(tmp_path, "# comment\nmetrics:\n  border_px: 3\nsplit: val\nversion: 2\nname: x\nreport: {example_pairs: 7}\n", "b.yaml")
    assert load_protocol(a).hash == load_protocol(b).hash


@pytest.mark.parametrize(
    "change",
    [
        {"split": "val"},
        {"seed": 1},
        {"version": 2},
        {"name": "other"},
        {"preprocessing": {"resize": [128, 128]}},
        {"preprocessing": {"dtype": "native"}},
        {"metrics": {"border_px": 4}},
        {"metrics": {"names": ["ssim", "psnr"]}},
        {"metrics": {"ssim": {"data_range": 255}}},
        {"metrics": {"regions": {"ring_width_px": 5}}},
        {"metrics": {"regions": {"valid_mask": None}}},
    ],
)
def test_hash_changes_when_a_setting_changes(change: dict) -> None:
    base = {"name": "pocusiq-default", "version": 1}
    assert protocol_from_dict(base).hash == BenchmarkProtocol().hash
    assert protocol_from_dict({**base, **change}).hash != BenchmarkProtocol().hash


def test_with_split_overrides_and_rehashes() -> None:
    protocol = BenchmarkProtocol()
    assert protocol.with_split("val").split == "val"
    assert protocol.with_split("val").hash != protocol.hash
    with pytest.raises(ConfigError, match="split 'dev': expected one of train, val, test"):
        protocol.with_split("dev")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\n", "missing name (a protocol must state its name and version)"),
        ("name: x\nversion: 1\nsplitt: test\n", "unknown config key(s) splitt; valid: metrics, name"),
        ("name: x\nversion: 1\nmetrics: {names: [ssim, fid]}\n", "metrics.names[1] must be one of 'ssim', 'psnr', 'niqe', 'piqe', 'gcnr', 'cnr', 'point_contrast_kept'"),
        ("name: x\nversion: 1\nmetrics: {regions: {ring_gap: 2}}\n", "unknown config key(s) metrics.regions.ring_gap; valid: masks"),
        ("name: x\nversion: 1\nmetrics: {border_px: -1}\n", "metrics.border_px must be >= 0, got -1"),
        ("name: x\nversion: one\n", "version: expected an integer, got 'one'"),
        ("name: x\nversion: 1\nsplit: dev\n", "split must be one of 'train', 'val', 'test', got 'dev'"),
        ("name: x\nversion: 1\npreprocessing: {resize: [64]}\n", "preprocessing.resize: expected 2 values, got 1"),
        ("name: x\nversion: 1\npreprocessing: {dtype: float}\n", "preprocessing.dtype must be one of 'uint8', 'native', got 'float'"),
        ("- a\n- b\n", "a protocol must be a YAML mapping, got list"),
        ("name: [unclosed\n", "not valid YAML"),
        ("name: x\nversion: 1\nmetrics: {ssim: {win: 3}}\n", "metrics.ssim: pocusiq.metrics.ssim has no option(s) 'win'"),
        ("name: x\nversion: 1\npreprocessing: {resize: [4, 64]}\n", "preprocessing.resize[0] must be >= 8, got 4"),
        ("name: x\nversion: 1\nseed: .nan\n", "seed: expected an integer, got nan"),
    ],
)
def test_bad_protocols_name_the_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_protocol(path)
    assert str(path) in str(info.value)
    assert message in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="protocol file not found"):
        load_protocol(tmp_path / "nope.yaml")


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    original = protocol_from_dict({"name": "rt", "version": 3, "metrics": {"names": ["psnr", "gcnr"], "psnr": {"data_range": 255}}})
    path = _write(tmp_path, yaml.safe_dump(original.to_dict()))
    assert load_protocol(path).hash == original.hash
    assert load_protocol(path).to_dict() == original.to_dict()


def test_set_overrides_change_the_protocol_and_its_hash(tmp_path: Path) -> None:
    base = load_protocol()
    changed = load_protocol(None, ["metrics.border_px=4", "metrics.gcnr.bins=64"])
    assert changed.metrics.border_px == 4 and changed.metrics.options["gcnr"] == {"bins": 64}
    assert changed.hash != base.hash and "--set" in changed.source
    with pytest.raises(ConfigError, match=r"metrics.border_px must be >= 0, got -2"):
        load_protocol(None, ["metrics.border_px=-2"])
