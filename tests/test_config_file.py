"""pocusiq.config_file: YAML/JSON settings files and the errors that name them."""

from __future__ import annotations

import pytest

from pocusiq.config_file import read_config_file
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
