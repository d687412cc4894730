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


@pytest.fixture(autouse=True)
def _torch_threads():
    try:
        import torch
    except ImportError:  # pragma: no cover
        yield
        return
    torch.set_num_threads(2)
    yield
