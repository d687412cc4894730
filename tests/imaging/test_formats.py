"""Readers chosen by suffix: file kinds, FrameSource for images, DICOM (with ultrasound regions) and video."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from PIL import Image

from pocusiq.errors import ImageFileError
from pocusiq.imaging import FORMATS, file_kind, open_frames
from pocusiq.imaging.video import write_video


def test_kinds_by_suffix_and_dicom_marker(tmp_path):
    assert file_kind("a.PNG") == "image" and file_kind("b.tiff") == "image" and file_kind("c.jpg") == "image"
    assert file_kind("scan.dcm") == "dicom" and file_kind("clip.MP4") == "video" and file_kind("x.txt") is None
    bare = tmp_path / "IM0001"
    bare.write_bytes(b"\0" * 128 + b"DICM" + b"\0" * 16)
    assert file_kind(bare) == "dicom"
    assert set(FORMATS.values()) >= {"image", "dicom", "video"}


def test_open_frames_image_and_video(tmp_path):
    grey = (np.arange(12 * 16, dtype=np.uint8).reshape(12, 16))
    Image.fromarray(grey).save(tmp_path / "g.png")
    source = open_frames(tmp_path / "g.png")
    assert source.kind == "image" and source.count == 1
    np.testing.assert_array_equal(next(source.frames()), grey)
    frames = [np.full((32, 48, 3), 10 * i, np.uint8) for i in range(5)]
    write_video(tmp_path / "v.mp4", frames, rate=Fraction(25), note="t")
    video = open_frames(tmp_path / "v.mp4")
    assert video.kind == "video" and video.count == 5 and video.rate == Fraction(25)
    assert len(list(video.frames())) == 5
    with pytest.raises(ImageFileError, match=r"x\.txt: unsupported file type \.txt"):
        (tmp_path / "x.txt").write_text("hi")
        open_frames(tmp_path / "x.txt")
    with pytest.raises(ImageFileError, match="file not found"):
        open_frames(tmp_path / "missing.png")


def test_missing_optional_readers_name_their_extra(tmp_path):
    """Without PyAV / pydicom / SimpleITK the readers say which extra installs them."""
    import subprocess
    import sys
    import textwrap

    for module, suffix, extra in (("av", "clip.mp4", "video"), ("pydicom", "scan.dcm", "dicom"),
                                  ("SimpleITK", "cine.nii.gz", "volumes")):
        path = tmp_path / suffix
        path.write_bytes(b"\0" * 256)
        script = textwrap.dedent(f"""
            import sys
            sys.modules[{module!r}] = None
            from pocusiq.errors import ImageFileError
            from pocusiq.imaging import open_frames
            try:
                open_frames({str(path)!r})
            except ImageFileError as exc:
                print(exc)
        """)
        done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                              env={"PYTHONPATH": ":".join(sys.path)})
        assert f"pip install 'pocusiq[{extra}]'" in done.stdout, (module, done.stdout, done.stderr)
