"""The ``realtime`` preset: a U-Net small enough for live enhancement on 2 CPU cores.

Target: >= 30 frames/s at 256 x 256 on 2 CPU cores with ONNX Runtime (2 intra-op threads),
measured by ``bench/enhance_speed.py``. Same architecture as the paper model
(:class:`pocusiq.models.unet.UNetGenerator`, so checkpoints, ONNX export and the Enhancer work
unchanged) but:

* ``ngf = 8`` (paper 64): 64x fewer multiply-adds in the full-resolution layers;
* ``depth = 5`` (paper 8): input sides are multiples of 32; the receptive field still spans
  ~100 pixels, enough for speckle statistics;
* ``norm = "batch"``: at inference batch norm is an affine map that the ONNX exporter folds
  into the preceding convolution (instance norm cannot be folded: it costs two reductions per
  layer per frame);
* no dropout.

It is trained by distillation (:mod:`pocusiq.enhance.distill`) from the paper-size (or best
available) model. Presets used by ``pocusiq train`` live in :mod:`pocusiq.train.presets`
(owned by training); :func:`realtime_train_config` gives the values for a ``realtime`` entry there.
"""

from __future__ import annotations

from typing import Any

REALTIME_MODEL: dict[str, Any] = {"ngf": 8, "depth": 5, "norm": "batch", "dropout": 0.0}
"""Generator fields of the realtime preset (``pocusiq.train.config.ModelConfig`` keyword arguments)."""


def realtime_model_config() -> Any:
    """The realtime generator's :class:`pocusiq.train.config.ModelConfig`."""
    from pocusiq.train.config import ModelConfig

    return ModelConfig(**REALTIME_MODEL)


def realtime_train_config() -> Any:
    """A :class:`pocusiq.train.config.TrainConfig` for the ``realtime`` preset.

    Used to label distilled checkpoints (``preset: realtime``) and as the values proposed for
    ``pocusiq.train.presets``: the realtime generator, a 3-layer PatchGAN with ``ndf 32``,
    128 x 128 crops, batch 16 (batch norm needs batches > 1), GAN + 100 L1 + 10 (1 - SSIM).
    """
    from pocusiq.train.config import (
        DataConfig,
        DiscriminatorConfig,
        LossConfig,
        OptimConfig,
        TrainConfig,
    )

    return TrainConfig(
        preset="realtime",
        name="realtime",
        max_steps=4000,
        checkpoint_every=500,
        val_every=1000,
        log_every=50,
        model=realtime_model_config(),
        discriminator=DiscriminatorConfig(ndf=32, n_layers=3, norm="instance"),
        loss=LossConfig(gan_mode="vanilla", lambda_gan=1.0, lambda_l1=100.0, lambda_ssim=10.0),
        optim=OptimConfig(lr=2e-4, beta1=0.5, decay_start=0.5),
        data=DataConfig(crop=128, flip=True, batch_size=16, max_val_images=32),
    )
