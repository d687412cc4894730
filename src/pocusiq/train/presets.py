"""Named training presets.

* ``paper``: the paper-size pix2pix model: 256x256 crops, U-Net depth 8 (1x1 bottleneck),
  ``ngf = ndf = 64``, 70x70 PatchGAN (3 layers), batch 1, GAN + 100 L1 + 100 (1 - SSIM).
* ``cpu``: a small model that learns something useful in a few minutes on 2 CPU cores
  (used by ``pocusiq demo``): 64x64 random crops, depth 6 (1x1 bottleneck at 64), ``ngf 16``,
  ``ndf 16``, 3-layer PatchGAN, batch 8. Whole images are evaluated (fully convolutional).

Both use instance norm: it behaves the same in training and inference, at batch 1, at any
image size and under DistributedDataParallel (no cross-replica statistics needed).
"""

from __future__ import annotations

import copy

from pocusiq.errors import ConfigError
from pocusiq.train.config import (
    DataConfig,
    DiscriminatorConfig,
    LossConfig,
    ModelConfig,
    OptimConfig,
    TrainConfig,
)

__all__ = ["PRESETS", "preset_config"]


def _paper() -> TrainConfig:
    return TrainConfig(
        preset="paper",
        max_steps=200_000,
        checkpoint_every=1000,
        val_every=0,
        log_every=50,
        model=ModelConfig(ngf=64, depth=8, norm="instance", dropout=0.5),
        discriminator=DiscriminatorConfig(ndf=64, n_layers=3, norm="instance"),
        loss=LossConfig(gan_mode="vanilla", lambda_gan=1.0, lambda_l1=100.0, lambda_ssim=100.0),
        optim=OptimConfig(lr=2e-4, beta1=0.5, decay_start=0.5),
        data=DataConfig(crop=256, flip=True, batch_size=1),
    )


def _cpu() -> TrainConfig:
    return TrainConfig(
        preset="cpu",
        max_steps=600,
        checkpoint_every=100,
        val_every=200,
        log_every=10,
        model=ModelConfig(ngf=16, depth=6, norm="instance", dropout=0.5, dropout_blocks=1),
        discriminator=DiscriminatorConfig(ndf=16, n_layers=3, norm="instance"),
        loss=LossConfig(gan_mode="vanilla", lambda_gan=1.0, lambda_l1=100.0, lambda_ssim=100.0),
        optim=OptimConfig(lr=2e-4, beta1=0.5, decay_start=0.5),
        data=DataConfig(crop=64, flip=True, batch_size=8, max_val_images=16),
    )


PRESETS = {"paper": _paper, "cpu": _cpu}


def preset_config(name: str) -> TrainConfig:
    """A fresh :class:`TrainConfig` for preset ``name`` ("paper" or "cpu")."""
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
    return copy.deepcopy(factory())
