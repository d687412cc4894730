"""pocusiq.enhance: apply a trained generator to what users have (issue 6, the Enhancer API of issue 3).

* :mod:`~pocusiq.enhance.enhancer` — :class:`Enhancer` (``from pocusiq import Enhancer``): any-size
  greyscale/colour images, batches, frame streams, files; loads checkpoints or ONNX files.
* :mod:`~pocusiq.enhance.tiling` — reflect padding and overlap-blended tiles (no stretching, no seams).
* :mod:`~pocusiq.enhance.intensity` — dtype/range conversions, BT.601 luma for colour images.
* :mod:`~pocusiq.enhance.region` — enhance only inside the imaging region (ROI); bytes outside unchanged.
* :mod:`~pocusiq.enhance.image_io`, :mod:`~pocusiq.enhance.dicom_io`, :mod:`~pocusiq.enhance.video_io` —
  PNG/JPEG/TIFF, DICOM (derived images) and video (PyAV) readers/writers.
* :mod:`~pocusiq.enhance.files` — one file or many (folders walked), reports, no overwrite.
* :mod:`~pocusiq.enhance.engines`, :mod:`~pocusiq.enhance.onnx_export` — torch / ONNX Runtime engines,
  ONNX export with dynamic axes.
* the realtime preset and its distillation live with training (:mod:`pocusiq.train.presets`,
  :mod:`pocusiq.train.distill`).
* ``command`` / ``export_command`` — ``pocusiq enhance`` and ``pocusiq export``.

Importing this package imports nothing heavy (no torch).
"""
