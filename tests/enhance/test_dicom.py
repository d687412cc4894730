"""DICOM round trips: photometric interpretations, JPEG, multi-frame, derived-image tags, errors."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest
from pydicom.uid import JPEGLSLossless

from pocusiq.imaging.dicom import read_dicom
from pocusiq.enhance.files import NOT_FOR_DIAGNOSIS
from pocusiq.errors import ImageFileError

from .dicom_factory import (
    SERIES_UID,
    STUDY_UID,
    write_jpeg_baseline,
    write_native,
    write_unsupported,
    write_ybr_full_422,
)
from .synthetic import speckle_frame


def _smooth_rgb(h: int = 32, w: int = 48) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w]
    grey = (60 + 100 * (xx / w) + 40 * (yy / h)).astype(np.uint8)
    rgb = np.repeat(grey[..., None], 3, axis=2).copy()
    rgb[..., 0] = np.clip(rgb[..., 0].astype(int) + 20, 0, 255)  # a slight tint
    return rgb


def _check_derived(out_path, source_path, model_name: str) -> pydicom.Dataset:
    src = pydicom.dcmread(source_path)
    out = pydicom.dcmread(out_path)
    assert out.file_meta.TransferSyntaxUID == JPEGLSLossless  # lossless compression (pyjpegls installed)
    assert int(out.SeriesNumber) == int(src.get("SeriesNumber", 0) or 0) + 1000 and int(out.InstanceNumber) >= 1
    assert len(str(out.ContentDate)) == 8 and str(out.ContentTime)
    assert out.SOPInstanceUID != src.SOPInstanceUID
    assert out.file_meta.MediaStorageSOPInstanceUID == out.SOPInstanceUID
    assert out.SeriesInstanceUID != SERIES_UID and out.StudyInstanceUID == STUDY_UID
    assert out.PatientName == "Test^Patient" and out.PatientID == "P-0001" and out.AccessionNumber == "A1"
    assert list(out.ImageType)[:2] == ["DERIVED", "SECONDARY"] and out.ImageType[2] == "ABDOMINAL"
    assert "pocusiq" in out.DerivationDescription and model_name in out.DerivationDescription
    assert "not for diagnosis" in out.DerivationDescription
    assert out.ImageComments == NOT_FOR_DIAGNOSIS
    assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    assert "pocusiq enhanced" in out.SeriesDescription
    return out


def test_monochrome2_single_frame_identity_round_trip(identity_enhancer, tmp_path):
    image = speckle_frame(40, 56)
    src = write_native(tmp_path / "mono.dcm", image, "MONOCHROME2")
    result = identity_enhancer.enhance_file(src, tmp_path / "out" / "mono.dcm", roi="full")
    out = _check_derived(result.output, src, identity_enhancer.model_name)
    assert "NumberOfFrames" not in out and out.PhotometricInterpretation == "MONOCHROME2"
    np.testing.assert_array_equal(out.pixel_array, image)


def test_12_bit_uses_bits_stored_range(negate_enhancer, tmp_path):
    image = np.random.default_rng(0).integers(0, 4096, (16, 24)).astype(np.uint16)
    src = write_native(tmp_path / "u12.dcm", image, "MONOCHROME2", bits_stored=12)
    out = pydicom.dcmread(negate_enhancer.enhance_file(src, tmp_path / "o.dcm", roi="full").output)
    assert out.BitsStored == 12 and out.BitsAllocated == 16
    np.testing.assert_array_equal(out.pixel_array, 4095 - image)


def test_multi_frame_stays_multi_frame_with_frame_time(negate_enhancer, tmp_path):
    frames = np.stack([speckle_frame(24, 32, s) for s in range(3)])
    src = write_native(tmp_path / "cine.dcm", frames, "MONOCHROME2", frame_time_ms=33.3)
    result = negate_enhancer.enhance_file(src, tmp_path / "o" / "cine.dcm", roi="full")
    assert result.frames == 3
    out = _check_derived(result.output, src, "negate")
    assert int(out.NumberOfFrames) == 3 and float(out.FrameTime) == pytest.approx(33.3)
    assert int(out.CineRate) == 30
    np.testing.assert_array_equal(out.pixel_array, 255 - frames)


def test_single_frame_multiframe_object_keeps_number_of_frames(identity_enhancer, tmp_path):
    frames = speckle_frame(16, 16)[None]
    src = write_native(tmp_path / "one.dcm", frames, "MONOCHROME2", frame_time_ms=40.0)
    assert int(pydicom.dcmread(src).NumberOfFrames) == 1
    out = pydicom.dcmread(identity_enhancer.enhance_file(src, tmp_path / "o.dcm", roi="full").output)
    assert int(out.NumberOfFrames) == 1


def test_rgb_identity_round_trip(identity_enhancer, tmp_path):
    rgb = _smooth_rgb()
    src = write_native(tmp_path / "rgb.dcm", rgb, "RGB")
    out = pydicom.dcmread(identity_enhancer.enhance_file(src, tmp_path / "o.dcm", roi="full").output)
    assert out.PhotometricInterpretation == "RGB" and out.SamplesPerPixel == 3
    np.testing.assert_array_equal(out.pixel_array, rgb)


def test_ybr_full_422_is_read_as_rgb_and_written_as_rgb(identity_enhancer, tmp_path):
    rgb = _smooth_rgb()
    src = write_ybr_full_422(tmp_path / "ybr.dcm", rgb)
    decoded = read_dicom(src)
    assert decoded.is_colour and decoded.frames.shape == (1, 32, 48, 3)
    assert np.max(np.abs(decoded.frames[0].astype(int) - rgb)) <= 3  # RGB again, not Y/Cb/Cr
    out = pydicom.dcmread(identity_enhancer.enhance_file(src, tmp_path / "o.dcm", roi="full").output)
    assert out.PhotometricInterpretation == "RGB"
    np.testing.assert_array_equal(out.pixel_array, decoded.frames[0])


def test_jpeg_baseline_is_decoded_and_written_losslessly(negate_enhancer, tmp_path):
    rgb = _smooth_rgb()
    src = write_jpeg_baseline(tmp_path / "jpeg.dcm", rgb)
    decoded = read_dicom(src)
    assert np.max(np.abs(decoded.frames[0].astype(int) - rgb)) <= 8  # lossy JPEG, but RGB
    result = negate_enhancer.enhance_file(src, tmp_path / "o.dcm", roi="full")
    out = _check_derived(result.output, src, "negate")
    assert out.PhotometricInterpretation == "RGB" and out.file_meta.TransferSyntaxUID == JPEGLSLossless
    assert out.LossyImageCompression == "01"  # once lossy, always lossy
    luma_in = decoded.frames[0].astype(float) @ [0.299, 0.587, 0.114]
    luma_out = out.pixel_array.astype(float) @ [0.299, 0.587, 0.114]
    np.testing.assert_allclose(luma_out, 255 - luma_in, atol=1.5)


def test_jpeg_baseline_multi_frame_cine(identity_enhancer, tmp_path):
    frames = np.stack([np.roll(_smooth_rgb(), 5 * i, axis=1) for i in range(3)])
    src = write_jpeg_baseline(tmp_path / "cine.dcm", frames, frame_time_ms=25.0)
    decoded = read_dicom(src)
    assert decoded.frames.shape == (3, 32, 48, 3)
    result = identity_enhancer.enhance_file(src, tmp_path / "o.dcm", roi="full")
    out = _check_derived(result.output, src, identity_enhancer.model_name)
    assert int(out.NumberOfFrames) == 3 and float(out.FrameTime) == 25.0
    np.testing.assert_array_equal(out.pixel_array, decoded.frames)


def test_monochrome1_polarity_is_kept(negate_enhancer, tmp_path):
    image = np.random.default_rng(3).integers(0, 256, (8, 8)).astype(np.uint8)
    src = write_native(tmp_path / "m1.dcm", image, "MONOCHROME1")
    assert read_dicom(src).frames[0][0, 0] == 255 - image[0, 0]  # shown white = bright
    out = pydicom.dcmread(negate_enhancer.enhance_file(src, tmp_path / "o.dcm", roi="full").output)
    assert out.PhotometricInterpretation == "MONOCHROME1"
    np.testing.assert_array_equal(out.pixel_array, 255 - image)


def test_region_box_leaves_outside_pixels_unchanged(negate_enhancer, tmp_path):
    frames = np.stack([speckle_frame(30, 40, s) for s in range(2)])
    src = write_native(tmp_path / "cine.dcm", frames, "MONOCHROME2", frame_time_ms=50.0)
    out = pydicom.dcmread(negate_enhancer.enhance_file(src, tmp_path / "o.dcm", roi=(5, 4, 20, 10)).output)
    pixels = out.pixel_array
    inside = np.zeros((30, 40), bool)
    inside[4:14, 5:25] = True
    np.testing.assert_array_equal(pixels[:, ~inside], frames[:, ~inside])
    np.testing.assert_array_equal(pixels[:, inside], 255 - frames[:, inside])


def test_side_by_side_dicom_doubles_columns(identity_enhancer, tmp_path):
    image = speckle_frame(10, 12)
    src = write_native(tmp_path / "a.dcm", image, "MONOCHROME2")
    result = identity_enhancer.enhance_file(src, tmp_path / "o" / "a.dcm", roi="full", side_by_side=True)
    sbs = pydicom.dcmread(result.side_by_side)
    assert result.side_by_side.name == "a_side_by_side.dcm" and sbs.Columns == 24
    np.testing.assert_array_equal(sbs.pixel_array, np.concatenate([image, image], axis=1))


def test_unsupported_transfer_syntax_message(identity_enhancer, tmp_path):
    src = write_unsupported(tmp_path / "mpeg2.dcm")
    with pytest.raises(ImageFileError, match=r"mpeg2\.dcm: unsupported transfer syntax MPEG2"):
        identity_enhancer.enhance_file(src, tmp_path / "o.dcm", roi="full")
    assert not (tmp_path / "o.dcm").exists()


def test_not_dicom_and_no_pixel_data(identity_enhancer, tmp_path):
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"hello, not DICOM")
    with pytest.raises(ImageFileError, match=r"junk\.dcm: cannot read DICOM file"):
        read_dicom(junk)
    src = write_native(tmp_path / "x.dcm", speckle_frame(8, 8), "MONOCHROME2")
    ds = pydicom.dcmread(src)
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm", enforce_file_format=True)
    with pytest.raises(ImageFileError, match=r"nopix\.dcm: DICOM file holds no pixel data"):
        read_dicom(tmp_path / "nopix.dcm")
