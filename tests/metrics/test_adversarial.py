"""Adversarial metric inputs (issue 13, "keep them found"): every metric refuses what it cannot
score with a ValueError that says why, instead of returning a number for it. These guard the
behaviour the benchmark's per-metric n/a reasons rely on (``tests/benchmark/test_adversarial.py``).
"""

from __future__ import annotations

import numpy as np
import pytest

import pocusiq.metrics as metrics

RNG = np.random.default_rng(0)
IMAGE = RNG.integers(0, 256, (200, 200)).astype(np.uint8)
FULL_REFERENCE = ("ssim", "psnr")
NO_REFERENCE = ("niqe", "piqe")


def _score(name: str, image: np.ndarray) -> float:
    function = getattr(metrics, name)
    return function(image, image) if name in FULL_REFERENCE else function(image)


@pytest.mark.parametrize("name", FULL_REFERENCE + NO_REFERENCE)
@pytest.mark.parametrize(
    ("label", "image", "words"),
    [
        ("nan", np.where(IMAGE > 100, np.nan, 0.5), "NaN or infinite"),
        ("inf", np.where(IMAGE > 100, np.inf, 0.5), "NaN or infinite"),
        ("empty", np.zeros((0, 0), np.uint8), "empty"),
        ("colour", np.stack([IMAGE] * 3, axis=-1), "colour"),
        ("1-D", IMAGE[0], "shape"),
    ],
)
def test_unscorable_images_raise_a_reason(name, label, image, words):
    with pytest.raises(ValueError, match=words):
        _score(name, image)


@pytest.mark.parametrize("name", ("ssim", "psnr", "niqe"))
def test_float_images_need_their_range(name):
    with pytest.raises(ValueError, match="data_range"):
        _score(name, IMAGE.astype(np.float64) * 10)


def test_niqe_names_its_size_minimum_and_flat_images():
    with pytest.raises(ValueError, match="96x192"):
        metrics.niqe(IMAGE[:64, :64])
    with pytest.raises(ValueError, match="too flat"):
        metrics.niqe(np.full((200, 200), 7, np.uint8))


def test_piqe_names_its_size_minimum():
    with pytest.raises(ValueError, match="16x16"):
        metrics.piqe(IMAGE[:3, :3])


def test_region_contrast_refuses_bad_masks():
    target = np.zeros(IMAGE.shape, bool)
    target[50:80, 50:80] = True
    ring = np.zeros_like(target)
    ring[90:120, 90:120] = True
    with pytest.raises(ValueError, match="empty"):
        metrics.gcnr(IMAGE, np.zeros_like(target), ring)
    with pytest.raises(ValueError, match="overlap"):
        metrics.gcnr(IMAGE, target, target)
    with pytest.raises(ValueError, match="does not match"):
        metrics.gcnr(IMAGE, target[:10], ring)
    assert 0.0 <= metrics.gcnr(IMAGE, target, ring) <= 1.0
