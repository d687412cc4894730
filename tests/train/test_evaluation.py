"""Whole-image evaluation: padding to the generator's multiple, scores against known values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from pocusiq.metrics import psnr, ssim
from pocusiq.models.inference import enhance_batch, pad_to_multiple
from pocusiq.train.evaluation import evaluate_generator


class Identity(nn.Module):
    """A 'generator' that returns its input and records the shapes it was given."""

    multiple = 16

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(()))
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x):
        self.shapes.append(tuple(x.shape))
        return x + self.w


def test_pad_to_multiple_reflects_edges_and_keeps_size():
    x = torch.arange(2 * 1 * 5 * 7, dtype=torch.float32).reshape(2, 1, 5, 7)
    padded, (h, w) = pad_to_multiple(x, 4)
    assert padded.shape == (2, 1, 8, 8) and (h, w) == (5, 7)
    assert torch.equal(padded[..., :5, :7], x)
    assert torch.equal(padded[..., 5, :7], x[..., 3, :])  # reflect: the first padded row mirrors row -2
    assert torch.equal(padded[..., 7, :7], x[..., 1, :])
    same, _ = pad_to_multiple(x[..., :4, :4], 4)
    assert same.shape == (2, 1, 4, 4)


def test_enhance_batch_pads_then_crops_back():
    g = Identity()
    x = torch.rand(1, 1, 20, 33)
    y = enhance_batch(g, x)
    assert g.shapes == [(1, 1, 32, 48)]
    assert torch.allclose(y, x, atol=1e-6)


def test_identity_generator_scores_equal_input_scores():
    rng = np.random.default_rng(0)
    items = []
    for i in range(3):
        high = rng.random((24, 40)).astype(np.float32)
        low = np.clip(high + 0.2 * rng.standard_normal(high.shape), 0, 1).astype(np.float32)
        items.append({"low": torch.from_numpy(low)[None], "high": torch.from_numpy(high)[None], "id": f"x{i}"})
    result, kept = evaluate_generator(Identity(), items, keep_images=2)
    assert result.ids == ["x0", "x1", "x2"] and len(kept) == 2
    np.testing.assert_allclose(result.ssim_enhanced, result.ssim_input, atol=1e-5)
    np.testing.assert_allclose(result.psnr_enhanced, result.psnr_input, atol=1e-3)
    low0, high0 = items[0]["low"][0].numpy().astype(np.float64), items[0]["high"][0].numpy().astype(np.float64)
    assert result.ssim_input[0] == pytest.approx(ssim(low0, high0, data_range=1.0))
    assert result.psnr_input[0] == pytest.approx(psnr(low0, high0, data_range=1.0))
    s = result.summary()
    assert s["n"] == 3 and s["ssim_input_std"] == pytest.approx(np.std(result.ssim_input))
