"""Fixtures for the view tests: a known enhancer (v -> 1 - v), enhance output folders made in the test,
(the tiny random-weight checkpoint for the served app is in tests/conftest.py)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.enhance.tiling import TilingConfig


def negate_engine(batch: np.ndarray) -> np.ndarray:
    """An engine (float32 [-1, 1] batch -> same): y = -x, i.e. v -> 255 - v for uint8."""
    return -batch


@pytest.fixture
def negate_enhancer() -> Enhancer:
    return Enhancer(negate_engine, multiple=8, tiling=TilingConfig(multiple=8, tile_size=None), model_name="negate")


def speckle(height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 Rayleigh speckle (the texture NIQE/PIQE see in ultrasound)."""
    rng = np.random.default_rng(seed)
    field = np.hypot(rng.normal(size=(height, width)), rng.normal(size=(height, width)))
    return np.clip(field / field.max() * 400, 0, 255).astype(np.uint8)


def write_png(path: Path, pixels: np.ndarray) -> Path:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path)
    return path


def write_clip(path: Path, count: int, height: int = 48, width: int = 64, rate: Fraction = Fraction(25)) -> Path:
    """An H.264/MJPEG clip whose frame i has a bright bar at column 2*i (frames are told apart)."""
    from pocusiq.imaging.video import write_video

    def frames():
        for i in range(count):
            frame = np.full((height, width, 3), 60, dtype=np.uint8)
            frame[:, (2 * i) % width : (2 * i) % width + 4] = 230
            yield frame

    path.parent.mkdir(parents=True, exist_ok=True)
    write_video(path, frames(), rate=rate, note="test clip")
    return path


class RunningApp:
    """An app served by uvicorn on a free 127.0.0.1 port in a background thread."""

    def __init__(self, app) -> None:
        import threading

        import uvicorn

        from pocusiq.view.serve_command import bind_socket

        self.app = app
        self.sock = bind_socket("127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        import time

        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("test server did not start")
            time.sleep(0.02)

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=20)
        self.sock.close()


@pytest.fixture
def serve_app():
    """Factory: ``serve_app(enhancer, settings)`` -> a :class:`RunningApp` (closed after the test)."""
    pytest.importorskip("starlette", reason="the 'view' extra (starlette, uvicorn, python-multipart) is not installed")
    pytest.importorskip("uvicorn", reason="the 'view' extra is not installed")
    from pocusiq.view.app import create_app

    running = []

    def start(enhancer, settings=None):
        app = RunningApp(create_app(enhancer, settings))
        running.append(app)
        return app

    yield start
    for app in running:
        app.close()


def post_file(url: str, name: str, data: bytes, *, roi: str = "full", csrf: bool = True, host: str | None = None):
    """POST a multipart upload with urllib; returns (status, parsed JSON body)."""
    import json
    import urllib.error
    import urllib.request
    import uuid

    boundary = uuid.uuid4().hex
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"roi\"\r\n\r\n{roi}\r\n"
            f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode() + data + f"\r\n--{boundary}--\r\n".encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    if csrf:
        headers["X-Pocusiq"] = "1"
    if host:
        headers["Host"] = host
    request = urllib.request.Request(url + "/api/enhance", data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def write_multiframe_dicom(path: Path, frames: np.ndarray, frame_time_ms: float = 40.0) -> Path:
    """A small uncompressed multi-frame ultrasound DICOM of ``(F, H, W)`` uint8 frames (pydicom)."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, UltrasoundMultiFrameImageStorage, generate_uid

    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = UltrasoundMultiFrameImageStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = UltrasoundMultiFrameImageStorage
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = "US"
    ds.PatientName, ds.PatientID = "Test^View", "V-1"
    ds.set_pixel_data(frames, "MONOCHROME2", 8)
    ds.NumberOfFrames = frames.shape[0]
    ds.FrameTime = frame_time_ms
    ds.FrameIncrementPointer = pydicom.tag.Tag("FrameTime")
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path
