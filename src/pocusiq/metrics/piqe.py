"""PIQE: Perception-based Image Quality Evaluator (no-reference), MATLAB ``piqe``.

Venkatanath N., Praneeth D., Chandrasekhar Bh. M., Channappayya S. S., Medasani S. S., "Blind image
quality evaluation using perception based features", NCC 2015. As MATLAB's ``piqe`` computes it:

1. the image is padded (symmetric, at the bottom/right) to a multiple of 16 px, scaled to 0-255 by
   its maximum and rounded: ``round(255 * I / max(I))`` — so PIQE does not depend on the intensity
   scale and needs no ``data_range``;
2. MSCN coefficients (7x7 Gaussian, sigma 7/6, C = 1; :func:`pocusiq.metrics.nss.mscn`);
3. per non-overlapping 16x16 block: it is *active* (salient) if the variance (N-1) of its
   coefficients exceeds 0.1; an active block has a *noticeable artifact* if any run of 6
   consecutive pixels along one of its four edges has a standard deviation below 0.1, and
   *noise* if ``sigma > 2 beta``, with ``sigma`` the block's standard deviation and
   ``beta = |sigma - r| / max(sigma, r)``, ``r`` the ratio of the standard deviations of the two
   centre columns and of the rest of the block (MATLAB removes columns 8 and 10 — 1-based — as
   "surround" because it deletes column 9 after the first deletion shifted it; reproduced);
4. score ``= 100 (sum over active blocks of [artifact] (1 - v) + [noise] v + 1) / (n_active + 1)``
   with ``v`` the block variance.

Value range: 0-100, lower is better (0-20 excellent, 21-35 good, 36-50 fair, 51-80 poor,
81-100 bad, per MATLAB's documentation); a uniform image scores 100. Deterministic.

Vectorised over blocks (no per-block Python loop), unlike pypiqe; numbers are the same.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pocusiq.metrics.nss import mscn
from pocusiq.metrics.validation import as_float_image, as_image_array

__all__ = ["piqe", "piqe_maps", "PiqeResult", "PIQE_BLOCK_SIZE"]

PIQE_BLOCK_SIZE = 16
_ACTIVITY_THRESHOLD = 0.1
_IMPAIRED_THRESHOLD = 0.1
_SEGMENT = 6


@dataclass(frozen=True)
class PiqeResult:
    """PIQE score and MATLAB's block-level masks, all masks ``(H, W)`` bool like the input.

    Attributes:
        score: 0-100, lower is better.
        activity_mask: blocks with high spatial activity (the only ones scored).
        artifact_mask: active blocks with noticeable artifacts (e.g. blockiness, flat edges).
        noise_mask: active blocks with Gaussian-noise-like distortion.
    """

    score: float
    activity_mask: np.ndarray
    artifact_mask: np.ndarray
    noise_mask: np.ndarray


def _round_half_away(a: np.ndarray) -> np.ndarray:
    """MATLAB ``round`` for non-negative values (halves go up, unlike numpy's half-to-even)."""
    return np.floor(a + 0.5)


def _check_image(x: np.ndarray, name: str = "x") -> None:
    h, w = x.shape[-2:]
    b = PIQE_BLOCK_SIZE
    if h < b or w < b:
        raise ValueError(f"{name}: PIQE needs an image of at least {b}x{b} pixels, got {h}x{w}")
    if np.issubdtype(x.dtype, np.signedinteger) or np.issubdtype(x.dtype, np.floating):
        if (x < 0).any():
            raise ValueError(f"{name}: PIQE expects non-negative intensities, got a minimum of {x.min()}")


def _piqe_one(image: np.ndarray) -> PiqeResult:
    h, w = image.shape
    b = PIQE_BLOCK_SIZE
    img = as_float_image(image)
    pad_h, pad_w = (-h) % b, (-w) % b
    if pad_h or pad_w:
        img = np.pad(img, ((0, pad_h), (0, pad_w)), mode="symmetric")
    peak = img.max()
    if peak > 0:
        img = _round_half_away(255.0 * (img / peak))
    coeffs, _ = mscn(img)
    nby, nbx = img.shape[0] // b, img.shape[1] // b
    blocks = coeffs.reshape(nby, b, nbx, b).swapaxes(1, 2).reshape(nby * nbx, b, b)

    var = blocks.reshape(blocks.shape[0], -1).var(axis=1, ddof=1)
    active = var > _ACTIVITY_THRESHOLD

    # Noticeable artifacts: any 6-pixel run on the top, right, bottom or left edge with std < 0.1.
    edges = np.stack([blocks[:, 0, :], blocks[:, :, b - 1], blocks[:, b - 1, :], blocks[:, :, 0]], axis=1)
    seg_std = sliding_window_view(edges, _SEGMENT, axis=2).std(axis=3, ddof=1)
    impaired = (seg_std < _IMPAIRED_THRESHOLD).any(axis=(1, 2))

    # Noise: centre columns vs the surround, as MATLAB selects them (see module docstring).
    c1 = b // 2 - 1  # 0-based 7 for 16x16 blocks
    centre = blocks[:, :, [c1, c1 + 1]].reshape(blocks.shape[0], -1)
    keep = np.ones(b, dtype=bool)
    keep[[c1, c1 + 2]] = False
    surround = blocks[:, :, keep].reshape(blocks.shape[0], -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = centre.std(axis=1, ddof=1) / surround.std(axis=1, ddof=1)
        ratio = np.where(np.isnan(ratio), 0.0, ratio)
        sigma = np.sqrt(var)
        beta = np.abs(sigma - ratio) / np.maximum(sigma, ratio)
        noisy = sigma > 2.0 * beta

    artifact = active & impaired
    noise = active & noisy
    dist = np.sum(np.where(artifact, 1.0 - var, 0.0) + np.where(noise, var, 0.0))
    score = 100.0 * (dist + 1.0) / (1.0 + np.count_nonzero(active))

    def to_mask(flags: np.ndarray) -> np.ndarray:
        grid = flags.reshape(nby, nbx)
        return np.repeat(np.repeat(grid, b, axis=0), b, axis=1)[:h, :w]

    return PiqeResult(float(score), to_mask(active), to_mask(artifact), to_mask(noise))


def piqe_maps(x: np.ndarray) -> PiqeResult:
    """PIQE score and masks of one greyscale image (MATLAB ``[score, act, art, noise] = piqe(x)``).

    Args:
        x: ``(H, W)`` non-negative image, at least 16x16; any integer or float dtype.

    Returns:
        :class:`PiqeResult`.

    Raises:
        TypeError: not a numpy array or an unsupported dtype.
        ValueError: not 2-D, NaN/inf, negative values, or smaller than 16x16.
    """
    x = as_image_array(x, "x")
    _check_image(x)
    return _piqe_one(x)


def piqe(x: np.ndarray, *, data_range: float | None = None) -> float | np.ndarray:
    """PIQE score (0-100, lower is better) of a greyscale image or a batch.

    Args:
        x: ``(H, W)`` or a batch ``(N, H, W)``, non-negative, at least 16x16; any integer or float
            dtype.
        data_range: accepted for a uniform metric API and ignored: PIQE rescales every image by
            its own maximum, so the score does not depend on the intensity scale.

    Returns:
        A float, or a float64 array of ``N`` scores for a batch.

    Raises:
        TypeError: not a numpy array or an unsupported dtype.
        ValueError: wrong shape, NaN/inf, negative values, or smaller than 16x16.
    """
    del data_range
    x = as_image_array(x, "x", allow_batch=True)
    _check_image(x)
    if x.ndim == 2:
        return _piqe_one(x).score
    return np.array([_piqe_one(frame).score for frame in x])
