"""Read DICOM images (single and multi-frame) and write enhanced copies as derived images (pydicom).

The project's one pydicom reader: enhancement, acquisition (:mod:`pocusiq.acquire.sources`)
and the format dispatch of :mod:`pocusiq.imaging` use it. Spacing and the imaging region come
from the Sequence of Ultrasound Regions (0018,6011) when present (:func:`ultrasound_region_box`),
else PixelSpacing (:func:`pixel_spacing_mm`).

Reading (:func:`read_dicom`, then :meth:`DicomImage.iter_frames`, one frame at a time):

* photometric interpretations MONOCHROME2, MONOCHROME1 (inverted to "white = bright" for the
  network and back on writing), RGB, YBR_FULL and YBR_FULL_422 (pydicom returns RGB for the YBR
  ones, uncompressed or JPEG);
* any transfer syntax for which pydicom has an available pixel-data decoder: native (uncompressed),
  RLE, and the JPEG family through the pylibjpeg / Pillow plugins installed as dependencies;
  others raise :class:`ImageFileError` naming the file and the transfer syntax;
* unsigned data only (``PixelRepresentation`` 0); the full-scale value is ``2**BitsStored - 1``.

Writing (:class:`DerivedDicomWriter`, :func:`write_derived_dicom`: frames streamed to disk) keeps every attribute of the source (patient, study,
equipment, frame timing such as FrameTime / FrameTimeVector / CineRate) and changes what a
derived image must change: new SOP Instance UID and Series Instance UID, ImageType
``DERIVED\\SECONDARY``, DerivationDescription naming pocusiq and the model, ImageComments with
the not-for-diagnosis note, a SourceImageSequence pointing to the source instance, and pixel
data written uncompressed (Explicit VR Little Endian). A multi-frame source stays multi-frame.
The icon image (a thumbnail of the original pixels) is dropped.
"""

from __future__ import annotations

import contextlib
import copy
import datetime
import os
import struct
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pocusiq.atomic import atomic_path, scratch_path
from pocusiq.errors import ImageFileError, RegionNotFoundError
from pocusiq.imaging.region import ImagingRegion

SUPPORTED_PHOTOMETRIC = {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422"}


@dataclass
class DicomImage:
    """A DICOM image whose frames are decoded on demand, one at a time.

    Attributes:
        dataset: the pydicom ``Dataset`` without its pixel data (every other attribute as read).
        path: the file the frames are read from.
        number_of_frames: F.
        frame_shape: ``(H, W)`` (grey) or ``(H, W, 3)`` (RGB).
        dtype: uint8 or uint16.
        max_value: full-scale value (``2**BitsStored - 1``).
        bits_stored: BitsStored of the output (8 for colour data decoded to 8-bit RGB).
        multi_frame: whether the source has a NumberOfFrames attribute (kept on output).
        inverted: the source was MONOCHROME1 and frames are inverted to "white = bright".

    :meth:`iter_frames` streams the frames (memory: one frame), :attr:`frames` stacks them
    all (``(F, H, W[, 3])``; for short files and tests).
    """

    dataset: object
    path: Path
    number_of_frames: int
    frame_shape: tuple[int, ...]
    dtype: np.dtype
    max_value: float
    bits_stored: int
    multi_frame: bool
    inverted: bool = False

    @property
    def is_colour(self) -> bool:
        return len(self.frame_shape) == 3

    @property
    def spacing_mm(self) -> tuple[float, float] | None:
        """Pixel size ``(x, y)`` in mm: the ultrasound region's PhysicalDeltaX/Y, else PixelSpacing; None if absent."""
        found = ultrasound_region_box(self.dataset)
        if found is not None and found[1] is not None:
            return found[1]
        return pixel_spacing_mm(self.dataset)

    def imaging_region(self) -> ImagingRegion | None:
        """The imaging region from the Sequence of Ultrasound Regions (0018,6011), or None when absent/invalid."""
        found = ultrasound_region_box(self.dataset)
        if found is None:
            return None
        try:
            return ImagingRegion.from_box(found[0], self.frame_shape, "linear")
        except RegionNotFoundError:
            return None

    def iter_frames(self) -> Iterator[np.ndarray]:
        """Decode the frames one at a time (display polarity), each ``frame_shape`` of ``dtype``.

        Raises:
            ImageFileError: decoding fails, or fewer frames decode than NumberOfFrames says.
        """
        from pydicom.pixels import iter_pixels

        count = 0
        try:
            for pixels in iter_pixels(self.path):
                frame = np.ascontiguousarray(pixels.astype(self.dtype, copy=False))
                if frame.shape != self.frame_shape:
                    raise ImageFileError(
                        f"{self.path}: frame {count} has shape {frame.shape}, expected {self.frame_shape}"
                    )
                if self.inverted:
                    frame = (np.asarray(self.max_value, dtype=np.float64) - frame).astype(self.dtype)
                count += 1
                yield frame
        except ImageFileError:
            raise
        except Exception as exc:  # pydicom raises many types for broken pixel data
            raise ImageFileError(
                f"{self.path}: cannot decode pixel data of frame {count} "
                f"({self.dataset.file_meta.TransferSyntaxUID.name}): {exc}"
            ) from exc
        if count != self.number_of_frames:
            raise ImageFileError(
                f"{self.path}: NumberOfFrames is {self.number_of_frames} but {count} frame(s) were read"
            )

    @property
    def frames(self) -> np.ndarray:
        """All frames, ``(F, H, W)`` or ``(F, H, W, 3)`` (loads the whole file)."""
        return np.stack(list(self.iter_frames()))


def pixel_spacing_mm(ds: object) -> tuple[float, float] | None:
    """``(x, y)`` mm per pixel from PixelSpacing (row spacing, column spacing), or None."""
    value = getattr(ds, "get", lambda *_: None)("PixelSpacing")
    try:
        row_mm, col_mm = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    if not (row_mm > 0 and col_mm > 0):
        return None
    return col_mm, row_mm


def ultrasound_region_box(
    ds: object,
) -> tuple[tuple[int, int, int, int], tuple[float, float] | None] | None:
    """The tissue image's box and spacing from the Sequence of Ultrasound Regions (0018,6011).

    Takes the first region whose RegionSpatialFormat is 1 (2-D) and RegionDataType is 1 (tissue)
    when those are given, else the first region.

    Returns:
        ``((x, y, w, h), (dx_mm, dy_mm) or None)`` or None when the sequence is absent. The
        spacing is PhysicalDeltaX/Y when both physical units are 3 (cm), converted to mm.
    """
    regions = getattr(ds, "get", lambda *_: None)("SequenceOfUltrasoundRegions")
    if not regions:
        return None
    chosen = None
    for item in regions:
        spatial = int(item.get("RegionSpatialFormat", 1) or 1)
        data_type = int(item.get("RegionDataType", 1) or 1)
        if spatial == 1 and data_type == 1:
            chosen = item
            break
    chosen = chosen if chosen is not None else regions[0]
    try:
        x0, y0 = int(chosen.RegionLocationMinX0), int(chosen.RegionLocationMinY0)
        x1, y1 = int(chosen.RegionLocationMaxX1), int(chosen.RegionLocationMaxY1)
    except (AttributeError, TypeError, ValueError):
        return None
    if x1 < x0 or y1 < y0:
        return None
    spacing = None
    if int(chosen.get("PhysicalUnitsXDirection", 0) or 0) == 3 and int(chosen.get("PhysicalUnitsYDirection", 0) or 0) == 3:
        try:
            dx, dy = abs(float(chosen.PhysicalDeltaX)) * 10.0, abs(float(chosen.PhysicalDeltaY)) * 10.0
            spacing = (dx, dy) if dx > 0 and dy > 0 else None
        except (AttributeError, TypeError, ValueError):
            spacing = None
    return (x0, y0, x1 - x0 + 1, y1 - y0 + 1), spacing


def read_dicom(path: str | os.PathLike[str]) -> DicomImage:
    """Open a DICOM image file: read its attributes and check that its frames can be decoded.

    Pixel data is not loaded here (see :meth:`DicomImage.iter_frames`), so a multi-frame file of
    thousands of frames costs one frame of memory at a time.

    Raises:
        ImageFileError: not DICOM, no pixel data, unsupported transfer syntax / photometric
            interpretation / signed data, or pixel data shorter than its attributes say; the
            message names the file.
    """
    path = Path(path)
    try:
        import pydicom
        from pydicom.errors import InvalidDicomError
        from pydicom.pixels import get_decoder
    except ImportError as exc:
        raise ImageFileError(f"{path}: DICOM files need pydicom, which is not installed: pip install 'pocusiq[dicom]'") from exc

    try:
        ds = pydicom.dcmread(path, defer_size="256 KB")
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ImageFileError(f"{path}: cannot read DICOM file: {exc}") from exc
    if "PixelData" not in ds:
        raise ImageFileError(f"{path}: DICOM file holds no pixel data (not an image)")
    meta = getattr(ds, "file_meta", None)
    ts = getattr(meta, "TransferSyntaxUID", None) if meta is not None else None
    if ts is None:
        raise ImageFileError(f"{path}: DICOM file has no Transfer Syntax UID in its file meta information")
    if ts.is_compressed:
        try:
            decoder = get_decoder(ts)
        except NotImplementedError:
            raise ImageFileError(
                f"{path}: unsupported transfer syntax {ts.name} ({ts}): no pixel-data decoder exists for it"
            ) from None
        if not decoder.is_available:
            missing = "; ".join(decoder.missing_dependencies) or "a decoder plugin"
            raise ImageFileError(
                f"{path}: transfer syntax {ts.name} ({ts}) cannot be decoded here (missing: {missing})"
            )
    photometric = str(ds.get("PhotometricInterpretation", "")).strip()
    if photometric not in SUPPORTED_PHOTOMETRIC:
        raise ImageFileError(
            f"{path}: unsupported photometric interpretation {photometric!r} "
            f"(supported: {', '.join(sorted(SUPPORTED_PHOTOMETRIC))})"
        )
    if int(ds.get("PixelRepresentation", 0)) != 0:
        raise ImageFileError(f"{path}: signed pixel data (PixelRepresentation 1) is not supported")
    samples = int(ds.get("SamplesPerPixel", 1))
    if samples not in (1, 3):
        raise ImageFileError(f"{path}: {samples} samples per pixel is not supported (1 or 3)")
    try:
        rows, columns = int(ds.Rows), int(ds.Columns)
    except (AttributeError, TypeError, ValueError) as exc:
        raise ImageFileError(f"{path}: DICOM image lacks valid Rows/Columns: {exc}") from exc
    number_of_frames = int(ds.get("NumberOfFrames", 1) or 1)
    multi_frame = "NumberOfFrames" in ds
    bits_allocated = int(ds.get("BitsAllocated", 8))
    bits_stored = int(ds.get("BitsStored", bits_allocated))
    if bits_allocated > 16:
        raise ImageFileError(f"{path}: {bits_allocated}-bit pixel data is not supported (8 or 16 bits)")
    if not ts.is_compressed:
        expected = rows * columns * samples * number_of_frames * ((bits_allocated + 7) // 8)
        if photometric == "YBR_FULL_422":
            expected = expected * 2 // 3
        length = _element_length(ds, "PixelData")
        if length is not None and length < expected:
            raise ImageFileError(
                f"{path}: pixel data holds {length} bytes, {expected} expected for {number_of_frames} "
                f"frame(s) of {columns}x{rows}x{samples} (truncated file?)"
            )
    del ds[0x7FE00010]  # by tag: deleting by keyword would load a deferred value
    frame_shape = (rows, columns) if samples == 1 else (rows, columns, 3)
    dtype = np.dtype(np.uint8 if bits_allocated <= 8 else np.uint16)
    return DicomImage(
        ds, path, number_of_frames, frame_shape, dtype, float(2**bits_stored - 1), bits_stored, multi_frame,
        photometric == "MONOCHROME1",
    )


def _element_length(ds: object, keyword: str) -> int | None:
    """Stored length of a (possibly deferred) element, without loading it; None if undefined."""
    element = ds.get_item(keyword, keep_deferred=True)  # type: ignore[attr-defined]
    length = getattr(element, "length", None)
    if length is None or length == 0xFFFFFFFF:
        value = getattr(element, "value", None)
        return len(value) if isinstance(value, (bytes, bytearray)) else None
    return int(length)


class DerivedDicomWriter:
    """Write frames, one at a time, as a derived DICOM image of ``source`` (a context manager).

    Frames are appended to a temporary file beside the output (named as
    :func:`pocusiq.atomic.atomic_path` names its own, so a killed run's leftovers are found and
    removed by the next), and pydicom writes that file as the PixelData value in chunks, so
    memory does not grow with the number of frames. The output appears only when the ``with``
    block ends without an error; it is multi-frame when the source is, or when more than one
    frame was written.

    Kept from the source: every attribute (patient, study, equipment, frame timing such as
    FrameTime / FrameTimeVector / CineRate). Changed as a derived image must: new SOP Instance
    UID and Series Instance UID, ImageType ``DERIVED\\SECONDARY``, DerivationDescription naming
    pocusiq and the model, ImageComments with the not-for-diagnosis note, a SourceImageSequence
    pointing to the source instance, SeriesNumber (source + 1000), InstanceNumber (the source's,
    else 1), ContentDate/ContentTime and InstanceCreationDate/Time (now, local time).

    Pixel data are losslessly compressed (``compression``):

    * ``"jpeg-ls"``: JPEG-LS Lossless (1.2.840.10008.1.2.4.80) through pyjpegls (MIT; CharLS,
      BSD-3), installed with ``pocusiq[dicom]``. On a 1280x960 speckle frame: 0.37 s and 82 % of
      the raw size (2 busy cores), where pydicom's own RLE encoder took 3.5 s for 102 % (RLE does
      not compress speckle);
    * ``"rle"``: RLE Lossless through pydicom's own encoder (no extra package; slow);
    * ``"none"``: Explicit VR Little Endian, uncompressed;
    * ``"auto"`` (default): JPEG-LS when pyjpegls is installed, else RLE; also RLE when CharLS
      refuses the first frame (it does for tiny frames that would not shrink, e.g. 8x8 noise).

    Compressed frames are encoded one at a time and appended, as DICOM items, to the temporary
    file, which becomes the encapsulated PixelData value.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        source: DicomImage,
        *,
        model_name: str,
        note: str,
        description: str = "pocusiq enhanced",
        compression: str = "auto",
    ) -> None:
        self.path = Path(path)
        self.source = source
        self.transfer_syntax = _transfer_syntax(compression)
        self._compression = compression
        self.model_name = model_name
        self.note = note
        self.description = description
        self.count = 0
        self.dataset = None
        self._stack = contextlib.ExitStack()
        self._pixels_path: Path | None = None
        self._handle = None
        self._shape: tuple[int, ...] | None = None

    def __enter__(self) -> DerivedDicomWriter:
        self._pixels_path = self._stack.enter_context(scratch_path(self.path, ".pixels"))
        self._handle = self._stack.enter_context(open(self._pixels_path, "wb"))
        if self.transfer_syntax.is_compressed:
            self._handle.write(_ITEM.pack(0xFFFE, 0xE000, 0))  # empty Basic Offset Table
        return self

    def write(self, frame: np.ndarray) -> None:
        """Append one frame (``source.frame_shape``-like: ``(H, W)`` or ``(H, W, 3)``, source dtype)."""
        frame = np.asarray(frame)
        if frame.dtype != self.source.dtype:
            raise ValueError(f"{self.path}: frame dtype {frame.dtype} differs from the source's {self.source.dtype}")
        if self._shape is None:
            if frame.ndim != len(self.source.frame_shape):
                raise ValueError(f"{self.path}: frame shape {frame.shape} does not match the source's channels")
            self._shape = frame.shape
        elif frame.shape != self._shape:
            raise ImageFileError(f"{self.path}: frame {self.count} has shape {frame.shape}, expected {self._shape}")
        if self.source.inverted:
            frame = (np.asarray(self.source.max_value, dtype=np.float64) - frame).astype(frame.dtype)
        if self.transfer_syntax.is_compressed:
            try:
                encoded = self._encode(frame)
            except ImageFileError:
                if self.count or self._compression != "auto" or self.transfer_syntax == _rle():
                    raise
                # CharLS refuses frames that would not shrink (tiny, noise-like): RLE for this file
                self.transfer_syntax = _rle()
                encoded = self._encode(frame)
            if len(encoded) % 2:
                encoded += b"\0"
            self._handle.write(_ITEM.pack(0xFFFE, 0xE000, len(encoded)))
            self._handle.write(encoded)
        else:
            self._handle.write(np.ascontiguousarray(frame, dtype=frame.dtype.newbyteorder("<")).tobytes())
        self.count += 1

    def _photometric(self, colour: bool) -> str:
        if colour:
            return "RGB"
        return "MONOCHROME1" if self.source.inverted else "MONOCHROME2"

    def _encode(self, frame: np.ndarray) -> bytes:
        from pydicom.pixels import get_encoder

        colour = frame.ndim == 3
        options = dict(
            rows=frame.shape[0], columns=frame.shape[1], samples_per_pixel=3 if colour else 1,
            bits_allocated=frame.dtype.itemsize * 8, bits_stored=self.source.bits_stored,
            pixel_representation=0, photometric_interpretation=self._photometric(colour),
            number_of_frames=1, planar_configuration=0,
        )
        try:
            return get_encoder(self.transfer_syntax).encode(np.ascontiguousarray(frame), **options)
        except Exception as exc:  # pydicom's encoders raise several types
            raise ImageFileError(f"{self.path}: cannot encode frame {self.count} as {self.transfer_syntax.name}: {exc}") from exc

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                if self.count == 0:
                    raise ImageFileError(f"{self.path}: no frames to write")
                # (pydicom writes the sequence delimiter after an undefined-length value itself)
                if not self.transfer_syntax.is_compressed and self._handle.tell() % 2:
                    self._handle.write(b"\0")  # DICOM values have even length
                self._handle.close()
                self.dataset = self._write()
        except BaseException:
            self._stack.__exit__(*sys.exc_info())
            raise
        return bool(self._stack.__exit__(exc_type, exc, tb))

    def _write(self) -> object:
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence
        from pydicom.uid import generate_uid

        from pocusiq import __version__

        source, src = self.source, self.source.dataset
        ds = copy.deepcopy(src)
        for keyword in ("IconImageSequence", "ExtendedOffsetTable", "ExtendedOffsetTableLengths", "PixelData"):
            if keyword in ds:
                delattr(ds, keyword)
        rows, columns = self._shape[:2]
        colour = len(self._shape) == 3
        ds.Rows, ds.Columns = rows, columns
        ds.SamplesPerPixel = 3 if colour else 1
        ds.PhotometricInterpretation = self._photometric(colour)
        if colour:
            ds.PlanarConfiguration = 0
        else:
            if "PlanarConfiguration" in ds:
                del ds.PlanarConfiguration
        ds.BitsAllocated = source.dtype.itemsize * 8
        ds.BitsStored = source.bits_stored
        ds.HighBit = source.bits_stored - 1
        ds.PixelRepresentation = 0
        if source.multi_frame or self.count > 1:
            ds.NumberOfFrames = self.count
        elif "NumberOfFrames" in ds:
            del ds.NumberOfFrames
        ds.file_meta.TransferSyntaxUID = self.transfer_syntax
        if "LossyImageCompression" in src:
            ds.LossyImageCompression = src.LossyImageCompression  # the source's history is kept (lossless here)
        now = datetime.datetime.now()
        ds.ContentDate = ds.InstanceCreationDate = now.strftime("%Y%m%d")
        ds.ContentTime = ds.InstanceCreationTime = now.strftime("%H%M%S.%f")
        try:
            ds.SeriesNumber = int(src.get("SeriesNumber", 0) or 0) + 1000
        except (TypeError, ValueError):
            ds.SeriesNumber = 1000
        try:
            ds.InstanceNumber = int(src.get("InstanceNumber", 1) or 1)
        except (TypeError, ValueError):
            ds.InstanceNumber = 1
        sop_uid = generate_uid()
        ds.SOPInstanceUID = sop_uid
        ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
        ds.SeriesInstanceUID = generate_uid()
        image_type = list(src.get("ImageType", [])) if "ImageType" in src else []
        ds.ImageType = ["DERIVED", "SECONDARY", *[str(v) for v in image_type[2:]]]
        ds.DerivationDescription = _truncate(
            f"Enhanced by pocusiq {__version__} with model {self.model_name}. {self.note}", 1024
        )
        ds.ImageComments = _truncate(self.note, 10240)
        series = str(src.get("SeriesDescription", "")).strip()
        ds.SeriesDescription = _truncate(f"{series} ({self.description})" if series else self.description, 64)
        if "SOPClassUID" in src and "SOPInstanceUID" in src:
            ref = Dataset()
            ref.ReferencedSOPClassUID = src.SOPClassUID
            ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
            ds.SourceImageSequence = Sequence([ref])
        with atomic_path(self.path) as tmp, open(self._pixels_path, "rb") as pixels:
            ds.PixelData = pixels  # pydicom >= 3 writes a buffered value in chunks
            element = ds["PixelData"]
            element.VR = "OB" if self.transfer_syntax.is_compressed or ds.BitsAllocated <= 8 else "OW"
            element.is_undefined_length = bool(self.transfer_syntax.is_compressed)
            ds.save_as(tmp, enforce_file_format=True)
        ds.PixelData = b""  # the returned dataset does not hold the closed buffer
        return ds


def _rle():
    from pydicom.uid import RLELossless

    return RLELossless


_ITEM = struct.Struct("<HHI")  # (group, element, length) of an encapsulation item / delimiter
COMPRESSIONS = ("auto", "jpeg-ls", "rle", "none")


def _transfer_syntax(compression: str):
    """The transfer syntax UID for a :class:`DerivedDicomWriter` ``compression`` choice."""
    from pydicom.pixels import get_encoder
    from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}")
    if compression == "none":
        return ExplicitVRLittleEndian
    if compression == "rle":
        return RLELossless
    jpeg_ls = get_encoder(JPEGLSLossless).is_available
    if compression == "jpeg-ls" and not jpeg_ls:
        raise ImageFileError("JPEG-LS output needs pyjpegls: pip install 'pocusiq[dicom]'")
    return JPEGLSLossless if jpeg_ls else RLELossless


def write_derived_dicom(
    path: str | os.PathLike[str],
    source: DicomImage,
    frames: Iterable[np.ndarray],
    *,
    model_name: str,
    note: str,
    description: str = "pocusiq enhanced",
    compression: str = "auto",
) -> object:
    """Write ``frames`` as a derived DICOM image of ``source``, atomically (see :class:`DerivedDicomWriter`).

    Args:
        path: output file.
        source: the opened input (its dataset supplies all kept attributes).
        frames: ``(F, H, W)`` / ``(F, H, W, 3)`` array or an iterable of frames of the source's
            dtype (H, W may differ from the source's, e.g. a side-by-side view).
        model_name: named in DerivationDescription.
        note: the not-for-diagnosis note (ImageComments, DerivationDescription).
        description: appended to SeriesDescription.

    Returns:
        The written pydicom ``Dataset`` (without its pixel data).
    """
    with DerivedDicomWriter(
        path, source, model_name=model_name, note=note, description=description, compression=compression
    ) as writer:
        for frame in frames:
            writer.write(frame)
    return writer.dataset


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
