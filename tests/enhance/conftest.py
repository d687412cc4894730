"""Fixtures for the enhance tests: tiny known networks (the tiny checkpoint is in tests/conftest.py)."""

from __future__ import annotations

import pytest

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.enhance.tiling import TilingConfig

from .synthetic import Identity, Negate


@pytest.fixture
def identity_enhancer() -> Enhancer:
    return Enhancer(Identity(), multiple=16, tiling=TilingConfig(multiple=16, tile_size=None))


@pytest.fixture
def negate_enhancer() -> Enhancer:
    return Enhancer(Negate(), multiple=16, tiling=TilingConfig(multiple=16, tile_size=None), model_name="negate")
