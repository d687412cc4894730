"""Input checks shared by the image-quality metrics.

Every metric takes greyscale numpy images: a 2-D array ``(H, W)`` or, where a metric documents
it, a batch ``(N, H, W)``. Integer images carry their data range in their type (MATLAB's
``getrangefromclass``: uint8 -> 255, uint16 -> 65535); float images have no implied range, so the
caller states it with ``data_range``. Bad inputs raise :class:`TypeError` (wrong type/dtype) or
:class:`ValueError` (wrong shape, mismatched sizes, NaN/inf, non-positive range) with a message
that names the argument.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = [
    "as_image_array",
    "check_same_shape",
    "resolve_data_range",
    "as_float_image",
]


def as_image_array(x: Any, name: str, *, allow_batch: bool = False) -> np.ndarray:
    """Check that ``x`` is a real numpy image of allowed rank and return it unchanged.

    Args:
        x: the image; a :class:`numpy.ndarray` of integer, bool or float dtype.
        name: the argument name used in error messages (e.g. ``"x"``, ``"ref"``).
        allow_batch: accept ``(N, H, W)`` as well as ``(H, W)``.

    Returns:
        ``x`` as an ndarray (not copied).

    Raises:
        TypeError: not an ndarray, or a complex/object/string dtype.
        ValueError: wrong number of dimensions, a colour-looking ``(H, W, 3|4)`` array, an empty
            axis, or NaN/inf values.
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{name}: expected a numpy array, got {type(x).__name__}")
    if not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating) or x.dtype == bool):
        raise TypeError(f"{name}: unsupported dtype {x.dtype}; expected an integer or float greyscale image")
    ranks = (2, 3) if allow_batch else (2,)
    if x.ndim not in ranks:
        wanted = "(H, W) or (N, H, W)" if allow_batch else "(H, W)"
        raise ValueError(f"{name}: expected a greyscale image of shape {wanted}, got shape {x.shape}")
    if x.ndim == 3 and x.shape[-1] in (3, 4):
        raise ValueError(
            f"{name}: shape {x.shape} looks like a colour (RGB/RGBA) image; the metrics take greyscale "
            "(H, W) images or batches (N, H, W): convert to grey first"
        )
    if x.size == 0:
        raise ValueError(f"{name}: image is empty (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise ValueError(f"{name}: image contains NaN or infinite values")
    return x


def check_same_shape(x: np.ndarray, ref: np.ndarray, names: tuple[str, str] = ("x", "ref")) -> None:
    """Raise :class:`ValueError` unless ``x`` and ``ref`` have the same shape."""
    if x.shape != ref.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape, got {x.shape} and {ref.shape}")


def resolve_data_range(data_range: float | None, *arrays: np.ndarray) -> float:
    """Return the data range (max possible value minus min possible value) to use.

    Args:
        data_range: the caller's range; ``None`` means "take it from the integer dtype".
        *arrays: the images; when ``data_range`` is None they must share one integer dtype.

    Returns:
        The range as a positive float (255.0 for uint8, 65535.0 for uint16, 1.0 for bool).

    Raises:
        ValueError: ``data_range`` is None for float images, or not a positive finite number.
        TypeError: ``data_range`` is None and the images have different dtypes.
    """
    if data_range is None:
        dtypes = {a.dtype for a in arrays}
        if len(dtypes) != 1:
            raise TypeError(
                "images have different dtypes "
                f"({', '.join(sorted(str(d) for d in dtypes))}); pass data_range explicitly"
            )
        dtype = dtypes.pop()
        if dtype == bool:
            return 1.0
        if np.issubdtype(dtype, np.integer):
            info = np.iinfo(dtype)
            return float(info.max) - float(info.min)
        raise ValueError(
            f"data_range is required for float images (dtype {dtype}): pass e.g. data_range=1.0 "
            "for images in [0, 1] or data_range=255.0 for images in [0, 255]"
        )
    try:
        value = float(data_range)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"data_range must be a number, got {data_range!r}") from exc
    if not np.isfinite(value) or value <= 0:
        raise ValueError(f"data_range must be a positive finite number, got {data_range!r}")
    return value


def as_float_image(x: np.ndarray) -> np.ndarray:
    """Return ``x`` as float64 (copy only where the dtype differs)."""
    return np.asarray(x, dtype=np.float64)
