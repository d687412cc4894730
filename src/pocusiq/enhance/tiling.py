"""Run a fully convolutional network on an image of any size: reflect padding or blended tiles.

A U-Net generator needs H and W to be multiples of ``2**depth`` (its ``multiple``). Two ways
to meet that without stretching the image:

* :func:`pocusiq.models.inference.enhance_batch` (the one inference path) pads the image
  (reflect) up to the next multiple, runs the network once, and crops back to the original
  size. Used when the image fits in one tile.
* :func:`run_tiled` pads the image to a multiple, cuts it into overlapping tiles whose size and
  positions are multiples of ``multiple`` (so every tile sees the same down-sampling grid),
  runs the network on batches of tiles and blends them with a separable weight that is zero
  for ``margin`` pixels at each interior tile edge and rises as a raised cosine (Hann ramp)
  across the rest of the overlap. Edges on the image border keep weight 1.

Why a window with a zero margin: a network whose receptive field has radius ``r <= margin``
(a linear filter, for example) then gives exactly the untiled result everywhere, because no
pixel takes any weight from a tile in which it was closer than ``r`` to an interior cut.
For a deep U-Net (receptive field larger than a tile) the smooth ramp hides the seams.

Written here rather than taken from MONAI's ``sliding_window_inference`` because MONAI is not
a dependency and that function neither aligns tiles to the network multiple nor zeroes the
cut margins; it is ~100 lines of NumPy.

All arrays here are float32 in the network's range; images are 2-D ``(H, W)``; the network
callable maps a ``(N, 1, h, w)`` float32 array to the same shape.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

NetworkFn = Callable[[np.ndarray], np.ndarray]
"""Maps a float32 batch ``(N, 1, h, w)`` (h, w multiples of the network multiple) to the same shape."""


@dataclass(frozen=True)
class TilingConfig:
    """How images are split for inference.

    Attributes:
        multiple: H and W given to the network are multiples of this (``2**depth`` for a U-Net).
        tile_size: largest tile side in pixels; images with both sides <= this run in one pass
            (padded). Rounded up to a multiple of ``multiple``. ``None``: never tile.
        overlap: overlap between neighbouring tiles in pixels, rounded up to a multiple of
            ``multiple``; must be smaller than ``tile_size``.
        margin: pixels at each interior tile edge that get zero blending weight; must satisfy
            ``2 * margin < overlap``. ``None``: ``overlap // 4``.
        batch_size: tiles per network call.
    """

    multiple: int = 1
    tile_size: int | None = 1024
    overlap: int = 128
    margin: int | None = None
    batch_size: int = 4

    def __post_init__(self) -> None:
        if self.multiple < 1:
            raise ValueError(f"TilingConfig.multiple must be >= 1, got {self.multiple}")
        if self.batch_size < 1:
            raise ValueError(f"TilingConfig.batch_size must be >= 1, got {self.batch_size}")
        if self.tile_size is not None:
            if self.tile_size < 1:
                raise ValueError(f"TilingConfig.tile_size must be >= 1, got {self.tile_size}")
            if self.effective_overlap >= self.effective_tile:
                raise ValueError(
                    f"TilingConfig.overlap ({self.overlap}, {self.effective_overlap} after rounding "
                    f"to the multiple {self.multiple}) must be smaller than tile_size "
                    f"({self.effective_tile} after rounding)"
                )
            if 2 * self.effective_margin >= self.effective_overlap:
                raise ValueError(
                    f"TilingConfig.margin ({self.effective_margin}) must be less than half the "
                    f"overlap ({self.effective_overlap})"
                )

    @property
    def effective_tile(self) -> int:
        """Tile side after rounding up to the multiple (at least one multiple)."""
        if self.tile_size is None:
            raise ValueError("tiling is disabled (tile_size=None)")
        return _round_up(max(self.tile_size, self.multiple), self.multiple)

    @property
    def effective_overlap(self) -> int:
        """Overlap after rounding up to the multiple (at least one multiple)."""
        return _round_up(max(self.overlap, 1), self.multiple)

    @property
    def effective_margin(self) -> int:
        """Zero-weight margin at interior tile edges."""
        return self.effective_overlap // 4 if self.margin is None else int(self.margin)


def _round_up(value: int, multiple: int) -> int:
    return -(-int(value) // multiple) * multiple


def tile_starts(length: int, tile: int, overlap: int, multiple: int) -> list[int]:
    """Start positions of tiles of size ``tile`` covering ``[0, length)``.

    ``length`` and ``tile`` are multiples of ``multiple``; the stride is ``tile - overlap``
    and the last tile ends exactly at ``length``. If ``length <= tile`` one tile starts at 0.
    """
    if length <= tile:
        return [0]
    stride = tile - overlap
    starts = list(range(0, length - tile, stride))
    starts.append(length - tile)
    return sorted(set(starts))


def edge_ramp(tile: int, overlap: int, margin: int, taper_start: bool, taper_end: bool) -> np.ndarray:
    """1-D blending weight of one tile, float64 of length ``tile`` in [0, 1].

    A tapered edge has weight 0 over ``margin`` pixels, then a raised-cosine ramp over
    ``overlap - 2 * margin`` pixels up to 1. Untapered edges (on the image border) are 1.
    """
    weight = np.ones(tile, dtype=np.float64)
    ramp_len = overlap - 2 * margin
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(ramp_len) + 0.5) / ramp_len)
    profile = np.concatenate([np.zeros(margin), ramp])
    if taper_start:
        weight[: profile.size] = np.minimum(weight[: profile.size], profile)
    if taper_end:
        weight[tile - profile.size :] = np.minimum(weight[tile - profile.size :], profile[::-1])
    return weight


_ROWS_PER_WRITE = 64


def _reflect_index(index: np.ndarray, length: int) -> np.ndarray:
    """Indices past ``length - 1`` mirrored back (numpy/torch ``reflect``: the edge is not repeated).

    Tiled images are larger than one tile, so the padding (< one multiple) is shorter than the
    image and one reflection is exact; shorter sides are clamped (``replicate``) as a fallback.
    """
    mirrored = np.where(index >= length, 2 * (length - 1) - index, index)
    return np.clip(mirrored, 0, length - 1)


def run_tiled(
    network: NetworkFn,
    image: np.ndarray,
    config: TilingConfig,
    *,
    to_unit: Callable[[np.ndarray], np.ndarray] | None = None,
    from_unit: Callable[[np.ndarray], np.ndarray] | None = None,
    out_dtype: np.dtype | type = np.float32,
) -> np.ndarray:
    """Run ``network`` on one 2-D image of any size with overlapping, blended tiles, band by band.

    The image is never converted or padded as a whole: each tile is cut from ``image`` (reflect-
    padded at the bottom/right edge to the multiple, as :func:`pocusiq.models.inference.pad_to_multiple`
    does), converted by ``to_unit``, and blended into a float32 accumulator one row of tiles tall;
    rows that no later tile touches are normalised, converted by ``from_unit`` and written to the
    output. The blending weights are separable and the tiles form a full grid, so their sum is the
    outer product of two 1-D sums and needs no image-sized array. Memory: the input, the output
    and about ``tile x width`` float32 (measured on an 8000x6000 uint8 PNG: see ``pocusiq enhance``
    notes in the README), instead of float64 accumulators and weights of the whole image.

    Args:
        network: maps a float32 batch ``(N, 1, h, w)`` in [0, 1] to the same shape.
        image: ``(H, W)`` array (stored values, e.g. uint8, or float32 in [0, 1]).
        config: tiling.
        to_unit: stored tile -> float32 [0, 1] (default: ``astype(float32)``).
        from_unit: float32 [0, 1] rows -> stored values of ``out_dtype`` (default: identity).
        out_dtype: dtype of the returned image.

    Returns:
        ``(H, W)`` array of ``out_dtype``.
    """
    if image.ndim != 2:
        raise ValueError(f"run_tiled expects a 2-D image, got shape {image.shape}")
    to_unit = to_unit or (lambda tile: np.asarray(tile, dtype=np.float32))
    from_unit = from_unit or (lambda rows: rows)
    multiple = config.multiple
    height, width = image.shape
    ph, pw = _round_up(height, multiple), _round_up(width, multiple)
    tile = config.effective_tile
    overlap = config.effective_overlap
    margin = config.effective_margin
    tile_h, tile_w = min(tile, ph), min(tile, pw)
    ys = tile_starts(ph, tile_h, overlap, multiple)
    xs = tile_starts(pw, tile_w, overlap, multiple)
    wys = [edge_ramp(tile_h, overlap, margin, y > 0, y + tile_h < ph) for y in ys]
    wxs = [edge_ramp(tile_w, overlap, margin, x > 0, x + tile_w < pw) for x in xs]
    sum_y = np.zeros(ph)
    for y, wy in zip(ys, wys):
        sum_y[y : y + tile_h] += wy
    sum_x = np.zeros(pw)
    for x, wx in zip(xs, wxs):
        sum_x[x : x + tile_w] += wx
    inv_x = (1.0 / np.maximum(sum_x[:width], 1e-12)).astype(np.float32)
    col_index = [_reflect_index(np.arange(x, x + tile_w), width) for x in xs]
    out = np.empty((height, width), dtype=out_dtype)
    band_top = 0  # first row held in `accum`
    accum = np.zeros((tile_h, pw), dtype=np.float32)
    done = 0  # rows [0, done) are written to `out`
    for row, (y, wy) in enumerate(zip(ys, wys)):
        # move the band so that it starts at y (rows above y are final and already written)
        shift = y - band_top
        if shift:
            accum[: tile_h - shift] = accum[shift:]
            accum[tile_h - shift :] = 0.0
            band_top = y
        rows = _reflect_index(np.arange(y, y + tile_h), height)
        strip = image[rows]  # (tile_h, W): one row of tiles' input, stored dtype
        positions = list(zip(xs, wxs, col_index))
        for first in range(0, len(positions), config.batch_size):
            chunk = positions[first : first + config.batch_size]
            batch = np.stack([to_unit(strip[:, cols]) for _, _, cols in chunk])[:, None]
            outputs = np.asarray(network(np.ascontiguousarray(batch, dtype=np.float32)))
            for (x, wx, _), tile_out in zip(chunk, outputs[:, 0]):
                window = np.outer(wy, wx).astype(np.float32)
                accum[:, x : x + tile_w] += window * tile_out
        final = min(ys[row + 1] if row + 1 < len(ys) else ph, height)
        for start in range(done, final, _ROWS_PER_WRITE):  # bounded temporaries in from_unit
            stop = min(start + _ROWS_PER_WRITE, final)
            part = accum[start - band_top : stop - band_top, :width]
            inv_y = (1.0 / np.maximum(sum_y[start:stop], 1e-12)).astype(np.float32)
            out[start:stop] = from_unit(part * inv_y[:, None] * inv_x[None, :])
        done = max(done, final)
    return out


def needs_tiling(shape: tuple[int, int], config: TilingConfig) -> bool:
    """Whether an image of ``shape`` (H, W) is larger than one tile under ``config``."""
    if config.tile_size is None:
        return False
    padded = tuple(_round_up(s, config.multiple) for s in shape)
    return max(padded) > config.effective_tile
