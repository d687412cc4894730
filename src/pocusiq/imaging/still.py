"""Read and write PNG, JPEG and TIFF images (Pillow), keeping format, bit depth and metadata.

Reading gives a NumPy array the :class:`~pocusiq.enhance.enhancer.Enhancer` accepts:

* ``1`` / ``L`` -> uint8 ``(H, W)`` (``1`` as 0/255); ``I;16*`` / ``I`` (values <= 65535) ->
  uint16 ``(H, W)``: these greyscale files are read by :func:`pocusiq.imaging.grey.read_grey_image`,
  the project's one greyscale reader;
* ``F`` (float TIFF) -> float32 ``(H, W)``, which must lie in [0, 1];
* ``RGB`` / ``RGBA`` -> uint8 ``(H, W, 3|4)``; ``LA`` -> uint8 ``(H, W, 2)`` (grey + alpha);
* ``P`` (palette) and ``CMYK`` are converted to RGB(A) (written back as RGB(A)).

This module exists beside :mod:`pocusiq.imaging.grey` because enhancement must keep what a
dataset reader drops: colour channels, alpha, float TIFFs, the file's format and metadata.

Writing uses the input's format and mode, and stores :data:`NOT_FOR_DIAGNOSIS`-style notes:
a PNG ``tEXt`` chunk (``Comment``, ``Software``), the JPEG comment (COM segment, quality 95,
4:4:4), the TIFF ``ImageDescription`` tag (lossless compression kept). Resolution (dpi) is kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from pocusiq.atomic import atomic_path
from pocusiq.imaging.grey import read_grey_image
from pocusiq.errors import ImageFileError

IMAGE_SUFFIXES = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".tif": "TIFF", ".tiff": "TIFF"}
_LOSSLESS_TIFF = {"raw", "tiff_lzw", "tiff_adobe_deflate", "tiff_deflate", "packbits"}


@dataclass
class StillImage:
    """A decoded still image.

    Attributes:
        pixels: ``(H, W)`` uint8/uint16/float32 or ``(H, W, 2|3|4)`` uint8 (grey+alpha, RGB, RGBA).
        format: "PNG", "JPEG" or "TIFF".
        info: what is carried to the output (dpi, TIFF compression).
    """

    pixels: np.ndarray
    format: str
    info: dict[str, Any] = field(default_factory=dict)


#: Pillow modes decoded by :func:`pocusiq.imaging.grey.read_grey_image` (one greyscale reader for
#: the whole project); the other modes (colour, grey + alpha, float) are decoded here.
_GREY_MODES = ("1", "L", "I", "I;16", "I;16B", "I;16L")


def read_image(path: str | os.PathLike[str]) -> StillImage:
    """Decode a PNG/JPEG/TIFF file (first page of a multi-page TIFF).

    Greyscale files go through :func:`pocusiq.imaging.grey.read_grey_image` (``1``/``L`` ->
    uint8, 16-bit -> uint16); colour, grey + alpha and float files are decoded here because
    enhancement keeps their channels.

    Raises:
        ImageFileError: naming ``path``: unreadable, truncated, an unsupported mode or format,
            or float data outside [0, 1].
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as img:  # reads the header only; pixels are decoded below
            fmt = img.format or IMAGE_SUFFIXES.get(path.suffix.lower(), "PNG")
            if fmt not in ("PNG", "JPEG", "TIFF", "MPO"):
                raise ImageFileError(f"{path}: unsupported image format {fmt} (expected PNG, JPEG or TIFF)")
            info: dict[str, Any] = {}
            if "dpi" in img.info:
                info["dpi"] = tuple(float(v) for v in img.info["dpi"])
            if fmt == "TIFF":
                info["compression"] = img.info.get("compression", "raw")
            pixels = None if img.mode in _GREY_MODES else _multichannel_array(img, path)
    except FileNotFoundError as exc:
        raise ImageFileError(f"{path}: file not found") from exc
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageFileError(f"{path}: cannot read image: {exc}") from exc
    if pixels is None:
        pixels = read_grey_image(path)
    return StillImage(pixels=pixels, format="JPEG" if fmt == "MPO" else fmt, info=info)


def _multichannel_array(img: Any, path: Path) -> np.ndarray:
    """Decode a non-greyscale Pillow image: RGB(A)/LA -> uint8 (H, W, C); F -> float32 (H, W)."""
    mode = img.mode
    if mode in ("RGB", "RGBA", "LA"):
        return np.asarray(img, dtype=np.uint8).copy()
    if mode == "F":
        arr = np.asarray(img, dtype=np.float32).copy()
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1):
            raise ImageFileError(f"{path}: floating-point image must hold values in [0, 1]")
        return arr
    if mode in ("P", "PA"):
        return np.asarray(img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")).copy()
    if mode in ("CMYK", "YCbCr"):
        return np.asarray(img.convert("RGB")).copy()
    raise ImageFileError(f"{path}: unsupported image mode {mode!r} (expected greyscale, 16-bit grey or RGB)")


def write_image(path: str | os.PathLike[str], pixels: np.ndarray, like: StillImage, note: str) -> None:
    """Encode ``pixels`` (as :func:`read_image` returns them) in ``like``'s format, atomically.

    Args:
        path: output file; its suffix should match the format.
        pixels: the image to write.
        like: the decoded input (format, dpi, compression are copied).
        note: text stored in the file (PNG text chunk, JPEG comment, TIFF ImageDescription).
    """
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    from pocusiq import __version__

    fmt = like.format
    img = Image.fromarray(np.ascontiguousarray(pixels))  # uint16 -> I;16, (H, W, 2) -> LA
    options: dict[str, Any] = {}
    if "dpi" in like.info:
        options["dpi"] = like.info["dpi"]
    if fmt == "PNG":
        meta = PngInfo()
        meta.add_text("Comment", note)
        meta.add_text("Software", f"pocusiq {__version__}")
        options["pnginfo"] = meta
    elif fmt == "JPEG":
        if img.mode in ("LA", "RGBA"):
            raise ImageFileError(f"{path}: JPEG cannot hold an alpha channel")
        options.update(quality=95, subsampling=0, comment=note.encode("utf-8"))
    elif fmt == "TIFF":
        compression = like.info.get("compression", "raw")
        options["compression"] = compression if compression in _LOSSLESS_TIFF else "raw"
        options["tiffinfo"] = {270: note, 305: f"pocusiq {__version__}"}
    else:  # pragma: no cover - read_image only returns the three formats
        raise ImageFileError(f"{path}: cannot write format {fmt}")
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt, **options)

