"""Small paired datasets made inside the tests (no simulator, no shared data)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pocusiq.data.writer import PairedDatasetWriter


def random_image(rng: np.random.Generator, shape=(24, 32), dtype=np.uint8) -> np.ndarray:
    return rng.integers(0, np.iinfo(dtype).max + 1, size=shape).astype(dtype)


@pytest.fixture
def make_dataset(tmp_path: Path):
    """``make_dataset(name="ds", n=4, shape=(24, 32), masks=False) -> root``: pairs with high = 255 - low.

    Pair ``p<i>`` belongs to specimen ``s<i // 2>``; specimens s0/s1 are train, s2 val, s3 test.
    """

    def build(name: str = "ds", n: int = 4, shape=(24, 32), masks: bool = False, seed: int = 0) -> Path:
        rng = np.random.default_rng(seed)
        root = tmp_path / name
        splits = {"s0": "train", "s1": "train", "s2": "val", "s3": "test"}
        with PairedDatasetWriter(root, resume=False) as writer:
            for i in range(n):
                low = random_image(rng, shape)
                specimen = f"s{(i // 2) % 4}"
                writer.add(
                    f"p{i}",
                    low,
                    (255 - low).astype(np.uint8),
                    split=splits[specimen],
                    source="sim",
                    specimen=specimen,
                    spacing_mm=0.2,
                    masks={"bright": low > 128} if masks else None,
                    params={"i": i},
                )
        return root

    return build
