"""Named training presets.

* ``paper``: the paper-size pix2pix model: 256x256 crops, U-Net depth 8 (1x1 bottleneck),
  ``ngf = ndf = 64``, 70x70 PatchGAN (3 layers), batch 1, GAN + 100 L1 + 100 (1 - SSIM).
* ``cpu``: a small model that learns something useful in a few minutes on 2 CPU cores
  (used by ``pocusiq demo``): 128x128 crops (the demo's whole 128^2 images), depth 7 (1x1
  bottleneck at 128), ``ngf 16``, ``ndf 16``, 3-layer PatchGAN, batch 4, 800 steps, and a
  heavier SSIM term (``lambda_ssim 300``). Why, measured on the demo's simulated 128^2 data
  (validation split, 16 images, input SSIM 0.367 / PSNR 19.56 dB; 1 CPU thread per run):

  - whole 128^2 images rather than 64^2 crops at depth 6 (earlier simulator version, 300
    steps): SSIM 0.366 vs 0.358, PSNR 22.60 vs 22.21 dB; whole-image training avoids the
    instance-norm statistics shift between small crops and whole images at inference;
  - ``lambda_ssim`` 300 rather than 100 (400-step runs): SSIM 0.382 vs 0.366, PSNR 21.62 vs
    21.79 dB; at 100 this small model barely beats the input's SSIM;
  - ``ngf 32`` learns faster per step but costs about 2x per step; at equal time ``ngf 16``
    was as good (SSIM 0.391 after 500 steps vs 0.385 after 200 steps of ``ngf 32``).

  Whole images of any size are evaluated (fully convolutional, padded to a multiple of 128).
* ``realtime``: the small live-inference generator of :mod:`pocusiq.enhance.realtime` (defined
  there, by the enhance area; usually trained by distillation).

``paper`` and ``cpu`` use instance norm: it behaves the same in training and inference, at batch 1, at any
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
        max_steps=800,
        checkpoint_every=100,
        val_every=100,
        log_every=10,
        model=ModelConfig(ngf=16, depth=7, norm="instance", dropout=0.5, dropout_blocks=1),
        discriminator=DiscriminatorConfig(ndf=16, n_layers=3, norm="instance"),
        loss=LossConfig(gan_mode="vanilla", lambda_gan=1.0, lambda_l1=100.0, lambda_ssim=300.0),
        optim=OptimConfig(lr=2e-4, beta1=0.5, decay_start=0.5),
        data=DataConfig(crop=128, flip=True, batch_size=4, max_val_images=16),
    )


def _realtime() -> TrainConfig:
    # Single source of truth: the enhance area's realtime (live-inference) model, trained by
    # distillation there; listed here so that ``pocusiq train --preset realtime`` also works.
    try:
        from pocusiq.enhance.realtime import realtime_train_config
    except ImportError as exc:  # enhance area not installed
        raise ConfigError(f"preset 'realtime' is unavailable: {exc}") from exc
    return realtime_train_config()


PRESETS = {"paper": _paper, "cpu": _cpu, "realtime": _realtime}


def preset_config(name: str) -> TrainConfig:
    """A fresh :class:`TrainConfig` for preset ``name`` ("paper", "cpu" or "realtime")."""
    try:
        factory = PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None
    return copy.deepcopy(factory())
