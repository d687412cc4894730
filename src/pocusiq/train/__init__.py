"""pocusiq.train: configs, presets, losses, the pix2pix training loop, checkpoints, the demo.

Modules (import what you need; this package imports nothing heavy by itself):

* :mod:`pocusiq.train.config` -- typed dataclass configs (YAML/JSON, ``--set`` overrides);
* :mod:`pocusiq.train.presets` -- ``paper`` and ``cpu`` presets;
* :mod:`pocusiq.train.losses` -- GAN (BCE / least squares), L1, 1 - SSIM;
* :mod:`pocusiq.train.trainer` -- :func:`~pocusiq.train.trainer.train` (resumable, DDP);
* :mod:`pocusiq.train.checkpoints` -- safetensors checkpoints,
  :func:`~pocusiq.train.checkpoints.load_generator` for inference;
* :mod:`pocusiq.train.evaluation` -- whole-image SSIM/PSNR of a generator on a split;
* :mod:`pocusiq.train.demo` -- ``pocusiq demo``.
"""
