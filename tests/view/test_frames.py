"""Bounded reading of cine loops and display conversion."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from pocusiq.view.frames import decimate, read_for_view, scale_to, to_display

from .conftest import write_clip


@pytest.mark.parametrize("total, cap, stride", [(1000, 240, 8), (240, 240, 1), (241, 240, 2), (7, 3, 4)])
def test_decimate_keeps_evenly_spaced_frames_within_the_cap(total, cap, stride):
    kept, indices, seen = decimate((np.full((2, 2), i % 256, np.uint8) for i in range(total)), cap)
    assert seen == total
    assert len(kept) <= cap
    assert indices == list(range(0, total, stride))
    assert [int(k[0, 0]) for k in kept] == [i % 256 for i in indices]  # the frames are the indexed ones


def test_long_clip_read_in_bounded_frames_with_rate_and_count(tmp_path):
    clip = write_clip(tmp_path / "long.avi", 300, rate=Fraction(30000, 1001))
    frames = read_for_view(clip, "video", max_frames=50)
    assert frames.total == 300
    assert len(frames.frames) <= 50 and frames.indices == list(range(0, 300, 8))
    assert frames.rate == Fraction(30000, 1001)
    # kept frame k is source frame indices[k]: its bar sits at column 2*index
    for frame, index in zip(frames.frames[:5], frames.indices[:5]):
        centre = float(np.mean(np.nonzero(frame[24, :, 0] > 150)[0]))
        assert abs(centre - ((2 * index) % 64 + 1.5)) <= 1.0


def test_to_display_scales_full_scale_to_255():
    frame = np.array([[0, 4095], [2048, 1000]], dtype=np.uint16)
    shown = to_display(frame, 4095.0)
    assert shown.dtype == np.uint8
    assert shown.tolist() == [[0, 255], [128, 62]]
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert to_display(rgba, 255.0).shape == (2, 2, 3)


def test_scale_to_never_upscales_and_bounds_the_longer_side():
    frame = np.zeros((960, 1280), np.uint8)
    assert scale_to(frame, 640).shape == (480, 640)
    assert scale_to(frame, 4000).shape == (960, 1280)


def test_long_full_size_loop_holds_only_display_jpegs_and_scored_frames_are_reread(tmp_path):
    from pocusiq.view.frames import display_jpeg, frames_at

    clip = write_clip(tmp_path / "big.avi", 300, height=960, width=1280)
    frames = read_for_view(clip, "video", max_frames=240, prepare=display_jpeg(640))
    assert frames.total == 300 and frames.size == (960, 1280) and frames.indices == list(range(0, 300, 2))
    assert all(isinstance(f, bytes) for f in frames.frames)
    assert sum(len(f) for f in frames.frames) < 150 * 60_000  # ~150 small JPEGs, not 150 x 3.7 MB frames
    from PIL import Image
    import io

    assert Image.open(io.BytesIO(frames.frames[0])).size == (640, 480)
    full = frames_at(clip, "video", [frames.indices[3], 0])
    assert full[0].shape == (960, 1280, 3)
    centre = float(np.mean(np.nonzero(full[0][24, :, 0] > 150)[0]))
    assert abs(centre - (2 * 6 + 1.5)) <= 1.0  # source frame 6's bar, returned in the order asked
