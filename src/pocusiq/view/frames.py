"""Frames to show: read a still, DICOM or video through the enhance readers, keep a bounded,
evenly spaced subset of a cine loop, and encode frames for a browser.

A cine loop of thousands of frames is streamed and decimated while it is read (keep every
``stride``-th frame; when more than ``max_frames`` are kept, drop every second one and double the
stride), and only each kept frame's display JPEG is held (``prepare``), so memory stays bounded by
``max_frames`` small JPEGs whatever the loop's length; the few frames that are scored are read again
at full resolution (:func:`frames_at`). Multi-frame DICOM is decoded whole by the DICOM reader.

Encodings: stills are PNG (lossless: the page is for judging detail); cine frames are JPEG
(quality 90) after scaling the longer side to at most ``cine_max_side`` px (default 640): a 300-frame
loop of 1280x960 frames as PNG is ~100 MB of data URIs, as 640-px JPEG ~10 MB. The page says so.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.imaging import open_frames
from pocusiq.imaging.intensity import default_max_value
from pocusiq.errors import ImageFileError

DEFAULT_MAX_CINE_FRAMES = 240
"""Frames kept per cine loop on a page (8 s at 30 frames/s; ~5-10 MB of 640-px JPEG per side)."""
DEFAULT_CINE_MAX_SIDE = 640
CINE_JPEG_QUALITY = 90


@dataclass
class Frames:
    """Frames read from one file.

    Attributes:
        frames: kept frames: each ``(H, W)`` or ``(H, W, 3|4)`` in the file's dtype (uint8, uint16 or
            float), or what ``prepare`` made of it (see :func:`read_for_view`).
        indices: source frame number (0-based) of each kept frame.
        total: frames in the file.
        rate: frames per second (None for stills and DICOM without a frame time).
        max_value: full-scale value of the pixels (255, 65535, ``2**BitsStored - 1``, 1.0).
        size: ``(H, W)`` of the source frames (after ``left_half``).
    """

    frames: list[Any]
    indices: list[int]
    total: int
    rate: Fraction | None
    max_value: float
    size: tuple[int, int] = (0, 0)

    @property
    def stride(self) -> int:
        return self.indices[1] - self.indices[0] if len(self.indices) > 1 else 1


Prepare = Callable[[np.ndarray, float], Any]
"""``prepare(frame, max_value)``: what to keep of a frame (e.g. its display JPEG) instead of the frame."""


def decimate(frames: Iterable[np.ndarray], max_frames: int,
             prepare: Callable[[np.ndarray], Any] | None = None) -> tuple[list[Any], list[int], int]:
    """Keep at most ``max_frames`` evenly spaced frames of a stream of unknown length.

    Args:
        prepare: applied to a frame when it is kept (frames skipped at the current stride are
            never prepared; at most half of the prepared ones are dropped later).

    Returns:
        ``(kept, indices, total)``: kept frames are those whose index is a multiple of the final
        stride (a power of two), so they are evenly spaced from frame 0.
    """
    if max_frames < 1:
        raise ValueError(f"max_frames must be >= 1, got {max_frames}")
    kept: list[Any] = []
    indices: list[int] = []
    stride, total = 1, 0
    for index, frame in enumerate(frames):
        total = index + 1
        if index % stride:
            continue
        kept.append(prepare(frame) if prepare is not None else frame)
        indices.append(index)
        if len(kept) > max_frames:
            stride *= 2
            kept = [f for f, i in zip(kept, indices) if i % stride == 0]
            indices = [i for i in indices if i % stride == 0]
    return kept, indices, total


def _left_half(frame: np.ndarray) -> np.ndarray:
    return frame[:, : frame.shape[1] // 2]


def _open(path: Path, kind: str, left_half: bool) -> tuple[Iterator[np.ndarray], Fraction | None, float]:
    """``(frames, rate, max_value)`` of a file (:func:`pocusiq.imaging.open_frames`); frames are
    decoded lazily."""
    if kind not in ("image", "dicom", "video"):
        raise ImageFileError(f"{path}: unsupported file type {path.suffix or '(no suffix)'}")
    crop = _left_half if left_half else (lambda f: f)
    source = open_frames(path)
    if source.kind == "image":
        pixels = source.handle.pixels
        if pixels.ndim == 3 and pixels.shape[2] == 2:  # grey + alpha: show the grey
            pixels = pixels[..., 0]
        return iter([crop(pixels)]), None, default_max_value(pixels.dtype)
    # colour DICOM and video frames are 8-bit
    max_value = 255.0 if source.max_value is None else float(source.max_value)
    return (crop(f) for f in source.frames()), source.rate, max_value


def read_for_view(path: str | os.PathLike[str], kind: str, *, left_half: bool = False,
                  max_frames: int = DEFAULT_MAX_CINE_FRAMES, prepare: Prepare | None = None) -> Frames:
    """Read ``path`` (kind "image", "dicom" or "video") into :class:`Frames`.

    Args:
        left_half: keep only the left half of every frame (a ``--side-by-side`` file's input side).
        max_frames: most frames kept of a cine loop (see :func:`decimate`).
        prepare: keep ``prepare(frame, max_value)`` instead of each full frame: with
            :func:`display_jpeg` a 240-frame 1280x960 loop holds ~10 MB instead of ~900 MB.

    Raises:
        ImageFileError: the file cannot be read or has no frames (message names it).
    """
    path = Path(path)
    frames, rate, max_value = _open(path, kind, left_half)
    size: list[tuple[int, int]] = []

    def keep(frame: np.ndarray) -> Any:
        if not size:
            size.append(tuple(frame.shape[:2]))
        return prepare(frame, max_value) if prepare is not None else frame

    kept, indices, total = decimate(frames, max_frames, keep)
    if not kept:
        raise ImageFileError(f"{path}: holds no frames")
    return Frames(kept, indices, total, rate, max_value, size[0])


def frames_at(path: str | os.PathLike[str], kind: str, indices: Sequence[int], *,
              left_half: bool = False) -> list[np.ndarray]:
    """The full frames with the given source indices, in the order given (one streamed pass).

    Raises:
        ImageFileError: the file cannot be read or has fewer frames than asked for.
    """
    path = Path(path)
    wanted = set(indices)
    found: dict[int, np.ndarray] = {}
    frames, _, _ = _open(path, kind, left_half)
    for index, frame in enumerate(frames):
        if index in wanted:
            found[index] = frame
            if len(found) == len(wanted):
                break
    missing = sorted(wanted - set(found))
    if missing:
        raise ImageFileError(f"{path}: has no frame {missing[0] + 1} (it changed while being read?)")
    return [found[i] for i in indices]


def to_display(frame: np.ndarray, max_value: float) -> np.ndarray:
    """Any stored frame -> uint8 ``(H, W)`` or ``(H, W, 3)`` for a browser (``max_value`` -> 255)."""
    if frame.ndim == 3 and frame.shape[2] == 4:
        frame = frame[..., :3]
    if frame.dtype == np.uint8 and max_value == 255.0:
        return np.ascontiguousarray(frame)
    scaled = frame.astype(np.float64) * (255.0 / float(max_value))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def grey(frame: np.ndarray) -> np.ndarray:
    """``(H, W)`` greyscale of a frame in its own units (BT.601 luma of colour), float64."""
    from pocusiq.imaging.intensity import luma

    if frame.ndim == 3:
        return luma(frame[..., :3])
    return frame.astype(np.float64)


def scale_to(frame: np.ndarray, max_side: int) -> np.ndarray:
    """Downscale (area averaging) so the longer side is at most ``max_side``; never upscales."""
    import cv2

    h, w = frame.shape[:2]
    if max(h, w) <= max_side:
        return frame
    factor = max_side / max(h, w)
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    return cv2.resize(frame, size, interpolation=cv2.INTER_AREA)


def encode(frame: np.ndarray, fmt: str = "PNG", quality: int = CINE_JPEG_QUALITY) -> bytes:
    """uint8 ``(H, W)``/``(H, W, 3)`` -> PNG or JPEG bytes (Pillow)."""
    from PIL import Image

    buffer = io.BytesIO()
    image = Image.fromarray(frame)
    if fmt == "JPEG":
        image.save(buffer, format="JPEG", quality=quality)
    else:
        image.save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()


def data_uri(data: bytes, fmt: str = "PNG") -> str:
    """``data:image/png;base64,...`` (or jpeg) for inlining in a page."""
    mime = "image/jpeg" if fmt == "JPEG" else "image/png"
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def display_jpeg(max_side: int = DEFAULT_CINE_MAX_SIDE) -> Prepare:
    """A ``prepare`` for :func:`read_for_view`: each frame as a display JPEG, longer side <= ``max_side``."""

    def prepare(frame: np.ndarray, max_value: float) -> bytes:
        return encode(scale_to(to_display(frame, max_value), max_side), "JPEG")

    return prepare
