"""Small synthetic speckle images and tiny paired datasets for the benchmark tests."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import sys

import numpy as np
import pytest

# pytest runs with --import-mode=importlib, which does not put test folders on sys.path; the
# helper module must be importable by name (the tests import it, and method-spec tests name it
# as ``benchmark_synthetic:invert``).
_HERE = str(Path(__file__).resolve().parent)
if _HERE not in sys.path:
    sys.path.append(_HERE)

from benchmark_synthetic import speckle_image  # noqa: E402


@pytest.fixture
def make_dataset(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_dataset(n=4, size=64, masks=True, split="test", name="ds")`` -> dataset folder.

    Pairs ``p0..p{n-1}``: low = speckle with grain 1.5 px (seed i), high = finer, less noisy
    speckle (seed 100 + i); a ``cysts`` mask and a full ``sector`` mask when ``masks``.
    """

    def make(n: int = 4, size: int | tuple[int, int] = 64, masks: bool = True, split: str = "test", name: str = "ds") -> Path:
        from pocusiq.data.writer import PairedDatasetWriter

        root = tmp_path / name
        with PairedDatasetWriter(root, resume=False) as writer:
            for i in range(n):
                low, mask = speckle_image(size, seed=i, grain_px=1.5)
                high, _ = speckle_image(size, seed=100 + i, grain_px=0.7)
                extra = {"cysts": mask, "sector": np.ones_like(mask)} if masks else None
                writer.add(f"p{i}", low, high, split=split, source="sim", specimen=f"s{i}", masks=extra)
        return root

    return make
