"""Frame sources: where the frames of one device come from during an acquisition pass.

* :class:`FrameSource` -- the interface: ``capture(pose, pose_index, frame_index)`` returns a
  :class:`CapturedFrame` (uint8 grey ``(H, W)`` or RGB ``(H, W, 3)`` plus what is known about
  its geometry).
* :class:`VideoCaptureSource` -- a frame grabber (e.g. an HDMI/USB capture of a POCUS app's
  screen), a video file or stream, read with OpenCV ``cv2.VideoCapture``. After a move the
  grabber's buffer may still hold frames from before it, so ``flush_frames`` are read and
  discarded before the frame that is kept.
* :class:`FolderWatchSource` -- the folder a scanner exports into (DICOM, PNG, JPEG, TIFF,
  BMP). It waits for a *new* file (one not present when the pass started), waits until its
  size has been stable for ``stable_s`` (so a file still being written is not read), and reads
  it; pixel spacing and the imaging region are taken from the DICOM header where present
  (``SequenceOfUltrasoundRegions``, else ``PixelSpacing``).

The simulated scanner lives in :mod:`pocusiq.acquire.scanner`.
"""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.acquire.plan import FolderDeviceConfig, Pose, VideoDeviceConfig
from pocusiq.acquire.session import FrameTruth
from pocusiq.errors import ImageFileError, PocusiqError

__all__ = [
    "CaptureTimeoutError",
    "CapturedFrame",
    "FolderWatchSource",
    "FrameSource",
    "VideoCaptureSource",
    "read_image_file",
    "to_color",
]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


class CaptureTimeoutError(PocusiqError):
    """A frame source produced no frame in time (no new exported file, no video frame)."""


@dataclass
class CapturedFrame:
    """One frame from a source.

    ``image``: uint8, (H, W) grey or (H, W, 3) RGB. ``pixel_spacing_mm``: (col, row) mm per
    pixel if known. ``region``: (col0, row0, width, height) of the imaging region if known.
    ``truth``: ground truth (simulated devices only). ``original``: a file to keep byte-exact
    beside the PNG (e.g. the exported DICOM). ``metadata``: extra JSON-able facts to log.
    """

    image: np.ndarray
    pixel_spacing_mm: tuple[float, float] | None = None
    region: tuple[int, int, int, int] | None = None
    truth: FrameTruth | None = None
    original: Path | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


class FrameSource(ABC):
    """A device's frames. ``name`` is the device name used in the session."""

    name: str

    def start_pass(self) -> None:
        """Called once before the first capture of a pass (e.g. to note existing files)."""

    @abstractmethod
    def capture(self, pose: Pose, pose_index: int, frame_index: int) -> CapturedFrame:
        """Capture one frame with the probe at ``pose`` (the stage's reported position)."""

    def close(self) -> None:
        """Release the device."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_color(image: np.ndarray, color: str) -> np.ndarray:
    """Convert uint8 grey (H, W) / RGB (H, W, 3) / RGBA (H, W, 4) to ``"grey"`` or ``"rgb"``."""
    import cv2

    if image.ndim == 3 and image.shape[2] == 4:
        image = cv2.cvtColor(image, cv2.COLOR_RGBA2RGB)
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    if color == "grey":
        return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if color == "rgb":
        return image if image.ndim == 3 else cv2.cvtColor(image, cv2.COLOR_GRAY2RGB)
    raise ValueError(f"color must be 'grey' or 'rgb', got {color!r}")


def _to_uint8(pixels: np.ndarray, bits: int | None) -> np.ndarray:
    if pixels.dtype == np.uint8:
        return pixels
    if np.issubdtype(pixels.dtype, np.integer):
        top = float(2 ** bits - 1) if bits else float(max(int(pixels.max()), 1))
        scaled = pixels.astype(np.float64) * (255.0 / top)
    else:
        low, high = float(pixels.min()), float(pixels.max())
        scaled = (pixels.astype(np.float64) - low) * (255.0 / max(high - low, 1e-12))
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


def _read_dicom(path: Path) -> tuple[np.ndarray, tuple[float, float] | None, tuple[int, int, int, int] | None]:
    """First frame (uint8), spacing (mm) and region box, through :mod:`pocusiq.imaging.dicom`."""
    from pocusiq.imaging.dicom import read_dicom, ultrasound_region_box

    dicom = read_dicom(path)
    pixels = next(dicom.iter_frames())  # display polarity (MONOCHROME1 inverted), YBR -> RGB
    image = _to_uint8(pixels, dicom.bits_stored if pixels.dtype != np.uint8 else None)
    found = ultrasound_region_box(dicom.dataset)
    return image, dicom.spacing_mm, found[0] if found is not None else None


def read_image_file(path: str | os.PathLike[str]) -> tuple[np.ndarray, tuple[float, float] | None, tuple[int, int, int, int] | None]:
    """Read an exported frame: ``(uint8 image, pixel_spacing_mm or None, region or None)``.

    DICOM (by content, any suffix) through pydicom; PNG/JPEG/TIFF/BMP through Pillow.
    Raises ImageFileError for unreadable files.
    """
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(132)
    except OSError as exc:  # missing, a folder, no permission
        raise ImageFileError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if head[128:132] == b"DICM" or path.suffix.lower() in (".dcm", ".dicom"):
        return _read_dicom(path)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode in ("I;16", "I;16B", "I"):
                return _to_uint8(np.asarray(img), 16 if img.mode.startswith("I;16") else None), None, None
            mode = "RGB" if img.mode in ("RGB", "RGBA", "P", "CMYK", "YCbCr") else "L"
            return np.asarray(img.convert(mode)), None, None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:  # Pillow: truncated/broken files
        raise ImageFileError(f"{path}: cannot read image ({exc})") from exc


class VideoCaptureSource(FrameSource):
    """Frames from ``cv2.VideoCapture(source)``: a grabber index, a video file or a stream URL.

    ``flush_frames`` frames are discarded before each kept frame. ``color`` is the output
    (``"rgb"`` or ``"grey"``). Known ``pixel_spacing_mm``/``region`` are passed through.
    """

    def __init__(
        self,
        name: str,
        source: int | str,
        *,
        flush_frames: int = 0,
        color: str = "rgb",
        pixel_spacing_mm: tuple[float, float] | None = None,
        region: tuple[int, int, int, int] | None = None,
    ) -> None:
        import cv2

        if flush_frames < 0:
            raise ValueError(f"flush_frames must be >= 0, got {flush_frames}")
        to_color(np.zeros((1, 1), np.uint8), color)  # validates color
        self.name = name
        self.source = source
        self.flush_frames = flush_frames
        self.color = color
        self.pixel_spacing_mm = pixel_spacing_mm
        self.region = region
        self._capture = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            self._capture.release()
            raise ImageFileError(f"device {name!r}: cannot open video source {source!r} with OpenCV")

    @classmethod
    def from_config(cls, config: VideoDeviceConfig) -> VideoCaptureSource:
        return cls(
            config.name,
            config.source,
            flush_frames=config.flush_frames,
            color=config.color,
            pixel_spacing_mm=config.pixel_spacing_mm,
            region=config.region,
        )

    def capture(self, pose: Pose, pose_index: int, frame_index: int) -> CapturedFrame:
        import cv2

        for _ in range(self.flush_frames):
            self._capture.grab()
        ok, frame = self._capture.read()
        if not ok or frame is None:
            raise CaptureTimeoutError(
                f"device {self.name!r}: no frame from video source {self.source!r} "
                f"(pose {pose_index}, frame {frame_index}; end of file or grabber disconnected)"
            )
        if frame.ndim == 3:
            frame = cv2.cvtColor(frame, cv2.COLOR_BGR2RGB)
        if frame.dtype != np.uint8:
            frame = _to_uint8(frame, None)
        return CapturedFrame(
            image=to_color(frame, self.color),
            pixel_spacing_mm=self.pixel_spacing_mm,
            region=self.region,
            metadata={"video_frame": int(self._capture.get(cv2.CAP_PROP_POS_FRAMES)) - 1},
        )

    def close(self) -> None:
        self._capture.release()


class FolderWatchSource(FrameSource):
    """Frames a scanner exports into ``folder``: one new, complete file per capture.

    A file counts as new if it was not in the folder when :meth:`start_pass` ran (or when an
    earlier capture took it); complete once its size is non-zero and unchanged for
    ``stable_s`` seconds *and* it parses. The oldest new file (by modification time, then
    name) is taken. Raises CaptureTimeoutError if none is complete within ``timeout_s``
    (ImageFileError if a file appeared but never became readable).
    """

    def __init__(
        self,
        name: str,
        folder: str | os.PathLike[str],
        *,
        pattern: str = "*",
        stable_s: float = 0.5,
        timeout_s: float = 60.0,
        poll_s: float = 0.05,
        color: str = "grey",
        pixel_spacing_mm: tuple[float, float] | None = None,
        region: tuple[int, int, int, int] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        to_color(np.zeros((1, 1), np.uint8), color)
        self.name = name
        self.folder = Path(folder)
        self.pattern = pattern
        self.stable_s = float(stable_s)
        self.timeout_s = float(timeout_s)
        self.poll_s = float(poll_s)
        self.color = color
        self.pixel_spacing_mm = pixel_spacing_mm
        self.region = region
        self._clock = clock
        self._sleep = sleep
        self._seen: set[str] = set()
        self._started = False

    @classmethod
    def from_config(cls, config: FolderDeviceConfig) -> FolderWatchSource:
        return cls(
            config.name,
            config.path,
            pattern=config.pattern,
            stable_s=config.stable_s,
            timeout_s=config.timeout_s,
            poll_s=config.poll_s,
            color=config.color,
            pixel_spacing_mm=config.pixel_spacing_mm,
            region=config.region,
        )

    def _listing(self) -> dict[str, os.stat_result]:
        if not self.folder.is_dir():
            raise ImageFileError(f"device {self.name!r}: export folder {self.folder} does not exist")
        found = {}
        for path in self.folder.glob(self.pattern):
            name = path.name
            if name.startswith(".") or name.endswith((".tmp", ".part", ".partial", ".crdownload")):
                continue
            try:
                info = path.stat()
            except FileNotFoundError:
                continue
            if path.is_file():
                found[path.relative_to(self.folder).as_posix()] = info  # patterns may recurse (**)
        return found

    def start_pass(self) -> None:
        """Note the files already present; only files appearing after this are captured."""
        self._seen = set(self._listing())
        self._started = True

    def wait_for_file(self) -> tuple[Path, np.ndarray, tuple[float, float] | None, tuple[int, int, int, int] | None]:
        """Block until a new, complete file exists and read it: ``(path, image, spacing, region)``.

        A file whose size is stable but that does not parse yet (a writer pausing longer than
        ``stable_s``) is retried until it parses or ``timeout_s`` passes; then its read error
        is raised. The file is marked as taken once read.
        """
        if not self._started:
            self.start_pass()
        deadline = self._clock() + self.timeout_s
        sizes: dict[str, tuple[int, float]] = {}  # name -> (size, time the size was first seen)
        last_error: ImageFileError | None = None
        while True:
            now = self._clock()
            listing = self._listing()
            candidates = sorted(
                (info.st_mtime, name) for name, info in listing.items() if name not in self._seen
            )
            for _, name in candidates:
                size = listing[name].st_size
                previous = sizes.get(name)
                if previous is None or previous[0] != size:
                    sizes[name] = (size, now)
                elif size > 0 and now - previous[1] >= self.stable_s:
                    path = self.folder / name
                    try:
                        image, spacing, region = read_image_file(path)
                    except (ImageFileError, OSError) as exc:
                        last_error = exc if isinstance(exc, ImageFileError) else ImageFileError(f"{path}: {exc}")
                        sizes[name] = (size, now)  # not complete yet: wait another stable_s
                        continue
                    self._seen.add(name)
                    return path, image, spacing, region
            if now >= deadline:
                if last_error is not None:
                    raise last_error
                raise CaptureTimeoutError(
                    f"device {self.name!r}: no new complete file matching {self.pattern!r} in "
                    f"{self.folder} within {self.timeout_s:g} s"
                )
            self._sleep(self.poll_s)

    def capture(self, pose: Pose, pose_index: int, frame_index: int) -> CapturedFrame:
        path, image, spacing, region = self.wait_for_file()
        return CapturedFrame(
            image=to_color(image, self.color),
            pixel_spacing_mm=self.pixel_spacing_mm or spacing,
            region=self.region or region,
            original=path,
            metadata={"source_file": path.relative_to(self.folder).as_posix()},
        )
