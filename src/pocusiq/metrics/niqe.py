"""NIQE: Natural Image Quality Evaluator (no-reference), MATLAB ``niqe`` with its default model.

Mittal, Soundararajan & Bovik, "Making a 'Completely Blind' Image Quality Analyzer",
IEEE Signal Processing Letters 20(3), 2013. Steps, as MATLAB's ``niqe``/the authors' release and
pyiqa compute them:

1. the greyscale image on a 0-255 scale is cropped to a multiple of 96 px in each direction;
2. at each of two scales (full, then MATLAB bicubic ``imresize(0.5)`` with antialiasing) the
   MSCN coefficients are computed (7x7 Gaussian, sigma 7/6, C = 1; :func:`pocusiq.metrics.nss.mscn`)
   and split into non-overlapping blocks (96x96 at scale 1, 48x48 at scale 2);
3. per block, 18 features: the AGGD fit of the coefficients (shape, mean scale) and, for the
   products of each coefficient with its right / lower / lower-right / upper-right neighbour
   (circular within the block), the AGGD shape, mean, left and right scales; 36 per block;
4. a multivariate Gaussian is fitted to all blocks (nan-aware mean; covariance over blocks without
   NaN features; MATLAB does not drop low-sharpness blocks in ``niqe``), and the score is the
   distance ``sqrt((mu_p - mu_d)^T pinv((S_p + S_d)/2) (mu_p - mu_d))`` to the pristine model
   shipped in ``data/niqe_pristine_params.npz`` (see ``data/README-niqe.md``).

Value range: >= 0, unbounded above; lower is better. Natural photographs score about 2-5,
speckled ultrasound about 5-10. Deterministic (no randomness).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
from scipy.special import gammaln

from pocusiq.metrics.imresize import imresize_matlab
from pocusiq.metrics.nss import fit_aggd, mscn
from pocusiq.metrics.validation import as_float_image, as_image_array, resolve_data_range

__all__ = ["niqe", "niqe_features", "load_pristine_model", "NIQE_BLOCK_SIZE"]

NIQE_BLOCK_SIZE = 96
"""Block side in pixels at the full-resolution scale."""

# Neighbour offsets (rows, cols) as MATLAB circshift arguments: horizontal, vertical, two diagonals.
_SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))


@lru_cache(maxsize=1)
def load_pristine_model() -> tuple[np.ndarray, np.ndarray]:
    """The pristine multivariate Gaussian (MATLAB's default NIQE model) shipped with the package.

    Returns:
        ``(mu, cov)``: float64 ``(36,)`` mean and ``(36, 36)`` covariance of the 36 NSS features.
        Read-only arrays (cached).
    """
    ref = resources.files("pocusiq.metrics").joinpath("data/niqe_pristine_params.npz")
    with resources.as_file(ref) as path, np.load(path, allow_pickle=False) as data:
        mu = np.asarray(data["mu_pris_param"], dtype=np.float64).reshape(-1)
        cov = np.asarray(data["cov_pris_param"], dtype=np.float64)
    mu.setflags(write=False)
    cov.setflags(write=False)
    return mu, cov


def _block_features(coeffs: np.ndarray, block: int) -> np.ndarray:
    """18 NSS features for each ``block x block`` tile of ``coeffs`` -> ``(n_blocks, 18)``."""
    h, w = coeffs.shape
    nby, nbx = h // block, w // block
    tiles = coeffs[: nby * block, : nbx * block].reshape(nby, block, nbx, block).swapaxes(1, 2)
    tiles = tiles.reshape(nby * nbx, block, block)
    flat = tiles.reshape(tiles.shape[0], -1)
    alpha, bl, br = fit_aggd(flat)
    feats = [alpha, (bl + br) / 2.0]
    for shift in _SHIFTS:
        prod = (tiles * np.roll(tiles, shift, axis=(1, 2))).reshape(tiles.shape[0], -1)
        alpha, bl, br = fit_aggd(prod)
        mean = (br - bl) * np.exp(gammaln(2.0 / alpha) - gammaln(1.0 / alpha))
        feats.extend((alpha, mean, bl, br))
    return np.stack(feats, axis=1)


def _check_size(shape: tuple[int, int]) -> None:
    h, w = shape
    b = NIQE_BLOCK_SIZE
    if h < b or w < b or (h // b) * (w // b) < 2:
        raise ValueError(
            f"NIQE needs at least two {b}x{b} blocks (an image of at least {b}x{2 * b} or {2 * b}x{b} "
            f"pixels), got an image of {h}x{w}"
        )


def niqe_features(image: np.ndarray) -> np.ndarray:
    """Per-block NIQE features of a 0-255 float image.

    Args:
        image: float64 ``(H, W)`` greyscale image on a 0-255 scale, at least two 96x96 blocks.

    Returns:
        ``(n_blocks, 36)`` float64: 18 features at full scale then 18 at half scale per block
        (row-major block order); NaN where a block's fit is undefined (e.g. a flat block).
    """
    _check_size(image.shape)
    b = NIQE_BLOCK_SIZE
    h, w = image.shape
    img = image[: (h // b) * b, : (w // b) * b]
    coeffs, _ = mscn(img)
    f1 = _block_features(coeffs, b)
    half = imresize_matlab(img, 0.5)
    coeffs2, _ = mscn(half)
    f2 = _block_features(coeffs2, b // 2)
    return np.concatenate([f1, f2], axis=1)


def _niqe_score(image255: np.ndarray) -> float:
    feats = niqe_features(image255)
    complete = feats[~np.isnan(feats).any(axis=1)]
    if complete.shape[0] < 2:
        raise ValueError(
            f"NIQE is undefined for this image: only {complete.shape[0]} of {feats.shape[0]} blocks have "
            "finite features (the image is too flat, e.g. constant)"
        )
    mu_d = np.nanmean(feats, axis=0)
    cov_d = np.cov(complete, rowvar=False)
    mu_p, cov_p = load_pristine_model()
    diff = mu_p - mu_d
    inv = np.linalg.pinv((cov_p + cov_d) / 2.0)
    return float(np.sqrt(max(float(diff @ inv @ diff), 0.0)))


def niqe(x: np.ndarray, *, data_range: float | None = None) -> float | np.ndarray:
    """NIQE score of a greyscale image (lower is better).

    Args:
        x: ``(H, W)`` or a batch ``(N, H, W)``, at least 96x192 (two 96x96 blocks). uint8 is
            used as is (0-255, matches MATLAB/pyiqa); other integer types and float images are
            mapped to 0-255 as ``x * 255 / data_range`` (float requires ``data_range``; values
            are not rounded, so a float image equal to a uint8 one gives the same score).
        data_range: max possible value minus min possible value (images assumed to start at 0).

    Returns:
        The score (>= 0) as a float, or a float64 array of ``N`` scores for a batch.

    Raises:
        TypeError: not a numpy array, or an unsupported dtype.
        ValueError: wrong shape, NaN/inf, missing ``data_range`` for floats, an image smaller than
            two 96x96 blocks, or a flat image without enough usable blocks.
    """
    x = as_image_array(x, "x", allow_batch=True)
    rng = resolve_data_range(data_range, x)
    _check_size(x.shape[-2:])
    img = as_float_image(x)
    if rng != 255.0:
        img = img * (255.0 / rng)
    if img.ndim == 2:
        return _niqe_score(img)
    return np.array([_niqe_score(frame) for frame in img])
