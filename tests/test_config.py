"""pocusiq.config (the one config toolkit): files, dataclasses, --set overrides, checks; errors name file and key."""

from __future__ import annotations

import pytest

from pocusiq.config import read_config_file
from pocusiq.errors import ConfigError


def test_reads_yaml_and_json(tmp_path):
    (tmp_path / "a.yaml").write_text("x: [1, 2.5]\nname: probe\n")
    (tmp_path / "b.json").write_text('{"x": [1, 2.5], "name": "probe"}')
    assert read_config_file(tmp_path / "a.yaml") == read_config_file(tmp_path / "b.json") == {"x": [1, 2.5], "name": "probe"}
    (tmp_path / "empty.yaml").write_text("")
    assert read_config_file(tmp_path / "empty.yaml") is None


def test_errors_name_the_file_and_the_problem(tmp_path):
    with pytest.raises(ConfigError, match=r"none\.yaml: plan file not found"):
        read_config_file(tmp_path / "none.yaml", "plan file")
    (tmp_path / "bad.yaml").write_text("x: [1, 2\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: not valid YAML"):
        read_config_file(tmp_path / "bad.yaml")
    (tmp_path / "bad.json").write_text("{'x': 1}")
    with pytest.raises(ConfigError, match=r"bad\.json: not valid JSON"):
        read_config_file(tmp_path / "bad.json")
    (tmp_path / "latin1.yaml").write_bytes("name: \xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError, match=r"latin1\.yaml: cannot read protocol file"):
        read_config_file(tmp_path / "latin1.yaml", "protocol file")
    with pytest.raises(ConfigError, match="cannot read config file"):
        read_config_file(tmp_path)  # a folder
    (tmp_path / "obj.yaml").write_text("x: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(ConfigError, match="not valid YAML"):  # safe_load builds no Python objects
        read_config_file(tmp_path / "obj.yaml")


# ---- the config toolkit (pocusiq.config) ----------------------------------------------------
from dataclasses import dataclass, field  # noqa: E402

from pocusiq import config as cfgkit  # noqa: E402


@dataclass
class _Inner:
    gain: float = cfgkit.setting(1.0, ge=0.0, le=10.0)
    mode: str = cfgkit.setting("a", choices=("a", "b"))


@dataclass
class _Outer:
    name: str = "run"
    count: int = cfgkit.setting(1, ge=1)
    size: tuple[int, int] | None = None
    inner: _Inner = field(default_factory=_Inner)


def test_toolkit_round_trip_and_coercion():
    obj = cfgkit.from_dict(_Outer, {"count": 3.0, "size": [4, 5], "inner": {"gain": 2}})
    assert obj == _Outer(count=3, size=(4, 5), inner=_Inner(gain=2.0))
    assert isinstance(obj.inner.gain, float) and isinstance(obj.count, int)
    assert cfgkit.from_dict(_Outer, cfgkit.to_dict(obj)) == obj


def test_toolkit_errors_name_file_and_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("inner:\n  gian: 2\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: unknown config key\(s\) inner\.gian; valid: gain, mode"):
        cfgkit.load(_Outer, path)
    path.write_text("inner:\n  gain: 11\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: inner\.gain must be in \[0.0, 10.0\], got 11"):
        cfgkit.load(_Outer, path)
    path.write_text("count: .inf\n")
    with pytest.raises(ConfigError, match=r"c\.yaml: count: expected an integer, got inf"):
        cfgkit.load(_Outer, path)
    path.write_text("inner: {gain: .nan}\n")
    with pytest.raises(ConfigError, match=r"inner\.gain must be a finite number"):
        cfgkit.load(_Outer, path)


def test_set_overrides_keep_strings_and_parse_the_rest():
    obj = cfgkit.load(_Outer, data={}, overrides=["name=007", "count=4", "inner.mode=b", "size=[8, 9]"])
    assert obj.name == "007" and obj.count == 4 and obj.inner.mode == "b" and obj.size == (8, 9)
    with pytest.raises(ConfigError, match=r"unknown config key 'inner.gian'"):
        cfgkit.load(_Outer, data={}, overrides=["inner.gian=1"])
    with pytest.raises(ConfigError, match=r"inner\.mode must be one of 'a', 'b', got 'c'"):
        cfgkit.load(_Outer, data={}, overrides=["inner.mode=c"])
    # schema-free data (plans, protocols): dotted keys and list indices
    data = cfgkit.apply_overrides({"devices": [{"p": "x"}, {"p": "y"}]}, ["devices.1.p=z", "settle_s=0.5"])
    assert data == {"devices": [{"p": "x"}, {"p": "z"}], "settle_s": 0.5}
    with pytest.raises(ConfigError, match=r"no item 5 in a list of 2"):
        cfgkit.apply_overrides({"devices": [{}, {}]}, ["devices.5.p=z"])
