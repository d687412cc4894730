"""pocusiq.view: look at before | after (layer 9: uses enhance readers and metrics).

* :mod:`~pocusiq.view.pairs` — which output belongs to which input (enhance folder, or two folders).
* :mod:`~pocusiq.view.frames` — bounded reading of stills/DICOM/video for display; PNG/JPEG encoding.
* :mod:`~pocusiq.view.scores` — NIQE/PIQE before and after; numbers from a JSON report, read generically.
* :mod:`~pocusiq.view.page` — ``pocusiq view``: one self-contained HTML page (data URIs, no network).
* :mod:`~pocusiq.view.app`, :mod:`~pocusiq.view.live` — ``pocusiq serve``: a local web app
  (Starlette + uvicorn, extra ``view``) for uploads and a live MJPEG stream.
* ``static/`` — the wipe's CSS and script, shared by the page and the app.

Importing this package imports nothing heavy.
"""
