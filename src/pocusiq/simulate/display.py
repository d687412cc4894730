"""The post-processing a scanner/app applies to the log-compressed image before display.

Handheld apps smooth speckle with an edge-preserving filter and sharpen edges (vendors call
them "speckle reduction", "SRI", "XRES", "image enhancement"; the filters themselves are not
published). Two generic stand-ins, each one cheap pass of SciPy filters on a 256x256 image
(~2 ms), are used so the simulator can span what those apps do:

- :func:`speckle_reduce`: blend towards a Gaussian-smoothed image where the image is
  homogeneous (low local gradient relative to the local speckle level), keep it near edges —
  the behaviour of the anisotropic-diffusion / adaptive filters such apps use (e.g. SRAD, Yu and
  Acton 2002), without their iterations;
- :func:`edge_enhance`: unsharp mask (image + amount x (image - Gaussian(image))).

Images are float in [0, 1]; outputs are clipped to [0, 1]. Written here because scikit-image's
anisotropic filters (``denoise_tv``, ``denoise_bilateral``) take 20-200 ms per 256x256 image,
too slow for the >= 20 pairs/s target.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def speckle_reduce(image: np.ndarray, strength: float, sigma_px: float) -> np.ndarray:
    """Edge-preserving speckle smoothing.

    Args:
        image: (rows, cols) float in [0, 1].
        strength: 0..1, the weight of the smoothed image in homogeneous regions.
        sigma_px: sigma (pixels) of the Gaussian smoothing (about the speckle size).

    Returns:
        (rows, cols) float32 in [0, 1]. ``strength == 0`` returns the image unchanged.
    """
    if strength <= 0 or sigma_px <= 0:
        return image.astype(np.float32, copy=False)
    img = image.astype(np.float32, copy=False)
    smooth = ndimage.gaussian_filter(img, sigma_px, mode="nearest")
    # edge map: gradient magnitude of a more strongly smoothed image, relative to its 90th percentile
    grad = ndimage.gaussian_gradient_magnitude(img, 1.5 * sigma_px, mode="nearest")
    scale = float(np.percentile(grad, 90)) + 1e-6
    keep = np.clip(grad / scale, 0.0, 1.0)
    weight = np.float32(strength) * (1.0 - keep)
    return np.clip(img + weight * (smooth - img), 0.0, 1.0).astype(np.float32)


def edge_enhance(image: np.ndarray, amount: float, sigma_px: float) -> np.ndarray:
    """Unsharp mask ``image + amount * (image - Gaussian_sigma(image))``, clipped to [0, 1]."""
    if amount <= 0 or sigma_px <= 0:
        return image.astype(np.float32, copy=False)
    img = image.astype(np.float32, copy=False)
    blur = ndimage.gaussian_filter(img, sigma_px, mode="nearest")
    return np.clip(img + np.float32(amount) * (img - blur), 0.0, 1.0).astype(np.float32)
