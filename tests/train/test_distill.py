"""Distillation, the realtime preset and batch-norm folding (small CPU runs)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from pocusiq import Enhancer
from pocusiq.enhance.engines import fold_batch_norm
from pocusiq.models import ModelConfig, UNetGenerator, build_generator
from pocusiq.train.distill import DistillConfig, distill, save_student, teacher_targets
from pocusiq.train.presets import preset_config


class Negate(torch.nn.Module):
    """y = -x in [-1, 1], i.e. v -> 1 - v on [0, 1]: a known, visible change."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


def speckle_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A uint8 speckle-like image (Rayleigh magnitudes), no margins."""
    rng = np.random.default_rng(seed)
    field = np.hypot(rng.normal(size=(height, width)), rng.normal(size=(height, width)))
    return np.clip(field / field.max() * 400, 0, 255).astype(np.uint8)


def _bn_unet(seed: int = 0) -> UNetGenerator:
    torch.manual_seed(seed)
    net = build_generator(ModelConfig(ngf=4, depth=3, norm="batch", dropout=0.0))
    net.train()
    with torch.no_grad():  # give the running statistics non-default values
        for _ in range(3):
            net(torch.rand(4, 1, 32, 32) * 2 - 1)
    return net.eval()


def test_fold_batch_norm_same_outputs_no_bn_left():
    net = _bn_unet()
    folded = fold_batch_norm(net)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in folded.modules())
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in net.modules())  # original untouched
    x = torch.rand(2, 1, 40, 24) * 2 - 1
    with torch.no_grad():
        assert torch.max(torch.abs(net(x) - folded(x))).item() < 1e-5
    instance = build_generator(ModelConfig(ngf=4, depth=3, norm="instance"))
    assert fold_batch_norm(instance) is instance  # nothing to fold


def test_realtime_preset_values():
    cfg = preset_config("realtime").model
    assert (cfg.arch, cfg.ngf, cfg.depth, cfg.factor, cfg.norm, cfg.dropout, cfg.residual) == (
        "lean", 16, 4, 4, "batch", 0.0, True)
    assert cfg.multiple == 32 and cfg.skip_sharpen == 1.0  # a fresh network is the unsharp mask
    train = preset_config("realtime")
    train.validate()
    assert train.preset == "realtime" and train.data.crop % cfg.multiple == 0


def test_teacher_targets_from_module_and_enhancer():
    low = np.stack([speckle_frame(20, 28, s) for s in range(3)]).astype(np.float32) / 255
    negate = Negate()
    negate.multiple = 4
    np.testing.assert_allclose(teacher_targets(negate, low), 1 - low, atol=1e-6)
    enhancer = Enhancer(Negate(), multiple=4)
    np.testing.assert_allclose(teacher_targets(enhancer, low, batch=2), 1 - low, atol=1e-6)


def test_distill_learns_the_teacher_and_is_deterministic():
    from scipy.ndimage import gaussian_filter

    # smooth images: their negation is learnable by a depth-2 U-Net in a few steps
    low = np.stack([gaussian_filter(speckle_frame(32, 32, s).astype(float), 3) for s in range(6)])
    low = (low / low.max()).astype(np.float32)
    config = DistillConfig(steps=24, batch_size=4, crop=16, lr=1e-2, lambda_ssim=0.0, seed=1)

    def run():
        torch.manual_seed(0)
        student = build_generator(ModelConfig(ngf=4, depth=2, norm="batch", dropout=0.0))
        return distill(Negate(), student, low, config=config, log_every=8)

    first, second = run(), run()
    losses = [h["l1"] for h in first.history]
    assert len(losses) == 3 and losses[-1] < 0.6 * losses[0]  # it learns the negation
    assert [h["loss"] for h in first.history] == [h["loss"] for h in second.history]
    assert not first.student.training


def test_distill_argument_errors():
    low = np.zeros((2, 16, 16), np.uint8)
    student = build_generator(ModelConfig(ngf=4, depth=2))
    with pytest.raises(ValueError, match="crop 32 is larger than the images"):
        distill(Negate(), student, low, config=DistillConfig(crop=32))
    with pytest.raises(ValueError, match="must be a multiple of the student's multiple 4"):
        distill(Negate(), student, low, config=DistillConfig(crop=6))
    with pytest.raises(ValueError, match="lambda_gt > 0 needs the high-end images"):
        distill(Negate(), student, low, config=DistillConfig(crop=8, lambda_gt=1.0))
    with pytest.raises(ValueError, match="steps, batch_size, crop and teacher_batch must be >= 1"):
        DistillConfig(steps=0)


def test_saved_student_loads_as_an_enhancer(tmp_path):
    student = build_generator(preset_config("realtime").model).eval()
    caller_config = preset_config("realtime")
    caller_model = caller_config.model
    path = save_student(tmp_path / "realtime" / "best.safetensors", student, train_config=caller_config,
                        info={"teacher": "t"})
    assert caller_config.model is caller_model  # the caller's config is not modified
    enhancer = Enhancer.from_checkpoint(tmp_path / "realtime")  # the run folder works too
    assert enhancer.multiple == 32
    image = speckle_frame(50, 70)
    with torch.no_grad():
        padded = np.pad(image, ((0, 14), (0, 26)), mode="reflect").astype(np.float32) / 255 * 2 - 1
        reference = student(torch.from_numpy(padded)[None, None]).numpy()[0, 0, :50, :70]
    expected = np.rint(np.clip((reference + 1) / 2, 0, 1) * 255)
    assert np.max(np.abs(enhancer(image).astype(float) - expected)) <= 1
    assert path.name == "best.safetensors"
