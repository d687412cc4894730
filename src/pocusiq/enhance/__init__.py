"""pocusiq.enhance: apply a trained generator to what users have (issue 6, the Enhancer API of issue 3).

* :mod:`~pocusiq.enhance.enhancer` — :class:`Enhancer` (``from pocusiq import Enhancer``): any-size
  greyscale/colour images, batches, frame streams, files; loads checkpoints or ONNX files.
* :mod:`~pocusiq.enhance.tiling` — reflect padding and overlap-blended tiles (no stretching, no seams).
* Files, pixels and regions come from the imaging layer (:mod:`pocusiq.imaging`: readers/writers
  by suffix, intensity/luma conversions, the imaging region and paste-inside).
* :mod:`~pocusiq.enhance.files` — one file or many (folders walked), reports, no overwrite.
* :mod:`~pocusiq.enhance.engines`, :mod:`~pocusiq.enhance.onnx_export` — torch / ONNX Runtime engines,
  ONNX export with dynamic axes.
* the realtime preset and its distillation live with training (:mod:`pocusiq.train.presets`,
  :mod:`pocusiq.train.distill`).
* ``command`` / ``export_command`` — ``pocusiq enhance`` and ``pocusiq export``.

Importing this package imports nothing heavy (no torch).
"""
