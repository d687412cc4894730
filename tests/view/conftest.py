"""Fixtures for the view tests: a known enhancer (v -> 1 - v), enhance output folders made in the test,
and a tiny random-weight generator checkpoint for the served app."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.enhance.tiling import TilingConfig


def negate_engine(batch: np.ndarray) -> np.ndarray:
    """An engine (float32 [-1, 1] batch -> same): y = -x, i.e. v -> 255 - v for uint8."""
    return -batch


@pytest.fixture
def negate_enhancer() -> Enhancer:
    return Enhancer(negate_engine, multiple=8, tiling=TilingConfig(multiple=8, tile_size=None), model_name="negate")


def speckle(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 Rayleigh speckle (the texture NIQE/PIQE see in ultrasound)."""
    rng = np.random.default_rng(seed)
    field = np.hypot(rng.normal(size=(height, width)), rng.normal(size=(height, width)))
    return np.clip(field / field.max() * 400, 0, 255).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def write_clip(path: Path, count: int, height: int = 48, width: int = 64, rate: Fraction = Fraction(25)) -> Path:
    """An H.264/MJPEG clip whose frame i has a bright bar at column 2*i (frames are told apart)."""
    from pocusiq.enhance.video_io import write_video

    def frames():
        for i in range(count):
            frame = np.full((height, width, 3), 60, dtype=np.uint8)
            frame[:, (2 * i) % width : (2 * i) % width + 4] = 230
            yield frame

    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames(), rate=rate, note="test clip")
    return path


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pocusiq checkpoint of a random U-Net with ngf 4, depth 3 (multiple 8), as in tests/enhance."""
    import torch

    from pocusiq.models.unet import UNetGenerator
    from pocusiq.train.checkpoints import save_checkpoint
    from pocusiq.train.config import ModelConfig, TrainConfig

    torch.manual_seed(0)
    config = TrainConfig(model=ModelConfig(ngf=4, depth=3))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, generator=UNetGenerator(config.model), config=config)
    return path
