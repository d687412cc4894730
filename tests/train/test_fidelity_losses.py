"""Fidelity loss terms: identity is free; erased, smeared or invented structure costs."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage

from pocusiq.train.config import LossConfig
from pocusiq.train.fidelity_losses import (
    coarse,
    fidelity_losses,
    gaussian_blur,
    invented_structure,
    lowfreq_consistency,
    structure_consistency,
)
from pocusiq.train.losses import generator_loss


def speckle(size: int = 96, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = ndimage.gaussian_filter(rng.rayleigh(1.0, (size, size)), 1.0)
    return (img - img.min()) / np.ptp(img)


def as_model(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x.astype(np.float32))[None, None] * 2 - 1


def disc(size: int, cy: int, cx: int, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r


def test_gaussian_blur_keeps_the_mean_and_matches_scipy_inside():
    x = torch.rand(1, 1, 64, 64, dtype=torch.float64)
    y = gaussian_blur(x, 2.0)
    ref = ndimage.gaussian_filter(x[0, 0].numpy(), 2.0, truncate=3.0, mode="mirror")
    assert np.allclose(y[0, 0, 10:-10, 10:-10].numpy(), ref[10:-10, 10:-10], atol=2e-3)
    assert abs(float(y.mean() - x.mean())) < 1e-2


def test_identity_costs_nothing():
    x = as_model(speckle())
    for value in (lowfreq_consistency(x, x, 4.0), structure_consistency(x, x), invented_structure(x, x, 6.0, 0.0)):
        assert float(value) == pytest.approx(0.0, abs=1e-6)


def test_lowfreq_catches_a_new_cyst_not_fine_texture():
    base = speckle()
    cyst = base.copy()
    cyst[disc(96, 48, 48, 8)] = 0.0  # an invented anechoic spot, 16 px across
    yy, xx = np.mgrid[:96, :96]
    texture = base + 0.1 * np.where((yy + xx) % 2 == 0, 1.0, -1.0)  # +-0.1 checkerboard: fine, zero-mean detail
    x = as_model(base)
    cost_cyst = float(lowfreq_consistency(as_model(cyst), x, 4.0))
    cost_texture = float(lowfreq_consistency(as_model(texture), x, 4.0))
    assert cost_cyst > 3 * cost_texture > 0


def test_structure_catches_an_erased_wire_and_a_painted_streak_but_not_sharpening():
    base = 0.3 * np.ones((96, 96))
    wire = base.copy()
    wire[disc(96, 40, 40, 2)] = 1.0
    x = as_model(wire)
    erased = as_model(base)
    streak = wire.copy()
    streak[70, 10:86] = 1.0  # a bright row the input has no evidence for
    blurred = ndimage.gaussian_filter(wire, 1.0)
    sharpened = np.clip(wire + 1.0 * (wire - blurred), 0, 1)  # unsharp mask, gain < max_gain
    assert float(structure_consistency(erased, x)) > 0.01
    assert float(structure_consistency(as_model(streak), x)) > 0.002
    assert float(structure_consistency(as_model(sharpened), x, 1.0, 2.5)) < 0.2 * float(structure_consistency(erased, x))


def test_invented_catches_a_bright_spot_within_margin_otherwise():
    base = speckle(seed=2)
    spot = base.copy()
    spot[disc(96, 30, 60, 7)] = 1.0
    x = as_model(base)
    assert float(invented_structure(as_model(spot), x, 4.0, 0.02)) > 0.001
    assert float(invented_structure(as_model(base * 0.98 + 0.01), x, 4.0, 0.02)) == pytest.approx(0.0, abs=1e-7)


def test_coarse_pools_large_scales_and_matches_a_full_blur():
    x = as_model(speckle(128, seed=4))
    pooled = coarse(x, 8.0)  # factor 4 grid
    assert pooled.shape[-1] == 32
    full = gaussian_blur(x, 8.0)[..., 1::4, 1::4]
    assert float((pooled - full)[..., 4:-4, 4:-4].abs().mean()) < 0.02


def test_generator_loss_adds_weighted_fidelity_terms_and_backpropagates():
    low = as_model(speckle(64, seed=5))
    real = as_model(speckle(64, seed=6))
    fake = (low + 0.2 * torch.randn_like(low)).clamp(-1, 1).requires_grad_(True)
    cfg = LossConfig(lambda_gan=0, lambda_l1=1, lambda_ssim=0, lambda_lowfreq=10, lambda_structure=3,
                     lambda_invented=7, invented_sigma_px=3.0, invented_margin=0.0)
    terms = generator_loss(None, fake, real, cfg, low=low)
    expected = terms["l1"] + 10 * terms["lowfreq"] + 3 * terms["structure"] + 7 * terms["invented"]
    assert float(terms["total"].detach()) == pytest.approx(float(expected.detach()), rel=1e-6)
    assert all(float(terms[k]) > 0 for k in ("lowfreq", "structure", "invented"))
    terms["total"].backward()
    assert fake.grad is not None and float(fake.grad.abs().sum()) > 0
    # paper recipe: weights 0 -> the fidelity terms are not computed and add nothing
    plain = generator_loss(None, fake, real, LossConfig(lambda_gan=0, lambda_ssim=0), low=low)
    assert float(plain["lowfreq"]) == 0.0 and float(plain["total"]) == pytest.approx(100 * float(plain["l1"]))
    assert set(fidelity_losses(fake, low, cfg)) == {"lowfreq", "structure", "points", "invented", "checkerboard"}


@pytest.mark.parametrize("key,value", [("lambda_lowfreq", -1.0), ("lowfreq_sigma_px", 0.0), ("structure_max_gain", 0.5)])
def test_loss_config_rejects_bad_fidelity_values(key, value):
    from pocusiq.errors import ConfigError

    with pytest.raises(ConfigError, match=key):
        LossConfig(**{key: value}).validate()


def test_points_term_catches_a_dimmed_wire_not_despeckled_background():
    from pocusiq.train.fidelity_losses import point_targets_kept

    rng = np.random.default_rng(3)
    base = 0.3 + 0.02 * rng.standard_normal((96, 96))
    wire = base.copy()
    wire[disc(96, 50, 50, 1.5)] = 0.9
    x = as_model(wire)
    dimmed = wire.copy()
    dimmed[disc(96, 50, 50, 1.5)] = 0.5
    smoothed = wire.copy()
    smoothed[~disc(96, 50, 50, 3)] = 0.3  # background despeckled, the wire untouched
    assert float(point_targets_kept(x, x)) == 0.0
    assert float(point_targets_kept(as_model(dimmed), x)) > 4 * float(point_targets_kept(as_model(smoothed), x))


def test_checkerboard_term_catches_a_faint_pixel_grid_not_sharpening():
    """The training twin of the checkerboard metric: a grid of 1 % of the speckle's range costs, an
    unsharp mask (which raises speckle at and below Nyquist alike) and a gain do not; the gradient
    pushes the grid out."""
    from pocusiq.metrics.fidelity import checkerboard_energy
    from pocusiq.train.fidelity_losses import checkerboard_added

    base = speckle(128, seed=2)
    yy, xx = np.mgrid[:128, :128]
    grid = base + 0.01 * np.where((yy + xx) % 2 == 0, 1.0, -1.0)
    stripes = base + 0.01 * np.where(yy % 2 == 0, 1.0, -1.0)
    sharpened = base + 1.0 * (base - ndimage.gaussian_filter(base, 1.0))
    x = as_model(base)
    assert float(checkerboard_added(x, x)) == 0.0
    assert float(checkerboard_added(as_model(0.5 * base + 0.2), x)) == pytest.approx(0.0, abs=1e-4)
    assert float(checkerboard_added(as_model(sharpened), x)) < 0.05
    for planted in (grid, stripes):
        assert float(checkerboard_added(as_model(planted), x)) > 1.0
    # the metric agrees on which outputs have a grid
    assert checkerboard_energy(grid) > 10 * checkerboard_energy(base)
    assert checkerboard_energy(sharpened) < 1.5 * checkerboard_energy(base)
    fake = as_model(grid).requires_grad_(True)
    checkerboard_added(fake, x).backward()
    step = fake.detach() - 0.02 * fake.grad / fake.grad.abs().max()  # one small step down the gradient
    assert float(checkerboard_added(step, x)) < float(checkerboard_added(as_model(grid), x))


def test_checkerboard_term_is_finite_and_fair_on_flat_crops():
    """A constant crop (black margins: ~45 % of the real screenshots' 128 px crops) has no spectrum:
    a smooth change of it must cost ~nothing and stay finite, a visible grid must still cost."""
    from pocusiq.train.fidelity_losses import checkerboard_added

    flat = torch.full((1, 1, 128, 128), -0.9)
    yy, xx = torch.meshgrid(torch.arange(128.0), torch.arange(128.0), indexing="ij")
    smooth = (flat + 1e-3 * torch.sin(yy / 20.0)).requires_grad_(True)
    cost = checkerboard_added(smooth, flat)
    cost.backward()
    assert float(cost) < 0.05 and float(smooth.grad.abs().max()) < 1.0
    ramp = torch.round((torch.linspace(-1, -0.8, 128).view(1, 1, 1, 128).expand(1, 1, 128, 128)) * 127.5) / 127.5
    assert float(checkerboard_added(ramp + 1e-3 * torch.sin(yy / 20.0), ramp)) < 0.05  # quantised near-flat
    grid = flat + 0.01 * (1 - 2 * ((yy + xx) % 2))  # 1.3 grey levels on black
    assert float(checkerboard_added(grid, flat)) > 1.0
