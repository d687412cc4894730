"""The lean residual U-Net (``arch: lean``, the realtime preset's network): shapes, identity at
initialisation, builder and checkpoint round trips, batch-norm folding and ONNX parity."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pocusiq.errors import ConfigError
from pocusiq.models import ModelConfig, build_generator
from pocusiq.models.lean_unet import LeanUNetGenerator


def _lean(**kwargs) -> ModelConfig:
    fields = {"arch": "lean", "ngf": 8, "depth": 3, "factor": 4, "norm": "batch", "dropout": 0.0, "residual": True}
    fields.update(kwargs)
    return ModelConfig(**fields)


def _trained_like(net: torch.nn.Module, seed: int = 1) -> torch.nn.Module:
    """Give every parameter and batch-norm statistic a random non-trivial value (a fresh residual
    network is the identity, which would make parity tests pass for any wiring)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in net.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2)
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
    return net.eval()


@pytest.mark.parametrize("factor, depth, multiple", [(4, 3, 16), (4, 4, 32), (2, 3, 8), (2, 1, 2)])
def test_shape_and_multiple(factor, depth, multiple):
    net = build_generator(_lean(factor=factor, depth=depth)).eval()
    assert net.multiple == multiple == _lean(factor=factor, depth=depth).multiple
    x = torch.rand(2, 1, 3 * multiple, 5 * multiple) * 2 - 1
    with torch.no_grad():
        y = _trained_like(net)(x)
    assert y.shape == x.shape and y.min() >= -1 and y.max() <= 1
    with pytest.raises(ValueError, match=f"multiples of {multiple}"):
        net(torch.zeros(1, 1, multiple + 1, multiple))
    with pytest.raises(ValueError, match=r"expects \(N, 1, H, W\)"):
        net(torch.zeros(1, 2, multiple, multiple))


def test_encoder_levels_have_the_unet_resolutions_and_channels():
    """CUT taps encoder levels (pocusiq.train.unpaired): level i must be at 1/(factor 2^i) with
    ngf * min(2^i, 8) channels, as the pix2pix U-Net's level i has them."""
    from pocusiq.train.unpaired import encoder_features

    net = build_generator(_lean(ngf=4, depth=5, factor=4))
    feats = encoder_features(net, torch.zeros(1, 1, 128, 192), (0, 1, 2, 3, 4))
    assert [tuple(f.shape[1:]) for f in feats] == [
        (4, 32, 48), (8, 16, 24), (16, 8, 12), (32, 4, 6), (32, 2, 3)
    ]


def test_residual_network_is_the_identity_at_initialisation():
    torch.manual_seed(3)
    net = build_generator(_lean(depth=4)).eval()
    x = torch.rand(2, 1, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(net(x), x)
    net.train()  # batch statistics do not matter either: the head is zero
    assert torch.equal(net(x), x)
    head = net.head.weight
    assert torch.count_nonzero(head) == 0 and head.shape[0] == 1  # the coarse detail, zero


def test_non_residual_output_is_tanh_and_not_identity():
    net = build_generator(_lean(residual=False)).eval()
    x = torch.rand(1, 1, 32, 32) * 2 - 1
    with torch.no_grad():
        y = net(x)
    assert y.abs().max() < 1 and not torch.allclose(y, x, atol=0.1)


def test_residual_needs_equal_channels_and_plain_arguments_are_checked():
    with pytest.raises(ValueError, match="in_channels == out_channels"):
        LeanUNetGenerator(in_channels=1, out_channels=3, residual=True)
    with pytest.raises(ValueError, match="factor must be one of"):
        LeanUNetGenerator(factor=3)
    with pytest.raises(ValueError, match=">= 1"):
        LeanUNetGenerator(depth=0)


def test_config_checks_name_the_key():
    with pytest.raises(ConfigError, match="model.dropout"):
        build_generator(_lean(dropout=0.5))
    with pytest.raises(ConfigError, match="model.skip_sharpen"):
        build_generator(_lean(residual=False, skip_sharpen=1.0))
    with pytest.raises(ConfigError, match="model.factor"):
        build_generator(_lean(factor=3))
    with pytest.raises(ConfigError, match="model.arch"):
        build_generator(_lean(arch="resnet"))


def test_builder_and_checkpoint_round_trip(tmp_path):
    from pocusiq.models.checkpoints import load_checkpoint, save_checkpoint

    config = _lean(ngf=8, depth=4, factor=4)
    torch.manual_seed(0)
    net = _trained_like(build_generator(config))
    assert isinstance(net, LeanUNetGenerator) and net.model_config is config
    path = save_checkpoint(tmp_path / "lean.safetensors", generator=net, config={"model": config.__dict__}, state={"step": 1},
                           write_config_json=False)
    loaded = load_checkpoint(path)
    assert loaded.model_config == config
    rebuilt = loaded.build_generator("cpu")
    assert isinstance(rebuilt, LeanUNetGenerator) and rebuilt.multiple == 32
    x = torch.rand(1, 1, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(rebuilt(x), net(x))


def test_unet_stays_the_default_architecture():
    config = ModelConfig(ngf=4, depth=3)
    assert config.arch == "unet" and config.multiple == 8
    from pocusiq.models import UNetGenerator

    assert isinstance(build_generator(config), UNetGenerator)


def test_fold_batch_norm_keeps_outputs():
    from pocusiq.enhance.engines import fold_batch_norm

    net = _trained_like(build_generator(_lean(depth=4)))
    folded = fold_batch_norm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    x = torch.rand(2, 1, 64, 64) * 2 - 1
    with torch.no_grad():
        assert torch.max(torch.abs(net(x) - folded(x))).item() < 1e-5


def test_onnx_export_equals_torch_at_another_size():
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from pocusiq.enhance.engines import OnnxEngine
    from pocusiq.enhance.onnx_export import export_onnx_bytes

    torch.manual_seed(0)
    net = _trained_like(build_generator(_lean(ngf=8, depth=4)))
    data = export_onnx_bytes(net, multiple=net.multiple)  # traced at 64 x 64
    x = (np.random.default_rng(0).random((2, 1, 96, 160), dtype=np.float32) * 2 - 1).astype(np.float32)
    with torch.no_grad():
        reference = net(torch.from_numpy(x)).numpy()
    result = OnnxEngine(data)(x)
    assert result.shape == x.shape
    assert np.max(np.abs(reference - result)) < 1e-4
    assert np.max(np.abs(reference - x)) > 0.05  # not the identity: the comparison means something


def test_enhancer_runs_the_lean_network_on_a_whole_frame():
    """An odd-sized frame is reflect-padded to the multiple (32), enhanced and cropped back; the
    Enhancer's uint8 result equals the network's output on the padded frame, rounded."""
    from pocusiq import Enhancer

    net = _trained_like(build_generator(_lean(ngf=8, depth=4)))
    image = np.random.default_rng(1).integers(0, 256, (70, 100), dtype=np.uint8)
    out = Enhancer(net, multiple=net.multiple)(image)
    padded = np.pad(image, ((0, 26), (0, 28)), mode="reflect").astype(np.float32) / 255 * 2 - 1
    with torch.no_grad():
        reference = net(torch.from_numpy(padded)[None, None]).numpy()[0, 0, :70, :100]
    expected = np.rint(np.clip((reference + 1) / 2, 0, 1) * 255)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.max(np.abs(out.astype(float) - expected)) <= 1
    assert np.mean(out != image) > 0.5  # the network changed the frame


def test_no_grid_whatever_the_head_learns():
    """With arbitrary (trained-like) weights: a flat input gives a flat output away from the borders
    (no sub-pixel phase pattern at all), and on a smooth speckle image the fidelity verdict's
    checkerboard ratio (output over input) stays below its 1.5 limit (1.06 here; a depth-to-space
    head paints a period-4 grid instead: 2660x on the real frames, see the module docstring)."""
    from scipy.ndimage import gaussian_filter

    from pocusiq.metrics.fidelity import checkerboard_energy

    net = _trained_like(build_generator(_lean(ngf=8, depth=3, factor=4)))
    with torch.no_grad():  # a trained model's size of change: gain within about +-0.15, coarse detail ~0.06
        net.head.weight.mul_(0.25)
        net.head.bias.mul_(0.25)
        flat = net(torch.full((1, 1, 128, 128), -0.2))[0, 0, 40:88, 40:88].numpy()
    assert np.ptp(flat) < 1e-5 and abs(float(flat.mean()) + 0.2) > 1e-3  # changed, but uniformly
    speckle = gaussian_filter(np.random.default_rng(0).standard_normal((128, 128)), 1.0).astype(np.float32)
    speckle *= np.float32(0.3 / np.abs(speckle).max())
    with torch.no_grad():
        out = net(torch.from_numpy(speckle)[None, None])[0, 0].numpy()
    assert np.abs(out).max() < 1 and np.abs(out - speckle).max() > 0.01  # no clamping, a real change
    ratio = checkerboard_energy(out[8:-8, 8:-8]) / checkerboard_energy(speckle[8:-8, 8:-8])
    assert ratio < 1.5, ratio


def test_high_pass_is_x_minus_the_replicate_padded_binomial():
    """Eager mode sums shifted slices: x - binomial5(x), edges replicated (the export's AveragePools
    are compared with eager mode in test_sharpened_skip_is_the_unsharp_mask_at_initialisation)."""
    net = build_generator(_lean())
    x = torch.rand(2, 1, 20, 28)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), mode="replicate")
    taps = torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0]) / 16
    kernel = (taps[:, None] * taps[None, :])[None, None]
    expected = x - torch.nn.functional.conv2d(padded, kernel)
    assert torch.allclose(net.high_pass(x), expected, atol=1e-6)
    assert net.high_pass(torch.full((1, 1, 8, 8), 0.3)).abs().max() < 1e-6  # zero on flat regions, borders too


def test_sharpened_skip_is_the_unsharp_mask_at_initialisation():
    """skip_sharpen 1: a fresh lean network is the unsharp mask (amount 1, sigma 1 px) of the
    benchmark baseline, up to its binomial blur standing in for the 9-tap Gaussian; the ONNX graph
    (AveragePools) equals torch (shifted slices)."""
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    from scipy.ndimage import gaussian_filter

    from pocusiq.benchmark.baselines import unsharp
    from pocusiq.enhance.engines import OnnxEngine
    from pocusiq.enhance.onnx_export import export_onnx_bytes

    rng = np.random.default_rng(2)
    image = np.clip(gaussian_filter(rng.random((96, 128)), 1.5) * 255 * 3 - 250, 0, 255).astype(np.uint8)
    net = build_generator(_lean(skip_sharpen=1.0)).eval()
    x = torch.from_numpy(image.astype(np.float32) / 255 * 2 - 1)[None, None]
    with torch.no_grad():
        out = net(x)[0, 0].numpy()
    ours = np.rint(np.clip((out + 1) / 2, 0, 1) * 255)
    reference = unsharp(image).astype(float)
    assert np.max(np.abs(ours - image)) > 10  # it sharpens
    assert np.mean(np.abs(ours - reference)) < 1.0 and np.max(np.abs(ours - reference)) <= 8
    onnx_out = OnnxEngine(export_onnx_bytes(net, multiple=net.multiple))(x.numpy())
    assert np.max(np.abs(onnx_out - out[None, None])) < 1e-5
