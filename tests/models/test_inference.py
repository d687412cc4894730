"""The one inference path: padding, batched forward, and the same output for validation and Enhancer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pocusiq.models import ModelConfig, build_generator
from pocusiq.models.inference import PAD_MODE, enhance_batch, pad_to_multiple


def test_pad_reflects_the_same_for_numpy_and_torch():
    x = np.arange(5 * 7, dtype=np.float32).reshape(5, 7)
    padded, size = pad_to_multiple(x, 4)
    assert size == (5, 7) and padded.shape == (8, 8) and padded.dtype == np.float32
    np.testing.assert_array_equal(padded[:5, :7], x)
    np.testing.assert_array_equal(padded[5, :7], x[3])  # reflect: mirrors row -2, edge not repeated
    np.testing.assert_array_equal(padded[:5, 7], x[:, 5])  # the one padded column mirrors column -2
    t, _ = pad_to_multiple(torch.from_numpy(x)[None, None], 4)
    np.testing.assert_array_equal(t[0, 0].numpy(), padded)
    assert PAD_MODE == "reflect"


def test_pad_tiny_images_and_integer_dtypes():
    one = np.full((1, 3), 7, dtype=np.uint8)
    padded, size = pad_to_multiple(one, 16)
    assert size == (1, 3) and padded.shape == (16, 16) and padded.dtype == np.uint8
    assert (padded[:, :3] == 7).all()  # a 1-pixel side cannot reflect: edge values continue it


def test_numpy_engine_and_torch_module_agree():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(ngf=4, depth=3)).eval()
    x = np.random.default_rng(0).random((2, 1, 20, 27)).astype(np.float32)
    via_torch = enhance_batch(g, torch.from_numpy(x)).numpy()

    def engine(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return g(torch.from_numpy(batch)).numpy()

    via_numpy = enhance_batch(engine, x, g.multiple)
    assert via_numpy.shape == x.shape
    np.testing.assert_allclose(via_numpy, via_torch, atol=1e-6)


def test_training_validation_and_enhancer_give_the_same_output():
    # Before issue 12 validation padded with 'replicate' and the Enhancer with 'reflect': with
    # instance norm every output pixel differed (max 0.07 on a 40x56 image).
    from pocusiq import Enhancer
    from pocusiq.train.evaluation import evaluate_generator

    torch.manual_seed(3)
    g = build_generator(ModelConfig(ngf=8, depth=4, norm="instance")).eval()
    rng = np.random.default_rng(1)
    low = rng.random((40, 56)).astype(np.float32)
    high = rng.random((40, 56)).astype(np.float32)
    item = {"low": torch.from_numpy(low)[None], "high": torch.from_numpy(high)[None], "id": "a"}
    _, kept = evaluate_generator(g, [item], keep_images=1)
    validation = kept[0]["enhanced"]
    user = Enhancer(g, multiple=g.multiple)(low)
    assert user.shape == validation.shape == (40, 56)
    assert np.max(np.abs(user.astype(np.float64) - validation)) < 1e-5
    # and the output does depend on the padding (the test would catch a different mode)
    other = torch.nn.functional.pad(torch.from_numpy(low)[None, None], (0, 8, 0, 8), mode="replicate")
    with torch.no_grad():
        replicate = ((g(other * 2 - 1) + 1) / 2)[0, 0, :40, :56].numpy()
    assert np.max(np.abs(replicate - validation)) > 1e-3


@pytest.mark.parametrize("multiple", [0, -1])
def test_bad_multiple(multiple):
    with pytest.raises(ValueError, match="multiple must be >= 1"):
        pad_to_multiple(np.zeros((4, 4)), multiple)
