"""Speed of pocusiq's image-quality metrics against peer implementations, per 256x256 image.

Usage::

    .venv/bin/python bench/metrics.py [--size 256] [--repeats 20] [--threads 1]

Prints, per metric, the median wall time of ``--repeats`` calls (after one warm-up call) in ms
per image for pocusiq and for the peer that reproduces the same definition:

- SSIM: ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=255)``;
- PSNR: ``skimage.metrics.peak_signal_noise_ratio``;
- PIQE: ``pypiqe.piqe`` (the ``bench`` extra installs it);
- NIQE: pyiqa cannot be installed beside the CPU-only torch used here (and BasicSR needs
  torchvision), so only pocusiq's time is reported.

The ratio column is peer time / ours (> 1: ours is faster). Both values are printed too, so the
table also shows that each pair computes the same number. Images: a synthetic 60 dB
log-compressed speckle image with a cyst (reference) and a blurred, noisier copy (test).
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from scipy import ndimage


def make_pair(size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(test, reference) uint8 images of ``size x size``."""
    rng = np.random.default_rng(seed)
    shape = (size, size)
    iq = rng.normal(size=shape) + 1j * rng.normal(size=shape)
    env = np.abs(ndimage.gaussian_filter(iq.real, (1.0, 1.5)) + 1j * ndimage.gaussian_filter(iq.imag, (1.0, 1.5)))
    yy, xx = np.indices(shape)
    env[(yy - size / 2) ** 2 + (xx - size / 2) ** 2 < (size / 6) ** 2] *= 0.05
    db = 20 * np.log10(env / env.max() + 1e-12)
    ref = np.clip(np.round((db + 60) / 60 * 255), 0, 255)
    test = ndimage.gaussian_filter(ref, 1.2) + rng.normal(0, 12, shape)
    return np.clip(np.round(test), 0, 255).astype(np.uint8), ref.astype(np.uint8)


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median time per call in ms over ``repeats`` samples; each sample times enough back-to-back
    calls to last >= 5 ms, so sub-millisecond metrics are not dominated by timer noise."""
    start = time.perf_counter()
    fn()  # warm-up (imports, caches) and calibration
    single = max(time.perf_counter() - start, 1e-7)
    calls = max(1, int(0.005 / single))
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls)
    return 1000.0 * statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--repeats", type=int, default=20, help="timed calls per metric (default 20)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads for ssim_torch (default 1)")
    args = parser.parse_args(argv)

    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from pocusiq import metrics

    x, ref = make_pair(args.size)
    rows: list[tuple[str, float, float, str, float | None, float | None]] = []

    def add(name, ours, peer_name, peer):
        ours_ms = median_ms(ours, args.repeats)
        ours_val = float(ours())
        if peer is None:
            rows.append((name, ours_ms, ours_val, peer_name, None, None))
            return
        rows.append((name, ours_ms, ours_val, peer_name, median_ms(peer, args.repeats), float(peer())))

    add(
        "ssim",
        lambda: metrics.ssim(x, ref),
        "skimage structural_similarity",
        lambda: structural_similarity(x, ref, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255),
    )
    add("psnr", lambda: metrics.psnr(x, ref), "skimage peak_signal_noise_ratio", lambda: peak_signal_noise_ratio(ref, x, data_range=255))
    try:
        from pypiqe import piqe as pypiqe_piqe
    except ImportError:
        add("piqe", lambda: metrics.piqe(x), "pypiqe (not installed)", None)
    else:
        add("piqe", lambda: metrics.piqe(x), "pypiqe piqe", lambda: pypiqe_piqe(x)[0])
    add("niqe", lambda: metrics.niqe(x), "pyiqa (unavailable: not installable beside CPU torch)", None)

    try:
        import torch
    except ImportError:
        torch = None
    if torch is not None:
        torch.set_num_threads(args.threads)
        xt = torch.from_numpy(x[None, None] / 255.0).float()
        rt = torch.from_numpy(ref[None, None] / 255.0).float()
        add("ssim_torch", lambda: metrics.ssim_torch(xt, rt).item(), "(ssim, numpy, same definition)", lambda: metrics.ssim(x, ref))

    print(f"metric timings per {args.size}x{args.size} image, median of {args.repeats} samples (ms per call)")
    print(f"{'metric':<11} {'ours ms':>9} {'ours value':>11}  {'peer':<52} {'peer ms':>9} {'peer value':>11} {'peer/ours':>9}")
    for name, ours_ms, ours_val, peer_name, peer_ms, peer_val in rows:
        if peer_ms is None:
            print(f"{name:<11} {ours_ms:9.2f} {ours_val:11.4f}  {peer_name:<52} {'-':>9} {'-':>11} {'-':>9}")
        else:
            print(
                f"{name:<11} {ours_ms:9.2f} {ours_val:11.4f}  {peer_name:<52} {peer_ms:9.2f} {peer_val:11.4f} "
                f"{peer_ms / ours_ms:9.2f}"
            )
    print("note: SSIM differs from skimage's by design in the border pixels (MATLAB averages the whole map,")
    print("      skimage drops a 5-pixel border); the interior maps are identical (tests/metrics/test_ssim.py).")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
