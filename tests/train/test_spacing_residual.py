"""spacing_mm in checkpoint metadata (from the dataset manifest) and the residual generator."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pocusiq.errors import CheckpointError, ConfigError
from pocusiq.models.builder import build_generator
from pocusiq.train.checkpoints import load_checkpoint, save_checkpoint
from pocusiq.train.config import ModelConfig


def test_residual_generator_starts_as_identity_and_learns(make_config, tmp_path):
    model = build_generator(ModelConfig(ngf=4, depth=3, residual=True, dropout=0.0))
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    assert torch.equal(model(x), x)
    plain = build_generator(ModelConfig(ngf=4, depth=3, dropout=0.0))
    assert not torch.allclose(plain(x), x, atol=1e-2)
    # it is trainable: one step moves it off the identity
    opt = torch.optim.Adam(model.parameters(), 1e-2)
    loss = (model(x) - 0.5 * x).abs().mean()
    loss.backward()
    opt.step()
    assert not torch.equal(model(x), x)
    with pytest.raises(ConfigError, match="residual"):
        ModelConfig(in_channels=2, out_channels=1, residual=True).validate()


def test_spacing_round_trips_and_bad_values_fail(tmp_path, make_config):
    config = make_config(tmp_path)
    gen = build_generator(config.model)
    path = save_checkpoint(tmp_path / "a.safetensors", generator=gen, config=config, spacing_mm=0.0586)
    assert load_checkpoint(path).spacing_mm == pytest.approx(0.0586)
    path = save_checkpoint(tmp_path / "b.safetensors", generator=gen, config=config)
    assert load_checkpoint(path).spacing_mm is None
    with pytest.raises(ValueError, match="spacing_mm"):
        save_checkpoint(tmp_path / "c.safetensors", generator=gen, config=config, spacing_mm=-1.0)
    # a hand-edited file with a nonsense spacing is refused on load, naming the file
    from safetensors.torch import load_file, save_file
    from safetensors import safe_open

    with safe_open(str(path), "pt") as handle:
        meta = dict(handle.metadata())
    meta["spacing_mm"] = "abc"
    save_file(load_file(str(path)), str(tmp_path / "d.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match="d.safetensors.*spacing_mm"):
        load_checkpoint(tmp_path / "d.safetensors")


def test_training_records_the_manifest_spacing(tmp_path, make_config):
    from pocusiq.data.writer import PairedDatasetWriter
    from pocusiq.train.trainer import train

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    with PairedDatasetWriter(root, resume=False) as writer:
        for i in range(6):
            img = rng.integers(0, 255, (32, 32), dtype=np.uint8)
            writer.add(f"p{i}", img, img, split="train" if i < 4 else "val", source="sim", specimen=f"s{i}",
                       spacing_mm=0.07)
    config = make_config(tmp_path, "sp", max_steps=2, checkpoint_every=2, data__root=str(root))
    result = train(config, progress=False)
    assert load_checkpoint(result.last_checkpoint).spacing_mm == pytest.approx(0.07)
    assert load_checkpoint(result.best_checkpoint).spacing_mm == pytest.approx(0.07)
