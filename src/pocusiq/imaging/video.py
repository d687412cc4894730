"""Read and write videos (screen recordings, cine exports) with PyAV, frame by frame.

Frames are decoded as RGB24 ``(H, W, 3)`` uint8 (grey videos give R = G = B), so the
enhancer works on luma and colour UI elements keep their hue. The output keeps the input's
container (by suffix), frame size, frame count and frame rate (the stream's average rate,
e.g. 30000/1001), with frame ``i`` at ``pts = i`` in a time base of ``1 / rate``.

Time stamps: every frame is stamped in one fixed time base, ``1 / rate``, which is also the
encoder's (``codec_context.time_base``); PyAV rescales the packets to whatever time base the
muxer picks for the stream. (Stamping frames with the *stream's* time base broke every clip
longer than libx264's look-ahead: the MP4 muxer changes the stream's time base from 1/30 to
1/15360 when it writes its header, later frames got pts 0, and muxing failed with
"Invalid argument ... returned 22".) Frames are decoded and encoded one at a time, so memory
does not grow with the clip's length.

Partial reads: :func:`read_frames` compares the number of frames decoded with the count the
container declares (when it declares one) and raises :class:`ImageFileError` naming both,
unless told to accept a partial read (then it warns), so a truncated file is never enhanced
silently into a shorter clip.

Codecs written: H.264 (libx264, CRF 17, preset veryfast, yuv420p; yuv444p when a side is odd) for .mp4/.mov/
.m4v/.mkv, MPEG-4 part 2 (high quality, qscale 2, yuv420p) for .avi and wherever libx264 is
absent, except that frames with an odd side (which yuv420p cannot hold) go to Motion JPEG
(yuvj444p, q 2) instead. Encoding is lossy, so outside the ROI pixels match the input only up to
codec error; the not-for-diagnosis note goes into the container's ``comment`` metadata.
Preset veryfast rather than medium: on 60 noisy 1280x960 frames it encoded in 1.86 s instead of
7.05 s (2 busy cores) at a similar size (902 vs 1023 kB) at the same CRF, which matters for
cine loops of thousands of frames.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
import warnings
from pathlib import Path

import numpy as np

from pocusiq.atomic import atomic_path
from pocusiq.errors import ImageFileError
from pocusiq.imaging.formats import FORMATS

VIDEO_SUFFIXES = {suffix for suffix, kind in FORMATS.items() if kind == "video"}


@dataclass(frozen=True)
class VideoInfo:
    """Stream properties of a video file.

    Attributes:
        rate: frames per second (exact fraction).
        width, height: frame size in pixels.
        frames: frame count stored in the container (0 if unknown).
        codec: decoder name (e.g. "h264").
    """

    rate: Fraction
    width: int
    height: int
    frames: int
    codec: str


def _av():
    """PyAV, or an error naming the extra that installs it."""
    try:
        import av
    except ImportError as exc:
        raise ImageFileError(
            "video files need PyAV, which is not installed: pip install 'pocusiq[video]' "
            "(its wheels bundle GPL-licensed x264/x265; see the README's licences section)"
        ) from exc
    return av


def _open(path: Path):
    av = _av()

    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise ImageFileError(f"{path}: cannot open video: {exc}") from exc
    if not container.streams.video:
        container.close()
        raise ImageFileError(f"{path}: file holds no video stream")
    return container


def probe_video(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's rate, size and stored frame count without decoding it."""
    path = Path(path)
    container = _open(path)
    try:
        stream = container.streams.video[0]
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise ImageFileError(f"{path}: video stream has no frame rate")
        return VideoInfo(
            Fraction(rate), int(stream.codec_context.width), int(stream.codec_context.height),
            int(stream.frames or 0), str(stream.codec_context.name),
        )
    finally:
        container.close()


class PartialReadWarning(UserWarning):
    """A video held fewer decodable frames than its container declares (read anyway)."""


def read_frames(path: str | os.PathLike[str], *, allow_partial: bool = False) -> Iterator[np.ndarray]:
    """Decode a video lazily: yields ``(H, W, 3)`` uint8 RGB frames in display order.

    Args:
        path: the video file.
        allow_partial: when the container declares N frames and fewer decode (a truncated or
            damaged file), warn (:class:`PartialReadWarning`) instead of raising.

    Raises:
        ImageFileError: the file cannot be opened, decoding fails part-way, or fewer frames
            decode than the container declares ("expected N frames, read M").
    """
    av = _av()
    path = Path(path)
    container = _open(path)
    count = 0
    try:
        stream = container.streams.video[0]
        expected = int(stream.frames or 0)
        stream.thread_type = "AUTO"
        try:
            for frame in container.decode(stream):
                count += 1
                yield frame.to_ndarray(format="rgb24")
        except av.error.FFmpegError as exc:
            raise ImageFileError(f"{path}: video decoding failed after {count} frame(s): {exc}") from exc
        if expected and count < expected:
            message = (
                f"{path}: the container declares {expected} frames but only {count} could be decoded "
                "(truncated or damaged file)"
            )
            if not allow_partial:
                raise ImageFileError(message + "; pass --allow-partial to enhance the frames that decode")
            warnings.warn(message, PartialReadWarning, stacklevel=2)
    finally:
        container.close()


def _codec_for(suffix: str, width: int, height: int) -> tuple[str, str, dict[str, str]]:
    av = _av()

    odd = width % 2 or height % 2
    if suffix != ".avi" and "libx264" in av.codecs_available:
        return "libx264", "yuv444p" if odd else "yuv420p", {"crf": "17", "preset": "veryfast"}
    if odd:
        return "mjpeg", "yuvj444p", {"q:v": "2"}
    return "mpeg4", "yuv420p", {"qscale": "2"}


class VideoWriter:
    """Encode RGB frames ``(H, W, 3)`` uint8 into a video file, atomically (a context manager).

    The container follows ``path``'s suffix; the frame size comes from the first frame. The file
    appears at ``path`` only when the ``with`` block ends without an error and at least one
    frame was written.

    >>> with VideoWriter("out.mp4", rate=Fraction(30), note="...") as writer:  # doctest: +SKIP
    ...     for frame in frames:
    ...         writer.write(frame)
    """

    def __init__(self, path: str | os.PathLike[str], *, rate: Fraction, note: str) -> None:
        self.path = Path(path)
        self.rate = Fraction(rate)
        self.note = note
        self.count = 0
        self._stack = contextlib.ExitStack()
        self._tmp: Path | None = None
        self._container = None
        self._stream = None
        self._size: tuple[int, int] | None = None
        # one fixed time base for frames and encoder; the muxer may pick another for the stream
        self._time_base = Fraction(1, 1) / self.rate

    def __enter__(self) -> VideoWriter:
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        return self

    def _open(self, height: int, width: int) -> None:
        av = _av()

        codec, pix_fmt, options = _codec_for(self.path.suffix.lower(), width, height)
        self._container = av.open(str(self._tmp), mode="w", format=_container_format(self.path.suffix.lower()))
        self._container.metadata["comment"] = self.note
        stream = self._container.add_stream(codec, rate=self.rate, options=options)
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.time_base = self._time_base
        self._stream = stream
        self._size = (height, width)

    def write(self, frame: np.ndarray) -> None:
        """Encode one ``(H, W, 3)`` uint8 RGB frame (all frames the first one's size)."""
        av = _av()

        if frame.ndim != 3 or frame.shape[2] < 3 or frame.dtype != np.uint8:
            raise ValueError(f"{self.path}: video frames must be (H, W, 3) uint8, got {frame.shape} {frame.dtype}")
        if self._container is None:
            self._open(*frame.shape[:2])
        if frame.shape[:2] != self._size:
            raise ImageFileError(
                f"{self.path}: frame {self.count} is {frame.shape[1]}x{frame.shape[0]}, "
                f"expected {self._size[1]}x{self._size[0]}"
            )
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame[..., :3]), format="rgb24")
        video_frame.pts = self.count
        video_frame.time_base = self._time_base
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if self._container is not None:
                try:
                    if exc_type is None:
                        for packet in self._stream.encode():
                            self._container.mux(packet)
                finally:
                    self._container.close()
            if exc_type is None and self.count == 0:
                raise ImageFileError(f"{self.path}: no frames to write (the source video has no frames)")
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        return bool(self._stack.__exit__(exc_type, exc, tb))


def write_video(
    path: str | os.PathLike[str],
    frames: Iterable[np.ndarray],
    *,
    rate: Fraction,
    note: str,
) -> int:
    """Encode RGB frames ``(H, W, 3)`` uint8 into a video at ``path`` (atomically).

    Returns:
        The number of frames written.

    Raises:
        ImageFileError: ``frames`` is empty, or frames change size.
    """
    with VideoWriter(path, rate=rate, note=note) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.count


def _container_format(suffix: str) -> str:
    return {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".avi": "avi", ".mkv": "matroska"}.get(suffix, "mp4")

