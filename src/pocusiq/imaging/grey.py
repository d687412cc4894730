"""Greyscale image files: read any common format, write 8/16-bit greyscale PNG.

Used project-wide for image files. On disk, pocusiq datasets hold **8- or 16-bit greyscale PNG**
(PNG colour type 0). In memory an image is a 2-D ``numpy`` array ``(H, W)`` of ``uint8``
(0..255) or ``uint16`` (0..65535); networks and metrics use ``float32`` in ``[0, 1]``
(:func:`pocusiq.imaging.intensity.to_unit` / :func:`~pocusiq.imaging.intensity.from_unit`).

Reading uses Pillow (decodes PNG, JPEG, BMP, TIFF, ... and detects truncated files).
:func:`png_header` parses the PNG ``IHDR`` chunk itself (24 bytes) because Pillow does not
report a PNG's stored bit depth/colour type (a 1-, 2- or 4-bit PNG opens as mode ``"L"``),
and the dataset validator must tell those apart.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np
from PIL import Image, PngImagePlugin, UnidentifiedImageError

from pocusiq.atomic import atomic_path
from pocusiq.errors import ImageFileError
from pocusiq.imaging.intensity import grey_from_rgb, is_grey

PathLike = str | os.PathLike[str]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

# PNG colour type -> (name, channels) as in the PNG specification, section 11.2.2.
PNG_COLOUR_TYPES: dict[int, tuple[str, int]] = {
    0: ("greyscale", 1),
    2: ("RGB", 3),
    3: ("palette", 1),
    4: ("greyscale+alpha", 2),
    6: ("RGBA", 4),
}

__all__ = [
    "PNG_COLOUR_TYPES",
    "PngHeader",
    "common_bit_depth",
    "png_header",
    "read_png_text",
    "read_grey_image",
    "write_grey_png",
]


@dataclass(frozen=True)
class PngHeader:
    """The ``IHDR`` fields of a PNG file: size in pixels, bits per sample, colour type."""

    width: int
    height: int
    bit_depth: int
    colour_type: int

    @property
    def colour_name(self) -> str:
        return PNG_COLOUR_TYPES.get(self.colour_type, (f"colour type {self.colour_type}", 0))[0]

    @property
    def channels(self) -> int:
        return PNG_COLOUR_TYPES.get(self.colour_type, ("", 0))[1]

    @property
    def is_dataset_grey(self) -> bool:
        """True for the dataset format: greyscale (colour type 0) with 8 or 16 bits."""
        return self.colour_type == 0 and self.bit_depth in (8, 16)


def png_header(path: PathLike) -> PngHeader:
    """Read the ``IHDR`` chunk of the PNG file ``path``.

    Raises :class:`ImageFileError` naming the file if it is missing, not a PNG, or shorter
    than a PNG header.
    """
    try:
        with open(path, "rb") as handle:
            head = handle.read(33)
    except OSError as exc:
        raise ImageFileError(f"{path}: cannot open ({exc.strerror or exc})") from exc
    if len(head) < 8 or head[:8] != PNG_SIGNATURE:
        raise ImageFileError(f"{path}: not a PNG file (bad signature)")
    if len(head) < 33 or head[12:16] != b"IHDR":
        raise ImageFileError(f"{path}: truncated PNG file (no complete IHDR header)")
    width, height, bit_depth, colour_type = struct.unpack(">IIBB", head[16:26])
    return PngHeader(width=width, height=height, bit_depth=bit_depth, colour_type=colour_type)


def read_png_text(path: PathLike) -> dict[str, str]:
    """The ``tEXt``/``iTXt`` chunks of a PNG file as ``{key: value}`` (empty for other formats).

    Raises :class:`ImageFileError` naming the file if it cannot be opened.
    """
    try:
        with Image.open(path) as img:
            text = getattr(img, "text", None)
            return {str(k): str(v) for k, v in (text or {}).items()}
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageFileError(f"{path}: cannot read image metadata ({exc})") from exc


def _grey_from_channels(rgb: np.ndarray, path: PathLike, convert: bool, what: str) -> np.ndarray:
    """(H, W, 3) -> (H, W) if all channels are equal, or by BT.601 luma if ``convert``."""
    if not convert and not is_grey(rgb):
        raise ImageFileError(
            f"{path}: {what} image with differing colour channels; expected greyscale "
            "(pass convert=True / --convert-rgb to convert it to luma)"
        )
    return grey_from_rgb(rgb)


def read_grey_image(path: PathLike, *, convert: bool = False) -> np.ndarray:
    """Read an image file as a greyscale array.

    Args:
        path: any format Pillow reads (PNG, JPEG, BMP, TIFF, ...).
        convert: if False, a colour image (RGB/RGBA/palette) is accepted only when its colour
            channels are identical; otherwise it is converted to luma (0.299 R + 0.587 G + 0.114 B).
            A fully opaque alpha channel is dropped; a non-opaque one is an error.

    Returns:
        ``(H, W)`` ``uint8`` (8-bit or less sources) or ``uint16`` (16-bit sources).

    Raises:
        ImageFileError: naming ``path``, if it is missing, unreadable, truncated, not greyscale
            (and ``convert`` is False), has a transparent alpha channel, or is a float/32-bit image.
    """
    try:
        with Image.open(path) as img:
            img.load()
            mode = img.mode
            if mode == "P":
                img = img.convert("RGBA" if "transparency" in img.info else "RGB")
                mode = img.mode
            array = np.asarray(img)
    except FileNotFoundError as exc:
        raise ImageFileError(f"{path}: file not found") from exc
    except UnidentifiedImageError as exc:
        raise ImageFileError(f"{path}: not a readable image file") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageFileError(f"{path}: cannot decode image, truncated or corrupt ({exc})") from exc

    if mode == "1":
        return array.astype(np.uint8) * np.uint8(255)
    if mode == "L":
        return np.ascontiguousarray(array, dtype=np.uint8)
    if mode in ("I;16", "I;16B", "I;16L"):
        return np.ascontiguousarray(array, dtype=np.uint16)
    if mode == "I":
        if array.size and (array.min() < 0 or array.max() > 65535):
            raise ImageFileError(
                f"{path}: 32-bit integer image with values outside 0..65535; expected 8 or 16 bits"
            )
        return array.astype(np.uint16)
    if mode in ("LA", "RGBA"):
        alpha = array[..., -1]
        if not np.all(alpha == np.iinfo(array.dtype).max):
            raise ImageFileError(f"{path}: {mode} image with transparent pixels; expected greyscale")
        if mode == "LA":
            return np.ascontiguousarray(array[..., 0])
        return _grey_from_channels(array[..., :3], path, convert, mode)
    if mode == "RGB":
        return _grey_from_channels(array, path, convert, mode)
    raise ImageFileError(
        f"{path}: unsupported image mode {mode!r} ({array.dtype}); expected 8- or 16-bit greyscale"
    )


def _check_grey_array(image: np.ndarray, what: str = "image") -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"{what} must be a numpy array, got {type(image).__name__}")
    if image.ndim != 2:
        raise ValueError(f"{what} must be 2-D (H, W) greyscale, got shape {image.shape}")
    if image.dtype not in (np.uint8, np.uint16):
        raise TypeError(
            f"{what} must be uint8 or uint16, got {image.dtype} "
            "(use pocusiq.imaging.intensity.from_unit for [0, 1] floats)"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"{what} is empty (shape {image.shape})")
    return np.ascontiguousarray(image)


def write_grey_png(
    path: PathLike, image: np.ndarray, *, text: dict[str, str] | None = None
) -> None:
    """Write ``image`` as an 8-bit (``uint8``) or 16-bit (``uint16``) greyscale PNG, atomically.

    Args:
        path: target file; its folder is created if needed.
        image: ``(H, W)`` ``uint8`` or ``uint16``.
        text: optional ``tEXt`` chunks (key -> value), e.g. provenance.

    The bytes are a deterministic function of ``image`` and ``text`` (no timestamps), so
    re-writing the same array gives the same file and the same sha256.
    """
    image = _check_grey_array(image)
    pnginfo = None
    if text:
        pnginfo = PngImagePlugin.PngInfo()
        for key, value in text.items():
            pnginfo.add_text(str(key), str(value))
    mode = "L" if image.dtype == np.uint8 else "I;16"
    pil = Image.fromarray(image)
    if pil.mode != mode:  # pragma: no cover - guards against a Pillow mapping change
        raise ValueError(f"cannot write {image.dtype} as a greyscale PNG (Pillow gave mode {pil.mode})")
    with atomic_path(path) as tmp:
        pil.save(tmp, format="PNG", pnginfo=pnginfo, compress_level=6)


def common_bit_depth(*images: np.ndarray) -> list[np.ndarray]:
    """``uint8``/``uint16`` images on one scale: if any is 16-bit, 8-bit ones become 16-bit.

    An 8-bit value ``v`` becomes ``257 v`` (0 -> 0, 255 -> 65535), exactly the same fraction of
    full scale, so metrics and side-by-side images compare like with like. Images that already
    share a dtype are returned as they are.

    Raises:
        TypeError: an image is not ``uint8`` or ``uint16``.
    """
    for image in images:
        if image.dtype not in (np.uint8, np.uint16):
            raise TypeError(f"common_bit_depth expects uint8 or uint16 images, got {image.dtype}")
    if len({image.dtype for image in images}) <= 1:
        return list(images)
    return [image.astype(np.uint16) * np.uint16(257) if image.dtype == np.uint8 else image for image in images]
