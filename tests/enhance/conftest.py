"""Fixtures for the enhance tests: tiny known networks and a tiny trained-format checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.enhance.tiling import TilingConfig

from .synthetic import Identity, Negate


@pytest.fixture
def identity_enhancer() -> Enhancer:
    return Enhancer(Identity(), multiple=16, tiling=TilingConfig(multiple=16, tile_size=None))


@pytest.fixture
def negate_enhancer() -> Enhancer:
    return Enhancer(Negate(), multiple=16, tiling=TilingConfig(multiple=16, tile_size=None), model_name="negate")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pocusiq checkpoint of a random U-Net with ngf 4, depth 3 (multiple 8)."""
    from pocusiq.models import build_generator
    from pocusiq.train.checkpoints import save_checkpoint
    from pocusiq.train.config import ModelConfig, TrainConfig

    torch.manual_seed(0)
    config = TrainConfig(model=ModelConfig(ngf=4, depth=3))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, generator=build_generator(config.model), config=config)
    return path
