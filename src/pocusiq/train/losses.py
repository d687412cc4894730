"""pix2pix losses: adversarial (vanilla BCE or least squares), L1 and SSIM.

Generator objective (images in the model's ``[-1, 1]`` range, see :mod:`pocusiq.models.unet`)::

    L_G = lambda_gan * GAN(D(x, G(x)), real) + lambda_l1 * |G(x) - y|_1
          + lambda_ssim * (1 - SSIM(G(x), y))
          + sum of the fidelity terms (output vs input x; :mod:`pocusiq.train.fidelity_losses`)

Discriminator objective: ``0.5 * (GAN(D(x, y), real) + GAN(D(x, G(x)), fake))`` (pix2pix halves
it to slow D relative to G). SSIM is :func:`pocusiq.metrics.ssim_torch` (11x11 Gaussian window,
sigma 1.5) on ``[0, 1]`` intensities (data range 1). Default weights: :class:`LossConfig`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pocusiq.metrics import ssim_torch
from pocusiq.train.config import LossConfig
from pocusiq.train.fidelity_losses import fidelity_losses

__all__ = ["adversarial_loss", "l1_loss", "ssim_loss", "GeneratorLosses", "generator_loss", "discriminator_loss"]


def adversarial_loss(logits: torch.Tensor, target_is_real: bool, mode: str = "vanilla") -> torch.Tensor:
    """GAN loss of patch logits against an all-real (1) or all-fake (0) target.

    ``vanilla``: mean binary cross-entropy with logits (``log(1 + exp(-z))`` for real);
    ``lsgan``: mean squared error of the raw outputs against 1 or 0.
    """
    target = torch.ones_like(logits) if target_is_real else torch.zeros_like(logits)
    if mode == "vanilla":
        return F.binary_cross_entropy_with_logits(logits, target)
    if mode == "lsgan":
        return F.mse_loss(logits, target)
    raise ValueError(f"gan mode must be 'vanilla' or 'lsgan', got {mode!r}")


def l1_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference (in the units of the inputs, here the ``[-1, 1]`` model range)."""
    return F.l1_loss(fake, real)


def ssim_loss(fake: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """``1 - SSIM`` of two ``(N, C, H, W)`` batches in the model range ``[-1, 1]`` (0 when identical)."""
    return 1.0 - ssim_torch((fake + 1.0) * 0.5, (real + 1.0) * 0.5, data_range=1.0)


class GeneratorLosses(dict):
    """The generator's loss terms: keys ``total``, ``gan``, ``l1``, ``ssim`` (the ``1 - SSIM`` term)
    and one per fidelity term of :data:`pocusiq.train.fidelity_losses.FIDELITY_TERMS`."""


def generator_loss(
    fake_logits: torch.Tensor | None, fake: torch.Tensor, real: torch.Tensor | None, config: LossConfig,
    low: torch.Tensor | None = None,
) -> GeneratorLosses:
    """Total generator loss and its terms (unweighted) as tensors; ``fake_logits`` may be ``None``
    when ``lambda_gan == 0`` (no discriminator pass needed). ``low`` (the generator's input, model
    range) feeds the fidelity terms; ``real`` may be ``None`` (unpaired training: no L1/SSIM)."""
    zero = fake.new_zeros(())
    gan = adversarial_loss(fake_logits, True, config.gan_mode) if fake_logits is not None else zero
    l1 = l1_loss(fake, real) if real is not None else zero
    ssim_term = ssim_loss(fake, real) if (config.lambda_ssim > 0 and real is not None) else zero
    total = config.lambda_gan * gan + config.lambda_l1 * l1 + config.lambda_ssim * ssim_term
    out = GeneratorLosses(gan=gan, l1=l1, ssim=ssim_term)
    for name, (weight, value) in fidelity_losses(fake, low, config).items():
        if weight > 0:
            total = total + weight * value
        out[name] = value
    out["total"] = total
    return out


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor, mode: str = "vanilla") -> torch.Tensor:
    """pix2pix discriminator loss ``0.5 * (GAN(real, 1) + GAN(fake, 0))``."""
    return 0.5 * (adversarial_loss(real_logits, True, mode) + adversarial_loss(fake_logits, False, mode))
