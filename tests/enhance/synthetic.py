"""Small known networks and synthetic frames for the enhance tests (made in memory)."""

from __future__ import annotations

import numpy as np
import torch


class Identity(torch.nn.Module):
    """y = x (in [-1, 1]); an enhancer around it must return its input exactly."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clone()


class Negate(torch.nn.Module):
    """y = -x in [-1, 1], i.e. v -> 1 - v on [0, 1]: a known, visible change (255 - v for uint8)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return -x


def speckle_frame(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A uint8 speckle-like image (Rayleigh magnitudes), no margins."""
    rng = np.random.default_rng(seed)
    field = np.hypot(rng.normal(size=(height, width)), rng.normal(size=(height, width)))
    return np.clip(field / field.max() * 400, 0, 255).astype(np.uint8)


def screenshot_frame(seed: int = 0) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """An RGB 'screen capture': black frame, a grey speckle image in a box, coloured UI and text.

    Returns the frame (H, W, 3) uint8 and the image box (x, y, w, h).
    """
    frame = np.zeros((240, 320, 3), dtype=np.uint8)
    box = (60, 30, 180, 170)
    x, y, w, h = box
    image = speckle_frame(h, w, seed)
    frame[y : y + h, x : x + w] = image[..., None]
    frame[5:20, 5:60] = (200, 30, 30)  # a red UI button
    frame[40:200, 280:290] = np.linspace(0, 255, 160, dtype=np.uint8)[:, None, None]  # grey bar
    frame[220:226, 100:200] = 255  # "text"
    return frame, box
