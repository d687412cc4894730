"""Scale-aware enhancement: inputs are enhanced at the model's pixel spacing (checkpoint metadata
``spacing_mm``), only the model's change is resampled back, and an unknown spacing is reported."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.models.checkpoints import load_checkpoint
from pocusiq.enhance.tiling import TilingConfig
from pocusiq.errors import CheckpointError

from .synthetic import Identity


class BoxBlur(torch.nn.Module):
    """A fixed 3x3 mean filter (in [-1, 1]): its footprint is 3 model pixels."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.avg_pool2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="replicate"), 3, 1)


def _enhancer(net, spacing):
    return Enhancer(net, multiple=1, tiling=TilingConfig(multiple=1, tile_size=None), spacing_mm=spacing)


def _point(size=96):
    """A 4x4 bright target (one model pixel at 4x the model's resolution) on a flat background."""
    image = np.full((size, size), 40, np.uint8)
    image[44:48, 44:48] = 255
    return image


def test_identity_model_returns_the_input_at_any_scale():
    image = np.random.default_rng(0).integers(0, 256, (60, 80), dtype=np.uint8)
    enhancer = _enhancer(Identity(), 0.2)
    np.testing.assert_array_equal(enhancer(image, spacing_mm=0.05), image)
    np.testing.assert_array_equal(enhancer(image, spacing_mm=(0.5, 0.3)), image)


def test_model_acts_at_its_own_scale():
    """A 3-pixel blur trained at 0.2 mm/pixel, on a 0.05 mm/pixel target, spreads over about 4x
    more input pixels than at the input's own scale; with equal spacings nothing is resampled."""
    image = _point()
    plain = _enhancer(BoxBlur(), None)(image)
    scaled = _enhancer(BoxBlur(), 0.2)(image, spacing_mm=0.05)
    same = _enhancer(BoxBlur(), 0.2)(image, spacing_mm=0.201)  # within 2 %: no resampling
    np.testing.assert_array_equal(same, plain)
    width = lambda out: int((np.abs(out.astype(int) - image)[46] > 2).sum())  # changed pixels, one row
    assert width(plain) == 4  # one pixel either side of each edge
    assert 12 <= width(scaled) <= 20
    assert int(scaled[46, 46]) < int(plain[46, 46])  # the target is spread further


def test_checkpoint_spacing_metadata(tmp_path, tiny_checkpoint):
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(tiny_checkpoint), framework="pt") as handle:
        tensors = {k: handle.get_tensor(k) for k in handle.keys()}
        metadata = dict(handle.metadata())
    assert load_checkpoint(tiny_checkpoint).spacing_mm is None
    assert Enhancer.from_checkpoint(tiny_checkpoint).spacing_mm is None
    with_spacing = tmp_path / "s.safetensors"
    save_file(tensors, str(with_spacing), metadata={**metadata, "spacing_mm": "0.0588"})
    assert Enhancer.from_checkpoint(with_spacing).spacing_mm == pytest.approx(0.0588)
    bad = tmp_path / "b.safetensors"
    save_file(tensors, str(bad), metadata={**metadata, "spacing_mm": "-1"})
    with pytest.raises(CheckpointError, match=r"b\.safetensors: metadata spacing_mm='-1'"):
        Enhancer.from_checkpoint(bad)


def test_files_use_recorded_or_given_spacing_and_warn_when_unknown(tmp_path):
    from pocusiq.enhance.files import enhance_file

    Image.fromarray(_point()).save(tmp_path / "p.png")
    enhancer = _enhancer(BoxBlur(), 0.2)
    unknown = enhance_file(enhancer, tmp_path / "p.png", tmp_path / "o1.png", roi="full")
    assert len(unknown.warnings) == 1 and "pixel spacing unknown" in unknown.warnings[0]
    assert "0.2 mm/pixel" in unknown.warnings[0] and "--spacing" in unknown.warnings[0]
    given = enhance_file(enhancer, tmp_path / "p.png", tmp_path / "o2.png", roi="full", spacing_mm=0.05)
    assert not given.warnings
    out = np.asarray(Image.open(given.output))
    np.testing.assert_array_equal(out, enhancer(_point(), spacing_mm=0.05))
    assert not enhance_file(_enhancer(BoxBlur(), None), tmp_path / "p.png", tmp_path / "o3.png", roi="full").warnings


@pytest.mark.shared_data
def test_screenshot_spacing_from_its_depth_ruler(shared_data, tmp_path):
    """Without --spacing, the Interson screenshot's ruler gives its spacing (0.0588 mm/pixel)."""
    from pocusiq.enhance.files import enhance_file

    source = shared_data / "real" / "pocus" / "interson-phantom.png"
    result = enhance_file(_enhancer(Identity(), 0.2), source, tmp_path / "o.png", roi="auto")
    assert result.spacing_source == "depth ruler" and not result.warnings
    assert result.spacing_mm == pytest.approx(0.0588, rel=0.02)
