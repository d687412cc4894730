"""NIfTI / NRRD / Slicer sequence / MHA round trips through SimpleITK: frames, spacing, frame interval."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq.errors import ImageFileError
from pocusiq.imaging import file_kind, open_frames
from pocusiq.imaging.formats import suffix_of
from pocusiq.imaging.volumes import read_volume, write_volume

SUFFIXES = [".nii", ".nii.gz", ".nrrd", ".mha", ".seq.nrrd"]


def _loop(frames=6, dtype=np.uint8):
    rng = np.random.default_rng(3)
    top = np.iinfo(dtype).max
    return rng.integers(0, top, (frames, 24, 32), dtype=dtype)


@pytest.mark.parametrize("suffix", SUFFIXES)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_loop_round_trip_keeps_frames_spacing_and_interval(tmp_path, suffix, dtype):
    loop = _loop(dtype=dtype)
    path = tmp_path / f"cine{suffix}"
    write_volume(path, loop, spacing_mm=(0.2, 0.3), frame_interval_s=0.04)
    assert file_kind(path) == "volume" and suffix_of(path) == suffix
    volume = read_volume(path)
    np.testing.assert_array_equal(volume.frames, loop)
    assert volume.frames.dtype == dtype and volume.is_loop
    assert volume.spacing_mm == pytest.approx((0.2, 0.3))
    assert volume.frame_interval_s == pytest.approx(0.04)
    source = open_frames(path)
    assert source.count == 6 and float(source.rate) == pytest.approx(25.0)
    assert len(list(source.frames())) == 6


@pytest.mark.parametrize("suffix", [".nii.gz", ".nrrd", ".mha"])
def test_single_frame_grey_and_colour_round_trip(tmp_path, suffix):
    grey = _loop(1)[0]
    write_volume(tmp_path / f"g{suffix}", grey, spacing_mm=(0.1, 0.1))
    volume = read_volume(tmp_path / f"g{suffix}")
    assert not volume.is_loop
    np.testing.assert_array_equal(volume.frames[0], grey)
    rgb = np.random.default_rng(4).integers(0, 255, (20, 30, 3), dtype=np.uint8)
    write_volume(tmp_path / f"c{suffix}", rgb)
    np.testing.assert_array_equal(read_volume(tmp_path / f"c{suffix}").frames[0], rgb)


def test_slicer_sequence_header_marks_the_list_axis(tmp_path):
    path = tmp_path / "loop.seq.nrrd"
    write_volume(path, _loop(4), spacing_mm=(0.5, 0.5), frame_interval_s=0.1)
    header = path.read_bytes().split(b"\n\n")[0].decode()
    assert "kinds: list domain domain domain" in header and "sizes: 4 32 24 1" in header
    assert "DataNodeClassName:=vtkMRMLScalarVolumeNode" in header
    assert "axis 0 index values:=0 0.1 0.2 0.3" in header


def test_unsupported_layouts_and_bad_files_are_named(tmp_path):
    import SimpleITK as sitk

    volume4d = sitk.GetImageFromArray(np.zeros((3, 2, 8, 8), np.uint8), isVector=False)  # 3-D+t
    sitk.WriteImage(volume4d, str(tmp_path / "v.nii"))
    with pytest.raises(ImageFileError, match=r"v\.nii: 3-D\+t volumes \(2 slices per frame\)"):
        read_volume(tmp_path / "v.nii")
    (tmp_path / "broken.mha").write_bytes(b"ObjectType = Image\nNDims = 2\n")
    with pytest.raises(ImageFileError, match=r"broken\.mha: cannot read image"):
        read_volume(tmp_path / "broken.mha")
