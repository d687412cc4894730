"""``enhance`` on NIfTI / NRRD / Slicer sequence / MHA files: same format, frames, spacing, interval."""

from __future__ import annotations

import numpy as np
import pytest

from pocusiq.imaging.volumes import read_volume, write_volume


@pytest.mark.parametrize("name", ["cine.nii.gz", "cine.seq.nrrd", "cine.mha", "frame.nrrd"])
def test_enhance_volume_files_keep_format_and_geometry(negate_enhancer, tmp_path, name):
    rng = np.random.default_rng(0)
    loop = rng.integers(0, 256, (4, 20, 28), dtype=np.uint8)
    frames = loop if name.startswith("cine") else loop[0]
    write_volume(tmp_path / name, frames, spacing_mm=(0.25, 0.5), frame_interval_s=0.05)
    result = negate_enhancer.enhance_file(tmp_path / name, tmp_path / "out" / name, roi="full", side_by_side=True)
    assert result.ok and result.frames == (4 if name.startswith("cine") else 1)
    out = read_volume(result.output)
    np.testing.assert_array_equal(out.frames, 255 - (loop if name.startswith("cine") else loop[:1]))
    assert out.spacing_mm == pytest.approx((0.25, 0.5))
    if name.startswith("cine"):
        assert out.frame_interval_s == pytest.approx(0.05)
    assert result.side_by_side.name == name.replace("cine", "cine_side_by_side").replace("frame", "frame_side_by_side")
    assert read_volume(result.side_by_side).frames.shape[-1] == 56
