"""Tiny in-memory and on-disk paired datasets for the training tests (made here, no simulator)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import ndimage

from pocusiq.train.config import DataConfig, DiscriminatorConfig, ModelConfig, TrainConfig


def make_pair(rng: np.random.Generator, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A smooth 'high-end' image in [0, 1] and a blurred, speckled 'low-end' version of it."""
    high = ndimage.gaussian_filter(rng.random((size, size)), 2.0)
    high = (high - high.min()) / (np.ptp(high) + 1e-9)
    low = ndimage.gaussian_filter(high, 1.5) * rng.rayleigh(0.8, (size, size))
    return np.clip(low, 0, 1).astype(np.float32), high.astype(np.float32)


class TensorPairs(torch.utils.data.Dataset):
    """``n`` pairs ``{"low", "high": (1, size, size) in [0, 1], "id"}`` drawn from ``seed``."""

    def __init__(self, n: int, size: int = 32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        pairs = [make_pair(rng, size) for _ in range(n)]
        self.low = torch.from_numpy(np.stack([p[0] for p in pairs]))[:, None]
        self.high = torch.from_numpy(np.stack([p[1] for p in pairs]))[:, None]

    def __len__(self) -> int:
        return len(self.low)

    def __getitem__(self, i: int) -> dict:
        return {"low": self.low[i], "high": self.high[i], "id": f"p{i}"}


def tiny_config(out_dir: Path, name: str = "run", **kw) -> TrainConfig:
    """A tiny model (ngf 4, depth 3, 2-layer PatchGAN) on 32x32 images, batch 2."""
    base = TrainConfig(
        name=name,
        out_dir=str(out_dir),
        seed=3,
        max_steps=10,
        checkpoint_every=4,
        log_every=2,
        model=ModelConfig(ngf=4, depth=3, dropout_blocks=1),
        discriminator=DiscriminatorConfig(ndf=4, n_layers=2),
        data=DataConfig(crop=None, flip=False, batch_size=2),
    )
    data = base.to_dict()
    for key, value in kw.items():
        node = data
        parts = key.split("__")
        for part in parts[:-1]:
            node = node[part]
        node[parts[-1]] = value
    return TrainConfig.from_dict(data)


@pytest.fixture
def pairs_train() -> TensorPairs:
    return TensorPairs(6, 32, seed=0)


@pytest.fixture
def pairs_val() -> TensorPairs:
    return TensorPairs(2, 32, seed=1)


@pytest.fixture
def disk_dataset(tmp_path: Path) -> Path:
    """A paired dataset folder (project format) with 8 train, 2 val, 2 test pairs of 32x32."""
    from pocusiq.data.writer import PairedDatasetWriter

    root = tmp_path / "data"
    rng = np.random.default_rng(0)
    with PairedDatasetWriter(root, resume=False) as writer:
        for i in range(12):
            low, high = make_pair(rng, 32)
            split = "train" if i < 8 else ("val" if i < 10 else "test")
            writer.add(f"p{i:02d}", (low * 255).round().astype(np.uint8), (high * 255).round().astype(np.uint8),
                       split=split, source="sim", specimen=f"s{i}")
    return root


@pytest.fixture
def make_config():
    """The :func:`tiny_config` factory: ``make_config(out_dir, name, **overrides)``."""
    return tiny_config


@pytest.fixture
def make_pairs():
    """The :class:`TensorPairs` factory: ``make_pairs(n, size, seed)``."""
    return TensorPairs
