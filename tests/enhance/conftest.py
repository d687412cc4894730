"""Fixtures for the enhance tests: tiny known networks and a tiny trained-format checkpoint."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.enhance.tiling import TilingConfig

from .synthetic import Identity, Negate


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Run torch on one thread: these networks are tiny, and on a shared 2-core machine a
    second thread's synchronisation made a 24-step distillation 60x slower (7.9 s vs 0.13 s)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def identity_enhancer() -> Enhancer:
    return Enhancer(Identity(), multiple=16, tiling=TilingConfig(multiple=16, tile_size=None))


@pytest.fixture
def negate_enhancer() -> Enhancer:
    return Enhancer(Negate(), multiple=16, tiling=TilingConfig(multiple=16, tile_size=None), model_name="negate")


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pocusiq checkpoint of a random U-Net with ngf 4, depth 3 (multiple 8)."""
    from pocusiq.models.unet import UNetGenerator
    from pocusiq.train.checkpoints import save_checkpoint
    from pocusiq.train.config import ModelConfig, TrainConfig

    torch.manual_seed(0)
    config = TrainConfig(model=ModelConfig(ngf=4, depth=3))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, generator=UNetGenerator(config.model), config=config)
    return path
