"""Build small DICOM files in tests with pydicom (no external data)."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    UltrasoundImageStorage,
    UltrasoundMultiFrameImageStorage,
    generate_uid,
)

STUDY_UID = "1.2.826.0.1.3680043.8.498.1"
SERIES_UID = "1.2.826.0.1.3680043.8.498.2"


def _base(multi_frame: bool, transfer_syntax: str = ExplicitVRLittleEndian) -> Dataset:
    sop_class = UltrasoundMultiFrameImageStorage if multi_frame else UltrasoundImageStorage
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = transfer_syntax
    meta.MediaStorageSOPClassUID = sop_class
    uid = generate_uid()
    meta.MediaStorageSOPInstanceUID = uid
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = uid
    ds.PatientName = "Test^Patient"
    ds.PatientID = "P-0001"
    ds.PatientBirthDate = "19700101"
    ds.StudyInstanceUID = STUDY_UID
    ds.StudyID = "S1"
    ds.AccessionNumber = "A1"
    ds.SeriesInstanceUID = SERIES_UID
    ds.SeriesDescription = "abdomen"
    ds.Modality = "US"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ABDOMINAL"]
    return ds


def write_native(path: Path, pixels: np.ndarray, photometric: str, bits_stored: int = 8,
                 frame_time_ms: float | None = None) -> Path:
    """Uncompressed DICOM: (H, W[, 3]) single frame or (F, H, W[, 3]) multi-frame."""
    multi = frame_time_ms is not None
    ds = _base(multi)
    ds.set_pixel_data(pixels, photometric, bits_stored)
    if multi:
        ds.NumberOfFrames = pixels.shape[0]
        ds.FrameTime = frame_time_ms
        ds.CineRate = int(round(1000 / frame_time_ms))
        ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    ds.save_as(path, enforce_file_format=True)
    return path


def write_ybr_full_422(path: Path, rgb: np.ndarray) -> Path:
    """Uncompressed YBR_FULL_422 (Y0 Y1 Cb Cr per pixel pair) from an (H, W, 3) RGB image, W even."""
    from pydicom.pixels import convert_color_space

    ybr = convert_color_space(rgb, "RGB", "YBR_FULL").astype(np.float64)
    h, w = rgb.shape[:2]
    out = np.empty((h, w // 2, 4), np.uint8)
    out[..., 0] = ybr[:, 0::2, 0]
    out[..., 1] = ybr[:, 1::2, 0]
    out[..., 2] = np.rint((ybr[:, 0::2, 1] + ybr[:, 1::2, 1]) / 2)
    out[..., 3] = np.rint((ybr[:, 0::2, 2] + ybr[:, 1::2, 2]) / 2)
    ds = _base(False)
    ds.set_pixel_data(rgb, "RGB", 8)
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PixelData = out.tobytes()
    ds.save_as(path, enforce_file_format=True)
    return path


def write_jpeg_baseline(path: Path, rgb: np.ndarray, frame_time_ms: float | None = None) -> Path:
    """JPEG Baseline (Process 1) compressed RGB: YBR_FULL_422, encoded with Pillow.

    ``rgb`` is (H, W, 3) for a single frame or (F, H, W, 3) with ``frame_time_ms`` for a cine loop.
    """
    from PIL import Image

    multi = frame_time_ms is not None
    frames = rgb if multi else rgb[None]
    encoded = []
    for frame in frames:
        buffer = io.BytesIO()
        Image.fromarray(frame).save(buffer, format="JPEG", quality=90)
        encoded.append(buffer.getvalue())
    ds = _base(multi, JPEGBaseline8Bit)
    h, w = frames.shape[1:3]
    ds.Rows, ds.Columns = h, w
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = "YBR_FULL_422"
    ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.LossyImageCompression = "01"
    if multi:
        ds.NumberOfFrames = len(frames)
        ds.FrameTime = frame_time_ms
    ds.PixelData = encapsulate(encoded)
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path


def write_unsupported(path: Path) -> Path:
    """An encapsulated file in MPEG2 Main Profile (no pixel-data decoder exists in pydicom)."""
    ds = _base(False, "1.2.840.10008.1.2.4.100")
    ds.Rows, ds.Columns, ds.SamplesPerPixel = 8, 8, 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([b"\x00\x00\x01\xb3" + b"\x00" * 60])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    return path
