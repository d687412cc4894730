"""Padding and tiling: exact round trips, tiled == untiled for a local linear filter, no seams."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.models.inference import pad_to_multiple
from pocusiq.enhance.tiling import (
    TilingConfig,
    edge_ramp,
    needs_tiling,
    run_tiled,
    tile_starts,
)

from .synthetic import Identity


def _conv_filter(radius: int = 2, seed: int = 0) -> torch.nn.Module:
    """A fixed random (2r+1)^2 linear filter with zero padding: receptive-field radius ``radius``."""
    gen = torch.Generator().manual_seed(seed)
    conv = torch.nn.Conv2d(1, 1, 2 * radius + 1, padding=radius, bias=True)
    with torch.no_grad():
        conv.weight.copy_(torch.rand(conv.weight.shape, generator=gen) / conv.weight[0].numel())
        conv.bias.fill_(0.05)
    return conv


@pytest.mark.parametrize("shape", [(1, 1), (3, 50), (37, 53), (64, 64), (65, 130)])
def test_pad_to_multiple_shapes_and_reflect(shape):
    image = np.arange(np.prod(shape), dtype=np.float32).reshape(shape)
    padded, original = pad_to_multiple(image, 16)
    assert original == shape
    assert padded.shape[0] % 16 == 0 and padded.shape[1] % 16 == 0
    assert padded.shape[0] - shape[0] < 16 and padded.shape[1] - shape[1] < 16
    np.testing.assert_array_equal(padded[: shape[0], : shape[1]], image)
    if shape[1] > 1 and padded.shape[1] > shape[1]:  # reflect: the first padded column mirrors column -2
        np.testing.assert_array_equal(padded[: shape[0], shape[1]], image[:, -2])


def test_tile_starts_cover_and_align():
    starts = tile_starts(336, 64, 32, 16)
    assert starts[0] == 0 and starts[-1] == 336 - 64
    assert all(s % 16 == 0 for s in starts)
    assert all(b - a <= 64 - 32 for a, b in zip(starts, starts[1:]))  # overlap >= 32 everywhere
    assert tile_starts(48, 64, 32, 16) == [0]


def test_edge_ramp_zero_margin_and_raised_cosine():
    w = edge_ramp(64, 32, 8, taper_start=True, taper_end=False)
    assert np.all(w[:8] == 0) and np.all(w[24:] == 1)
    ramp = w[8:24]
    assert np.all(np.diff(ramp) > 0) and 0 < ramp[0] < 0.05 and 0.95 < ramp[-1] < 1
    # complementary ramps of two neighbours sum to one across the overlap (partition of unity)
    right = edge_ramp(64, 32, 8, taper_start=False, taper_end=True)
    np.testing.assert_allclose(right[-32:] + w[:32], 1.0, atol=1e-12)


@pytest.mark.parametrize(
    "dtype,shape", [(np.uint8, (1080, 1928)), (np.uint16, (150, 333)), (np.float32, (97, 410))]
)
def test_identity_round_trip_tiled(dtype, shape):
    rng = np.random.default_rng(1)
    if dtype == np.float32:
        image = rng.random(shape, dtype=np.float32)
    else:
        image = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    tiling = TilingConfig(multiple=16, tile_size=256, overlap=64, batch_size=8)
    assert needs_tiling(shape, tiling)
    out = Enhancer(Identity(), multiple=16, tiling=tiling)(image)
    assert out.shape == image.shape and out.dtype == image.dtype
    if dtype == np.float32:
        assert np.max(np.abs(out - image)) <= 1e-6
    else:
        np.testing.assert_array_equal(out, image)


def test_linear_filter_tiled_equals_untiled_no_seams():
    """A filter of radius 2 (< margin 8) must give the untiled result at every pixel (1928x1080)."""
    conv = _conv_filter(radius=2)
    rng = np.random.default_rng(2)
    image = rng.random((1080, 1928), dtype=np.float32) * 0.8
    untiled = Enhancer(conv, multiple=16, tiling=TilingConfig(multiple=16, tile_size=None))(image)
    tiling = TilingConfig(multiple=16, tile_size=256, overlap=64, margin=8)
    calls = []

    class Counting(torch.nn.Module):
        def forward(self, x):
            calls.append(tuple(x.shape))
            return conv(x)

    tiled = Enhancer(Counting(), multiple=16, tiling=tiling)(image)
    assert len(calls) > 1 and all(c[2:] == (256, 256) for c in calls)  # it really tiled
    assert tiled.shape == image.shape
    np.testing.assert_allclose(tiled, untiled, atol=2e-6)


def test_margin_smaller_than_receptive_field_shows_seams():
    """Control: with no zero margin, a radius-4 filter differs from untiled near the cuts, so the
    equality above is a real check of the margin rule (not a property of any blending)."""
    conv = _conv_filter(radius=4)
    image = np.random.default_rng(3).random((300, 300), dtype=np.float32)
    untiled = Enhancer(conv, multiple=16, tiling=TilingConfig(multiple=16, tile_size=None))(image)
    tiled = Enhancer(conv, multiple=16, tiling=TilingConfig(multiple=16, tile_size=128, overlap=32, margin=0))(image)
    assert np.max(np.abs(tiled - untiled)) > 1e-4  # vs <= 2e-6 with the margin


def test_run_tiled_weights_cover_every_pixel():
    """A network returning constant 0.5 gives exactly 0.5 everywhere (no zero-weight holes)."""
    tiling = TilingConfig(multiple=8, tile_size=64, overlap=32, margin=7)
    out = run_tiled(lambda b: np.full_like(b, 0.5), np.zeros((203, 171), np.float32), tiling)
    np.testing.assert_allclose(out, 0.5, atol=1e-7)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(multiple=16, tile_size=64, overlap=64), "must be smaller than tile_size"),
        (dict(multiple=16, tile_size=128, overlap=32, margin=16), "less than half the overlap"),
        (dict(multiple=0), "multiple must be >= 1"),
    ],
)
def test_tiling_config_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TilingConfig(**kwargs)


def _whole_image_run_tiled(network, image, config):
    """The former implementation (whole-image float64 accumulator and weights): the reference."""
    from pocusiq.enhance.tiling import edge_ramp, tile_starts

    padded, (height, width) = pad_to_multiple(image.astype(np.float32), config.multiple)
    ph, pw = padded.shape
    tile, overlap, margin = config.effective_tile, config.effective_overlap, config.effective_margin
    th, tw = min(tile, ph), min(tile, pw)
    accum, weights = np.zeros((ph, pw)), np.zeros((ph, pw))
    for y in tile_starts(ph, th, overlap, config.multiple):
        for x in tile_starts(pw, tw, overlap, config.multiple):
            out = network(padded[y : y + th, x : x + tw][None, None].astype(np.float32))[0, 0]
            window = np.outer(edge_ramp(th, overlap, margin, y > 0, y + th < ph),
                              edge_ramp(tw, overlap, margin, x > 0, x + tw < pw))
            accum[y : y + th, x : x + tw] += window * out
            weights[y : y + th, x : x + tw] += window
    return (accum / np.maximum(weights, 1e-12))[:height, :width].astype(np.float32)


@pytest.mark.parametrize("shape,config", [
    ((203, 171), TilingConfig(multiple=16, tile_size=64, overlap=32, batch_size=3)),
    ((1000, 777), TilingConfig(multiple=32, tile_size=256, overlap=64)),
    ((130, 900), TilingConfig(multiple=8, tile_size=128, overlap=16)),
])
def test_streamed_tiles_equal_the_whole_image_blend(shape, config):
    """Band-by-band tiling (separable weight sums, reflect at the edge) gives the same image."""
    image = np.random.default_rng(0).random(shape).astype(np.float32)
    network = lambda b: np.tanh(3 * b - 1 + np.roll(b, 1, axis=-1))  # nonlinear, position-dependent
    np.testing.assert_allclose(run_tiled(network, image, config), _whole_image_run_tiled(network, image, config),
                               atol=1e-6)


def test_large_image_memory_is_a_small_multiple_of_the_image():
    """A 3000x4000 uint8 image through Enhancer with tiles: NumPy's peak stays a few times the image
    (the former whole-image float64 accumulator and weights alone were 16x)."""
    import tracemalloc

    import torch

    from pocusiq.enhance.enhancer import Enhancer

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(1, 1, 3, padding=1), torch.nn.Tanh()).eval()
    enhancer = Enhancer(net, multiple=8, tiling=TilingConfig(multiple=8, tile_size=512, overlap=64))
    image = np.random.default_rng(1).integers(0, 256, (3000, 4000), dtype=np.uint8)
    tracemalloc.start()
    try:
        out = enhancer(image)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert out.shape == image.shape and out.dtype == np.uint8 and np.abs(out.astype(int) - image).mean() > 5
    assert peak < 5 * image.nbytes, f"peak {peak / image.nbytes:.1f}x the image"
