"""The Enhancer API: dtypes and ranges, colour (luma), batches, streams, checkpoints, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pocusiq import Enhancer
from pocusiq.imaging.intensity import luma
from pocusiq.enhance.tiling import TilingConfig
from pocusiq.errors import CheckpointError, RegionNotFoundError

from .synthetic import Negate, speckle_frame


def test_lazy_top_level_import_is_the_class():
    from pocusiq.enhance.enhancer import Enhancer as Direct

    assert Enhancer is Direct


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_identity_preserves_dtype_shape_and_values(identity_enhancer, dtype):
    rng = np.random.default_rng(0)
    shape = (45, 77)
    if np.issubdtype(dtype, np.integer):
        image = rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    else:
        image = rng.random(shape).astype(dtype)
    out = identity_enhancer(image)
    assert out.dtype == image.dtype and out.shape == shape
    if np.issubdtype(dtype, np.integer):
        np.testing.assert_array_equal(out, image)
    else:
        assert np.max(np.abs(out - image)) <= 1e-6


def test_negate_known_values_per_dtype(negate_enhancer):
    u8 = np.array([[0, 10, 255]], dtype=np.uint8)
    np.testing.assert_array_equal(negate_enhancer(u8), 255 - u8)
    u16 = np.array([[0, 1000, 65535]], dtype=np.uint16)
    np.testing.assert_array_equal(negate_enhancer(u16), 65535 - u16)
    # 12-bit data in uint16: the range is 0..4095 when max_value says so
    u12 = np.array([[0, 1000, 4095]], dtype=np.uint16)
    np.testing.assert_array_equal(negate_enhancer(u12, max_value=4095), 4095 - u12)
    f = np.array([[0.0, 0.25, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(negate_enhancer(f), 1 - f, atol=1e-6)


def test_float_output_stays_in_unit_range():
    class Overshoot(torch.nn.Module):
        def forward(self, x):
            return x * 3.0

    out = Enhancer(Overshoot(), multiple=8)(np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8))
    assert out.min() >= 0.0 and out.max() <= 1.0


def test_rgb_enhances_luma_keeps_grey_and_chroma(negate_enhancer):
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (20, 30), dtype=np.uint8)
    rgb_grey = np.repeat(grey[..., None], 3, axis=2)
    out = negate_enhancer(rgb_grey)
    np.testing.assert_array_equal(out[..., 0], 255 - grey)  # grey stays grey, luma negated
    assert np.array_equal(out[..., 0], out[..., 1]) and np.array_equal(out[..., 1], out[..., 2])
    colour = np.zeros((16, 16, 3), np.uint8)
    colour[...] = (120, 100, 80)  # a mid colour: no clipping after the luma change
    result = negate_enhancer(colour).astype(float)
    # the change is the same in all channels (chroma kept) and equals the luma change
    delta = result - colour
    assert np.allclose(delta[..., 0], delta[..., 1], atol=1) and np.allclose(delta[..., 1], delta[..., 2], atol=1)
    np.testing.assert_allclose(luma(result), 255 - luma(colour.astype(float)), atol=1.0)


def test_rgba_alpha_and_single_channel(negate_enhancer):
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[..., :3] = 40
    rgba[..., 3] = np.arange(64, dtype=np.uint8).reshape(8, 8)
    out = negate_enhancer(rgba)
    np.testing.assert_array_equal(out[..., 3], rgba[..., 3])
    np.testing.assert_array_equal(out[..., 0], 215)
    one = np.full((5, 6, 1), 7, np.uint8)
    assert negate_enhancer(one).shape == (5, 6, 1) and negate_enhancer(one)[0, 0, 0] == 248


def test_enhance_batch_matches_single_calls(negate_enhancer):
    rng = np.random.default_rng(2)
    stack = rng.integers(0, 256, (3, 20, 33), dtype=np.uint8)
    out = negate_enhancer.enhance_batch(stack)
    assert isinstance(out, np.ndarray) and out.shape == stack.shape
    np.testing.assert_array_equal(out, 255 - stack)
    empty = negate_enhancer.enhance_batch(np.zeros((0, 5, 6), np.uint16))
    assert empty.shape == (0, 5, 6) and empty.dtype == np.uint16
    mixed = [stack[0], rng.random((7, 9)).astype(np.float32), np.zeros((4, 4, 3), np.uint8)]
    outs = negate_enhancer.enhance_batch(mixed)
    assert [o.shape for o in outs] == [m.shape for m in mixed]
    assert [o.dtype for o in outs] == [m.dtype for m in mixed]
    np.testing.assert_array_equal(outs[0], 255 - stack[0])


def test_batching_shares_network_calls():
    calls = []

    def engine(batch):
        calls.append(batch.shape[0])
        return batch

    enhancer = Enhancer(engine, multiple=4)
    enhancer.enhance_batch([np.zeros((8, 8), np.uint8)] * 5 + [np.zeros((9, 9), np.uint8)])
    assert sorted(calls) == [1, 5]


def test_enhance_frames_is_lazy_and_reuses_the_region(negate_enhancer):
    frames = [speckle_frame(40, 50, seed) for seed in range(4)]
    produced = []

    def source():
        for f in frames:
            produced.append(1)
            yield f

    stream = negate_enhancer.enhance_frames(source(), roi=(10, 5, 20, 30))
    first = next(stream)
    assert len(produced) == 1  # nothing decoded ahead
    rest = list(stream)
    assert len(rest) == 3
    for original, out in zip(frames, [first, *rest]):
        inside = (slice(5, 35), slice(10, 30))
        np.testing.assert_array_equal(out[inside], 255 - original[inside])
        outside = np.ones(original.shape, bool)
        outside[inside] = False
        np.testing.assert_array_equal(out[outside], original[outside])


def test_enhance_frames_rejects_size_change(negate_enhancer):
    stream = negate_enhancer.enhance_frames([np.zeros((8, 8), np.uint8), np.zeros((9, 8), np.uint8)], roi="full")
    next(stream)
    with pytest.raises(ValueError, match="frame 1 has shape"):
        next(stream)


def test_bad_arrays_raise_clear_errors(identity_enhancer):
    with pytest.raises(TypeError, match="unsupported image dtype int32"):
        identity_enhancer(np.zeros((4, 4), np.int32))
    with pytest.raises(ValueError, match=r"expected an image \(H, W\)"):
        identity_enhancer(np.zeros((2, 4, 4, 4), np.uint8))
    with pytest.raises(TypeError, match="expected a numpy array"):
        identity_enhancer([[0, 1]])
    with pytest.raises(RegionNotFoundError, match="does not fit inside the 4x4 frame"):
        identity_enhancer.enhance_region(np.zeros((4, 4), np.uint8), (2, 2, 5, 5))


def test_tiling_multiple_must_match_network():
    with pytest.raises(ValueError, match="not a multiple of the network multiple 16"):
        Enhancer(Negate(), multiple=16, tiling=TilingConfig(multiple=8, tile_size=64, overlap=16))


def test_from_checkpoint_torch(tiny_checkpoint):
    enhancer = Enhancer.from_checkpoint(tiny_checkpoint)
    assert enhancer.multiple == 8 and enhancer.engine_name == "torch"
    assert "tiny.safetensors (sha256 " in enhancer.model_name
    image = speckle_frame(37, 51)
    out = enhancer(image)
    assert out.shape == image.shape and out.dtype == np.uint8
    # deterministic: same input -> same output; run folder resolves to its checkpoint
    np.testing.assert_array_equal(out, enhancer(image))


def test_from_checkpoint_missing_and_corrupt(tmp_path):
    with pytest.raises(CheckpointError, match="checkpoint not found"):
        Enhancer.from_checkpoint(tmp_path / "nope.safetensors")
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="bad.safetensors"):
        Enhancer.from_checkpoint(bad)
    with pytest.raises(ValueError, match="engine must be one of"):
        Enhancer.from_checkpoint(bad, engine="tensorrt")
