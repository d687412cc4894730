"""The shipped default generators: present, small, safetensors, loadable, faithful on a planted target.

The real-frame bar (keeps every target, beats the unsharp mask on NIQE and PIQE) is measured by
``bench/fidelity.py`` and recorded in the model card; here: the package-level properties.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from pocusiq.enhance.enhancer import Enhancer
from pocusiq.models.checkpoints import load_checkpoint
from pocusiq.models.pretrained import DEFAULT_MODELS, MODEL_CARD, default_model_path


@pytest.mark.parametrize("kind", sorted(DEFAULT_MODELS))
def test_shipped_model_is_small_safetensors_with_spacing(kind):
    path = default_model_path(kind)
    assert path.suffix == ".safetensors" and path.stat().st_size < 8_000_000  # cpu 7.3 MB, realtime 1.1 MB (float32)
    ckpt = load_checkpoint(path)
    assert ckpt.model_config.residual
    assert ckpt.discriminator is None and not ckpt.optimizers  # the generator alone
    assert ckpt.spacing_mm is not None and 0.01 < ckpt.spacing_mm < 1.0


@pytest.mark.parametrize("kind", sorted(DEFAULT_MODELS))
def test_default_enhancer_keeps_a_planted_wire_and_cyst(kind):
    rng = np.random.default_rng(0)
    img = ndimage.gaussian_filter(rng.rayleigh(1.0, (256, 256)), (1.5, 2.5))
    img = 0.35 * img / img.mean()
    yy, xx = np.mgrid[:256, :256]
    cyst = (yy - 80) ** 2 + (xx - 90) ** 2 <= 20**2
    img[cyst] *= 0.05
    img += 1.5 * np.exp(-((yy - 180) ** 2 / (2 * 1.5**2) + (xx - 160) ** 2 / (2 * 2.5**2)))  # a wire
    u8 = np.clip(img * 255, 0, 255).astype(np.uint8)
    out = Enhancer.default(kind)(u8)
    assert out.shape == u8.shape and out.dtype == np.uint8
    bg = lambda a: float(np.median(a[140:220, 20:100]))  # noqa: E731
    peak_in, peak_out = float(u8[175:186, 152:169].max()), float(out[175:186, 152:169].max())
    assert peak_out - bg(out) >= 0.8 * (peak_in - bg(u8))  # the wire keeps >= 80 % of its contrast
    assert float(out[cyst].mean()) < 0.5 * bg(out)  # the cyst stays dark


def test_unknown_kind_and_model_card():
    with pytest.raises(ValueError, match="cpu"):
        default_model_path("huge")
    text = MODEL_CARD.read_text()
    for needle in ("not for diagnosis", "CC BY 4.0", "NIQE", "PIQE", "train_default_model.py"):
        assert needle in text


def test_enhance_command_uses_the_shipped_model_without_model_flag(tmp_path):
    from PIL import Image

    from pocusiq.cli import main

    rng = np.random.default_rng(1)
    frame = np.zeros((300, 360), np.uint8)
    frame[40:280, 60:320] = (60 + 120 * ndimage.gaussian_filter(rng.random((240, 260)), 1.0)).astype(np.uint8)
    src = tmp_path / "frame.png"
    Image.fromarray(frame).save(src)
    assert main(["enhance", str(src), "--out", str(tmp_path / "out"), "--engine", "torch"]) == 0
    written = sorted(p.name for p in (tmp_path / "out").rglob("*.png"))
    assert written, "no enhanced PNG written"
