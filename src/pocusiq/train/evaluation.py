"""Run a generator over whole images and score it against the targets (SSIM, PSNR).

Used for the per-epoch validation during training, the demo's report and the ablation. Whole
images of any size go through the one inference path, :func:`pocusiq.models.inference.enhance_batch`
(reflect-padded up to the generator's multiple ``2 ** depth``, enhanced, cropped back), the same
as :class:`pocusiq.enhance.enhancer.Enhancer`, so the best checkpoint is chosen on the outputs users get. Scores use :mod:`pocusiq.metrics` on ``[0, 1]``
float images with ``data_range = 1``: SSIM (MATLAB definition, 11x11 Gaussian window) and
PSNR in dB.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from pocusiq.metrics import psnr, ssim
from pocusiq.models.inference import enhance_batch

__all__ = ["EvaluationResult", "evaluate_generator"]


@dataclass
class EvaluationResult:
    """Per-image scores over a split: ids, and SSIM/PSNR of the input and the enhanced image
    against the target (numpy arrays, one value per image; PSNR in dB)."""

    ids: list[str] = field(default_factory=list)
    ssim_input: np.ndarray = field(default_factory=lambda: np.zeros(0))
    ssim_enhanced: np.ndarray = field(default_factory=lambda: np.zeros(0))
    psnr_input: np.ndarray = field(default_factory=lambda: np.zeros(0))
    psnr_enhanced: np.ndarray = field(default_factory=lambda: np.zeros(0))

    def summary(self) -> dict[str, Any]:
        """Means and standard deviations (population) of each score, and the image count."""
        out: dict[str, Any] = {"n": len(self.ids)}
        for name in ("ssim_input", "ssim_enhanced", "psnr_input", "psnr_enhanced"):
            values = getattr(self, name)
            out[f"{name}_mean"] = float(np.mean(values)) if len(values) else float("nan")
            out[f"{name}_std"] = float(np.std(values)) if len(values) else float("nan")
        return out


@torch.no_grad()
def evaluate_generator(
    generator: nn.Module,
    dataset: Any,
    *,
    max_images: int | None = None,
    keep_images: int = 0,
) -> tuple[EvaluationResult, list[dict[str, np.ndarray]]]:
    """Score ``generator`` on every item of ``dataset`` (items ``{"low", "high": (1, H, W) [0, 1], "id"}``).

    The generator is put in eval mode for the pass and restored afterwards. Returns the
    :class:`EvaluationResult` and up to ``keep_images`` triplets
    ``{"id", "low", "enhanced", "high"}`` as ``(H, W)`` float arrays in ``[0, 1]`` (for figures).
    """
    inner = getattr(generator, "module", generator)
    was_training = inner.training
    inner.eval()
    n = len(dataset) if max_images is None else min(len(dataset), max_images)
    ids: list[str] = []
    scores: dict[str, list[float]] = {k: [] for k in ("si", "se", "pi", "pe")}
    kept: list[dict[str, np.ndarray]] = []
    try:
        for i in range(n):
            item = dataset[i]
            low = item["low"].float().unsqueeze(0)
            high = item["high"].float()[0].numpy().astype(np.float64)
            enhanced = enhance_batch(inner, low)[0, 0].float().cpu().numpy().astype(np.float64)
            low_np = low[0, 0].numpy().astype(np.float64)
            ids.append(str(item.get("id", i)))
            scores["si"].append(float(ssim(low_np, high, data_range=1.0)))
            scores["se"].append(float(ssim(enhanced, high, data_range=1.0)))
            scores["pi"].append(float(psnr(low_np, high, data_range=1.0)))
            scores["pe"].append(float(psnr(enhanced, high, data_range=1.0)))
            if len(kept) < keep_images:
                kept.append({"id": ids[-1], "low": low_np, "enhanced": enhanced, "high": high})
    finally:
        inner.train(was_training)
    result = EvaluationResult(
        ids=ids,
        ssim_input=np.array(scores["si"]),
        ssim_enhanced=np.array(scores["se"]),
        psnr_input=np.array(scores["pi"]),
        psnr_enhanced=np.array(scores["pe"]),
    )
    return result, kept
