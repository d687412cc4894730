"""UNetGenerator: shapes, range, depth vs size, dropout placement, init std, size checks."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pocusiq.errors import ConfigError
from pocusiq.models import ModelConfig, UNetGenerator, build_generator, depth_for_size, from_model_range, to_model_range


def test_output_shape_and_range_on_extreme_input():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(ngf=4, depth=5))
    x = torch.randn(2, 1, 32, 64) * 50  # drive tanh to saturation
    y = g(x)
    assert y.shape == (2, 1, 32, 64)
    assert y.min() >= -1.0 and y.max() <= 1.0
    assert isinstance(g.decoder[-1][-1], nn.Tanh)


@pytest.mark.parametrize("size,depth", [(256, 8), (128, 7), (32, 5), (2, 1)])
def test_depth_for_size_gives_1x1_bottleneck(size, depth):
    assert depth_for_size(size) == depth
    g = build_generator(ModelConfig(ngf=2, depth=depth))
    x = torch.zeros(1, 1, size, size)
    h = x
    for level in g.encoder:
        h = level(h)
    assert h.shape[-2:] == (1, 1)


def test_depth_for_size_rejects_non_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        depth_for_size(96)


def test_size_not_multiple_of_2_power_depth_is_refused_with_message():
    g = build_generator(ModelConfig(ngf=2, depth=4))
    with pytest.raises(ValueError, match="multiples of 16, got 24x32"):
        g(torch.zeros(1, 1, 24, 32))
    with pytest.raises(ValueError, match=r"expects \(N, 1, H, W\)"):
        g(torch.zeros(1, 3, 32, 32))


def test_channel_widths_and_dropout_follow_pix2pix_at_depth_8():
    g = build_generator(ModelConfig(ngf=8, depth=8))
    widths = [level[-1].out_channels if isinstance(level[-1], nn.Conv2d) else level[-2].out_channels for level in g.encoder]
    assert widths == [8, 16, 32, 64, 64, 64, 64, 64]
    has_dropout = [any(isinstance(m, nn.Dropout) for m in level) for level in g.decoder]
    # pix2pix: dropout in the 3 decoder blocks right after the innermost one
    assert has_dropout == [False, True, True, True, False, False, False, False]
    leaky = [any(isinstance(m, nn.LeakyReLU) for m in level) for level in g.encoder]
    assert leaky == [False] + [True] * 7
    for level in g.encoder:
        conv = [m for m in level if isinstance(m, nn.Conv2d)][0]
        assert conv.kernel_size == (4, 4) and conv.stride == (2, 2)


def test_paper_size_parameter_count_matches_pix2pix_unet256():
    # pix2pix's unet_256 (ngf 64, batch norm, RGB) prints "Total number of parameters : 54.414 M".
    with torch.device("meta"):  # shapes only: no memory, no initialisation cost
        g = build_generator(ModelConfig(ngf=64, depth=8, norm="batch", in_channels=3, out_channels=3))
        grey = build_generator(ModelConfig(ngf=64, depth=8, norm="batch"))
    assert round(sum(p.numel() for p in g.parameters()) / 1e6, 3) == 54.414
    # greyscale: the first conv loses 2*64*16 weights, the last transposed conv 2*128*16 + 2 biases
    n3 = sum(p.numel() for p in g.parameters())
    assert sum(p.numel() for p in grey.parameters()) == n3 - 2 * 64 * 16 - 2 * 128 * 16 - 2


def test_init_std_is_002():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(ngf=16, depth=6, norm="batch"))
    weights = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(weights.std().item() - 0.02) < 0.001
    assert abs(weights.mean().item()) < 0.001
    bn = torch.cat([m.weight.flatten() for m in g.modules() if isinstance(m, nn.BatchNorm2d)])
    assert abs(bn.mean().item() - 1.0) < 0.01


def test_instance_and_batch_norm_selectable():
    gi = build_generator(ModelConfig(ngf=2, depth=3, norm="instance"))
    gb = build_generator(ModelConfig(ngf=2, depth=3, norm="batch"))
    assert any(isinstance(m, nn.InstanceNorm2d) for m in gi.modules())
    assert not any(isinstance(m, nn.BatchNorm2d) for m in gi.modules())
    assert any(isinstance(m, nn.BatchNorm2d) for m in gb.modules())
    with pytest.raises(ConfigError, match="model.norm"):
        build_generator(ModelConfig(norm="group"))


def test_model_range_round_trip():
    x = torch.linspace(0, 1, 11)
    assert torch.allclose(to_model_range(x), torch.linspace(-1, 1, 11), atol=1e-6)
    assert torch.allclose(from_model_range(to_model_range(x)), x, atol=1e-6)
    assert from_model_range(torch.tensor([-3.0, 3.0])).tolist() == [0.0, 1.0]


def test_eval_mode_is_deterministic_train_mode_uses_dropout():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(ngf=4, depth=6, dropout_blocks=2))
    x = torch.rand(1, 1, 64, 64) * 2 - 1
    g.eval()
    assert torch.equal(g(x), g(x))
    g.train()
    assert not torch.equal(g(x), g(x))


def test_networks_take_plain_arguments_and_the_builder_maps_configs():
    from pocusiq.models import DiscriminatorConfig, PatchGANDiscriminator, build_discriminator

    torch.manual_seed(0)
    plain = UNetGenerator(ngf=4, depth=3, dropout_blocks=0)
    torch.manual_seed(0)
    built = build_generator(ModelConfig(ngf=4, depth=3))
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), built.state_dict().values()))
    assert built.model_config == ModelConfig(ngf=4, depth=3) and plain.multiple == 8
    with pytest.raises(TypeError, match=r"build_generator\(config\)"):
        UNetGenerator(ModelConfig())
    with pytest.raises(TypeError, match=r"build_discriminator\(config\)"):
        PatchGANDiscriminator(DiscriminatorConfig())
    assert isinstance(build_discriminator(DiscriminatorConfig(ndf=2, n_layers=2)), PatchGANDiscriminator)


def _outputs(upsample: str, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A random non-residual U-Net's output on a constant input and on that input + 5 % noise."""
    torch.manual_seed(seed)
    g = build_generator(ModelConfig(ngf=4, depth=3, dropout=0.0, upsample=upsample)).eval()
    flat = torch.full((1, 1, 96, 96), 0.3)
    noisy = flat + 0.05 * torch.randn(1, 1, 96, 96, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        return g(flat)[0, 0], g(noisy)[0, 0]


def _to01(y: torch.Tensor):
    y = y.numpy()
    return (y - y.min()) / (y.max() - y.min() + 1e-12)  # checkerboard energy is gain-invariant anyway


@pytest.mark.parametrize("seed", range(3))
def test_resize_upsampling_adds_no_checkerboard_transpose_does(seed):
    """Near-constant input: a random transpose-upsampled U-Net paints a period-2 pattern (checkerboard
    energy, the spectral peak at Nyquist over the band below, in the hundreds); a resize one leaves
    the spectrum smooth (<= ~1, as the input's). On an exactly constant input the resize output is
    exactly flat away from the zero-padded borders; the transpose one is not."""
    from pocusiq.metrics.fidelity import checkerboard_energy

    t_flat, t_noisy = _outputs("transpose", seed)
    r_flat, r_noisy = _outputs("resize", seed)
    e_transpose, e_resize = checkerboard_energy(_to01(t_noisy)), checkerboard_energy(_to01(r_noisy))
    assert e_transpose > 100.0, e_transpose
    assert e_resize < 1.5, e_resize
    inner = (slice(16, -16), slice(16, -16))
    assert float(r_flat[inner].std()) <= 1e-6 * float(r_flat.abs().max())
    assert float(t_flat[inner].std()) > 1e-2 * float(t_flat.abs().max())


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_resize_upsampling_shapes_range_and_builder(norm):
    torch.manual_seed(0)
    config = ModelConfig(ngf=4, depth=4, norm=norm, upsample="resize")
    g = build_generator(config)
    assert g.upsample == "resize" and g.model_config.upsample == "resize"
    assert not any(isinstance(m, nn.ConvTranspose2d) for m in g.modules())
    assert sum(isinstance(m, nn.Upsample) for m in g.modules()) == 4
    for h, w in [(16, 16), (48, 80), (16, 112)]:  # non-square, multiples of 16
        y = g(torch.rand(2, 1, h, w) * 2 - 1)
        assert y.shape == (2, 1, h, w) and y.min() >= -1 and y.max() <= 1
    with pytest.raises(ValueError, match="multiples of 16"):
        g(torch.zeros(1, 1, 24, 16))
    assert ModelConfig().upsample == "transpose"  # the pix2pix default, what old checkpoints used
    with pytest.raises(ConfigError, match="model.upsample"):
        build_generator(ModelConfig(ngf=4, depth=3, upsample="bilinear"))
    with pytest.raises(ValueError, match="upsample"):
        UNetGenerator(ngf=4, depth=3, upsample="pixelshuffle")


def test_resize_generator_at_odd_sizes_through_the_inference_path():
    """The shared inference path pads odd sizes to the multiple and crops back: same shape out."""
    from pocusiq.models.inference import enhance_batch

    torch.manual_seed(0)
    g = build_generator(ModelConfig(ngf=4, depth=3, upsample="resize", residual=True)).eval()
    rng = torch.Generator().manual_seed(1)
    for h, w in [(37, 53), (9, 101), (1, 17)]:
        images = torch.rand(2, 1, h, w, generator=rng)
        out = enhance_batch(g, images)
        assert out.shape == (2, 1, h, w)
        assert abs(out - images).max() <= 1e-6  # residual start: the identity, at any size


def test_resize_residual_generator_starts_as_exact_identity():
    torch.manual_seed(0)
    g = build_generator(ModelConfig(ngf=4, depth=4, norm="batch", residual=True, upsample="resize"))
    x = torch.rand(2, 1, 32, 48) * 2 - 1
    for mode in (g.train, g.eval):
        mode()
        assert torch.equal(g(x), x)
    last = [m for m in g.head if isinstance(m, nn.Conv2d)][-1]
    assert last.kernel_size == (3, 3) and not last.weight.any() and not last.bias.any()


def test_resize_head_reaches_the_finest_scale_only_through_the_input_branch():
    """Pixel-scale (period-2) detail needs the full-resolution input branch: the output's response to
    a checkerboard added to the input has a period-2 component with the branch, about none with the
    branch switched off -- the upsampled decoder path cannot make one."""
    torch.manual_seed(0)
    g = build_generator(ModelConfig(ngf=4, depth=3, dropout=0.0, upsample="resize")).eval()
    x = torch.rand(1, 1, 64, 64) * 1.6 - 0.8
    yy, xx = torch.meshgrid(torch.arange(64), torch.arange(64), indexing="ij")
    checker = ((yy + xx) % 2 * 2 - 1).float()[None, None]

    def period2_response() -> float:
        with torch.no_grad():
            d = (g(x + 0.05 * checker) - g(x))[0, 0, 8:-8, 8:-8]
        return abs(float((d * checker[0, 0, 8:-8, 8:-8]).mean())) / max(float(d.abs().mean()), 1e-12)

    with_branch = period2_response()
    with torch.no_grad():
        g.input_branch[0].weight.zero_()
    without_branch = period2_response()
    # measured 0.022 vs 0.0012 (the latter: the encoder's aliasing of the pattern, smooth, seen
    # through the finite window)
    assert with_branch > 0.005 and without_branch < with_branch / 10, (with_branch, without_branch)


def test_skip_sharpen_starts_as_the_unsharp_mask_baseline():
    """A fresh residual generator with ``skip_sharpen=1`` is the benchmark's unsharp mask (amount 1,
    sigma 1 px, skimage's mirror edges) to the grey level, borders included; the Gaussian is derived
    from the argument (not in the state dict); the option needs ``residual``."""
    import numpy as np

    from pocusiq.benchmark.baselines import unsharp

    rng = np.random.default_rng(0)
    image = (20 + 200 * rng.random((64, 96))).astype(np.uint8)
    plain = build_generator(ModelConfig(ngf=4, depth=3, norm="batch", residual=True, upsample="resize"))
    sharp = build_generator(ModelConfig(ngf=4, depth=3, norm="batch", residual=True, upsample="resize",
                                        skip_sharpen=1.0)).eval()
    assert sharp.state_dict().keys() == plain.state_dict().keys()
    with torch.no_grad():
        out = from_model_range(sharp(to_model_range(torch.from_numpy(image / 255.0).float()[None, None])))
    got = np.clip(np.rint(out[0, 0].numpy() * 255), 0, 255)
    assert np.array_equal(got, unsharp(image).astype(float))
    assert not np.array_equal(got, image.astype(float))
    with pytest.raises(ConfigError, match="skip_sharpen"):
        ModelConfig(skip_sharpen=1.0).check_consistency()
    with pytest.raises(ValueError, match="residual"):
        UNetGenerator(ngf=4, depth=3, skip_sharpen=1.0)
