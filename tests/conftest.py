"""Shared test fixtures: small thread counts, the optional ../shared data folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = REPO_ROOT.parent / "shared"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The ``../shared/data`` folder beside the checkout; tests using it skip where it is absent."""
    data = SHARED_DIR / "data"
    if not data.is_dir():
        pytest.skip(f"real-image data not found at {data} (only present in the team's workspace)")
    return data


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A pocusiq checkpoint of a random U-Net with ngf 4, depth 3 (multiple 8), seed 0 (enhance and view tests)."""
    import torch

    from pocusiq.models import build_generator
    from pocusiq.train.checkpoints import save_checkpoint
    from pocusiq.train.config import ModelConfig, TrainConfig

    torch.manual_seed(0)
    config = TrainConfig(model=ModelConfig(ngf=4, depth=3))
    path = tmp_path_factory.mktemp("ckpt") / "tiny.safetensors"
    save_checkpoint(path, generator=build_generator(config.model), config=config)
    return path


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Run torch on one intra-op thread: the test models are tiny, and on a shared 2-core machine
    a second spinning OpenMP thread made them 5-60x slower (a 24-step distillation: 7.9 s vs 0.13 s)."""
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
