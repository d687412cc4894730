"""Video round trips with PyAV: same frame count, rate and size; side-by-side; empty videos."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np
import pytest

from pocusiq.imaging.video import probe_video, read_frames
from pocusiq.errors import ImageFileError

from .synthetic import speckle_frame


def make_video(path, frames: int, rate: Fraction, size=(48, 64), codec="libx264") -> None:
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=rate)
    stream.height, stream.width = size
    stream.pix_fmt = "yuv420p"
    for i in range(frames):
        grey = speckle_frame(*size, seed=i)
        frame = av.VideoFrame.from_ndarray(np.repeat(grey[..., None], 3, axis=2), format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()


@pytest.mark.parametrize(
    "name,codec,rate",
    [("clip.mp4", "libx264", Fraction(30000, 1001)), ("clip.avi", "mpeg4", Fraction(25)), ("clip.mov", "libx264", Fraction(15))],
)
def test_video_keeps_frame_count_rate_and_size(negate_enhancer, tmp_path, name, codec, rate):
    src = tmp_path / name
    make_video(src, 7, rate, codec=codec)
    result = negate_enhancer.enhance_file(src, tmp_path / "out" / name, roi="full")
    info_in, info_out = probe_video(src), probe_video(result.output)
    assert result.frames == 7
    assert info_out.rate == info_in.rate == rate
    assert (info_out.width, info_out.height) == (64, 48)
    decoded = list(read_frames(result.output))
    assert len(decoded) == 7
    originals = list(read_frames(src))
    # negate: the output luma is about 255 - input luma (lossy codec: mean error small)
    err = np.mean(np.abs(decoded[3].astype(float).mean(axis=2) - (255 - originals[3].astype(float).mean(axis=2))))
    assert err < 12
    with av.open(str(result.output)) as container:
        assert "not for diagnosis" in container.metadata.get("comment", "")


def test_video_side_by_side_and_region(negate_enhancer, tmp_path):
    src = tmp_path / "clip.mp4"
    make_video(src, 4, Fraction(20))
    result = negate_enhancer.enhance_file(src, tmp_path / "o.mp4", roi=(16, 8, 32, 24), side_by_side=True)
    side = probe_video(result.side_by_side)
    assert (side.width, side.height) == (128, 48) and side.rate == Fraction(20)
    assert len(list(read_frames(result.side_by_side))) == 4
    frame = next(read_frames(result.output)).astype(float).mean(axis=2)
    original = next(read_frames(src)).astype(float).mean(axis=2)
    outside_err = np.mean(np.abs(frame[30:, :] - original[30:, :]))
    inside_err = np.mean(np.abs(frame[10:30, 18:46] - (255 - original[10:30, 18:46])))
    assert outside_err < 12 and inside_err < 12


def test_video_without_frames_is_an_error_and_writes_nothing(identity_enhancer, tmp_path):
    src = tmp_path / "empty.avi"  # AVI keeps a video stream with zero frames
    container = av.open(str(src), "w")
    stream = container.add_stream("mpeg4", rate=30)
    stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
    container.start_encoding()
    container.close()
    out_dir = tmp_path / "out"
    with pytest.raises(ImageFileError, match=r"empty\.avi: video has no frames"):
        identity_enhancer.enhance_file(src, out_dir / "empty.avi", roi="full")
    assert not out_dir.exists() or not any(out_dir.iterdir())  # no output, no temporary left


def test_unreadable_video_names_the_file(identity_enhancer, tmp_path):
    src = tmp_path / "broken.avi"
    src.write_bytes(b"RIFF....AVI garbage")
    with pytest.raises(ImageFileError, match=r"broken\.avi: (cannot open video|file holds no video stream)"):
        identity_enhancer.enhance_file(src, tmp_path / "o.avi", roi="full")
