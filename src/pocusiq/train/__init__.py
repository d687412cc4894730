"""pocusiq.train: configs, presets, losses, the pix2pix training loop, checkpoints, the demo.

Modules (import what you need; this package imports nothing heavy by itself):

* :mod:`pocusiq.train.config` -- typed dataclass configs (YAML/JSON, ``--set`` overrides);
* :mod:`pocusiq.train.presets` -- ``paper``, ``cpu`` and ``realtime`` presets (data: ``presets.yaml``);
* :mod:`pocusiq.train.schedule` -- the learning-rate schedule (training and distillation);
* :mod:`pocusiq.train.distill` -- distillation of a small (realtime) generator from a large one;
* :mod:`pocusiq.train.losses` -- GAN (BCE / least squares), L1, 1 - SSIM;
* :mod:`pocusiq.train.trainer` -- :func:`~pocusiq.train.trainer.train` (resumable, DDP);
* :mod:`pocusiq.train.checkpoints` -- checkpoints with the run's TrainConfig (the format and
  :func:`~pocusiq.models.checkpoints.load_generator` live in :mod:`pocusiq.models.checkpoints`);
* :mod:`pocusiq.train.evaluation` -- whole-image SSIM/PSNR of a generator on a split;
* :mod:`pocusiq.train.demo` -- ``pocusiq demo``.
"""
