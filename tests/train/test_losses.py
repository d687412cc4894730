"""Losses on known inputs."""

from __future__ import annotations

import math

import pytest
import torch

from pocusiq.train.config import LossConfig
from pocusiq.train.losses import adversarial_loss, discriminator_loss, generator_loss, l1_loss, ssim_loss


def test_l1_of_known_tensors():
    a = torch.tensor([[[[0.0, 1.0], [-1.0, 0.5]]]])
    b = torch.tensor([[[[1.0, 1.0], [1.0, 0.0]]]])
    assert l1_loss(a, b).item() == pytest.approx((1 + 0 + 2 + 0.5) / 4)


def test_one_minus_ssim_zero_for_identical_and_positive_otherwise():
    torch.manual_seed(0)
    x = torch.rand(2, 1, 24, 24) * 2 - 1
    assert ssim_loss(x, x).item() == pytest.approx(0.0, abs=1e-6)
    assert ssim_loss(x, -x).item() > 1.0
    y = x.clone().requires_grad_(True)
    ssim_loss(y + 0.1 * torch.randn_like(y), x).backward()
    assert y.grad is not None and torch.isfinite(y.grad).all()


def test_bce_and_lsgan_targets():
    zeros = torch.zeros(1, 1, 3, 3)
    assert adversarial_loss(zeros, True, "vanilla").item() == pytest.approx(math.log(2))
    assert adversarial_loss(zeros, False, "vanilla").item() == pytest.approx(math.log(2))
    big = torch.full((1, 1, 2, 2), 20.0)
    assert adversarial_loss(big, True, "vanilla").item() == pytest.approx(0.0, abs=1e-8)
    assert adversarial_loss(big, False, "vanilla").item() == pytest.approx(20.0, rel=1e-6)
    x = torch.tensor([0.0, 0.5, 2.0])
    assert adversarial_loss(x, True, "lsgan").item() == pytest.approx((1 + 0.25 + 1) / 3)
    assert adversarial_loss(x, False, "lsgan").item() == pytest.approx((0 + 0.25 + 4) / 3)
    with pytest.raises(ValueError, match="gan mode"):
        adversarial_loss(x, True, "wgan")
    assert discriminator_loss(zeros, zeros).item() == pytest.approx(math.log(2))


def test_generator_total_is_weighted_sum():
    torch.manual_seed(0)
    fake, real = torch.rand(1, 1, 16, 16) * 2 - 1, torch.rand(1, 1, 16, 16) * 2 - 1
    logits = torch.zeros(1, 1, 4, 4)
    cfg = LossConfig(lambda_gan=2.0, lambda_l1=3.0, lambda_ssim=5.0)
    t = generator_loss(logits, fake, real, cfg)
    assert t["gan"].item() == pytest.approx(math.log(2))
    assert t["l1"].item() == pytest.approx((fake - real).abs().mean().item())
    assert t["total"].item() == pytest.approx(2 * t["gan"].item() + 3 * t["l1"].item() + 5 * t["ssim"].item(), rel=1e-5)
    t0 = generator_loss(None, fake, real, LossConfig(lambda_gan=0.0, lambda_ssim=0.0))
    assert t0["total"].item() == pytest.approx(100 * t["l1"].item(), rel=1e-6)
