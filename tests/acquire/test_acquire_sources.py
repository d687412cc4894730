"""Video (OpenCV) and folder-watch frame sources, on files made inside the tests."""

from __future__ import annotations

import threading
import time

import cv2
import numpy as np
import pytest
from PIL import Image

from pocusiq.acquire.plan import Pose
from pocusiq.acquire.sources import (
    CaptureTimeoutError,
    FolderWatchSource,
    VideoCaptureSource,
    read_image_file,
)
from pocusiq.errors import ImageFileError

POSE = Pose(0.0, 0.0)


def _write_video(path, levels, size=(64, 48)):
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, size)
    assert writer.isOpened()
    for level in levels:
        frame = np.full((size[1], size[0], 3), 0, np.uint8)
        frame[:, :, 2] = level  # BGR: red channel carries the level
        frame[:, :, 0] = 255 - level
        writer.write(frame)
    writer.release()


def test_video_source_flushes_and_converts_bgr_to_rgb(tmp_path):
    path = tmp_path / "screen.avi"
    levels = [20, 60, 100, 140, 180, 220]
    _write_video(path, levels)
    with VideoCaptureSource("grab", str(path), flush_frames=1, color="rgb", region=(1, 2, 30, 40)) as source:
        first = source.capture(POSE, 0, 0)
        second = source.capture(POSE, 1, 0)
        assert first.image.shape == (48, 64, 3) and first.image.dtype == np.uint8
        assert first.region == (1, 2, 30, 40)
        # flush 1 then keep 1: frames 1 and 3 of the file; red = level, blue = 255 - level
        assert abs(float(first.image[:, :, 0].mean()) - levels[1]) < 6
        assert abs(float(first.image[:, :, 2].mean()) - (255 - levels[1])) < 6
        assert abs(float(second.image[:, :, 0].mean()) - levels[3]) < 6
        source.capture(POSE, 2, 0)  # frame 5
        with pytest.raises(CaptureTimeoutError, match=r"no frame from video source .*screen.avi"):
            source.capture(POSE, 3, 0)
    with VideoCaptureSource("grab", str(path), color="grey") as source:
        assert source.capture(POSE, 0, 0).image.ndim == 2


def test_video_source_missing_file(tmp_path):
    with pytest.raises(ImageFileError, match="cannot open video source"):
        VideoCaptureSource("grab", str(tmp_path / "none.avi"))


def _write_slowly(path, data, pieces=4, pause=0.08):
    with open(path, "wb") as handle:
        step = len(data) // pieces + 1
        for start in range(0, len(data), step):
            handle.write(data[start : start + step])
            handle.flush()
            time.sleep(pause)


def test_folder_source_waits_for_new_complete_file(tmp_path):
    export = tmp_path / "export"
    export.mkdir()
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(export / "old.png")  # present before: ignored
    rng = np.random.default_rng(0)
    expected = rng.integers(0, 256, (120, 160), dtype=np.uint8)
    import io

    buffer = io.BytesIO()
    Image.fromarray(expected).save(buffer, format="PNG", compress_level=0)
    source = FolderWatchSource("cart", export, pattern="*.png", stable_s=0.15, timeout_s=10, poll_s=0.01)
    source.start_pass()
    writer = threading.Thread(target=_write_slowly, args=(export / "img001.png", buffer.getvalue()))
    writer.start()
    try:
        frame = source.capture(POSE, 0, 0)
    finally:
        writer.join()
    np.testing.assert_array_equal(frame.image, expected)  # read only once complete
    assert frame.original == export / "img001.png"
    with pytest.raises(CaptureTimeoutError, match=r"no new complete file matching '\*.png'"):
        FolderWatchSource("cart", export, pattern="*.png", timeout_s=0.1, poll_s=0.01).capture(POSE, 1, 0)


def _dicom_bytes_file(path, pixels):
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, UltrasoundImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UltrasoundImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UltrasoundImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "US"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = ds.BitsStored = 8
    ds.HighBit = 7
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.tobytes()
    region = Dataset()
    region.RegionLocationMinX0, region.RegionLocationMinY0 = 4, 6
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = 43, 35
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX, region.PhysicalDeltaY = 0.012, 0.015
    ds.SequenceOfUltrasoundRegions = [region]
    ds.save_as(path, enforce_file_format=True)


def test_folder_source_reads_dicom_with_ultrasound_regions(tmp_path):
    pixels = np.arange(40 * 50, dtype=np.uint32).reshape(40, 50).astype(np.uint8)
    staging = tmp_path / "staging.dcm"
    _dicom_bytes_file(staging, pixels)
    export = tmp_path / "export"
    export.mkdir()
    source = FolderWatchSource("cart", export, pattern="*.dcm", stable_s=0.05, timeout_s=10, poll_s=0.01)
    source.start_pass()
    writer = threading.Thread(target=_write_slowly, args=(export / "US0001.dcm", staging.read_bytes()))
    writer.start()
    try:
        frame = source.capture(POSE, 0, 0)
    finally:
        writer.join()
    np.testing.assert_array_equal(frame.image, pixels)
    assert frame.pixel_spacing_mm == pytest.approx((0.12, 0.15))
    assert frame.region == (4, 6, 40, 30)


def test_read_image_file_rejects_garbage(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image at all")
    with pytest.raises(ImageFileError, match="bad.png: cannot read image"):
        read_image_file(bad)
    with pytest.raises(ImageFileError, match="gone.dcm: cannot open"):
        read_image_file(tmp_path / "gone.dcm")


def test_folder_source_never_returns_a_partial_file_simulated_clock(tmp_path):
    """A writer pausing longer than stable_s: the partial file is retried, not returned."""
    import io

    export = tmp_path / "export"
    export.mkdir()
    expected = np.random.default_rng(1).integers(0, 256, (64, 64), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(expected).save(buffer, format="PNG", compress_level=0)
    data = buffer.getvalue()
    pieces = [data[i : i + 1000] for i in range(0, len(data), 1000)]
    now = [0.0]
    path = export / "frame.png"

    def sleep(seconds):
        before = now[0]
        now[0] += seconds
        # one more piece every 0.2 s of simulated time (4x stable_s)
        if pieces and int(now[0] / 0.2) > int(before / 0.2):
            with open(path, "ab") as handle:
                handle.write(pieces.pop(0))

    source = FolderWatchSource(
        "cart", export, pattern="*.png", stable_s=0.05, timeout_s=100, poll_s=0.01,
        clock=lambda: now[0], sleep=sleep,
    )
    source.start_pass()
    frame = source.capture(POSE, 0, 0)
    assert not pieces
    np.testing.assert_array_equal(frame.image, expected)


def test_folder_device_session_keeps_the_exported_original(tmp_path):
    """A folder device through run_acquisition: PNG + byte-exact original + DICOM geometry."""
    from pocusiq.acquire.acquisition import run_acquisition
    from pocusiq.acquire.plan import plan_from_dict
    from pocusiq.acquire.session import read_session
    from pocusiq.atomic import sha256_file

    export = tmp_path / "export"
    export.mkdir()
    exported = []

    def scanner_exports(seconds):  # the "scanner" writes a file whenever the source waits
        time.sleep(seconds)
        if len(exported) < 2 and set(exported) <= source._seen:  # the last export was taken
            name = f"US{len(exported):04d}.dcm"
            pixels = np.full((40, 50), 30 * (len(exported) + 1), np.uint8)
            _dicom_bytes_file(export / name, pixels)
            exported.append(name)

    source = FolderWatchSource("cart", export, pattern="*.dcm", stable_s=0.02, timeout_s=20, poll_s=0.005,
                               sleep=scanner_exports)
    plan = plan_from_dict({
        "specimen": "s",
        "stage": {"kind": "simulated", "limits_mm": {"x": [0, 10], "y": [0, 1], "z": [0, 1]}},
        "poses": {"x_mm": [1, 2], "y_mm": [0]},
        "devices": [{"name": "cart", "kind": "folder", "path": str(export), "pattern": "*.dcm"}],
    })
    run_acquisition(plan, tmp_path / "s", sources={"cart": source}, progress=False)
    assert len(exported) == 2
    session = read_session(tmp_path / "s")
    for pose_index, name in enumerate(exported):
        frame = session.frames_for(pose_index, "cart")[0]
        assert frame.raw["original_file"] == f"frames/cart/originals/pose{pose_index:04d}_f00.dcm"
        assert frame.raw["original_sha256"] == sha256_file(export / name)
        assert frame.raw["metadata"]["source_file"] == name
        assert frame.pixel_spacing_mm == pytest.approx((0.12, 0.15)) and frame.region == (4, 6, 40, 30)
        assert int(frame.load().mean()) == 30 * (pose_index + 1)
