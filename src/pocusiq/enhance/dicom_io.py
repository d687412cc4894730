"""Read DICOM images (single and multi-frame) and write enhanced copies as derived images (pydicom).

Reading (:func:`read_dicom`):

* photometric interpretations MONOCHROME2, MONOCHROME1 (inverted to "white = bright" for the
  network and back on writing), RGB, YBR_FULL and YBR_FULL_422 (pydicom returns RGB for the YBR
  ones, uncompressed or JPEG);
* any transfer syntax for which pydicom has an available pixel-data decoder: native (uncompressed),
  RLE, and the JPEG family through the pylibjpeg / Pillow plugins installed as dependencies;
  others raise :class:`ImageFileError` naming the file and the transfer syntax;
* unsigned data only (``PixelRepresentation`` 0); the full-scale value is ``2**BitsStored - 1``.

Writing (:func:`write_derived_dicom`) keeps every attribute of the source (patient, study,
equipment, frame timing such as FrameTime / FrameTimeVector / CineRate) and changes what a
derived image must change: new SOP Instance UID and Series Instance UID, ImageType
``DERIVED\\SECONDARY``, DerivationDescription naming pocusiq and the model, ImageComments with
the not-for-diagnosis note, a SourceImageSequence pointing to the source instance, and pixel
data written uncompressed (Explicit VR Little Endian). A multi-frame source stays multi-frame.
The icon image (a thumbnail of the original pixels) is dropped.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pocusiq.atomic import atomic_path
from pocusiq.errors import ImageFileError

DICOM_SUFFIXES = {".dcm", ".dicom", ".dic"}
SUPPORTED_PHOTOMETRIC = {"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422"}


@dataclass
class DicomImage:
    """A decoded DICOM image.

    Attributes:
        dataset: the pydicom ``Dataset`` as read (pixel data still in the source encoding).
        frames: ``(F, H, W)`` (grey, display polarity) or ``(F, H, W, 3)`` (RGB) uint8/uint16.
        max_value: full-scale value (``2**BitsStored - 1``).
        bits_stored: BitsStored of the output (8 for colour data decoded to 8-bit RGB).
        multi_frame: whether the source has a NumberOfFrames attribute (kept on output).
        inverted: the source was MONOCHROME1 and ``frames`` were inverted.
    """

    dataset: object
    frames: np.ndarray
    max_value: float
    bits_stored: int
    multi_frame: bool
    inverted: bool = False

    @property
    def is_colour(self) -> bool:
        return self.frames.ndim == 4


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """True for a ``.dcm``-like suffix or a file with the ``DICM`` marker at byte 128."""
    path = Path(path)
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            handle.seek(128)
            return handle.read(4) == b"DICM"
    except OSError:
        return False


def read_dicom(path: str | os.PathLike[str]) -> DicomImage:
    """Decode a DICOM image file into frames.

    Raises:
        ImageFileError: not DICOM, no pixel data, unsupported transfer syntax / photometric
            interpretation / signed data, or a decoding failure; the message names the file.
    """
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import get_decoder

    path = Path(path)
    try:
        ds = pydicom.dcmread(path)
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
    try:
        pixels = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for broken pixel data
        raise ImageFileError(f"{path}: cannot decode pixel data ({ts.name}): {exc}") from exc
    samples = int(ds.get("SamplesPerPixel", 1))
    number_of_frames = int(ds.get("NumberOfFrames", 1) or 1)
    multi_frame = "NumberOfFrames" in ds
    frames = pixels if number_of_frames > 1 else pixels[None]
    if samples == 1 and frames.ndim != 3 or samples == 3 and frames.ndim != 4:
        raise ImageFileError(f"{path}: unexpected pixel array shape {pixels.shape} for {samples} sample(s)")
    bits_allocated = int(ds.get("BitsAllocated", 8))
    bits_stored = int(ds.get("BitsStored", bits_allocated))
    if bits_allocated > 16:
        raise ImageFileError(f"{path}: {bits_allocated}-bit pixel data is not supported (8 or 16 bits)")
    dtype = np.uint8 if bits_allocated <= 8 else np.uint16
    frames = np.ascontiguousarray(frames.astype(dtype, copy=False))
    max_value = float(2**bits_stored - 1)
    inverted = photometric == "MONOCHROME1"
    if inverted:
        frames = (np.asarray(max_value, dtype=np.float64) - frames).astype(dtype)
    return DicomImage(ds, frames, max_value, bits_stored, multi_frame, inverted)


def write_derived_dicom(
    path: str | os.PathLike[str],
    source: DicomImage,
    frames: np.ndarray,
    *,
    model_name: str,
    note: str,
    description: str = "pocusiq enhanced",
) -> object:
    """Write ``frames`` as a derived DICOM image of ``source``, atomically.

    Args:
        path: output file.
        source: the decoded input (its dataset supplies all kept attributes).
        frames: ``(F, H, W)`` or ``(F, H, W, 3)`` array of ``source.frames``' dtype (H, W may
            differ, e.g. a side-by-side view).
        model_name: named in DerivationDescription.
        note: the not-for-diagnosis note (ImageComments, DerivationDescription).
        description: appended to SeriesDescription.

    Returns:
        The written pydicom ``Dataset``.
    """
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    from pocusiq import __version__

    src = source.dataset
    ds = copy.deepcopy(src)
    frames = np.asarray(frames)
    if frames.dtype != source.frames.dtype:
        raise ValueError(f"frames dtype {frames.dtype} differs from the source's {source.frames.dtype}")
    if source.inverted:
        frames = (np.asarray(source.max_value, dtype=np.float64) - frames).astype(frames.dtype)
    for keyword in ("IconImageSequence", "ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            delattr(ds, keyword)
    if source.is_colour:
        photometric = "RGB"
    else:
        photometric = "MONOCHROME1" if source.inverted else "MONOCHROME2"
    data = frames if (source.multi_frame or frames.shape[0] > 1) else frames[0]
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.set_pixel_data(data, photometric, source.bits_stored, generate_instance_uid=False)
    if source.multi_frame and "NumberOfFrames" not in ds:
        ds.NumberOfFrames = frames.shape[0]  # set_pixel_data drops it for a single frame
    sop_uid = generate_uid()
    ds.SOPInstanceUID = sop_uid
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.SeriesInstanceUID = generate_uid()
    image_type = list(src.get("ImageType", [])) if "ImageType" in src else []
    ds.ImageType = ["DERIVED", "SECONDARY", *[str(v) for v in image_type[2:]]]
    ds.DerivationDescription = _truncate(
        f"Enhanced by pocusiq {__version__} with model {model_name}. {note}", 1024
    )
    ds.ImageComments = _truncate(note, 10240)
    series = str(src.get("SeriesDescription", "")).strip()
    ds.SeriesDescription = _truncate(f"{series} ({description})" if series else description, 64)
    if "SOPClassUID" in src and "SOPInstanceUID" in src:
        ref = Dataset()
        ref.ReferencedSOPClassUID = src.SOPClassUID
        ref.ReferencedSOPInstanceUID = src.SOPInstanceUID
        ds.SourceImageSequence = Sequence([ref])
    with atomic_path(path) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return ds


def _truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
