"""Built-in baseline enhancement methods: identity, median, bilateral, non-local means, SRAD, CLAHE.

Every baseline is a function ``image -> image`` with keyword parameters: it takes a greyscale
``(H, W)`` image (uint8, uint16 or float) and returns a new image of the same shape and dtype
(integer outputs rounded and clipped to the dtype's range). The filters come from SciPy
(median), scikit-image (non-local means, CLAHE) and OpenCV (bilateral, for speed); SRAD is not in either, so it lives
in :mod:`pocusiq.benchmark.srad`.

Defaults are chosen for 256x256 B-mode images on a laptop CPU: non-local means uses skimage's
``fast_mode`` with a 5x5 patch and an 11x11 search window, so all six baselines together take a
fraction of a second per image.

``BASELINES`` maps each built-in name (as used in method specs: ``median``, ``median:size=5``) to
its function.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from skimage import exposure, restoration

from pocusiq.benchmark.srad import srad

__all__ = [
    "identity",
    "median",
    "bilateral",
    "nlm",
    "clahe",
    "unsharp",
    "srad",
    "BASELINES",
    "to_unit_float",
    "estimate_noise_sigma",
    "from_unit_float",
]


def _check_image(image: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a greyscale image of shape (H, W), got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise TypeError(f"{name}: unsupported dtype {arr.dtype}; expected an integer or float image")
    return arr


def to_unit_float(image: np.ndarray) -> tuple[np.ndarray, float, float]:
    """Map an image to float64 in [0, 1].

    Integer images are divided by their dtype's maximum (uint8: 255); float images are scaled by
    their own [min, max] (a constant float image maps to 0).

    Returns:
        ``(unit, low, scale)`` such that ``image ~ low + unit * scale``.
    """
    arr = np.asarray(image)
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        low, scale = float(info.min), float(info.max) - float(info.min)
    else:
        low = float(arr.min())
        scale = float(arr.max()) - low or 1.0
    return (arr.astype(np.float64) - low) / scale, low, scale


def from_unit_float(unit: np.ndarray, like: np.ndarray, low: float, scale: float) -> np.ndarray:
    """Inverse of :func:`to_unit_float`: back to ``like``'s dtype (integers rounded and clipped)."""
    values = low + np.clip(unit, 0.0, 1.0) * scale
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        return np.clip(np.rint(values), info.min, info.max).astype(like.dtype)
    return values.astype(like.dtype)


def identity(image: np.ndarray) -> np.ndarray:
    """The unprocessed input (a copy): the benchmark's "input" column."""
    return _check_image(image, "identity").copy()


def median(image: np.ndarray, *, size: int = 5) -> np.ndarray:
    """Median filter over a ``size`` x ``size`` pixel square (``scipy.ndimage.median_filter``, reflected borders)."""
    arr = _check_image(image, "median")
    if int(size) != size or size < 1:
        raise ValueError(f"median: size must be a positive integer, got {size!r}")
    return ndimage.median_filter(arr, size=int(size), mode="reflect")


def bilateral(image: np.ndarray, *, sigma_color: float = 0.15, sigma_spatial: float = 2.0, diameter: int = 7) -> np.ndarray:
    """Bilateral filter (OpenCV ``cv2.bilateralFilter``).

    OpenCV rather than ``skimage.restoration.denoise_bilateral``: the same filter, but skimage's
    takes about a second per 256x256 image and OpenCV's a few milliseconds.

    Args:
        image: ``(H, W)`` greyscale image.
        sigma_color: intensity standard deviation, as a fraction of the dtype's range (0.15 = 38 grey levels of uint8).
        sigma_spatial: spatial standard deviation in pixels.
        diameter: window diameter in pixels.
    """
    import cv2

    arr = _check_image(image, "bilateral")
    unit, low, scale = to_unit_float(arr)
    out = cv2.bilateralFilter(
        unit.astype(np.float32), d=int(diameter), sigmaColor=float(sigma_color), sigmaSpace=float(sigma_spatial),
        borderType=cv2.BORDER_REFLECT,
    )
    return from_unit_float(out.astype(np.float64), arr, low, scale)


def estimate_noise_sigma(unit: np.ndarray, window: int = 7) -> float:
    """Robust noise (speckle) level: the median over the image of the local standard deviation.

    Ultrasound speckle is spatially correlated (a speckle grain spans several pixels), so
    wavelet-based white-noise estimators such as ``skimage.restoration.estimate_sigma`` (which
    also needs PyWavelets) see only its finest-scale part and underestimate it about twofold. Most
    of a B-mode image is homogeneous speckle, so the median of the local standard deviation in a
    ``window`` x ``window`` square is the speckle level; edges only occupy the upper tail.

    Args:
        unit: 2-D float image (e.g. in [0, 1]).
        window: side of the square window in pixels.

    Returns:
        The noise standard deviation, in the image's units (>= 0).
    """
    mean = ndimage.uniform_filter(unit, size=window, mode="reflect")
    mean_sq = ndimage.uniform_filter(unit * unit, size=window, mode="reflect")
    return float(np.median(np.sqrt(np.maximum(mean_sq - mean * mean, 0.0))))


def nlm(
    image: np.ndarray,
    *,
    h: float | None = None,
    h_factor: float = 0.6,
    patch_size: int = 5,
    patch_distance: int = 5,
) -> np.ndarray:
    """Non-local means (``skimage.restoration.denoise_nl_means`` with ``fast_mode=True``).

    Args:
        image: ``(H, W)`` greyscale image.
        h: filtering strength as a fraction of the dtype's range; ``None`` uses
            ``h_factor * sigma`` with ``sigma`` from :func:`estimate_noise_sigma`.
        h_factor: multiplier of the estimated noise level when ``h`` is None.
        patch_size: patch side in pixels.
        patch_distance: search radius in pixels (the search window is ``2 * patch_distance + 1`` wide).
    """
    arr = _check_image(image, "nlm")
    unit, low, scale = to_unit_float(arr)
    sigma = estimate_noise_sigma(unit)
    strength = float(h) if h is not None else float(h_factor) * max(sigma, 1e-6)
    out = restoration.denoise_nl_means(
        unit,
        h=strength,
        sigma=sigma,
        patch_size=int(patch_size),
        patch_distance=int(patch_distance),
        fast_mode=True,
    )
    return from_unit_float(out, arr, low, scale)


def clahe(image: np.ndarray, *, clip_limit: float = 0.01, kernel_size: int | None = None, nbins: int = 256) -> np.ndarray:
    """Contrast-limited adaptive histogram equalisation (``skimage.exposure.equalize_adapthist``).

    Not a denoiser: it raises local contrast (and with it speckle contrast).

    Args:
        image: ``(H, W)`` greyscale image.
        clip_limit: clipping limit in [0, 1] (higher = more contrast).
        kernel_size: contextual region side in pixels; ``None`` = 1/8 of the image size.
        nbins: histogram bins.
    """
    arr = _check_image(image, "clahe")
    unit, low, scale = to_unit_float(arr)
    out = exposure.equalize_adapthist(unit, kernel_size=kernel_size, clip_limit=float(clip_limit), nbins=int(nbins))
    return from_unit_float(out, arr, low, scale)


def unsharp(image: np.ndarray, *, amount: float = 1.0, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask ``image + amount * (image - gaussian(image, sigma))`` (``skimage.filters.unsharp_mask``).

    Defaults (amount 1, sigma 1 px): issue 10's reference sharpening filter; on the real handheld
    frames it keeps every target and lowers NIQE and PIQE (``bench/fidelity.py``).
    """
    from skimage.filters import unsharp_mask

    arr = _check_image(image, "unsharp")
    unit, low, scale = to_unit_float(arr)
    out = unsharp_mask(unit, radius=float(sigma), amount=float(amount), preserve_range=True)
    return from_unit_float(out, arr, low, scale)


BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "identity": identity,
    "median": median,
    "bilateral": bilateral,
    "nlm": nlm,
    "srad": srad,
    "clahe": clahe,
    "unsharp": unsharp,
}
"""Built-in method name -> function ``(image, **params) -> image``."""
