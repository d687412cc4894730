"""Realism of simulated high-end images vs real high-end (cart scanner) carotid B-mode images.

Compares default simulated pairs' ``high`` images (256x256) with the real carotid images in
``../shared/data/real/carotid/images`` (709x749 RGB PNG; converted to grey with BT.601 luma
and resized to 256x256 with Pillow's antialiased bilinear filter, as a paired dataset would)
on:

- grey-level histogram: mean, std, 5/50/95th percentiles, 1-D Wasserstein (earth mover's)
  distance in grey levels and histogram intersection (1 = identical);
- speckle size: FWHM (pixels) of the central peak of the normalised autocorrelation of
  32x32 tissue tiles (mean grey > 15, plane removed), median over tiles, axially (rows) and
  laterally (columns), and the ratio simulated / real;
- speckle texture: median local std and local mean/std ratio in 9x9 windows of tissue.

The real images carry no pixel spacing, so speckle size is compared in pixels at the common
256x256 size (the size pairs are trained on). Everything printed is measured by this run.

Usage: ``.venv/bin/python bench/realism.py [--real DIR] [--pairs 40]``.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage, stats

from pocusiq.imaging.grey import read_grey_image

DEFAULT_REAL = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "real" / "carotid" / "images"


def load_real(folder: Path, size: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """(resized to size x size, native) greyscale uint8 images (BT.601 luma)."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in {".png", ".jpg", ".jpeg", ".bmp", ".tif"})
    if not files:
        raise SystemExit(f"no images in {folder}")
    resized, native = [], []
    for path in files:
        grey = read_grey_image(path, convert=True)  # BT.601 luma for colour files
        if grey.dtype != np.uint8:
            grey = np.rint(grey / 257.0).astype(np.uint8)
        native.append(grey)
        resized.append(np.asarray(Image.fromarray(grey).resize((size, size), Image.BILINEAR)))
    return resized, native


def _half_width(line: np.ndarray, centre: int) -> float:
    """Width (samples) of the peak at ``centre`` where ``line`` stays above 0.5 (interpolated)."""
    out = 0.0
    for step in (1, -1):
        k = centre
        while 0 <= k + step < len(line) and line[k + step] > 0.5:
            k += step
        if not 0 <= k + step < len(line):
            return float("nan")
        a, b = line[k], line[k + step]
        out += abs(k - centre) + (a - 0.5) / (a - b)
    return out


def speckle_fwhm(img: np.ndarray, tile: int = 32) -> tuple[float, float]:
    """(axial, lateral) speckle size: median over tissue tiles of the autocorrelation FWHM (px).

    Each ``tile`` x ``tile`` tile whose mean grey level is > 15 (tissue, not lumen/background)
    has a fitted plane removed; the FWHM of its normalised autocorrelation peak is measured
    along rows (axial) and columns (lateral). The median over tiles is robust to the tiles
    that hold a bright interface rather than speckle.
    """
    x = img.astype(np.float64)
    yy, xx = np.mgrid[0:tile, 0:tile]
    design = np.stack([np.ones(tile * tile), yy.ravel(), xx.ravel()], axis=1)
    ax, lat = [], []
    for r in range(0, x.shape[0] - tile + 1, tile):
        for c in range(0, x.shape[1] - tile + 1, tile):
            t = x[r : r + tile, c : c + tile]
            if t.mean() <= 15:
                continue
            coef, *_ = np.linalg.lstsq(design, t.ravel(), rcond=None)
            t = t - (design @ coef).reshape(tile, tile)
            f = np.fft.fft2(t, s=(2 * tile, 2 * tile))
            ac = np.fft.fftshift(np.fft.ifft2(np.abs(f) ** 2).real)
            if ac[tile, tile] <= 0:
                continue
            ac /= ac[tile, tile]
            ax.append(_half_width(ac[:, tile], tile))
            lat.append(_half_width(ac[tile, :], tile))
    if not ax:
        return float("nan"), float("nan")
    return float(np.nanmedian(ax)), float(np.nanmedian(lat))


def texture(img: np.ndarray) -> tuple[float, float]:
    """(median local std, median local mean/std) over 9x9 windows in tissue (local mean > 20)."""
    x = img.astype(np.float64)
    m = ndimage.uniform_filter(x, 9)
    s = np.sqrt(np.maximum(ndimage.uniform_filter(x * x, 9) - m * m, 0.0))
    sel = (m > 20) & (s > 0)
    if not sel.any():
        return float("nan"), float("nan")
    return float(np.median(s[sel])), float(np.median(m[sel] / s[sel]))


def summarise(name: str, images: list[np.ndarray]) -> dict[str, float]:
    values = np.concatenate([i.ravel() for i in images]).astype(np.float64)
    fw = np.array([speckle_fwhm(i) for i in images])
    tx = np.array([texture(i) for i in images])
    out = {
        "mean": values.mean(),
        "std": values.std(),
        "p5": np.percentile(values, 5),
        "p50": np.percentile(values, 50),
        "p95": np.percentile(values, 95),
        "dark": float(np.mean(values < 10)),
        "fwhm_ax": float(np.nanmean(fw[:, 0])),
        "fwhm_lat": float(np.nanmean(fw[:, 1])),
        "local_std": float(np.nanmedian(tx[:, 0])),
        "local_snr": float(np.nanmedian(tx[:, 1])),
    }
    print(f"[{name:9s}] n={len(images):3d} grey mean {out['mean']:6.1f} std {out['std']:5.1f} "
          f"p5/p50/p95 {out['p5']:.0f}/{out['p50']:.0f}/{out['p95']:.0f} dark(<10) {out['dark']:.2f} | "
          f"speckle FWHM axial {out['fwhm_ax']:.2f} px lateral {out['fwhm_lat']:.2f} px | "
          f"local std {out['local_std']:.1f}, local mean/std {out['local_snr']:.2f}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--real", type=Path, default=DEFAULT_REAL, help="folder of real high-end images")
    parser.add_argument("--pairs", type=int, default=40, help="simulated pairs (seeds 0..N-1)")
    parser.add_argument("--size", type=int, default=256)
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    if not args.real.is_dir():
        raise SystemExit(f"real image folder not found: {args.real} (pass --real DIR)")

    from pocusiq.simulate.pairs import simulate_pair

    real, native = load_real(args.real, args.size)
    sims = [simulate_pair(s, args.size) for s in range(args.pairs)]
    high = [p.high for p in sims]
    low = [p.low for p in sims]
    print(f"real: {len(real)} images from {args.real} (native {native[0].shape[1]}x{native[0].shape[0]}), "
          f"resized to {args.size}x{args.size}; simulated: {args.pairs} default pairs")
    r = summarise("real", real)
    summarise("real-nat", native)
    h = summarise("sim high", high)
    summarise("sim low", low)
    real_v = np.concatenate([i.ravel() for i in real]).astype(np.float64)
    high_v = np.concatenate([i.ravel() for i in high]).astype(np.float64)
    hist_r = np.bincount(real_v.astype(np.int64), minlength=256) / real_v.size
    hist_h = np.bincount(high_v.astype(np.int64), minlength=256) / high_v.size
    print(f"[compare ] grey histogram: Wasserstein distance {stats.wasserstein_distance(real_v, high_v):.1f} grey "
          f"levels, intersection {np.minimum(hist_r, hist_h).sum():.3f}; mean diff {h['mean'] - r['mean']:+.1f}, "
          f"std ratio {h['std'] / r['std']:.2f}")
    print(f"[compare ] speckle size ratio sim/real: axial {h['fwhm_ax'] / r['fwhm_ax']:.2f}, "
          f"lateral {h['fwhm_lat'] / r['fwhm_lat']:.2f}; local std ratio {h['local_std'] / r['local_std']:.2f}, "
          f"local mean/std ratio {h['local_snr'] / r['local_snr']:.2f}")


if __name__ == "__main__":
    main()
