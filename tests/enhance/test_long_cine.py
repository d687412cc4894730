"""Long cine loops (issue 11 item 1): 300-frame 1280x960 videos and multi-frame DICOM stream
through ``enhance`` with every frame, in order, at the input's rate and size, in bounded memory;
truncated videos are refused (or warned about) with the frame counts; a killed run's temporary
files are removed by the next run.
"""

from __future__ import annotations

import os
import tracemalloc
from fractions import Fraction

import numpy as np
import pydicom
import pytest
import torch

from pocusiq.atomic import remove_stale_temps
from pocusiq.enhance.enhancer import Enhancer
from pocusiq.enhance.files import enhance_file
from pocusiq.enhance.tiling import TilingConfig
from pocusiq.imaging.video import probe_video, read_frames, write_video
from pocusiq.errors import ImageFileError

from .dicom_factory import _base

HEIGHT, WIDTH, FRAMES = 960, 1280, 300
BITS, BLOCK = 10, 64  # frame index written as 10 black/white 64x64 blocks in the top strip
ROI = (0, 2 * BLOCK, WIDTH, HEIGHT - 2 * BLOCK)  # (x, y, w, h): everything below the strip


class _RandomPointwise(torch.nn.Module):
    """y = tanh(a x + b (x shifted by one column) + c) with random a, b, c: a real network
    (weights, nonlinearity, a neighbour) that costs almost nothing. A 1->1-channel 3x3
    convolution took 170 ms per 1280x832 frame in PyTorch on a busy core (its slow path)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.randn(3) * 0.5 + torch.tensor([1.0, 0.3, 0.1]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b, c = self.weight
        return torch.tanh(a * x + b * torch.roll(x, 1, dims=-1) + c)


def _tiny_enhancer() -> Enhancer:
    """A tiny random-weight network, so that 300 frames of 1280x960 stay cheap on two cores."""
    torch.manual_seed(0)
    return Enhancer(_RandomPointwise().eval(), multiple=1, tiling=TilingConfig(multiple=1, tile_size=None),
                    model_name="tiny")


_GRADIENT = np.add.outer(np.arange(HEIGHT) // 4, np.arange(WIDTH) // 4)


def _indexed_frame(index: int) -> np.ndarray:
    """(H, W) uint8: a moving gradient below a strip that encodes ``index`` in binary blocks."""
    frame = ((_GRADIENT + 3 * index) % 200 + 30).astype(np.uint8)
    frame[: 2 * BLOCK] = 0
    for bit in range(BITS):
        if index >> bit & 1:
            frame[:BLOCK, bit * 2 * BLOCK : bit * 2 * BLOCK + BLOCK] = 255
    return frame


def _read_index(frame: np.ndarray) -> int:
    grey = frame[:BLOCK] if frame.ndim == 2 else frame[:BLOCK].mean(axis=2)
    return sum(
        1 << bit
        for bit in range(BITS)
        if grey[8 : BLOCK - 8, bit * 2 * BLOCK + 8 : bit * 2 * BLOCK + BLOCK - 8].mean() > 128
    )


def _rgb_frames(n: int):
    for i in range(n):
        yield np.repeat(_indexed_frame(i)[..., None], 3, axis=2)


@pytest.fixture(scope="module")
def long_video(tmp_path_factory) -> os.PathLike:
    """A 300-frame 1280x960 H.264 MP4 at 30000/1001 frames/s, written by pocusiq's own writer
    (which, before the time-base fix, failed on any clip longer than libx264's look-ahead)."""
    path = tmp_path_factory.mktemp("cine") / "long.mp4"
    assert write_video(path, _rgb_frames(FRAMES), rate=Fraction(30000, 1001), note="test") == FRAMES
    return path


def test_writer_keeps_every_frame_rate_and_size(long_video):
    info = probe_video(long_video)
    assert (info.width, info.height, info.frames, info.rate) == (WIDTH, HEIGHT, FRAMES, Fraction(30000, 1001))
    indices = [_read_index(frame) for frame in read_frames(long_video)]
    assert indices == list(range(FRAMES))


def test_enhance_long_video_streams_every_frame(long_video, tmp_path):
    enhancer = _tiny_enhancer()
    out = tmp_path / "out" / "long.mp4"
    tracemalloc.start()
    try:
        result = enhance_file(enhancer, long_video, out, roi=ROI)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok and result.frames == FRAMES and not result.warnings
    info = probe_video(out)
    assert (info.width, info.height, info.frames, info.rate) == (WIDTH, HEIGHT, FRAMES, Fraction(30000, 1001))
    decoded = list(read_frames(out))
    assert [_read_index(frame) for frame in decoded] == list(range(FRAMES))  # every frame, in order
    # the network changed the region (a random U-Net is no identity) and nothing else
    first = np.repeat(_indexed_frame(0)[..., None], 3, axis=2).astype(int)
    assert np.abs(decoded[0][ROI[1] :].astype(int) - first[ROI[1] :]).mean() > 5, "the network changed nothing"
    # bounded memory: NumPy's peak stays far below the clip (300 RGB frames = 1.1 GB)
    frame_bytes = HEIGHT * WIDTH * 3
    assert peak < 40 * frame_bytes, f"peak {peak / 1e6:.0f} MB traced for a {FRAMES * frame_bytes / 1e6:.0f} MB clip"


def _write_long_dicom(path, frames: int) -> None:
    """A 300-frame 1280x960 8-bit multi-frame ultrasound DICOM written without holding its pixels."""
    ds = _base(True)
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.Rows, ds.Columns = HEIGHT, WIDTH
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.NumberOfFrames = frames
    ds.FrameTime = 1000 / 30
    raw = path.with_suffix(".raw")
    with open(raw, "wb") as handle:
        for i in range(frames):
            handle.write(_indexed_frame(i).tobytes())
    with open(raw, "rb") as handle:
        ds.PixelData = handle
        ds["PixelData"].VR = "OB"
        ds.save_as(path, enforce_file_format=True)
    raw.unlink()


def test_enhance_long_multiframe_dicom_streams_every_frame(tmp_path):
    src = tmp_path / "cine.dcm"
    _write_long_dicom(src, FRAMES)
    out = tmp_path / "out" / "cine.dcm"
    tracemalloc.start()
    try:
        result = enhance_file(_tiny_enhancer(), src, out, roi=ROI)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert result.ok and result.frames == FRAMES
    frame_bytes = HEIGHT * WIDTH
    assert peak < 40 * frame_bytes, f"peak {peak / 1e6:.0f} MB traced for a {FRAMES * frame_bytes / 1e6:.0f} MB cine"
    ds = pydicom.dcmread(out, defer_size="1 KB")
    assert int(ds.NumberOfFrames) == FRAMES and (ds.Rows, ds.Columns) == (HEIGHT, WIDTH)
    assert float(ds.FrameTime) == pytest.approx(1000 / 30)
    from pydicom.pixels import iter_pixels

    for i, frame in enumerate(iter_pixels(out)):
        if i % 37 == 0 or i == FRAMES - 1:
            expected = _indexed_frame(i)
            np.testing.assert_array_equal(frame[: ROI[1]], expected[: ROI[1]])  # lossless outside the ROI
            assert _read_index(frame) == i
            assert np.abs(frame[ROI[1] :].astype(int) - expected[ROI[1] :]).mean() > 5
    assert i == FRAMES - 1
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no scratch file left


def _truncated_avi(tmp_path, frames: int = 20):
    path = tmp_path / "clip.avi"
    rng = np.random.default_rng(1)
    noisy = (rng.integers(0, 256, (96, 128, 3), dtype=np.uint8) for _ in range(frames))
    write_video(path, noisy, rate=Fraction(25), note="test")
    data = path.read_bytes()
    # keep the header (which declares 20 frames) and about half of the frame data
    path.write_bytes(data[: len(data) // 2])
    return path


def test_truncated_video_is_refused_with_frame_counts(tmp_path, identity_enhancer):
    src = _truncated_avi(tmp_path)
    declared = probe_video(src).frames
    assert declared == 20
    with pytest.raises(ImageFileError, match=r"declares 20 frames but only \d+ could be decoded"):
        enhance_file(identity_enhancer, src, tmp_path / "out" / "clip.avi", roi="full")
    assert not (tmp_path / "out" / "clip.avi").exists()
    result = enhance_file(identity_enhancer, src, tmp_path / "out" / "clip.avi", roi="full", allow_partial=True)
    assert 0 < result.frames < 20
    assert len(result.warnings) == 1 and f"only {result.frames} could be decoded" in result.warnings[0]
    assert probe_video(result.output).frames == result.frames


def test_next_run_removes_temp_files_of_a_killed_run(tmp_path, identity_enhancer):
    """A kill -9 leaves ``.<stem>.pocusiq-<pid>-<random>.tmp<suffix>``; the next run deletes the ones
    whose process is gone and leaves everything else."""
    import subprocess
    import sys

    out = tmp_path / "out"
    out.mkdir()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    stale = out / f".clip.pocusiq-{dead_pid}-abc123.tmp.mp4"
    stale.write_bytes(b"half a video")
    live = out / f".clip.pocusiq-{os.getppid()}-def456.tmp.mp4"  # a running process: kept
    live.write_bytes(b"being written")
    foreign = out / ".clip.notours.tmp.mp4"
    foreign.write_bytes(b"someone else's")
    src = tmp_path / "clip.mp4"
    write_video(src, _rgb_frames(3), rate=Fraction(25), note="t")
    # a real kill -9 of a writer, in a child process
    child = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time, numpy as np; from fractions import Fraction;"
         "from pocusiq.imaging.video import VideoWriter\n"
         f"with VideoWriter({str(out / 'clip.mp4')!r}, rate=Fraction(25), note='x') as w:\n"
         "    w.write(np.zeros((64, 64, 3), np.uint8)); print('ready', flush=True); time.sleep(60)"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert child.stdout.readline().strip() == "ready"
    child.kill()
    child.wait()
    killed = [p for p in out.iterdir() if p.name.startswith(f".clip.pocusiq-{child.pid}-")]
    assert killed, "the killed writer should have left its temporary file"
    enhance_file(identity_enhancer, src, out / "clip.mp4", roi="full")
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["clip.mp4", live.name, foreign.name])
    assert remove_stale_temps(out) == []
