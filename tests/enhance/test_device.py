"""The device pipeline (everything after decoding on the torch device) equals the host path.

This machine has no GPU: the pipeline runs on the CPU device here, which exercises the same
code (tensor conversions, luma, padding, batching, rounding) that runs on CUDA."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.enhance.tiling import TilingConfig


def _net():
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Tanh(),
                               torch.nn.Conv2d(4, 1, 3, padding=1), torch.nn.Tanh()).eval()


def _pair(**kwargs):
    net = _net()
    tiling = TilingConfig(multiple=8, tile_size=None)
    host = Enhancer(net, multiple=8, tiling=tiling, pipeline="host")
    device = Enhancer(net, multiple=8, tiling=tiling, pipeline="device", **kwargs)
    return host, device


@pytest.mark.parametrize("shape,dtype", [((45, 67), np.uint8), ((40, 56), np.uint16), ((33, 48, 3), np.uint8),
                                         ((30, 41, 4), np.uint8), ((36, 52), np.float32)])
def test_device_pipeline_equals_host_path(shape, dtype):
    host, device = _pair()
    assert host._pipeline is None and device._pipeline is not None
    rng = np.random.default_rng(1)
    image = (rng.random(shape) * (np.iinfo(dtype).max if dtype != np.float32 else 1)).astype(dtype)
    if len(shape) == 3:
        image[..., 0] = np.clip(image[..., 0].astype(int) + 30, 0, 255)  # not grey
    a, b = host(image), device(image)
    assert b.shape == a.shape and b.dtype == a.dtype
    tolerance = 1 if dtype != np.float32 else 1e-5  # one stored level (float32 sums in another order)
    assert np.abs(a.astype(np.float64) - b.astype(np.float64)).max() <= tolerance
    if len(shape) == 3 and shape[2] == 4:
        np.testing.assert_array_equal(b[..., 3], image[..., 3])  # alpha kept


def test_batched_frames_equal_one_by_one_and_keep_outside_pixels():
    host, device = _pair()
    rng = np.random.default_rng(2)
    frames = [rng.integers(0, 256, (48, 64, 3), dtype=np.uint8) for _ in range(5)]
    one = list(host.enhance_frames(frames, roi=(8, 4, 40, 32)))
    batched = list(device.enhance_frames(frames, roi=(8, 4, 40, 32), batch_size=2))
    assert len(batched) == 5
    for frame, a, b in zip(frames, one, batched):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
        outside = np.ones(frame.shape[:2], bool)
        outside[4:36, 8:48] = False
        np.testing.assert_array_equal(b[outside], frame[outside])


def test_bf16_autocast_is_close_and_options_are_checked():
    host, device = _pair(precision="bf16")
    image = np.random.default_rng(3).integers(0, 256, (40, 48), dtype=np.uint8)
    assert np.abs(host(image).astype(int) - device(image).astype(int)).max() <= 6  # bf16: 8-bit mantissa
    with pytest.raises(ValueError, match="precision must be one of"):
        Enhancer(_net(), multiple=8, pipeline="device", precision="int4")
    with pytest.raises(ValueError, match="pipeline 'device' needs a torch.nn.Module"):
        Enhancer(lambda b: b, multiple=8, pipeline="device")
