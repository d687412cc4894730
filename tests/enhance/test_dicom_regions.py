"""DICOM: the Sequence of Ultrasound Regions as the imaging region and spacing; lossless output
choices; JPEG baseline decoded without the GPL libjpeg plug-in."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, RLELossless

from pocusiq.imaging.dicom import read_dicom, write_derived_dicom

from .dicom_factory import write_jpeg_baseline, write_native
from .synthetic import speckle_frame


def _with_us_region(path, box, delta_cm=(0.005, 0.006)):
    ds = pydicom.dcmread(path)
    x, y, w, h = box
    region = Dataset()
    region.RegionSpatialFormat, region.RegionDataType, region.RegionFlags = 1, 1, 0
    region.RegionLocationMinX0, region.RegionLocationMinY0 = x, y
    region.RegionLocationMaxX1, region.RegionLocationMaxY1 = x + w - 1, y + h - 1
    region.PhysicalUnitsXDirection = region.PhysicalUnitsYDirection = 3  # cm
    region.PhysicalDeltaX, region.PhysicalDeltaY = delta_cm
    colour_bar = Dataset()  # a second, non-tissue region listed first: must not be chosen
    colour_bar.RegionSpatialFormat, colour_bar.RegionDataType = 0, 3
    colour_bar.RegionLocationMinX0, colour_bar.RegionLocationMinY0 = 0, 0
    colour_bar.RegionLocationMaxX1, colour_bar.RegionLocationMaxY1 = 3, 3
    ds.SequenceOfUltrasoundRegions = Sequence([colour_bar, region])
    ds.PixelSpacing = [0.9, 0.9]  # the regions' physical deltas take precedence
    ds.save_as(path, enforce_file_format=True)
    return path


def test_ultrasound_regions_give_the_region_and_spacing(negate_enhancer, tmp_path):
    frames = np.stack([speckle_frame(40, 60, s) for s in range(3)])
    src = _with_us_region(write_native(tmp_path / "us.dcm", frames, "MONOCHROME2", frame_time_ms=40.0),
                          (10, 5, 30, 20))
    dicom = read_dicom(src)
    assert dicom.spacing_mm == pytest.approx((0.05, 0.06))
    assert dicom.imaging_region().box == (10, 5, 30, 20)
    result = negate_enhancer.enhance_file(src, tmp_path / "out.dcm", roi="auto")
    assert result.region == (10, 5, 30, 20)
    out = pydicom.dcmread(result.output).pixel_array
    inside = np.zeros((40, 60), bool)
    inside[5:25, 10:40] = True
    np.testing.assert_array_equal(out[:, ~inside], frames[:, ~inside])
    np.testing.assert_array_equal(out[:, inside], 255 - frames[:, inside])


@pytest.mark.parametrize("compression,syntax", [("rle", RLELossless), ("none", ExplicitVRLittleEndian)])
def test_derived_dicom_lossless_choices_round_trip(tmp_path, compression, syntax):
    frames = np.stack([speckle_frame(32, 48, s) for s in range(3)]).astype(np.uint16) * 16
    src = write_native(tmp_path / "s.dcm", frames, "MONOCHROME2", bits_stored=12, frame_time_ms=50.0)
    ds = write_derived_dicom(tmp_path / "o.dcm", read_dicom(src), frames, model_name="m", note="n",
                             compression=compression)
    assert ds.file_meta.TransferSyntaxUID == syntax
    out = pydicom.dcmread(tmp_path / "o.dcm")
    np.testing.assert_array_equal(out.pixel_array, frames)
    assert int(out.NumberOfFrames) == 3 and int(out.BitsStored) == 12


def test_jpeg_baseline_decodes_without_the_gpl_libjpeg_plugin(tmp_path):
    """The base install decodes JPEG baseline through Pillow (pydicom's pillow plug-in) when
    pylibjpeg-libjpeg (GPL) is absent: run in a process where importing it fails."""
    rgb = np.zeros((32, 48, 3), np.uint8)
    rgb[..., 0] = np.linspace(40, 200, 48, dtype=np.uint8)
    rgb[..., 1] = 90
    src = write_jpeg_baseline(tmp_path / "j.dcm", rgb)
    script = textwrap.dedent(f"""
        import importlib.metadata as md
        _entry_points = md.entry_points

        def without_libjpeg(*args, **kwargs):  # as if pylibjpeg-libjpeg (GPL) were not installed
            found = _entry_points(*args, **kwargs)
            return md.EntryPoints(ep for ep in found if not ep.value.startswith("libjpeg"))

        md.entry_points = without_libjpeg
        import sys
        sys.modules["libjpeg"] = None
        import numpy as np
        from pydicom.pixels import get_decoder
        from pydicom.uid import JPEGBaseline8Bit
        from pocusiq.imaging.dicom import read_dicom
        assert "pylibjpeg" not in get_decoder(JPEGBaseline8Bit).available_plugins
        frame = read_dicom({str(src)!r}).frames[0]
        print(frame.shape, int(frame[..., 0].mean()))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          env={"PYTHONPATH": ":".join(sys.path)})
    assert done.returncode == 0, done.stderr
    shape, red = done.stdout.split(")")
    assert shape == "(32, 48, 3" and abs(int(red) - int(rgb[..., 0].mean())) <= 4
