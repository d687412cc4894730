"""pocusiq.imaging: the ground floor for image files and pixels (layer 1: imports only errors/atomic).

Modules:

* :mod:`~pocusiq.imaging.intensity` -- the one place for value conversions: stored integers <->
  float [0, 1] (:func:`to_unit` / :func:`from_unit`), BT.601 luma and chroma-keeping luma
  replacement for colour frames.
* :mod:`~pocusiq.imaging.region` -- the one imaging-region type (:class:`ImagingRegion`), its
  detection in frames and screenshots, user choices (``auto`` / ``full`` / box), paste-inside.
* :mod:`~pocusiq.imaging.grey` -- greyscale image files (the dataset's 8/16-bit PNG), PNG headers.
* :mod:`~pocusiq.imaging.still` -- PNG/JPEG/TIFF keeping colour, alpha, bit depth and metadata.
* :mod:`~pocusiq.imaging.dicom` -- DICOM (single/multi-frame, streamed), derived-image writer,
  ultrasound regions and spacing.
* :mod:`~pocusiq.imaging.video` -- video files through PyAV, frame by frame.
* :mod:`~pocusiq.imaging.volumes` -- NIfTI, NRRD (incl. 3D Slicer sequences) and MHA through
  SimpleITK, 2-D frames and 2-D+t loops.

Readers are chosen by suffix, as MONAI's ``LoadImage`` does: :data:`FORMATS`
(:mod:`pocusiq.imaging.formats`) maps each suffix to a kind, :func:`file_kind` names a file's kind (DICOM also by its ``DICM`` marker), and
:func:`open_frames` opens any supported file as a :class:`FrameSource` (lazy frames plus what the
file says about rate, spacing and imaging region). Importing this package imports no decoder
library (Pillow, pydicom, PyAV are imported when a file is opened).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.errors import ImageFileError
from pocusiq.imaging.formats import DESCRIPTION, FORMATS, file_kind

__all__ = ["DESCRIPTION", "FORMATS", "FrameSource", "file_kind", "open_frames"]


@dataclass
class FrameSource:
    """An opened image file: its frames (decoded lazily) and what the file says about them.

    Attributes:
        path: the file.
        kind: "image", "dicom", "video" or "volume".
        count: number of frames the file declares (None if it does not say).
        rate: frames per second (video, or DICOM cine with a frame time), else None.
        spacing_mm: ``(x, y)`` pixel size in mm when the file records it, else None.
        region: the imaging region the file records (DICOM ultrasound regions), else None.
        max_value: full-scale value of integer frames (e.g. 4095 for 12-bit DICOM), None = dtype's.
        handle: the format module's own object (``StillImage``, ``DicomImage``, ``VideoInfo``).
    """

    path: Path
    kind: str
    count: int | None
    rate: Fraction | None = None
    spacing_mm: tuple[float, float] | None = None
    region: Any = None
    max_value: float | None = None
    handle: Any = None
    _frames: Callable[[], Iterator[np.ndarray]] = field(default=lambda: iter(()), repr=False)

    def frames(self) -> Iterator[np.ndarray]:
        """Decode the frames one at a time (``(H, W)`` grey or ``(H, W, C)`` colour)."""
        return self._frames()


def open_frames(path: str | os.PathLike[str], *, allow_partial: bool = False) -> FrameSource:
    """Open an image, DICOM or video file by its suffix (see :data:`FORMATS`).

    Raises:
        ImageFileError: unsupported suffix, missing file, or the format reader's error.
    """
    path = Path(path)
    if not path.is_file():
        raise ImageFileError(f"{path}: file not found" if not path.exists() else f"{path}: not a file")
    kind = file_kind(path)
    if kind == "image":
        from pocusiq.imaging.still import read_image

        still = read_image(path)
        return FrameSource(path, kind, 1, handle=still, _frames=lambda: iter([still.pixels]))
    if kind == "dicom":
        from pocusiq.imaging.dicom import read_dicom

        dicom = read_dicom(path)
        frame_time = dicom.dataset.get("FrameTime")  # type: ignore[attr-defined]
        rate = None
        if frame_time:
            try:
                rate = Fraction(1000) / Fraction(str(frame_time)) if float(frame_time) > 0 else None
            except (ValueError, ZeroDivisionError):
                rate = None
        return FrameSource(
            path, kind, dicom.number_of_frames, rate, dicom.spacing_mm, dicom.imaging_region(),
            None if dicom.is_colour else dicom.max_value, dicom, dicom.iter_frames,
        )
    if kind == "video":
        from pocusiq.imaging.video import probe_video, read_frames

        info = probe_video(path)
        return FrameSource(
            path, kind, info.frames or None, info.rate, handle=info,
            _frames=lambda: read_frames(path, allow_partial=allow_partial),
        )
    if kind == "volume":
        from pocusiq.imaging.volumes import read_volume

        volume = read_volume(path)
        rate = Fraction(1) / Fraction(volume.frame_interval_s).limit_denominator(100000) if volume.frame_interval_s else None
        return FrameSource(
            path, kind, int(volume.frames.shape[0]), rate, volume.spacing_mm, handle=volume,
            _frames=lambda: iter(volume.frames),
        )
    raise ImageFileError(f"{path}: unsupported file type {path.suffix or '(no suffix)'} (expected {DESCRIPTION})")
