"""TrainConfig: dict/YAML/JSON round trips, presets, overrides and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from pocusiq.errors import ConfigError
from pocusiq.train.config import TrainConfig, apply_overrides, load_config, save_config
from pocusiq.train.presets import preset_config

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.mark.parametrize("suffix", [".yaml", ".json"])
def test_file_round_trip(tmp_path, suffix):
    config = preset_config("cpu")
    config.optim.lr = 1.5e-4
    config.data.crop = None
    path = tmp_path / f"c{suffix}"
    save_config(config, path)
    assert load_config(path) == config
    assert TrainConfig.from_dict(config.to_dict()) == config


def test_overrides_parse_and_type_check():
    config = apply_overrides(TrainConfig(), ["optim.lr=1e-4", "data.crop=null", "model.ngf=8", "data.flip=false"])
    assert config.optim.lr == 1e-4 and isinstance(config.optim.lr, float)
    assert config.data.crop is None and config.model.ngf == 8 and config.data.flip is False
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr'"):
        apply_overrides(TrainConfig(), ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="model.ngf: expected an integer, got 'wide'"):
        apply_overrides(TrainConfig(), ["model.ngf=wide"])
    with pytest.raises(ConfigError, match="must look like key=value or section.key=value"):
        apply_overrides(TrainConfig(), ["optim.lr"])


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  ngf: 8\n  widht: 3\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown config key\(s\) model.widht"):
        load_config(path)
    path.write_text("model: [1, 2\n")
    with pytest.raises(ConfigError, match="bad.yaml: not valid YAML"):
        load_config(path)


def test_preset_in_file_with_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("preset: cpu\noptim:\n  lr: 0.001\n")
    config = load_config(path, overrides=["max_steps=7"])
    expected = preset_config("cpu")
    expected.optim.lr = 0.001
    expected.max_steps = 7
    assert config == expected
    with pytest.raises(ConfigError, match="unknown preset 'gpu'"):
        preset_config("gpu")


def test_validation_messages():
    with pytest.raises(ConfigError, match=r"data.crop \(48\) must be a multiple of the generator's multiple = 32"):
        apply_overrides(TrainConfig(), ["model.depth=5", "data.crop=48"]).validate()
    with pytest.raises(ConfigError, match="loss.gan_mode"):
        apply_overrides(TrainConfig(), ["loss.gan_mode=wgan"]).validate()


def test_presets_are_as_documented():
    paper, cpu = preset_config("paper"), preset_config("cpu")
    assert (paper.model.ngf, paper.model.depth, paper.data.crop, paper.data.batch_size) == (64, 8, 256, 1)
    assert (paper.discriminator.ndf, paper.discriminator.n_layers) == (64, 3)
    assert (paper.optim.lr, paper.optim.beta1) == (2e-4, 0.5)
    assert cpu.model.ngf < paper.model.ngf and cpu.data.crop < paper.data.crop
    paper.validate()
    cpu.validate()


@pytest.mark.parametrize("name", ["paper", "cpu"])
def test_example_files_match_presets(name):
    path = EXAMPLES / f"train_{name}.yaml"
    config = load_config(path)
    expected = preset_config(name)
    expected.data.root = config.data.root
    expected.name = config.name
    assert config == expected
    assert yaml.safe_load(path.read_text())["preset"] == name


def test_presets_are_data_in_one_table():
    from pocusiq.train.presets import PRESETS

    config = preset_config("realtime")
    assert (config.model.arch, config.model.ngf, config.model.depth, config.model.norm, config.model.dropout) == (
        "lean", 16, 4, "batch", 0.0)
    assert config.preset == "realtime" and config.data.batch_size == 16
    PRESETS["cpu"]["model"]["ngf"] = 999  # presets.yaml, read once, is the only source
    try:
        assert preset_config("cpu").model.ngf == 999
    finally:
        PRESETS["cpu"]["model"]["ngf"] = 16


def test_file_errors_name_the_file(tmp_path):
    with pytest.raises(ConfigError, match=r"missing.yaml: training config not found"):
        load_config(tmp_path / "missing.yaml")
    path = tmp_path / "c.json"
    path.write_text('{"model": ')
    with pytest.raises(ConfigError, match=r"c.json: not valid JSON"):
        load_config(path)
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n")
    with pytest.raises(ConfigError, match=r"list.yaml: top level must be a mapping, got list"):
        load_config(path)
    path.write_text("preset: gpu\n")
    with pytest.raises(ConfigError, match=r"list.yaml: unknown preset 'gpu'"):
        load_config(path)
    path.write_text("preset: [cpu]\n")
    with pytest.raises(ConfigError, match=r"list.yaml: preset: expected a preset name, got \['cpu'\]"):
        load_config(path)
    path.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match=r"list.yaml: cannot read training config"):
        load_config(path)
