"""Benchmark of the paired simulator: speed, beam model vs PyMUST, pair difficulty.

Prints (nothing is asserted; every figure is measured by this run):

1. speed: 256x256 pairs per second, one process and ``--workers`` processes (the target is
   >= 20 pairs/s on 2 cores), and the time per image of each profile;
2. beam: the lateral pulse-echo FWHM of our beam model vs PyMUST's ``pfield`` (MUST toolbox,
   Garcia) for the same transducer (elements, pitch, aperture, focus, frequency, bandwidth),
   at the focus (target: within 20 %) and off focus;
3. difficulty: SSIM (MATLAB definition: Gaussian window sigma 1.5, data range 255) and PSNR
   between the POCUS and high-end image of default pairs, mean and spread over ``--pairs``
   seeds (target SSIM 0.29 +- 0.10, PSNR 19.2 +- 3 dB, the paper's real pairs).

Usage: ``.venv/bin/python bench/simulate.py [--speed-pairs 40] [--workers 2] [--pairs 50]``.
Needs the ``bench`` extra (``pymust``) for part 2.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import numpy as np

#: What ``pocusiq simulate`` does by default: DEFAULT_SPACING_MM, the POCUS profile drawn per
#: pair from pocusiq.simulate.device_ranges, the default phantom mix.
DEFAULT = {"randomise_device": True}


def _one(seed: int) -> int:
    from pocusiq.simulate.pairs import simulate_pair

    pair = simulate_pair(seed, 256, **DEFAULT)
    return int(pair.low[0, 0])


def bench_speed(n: int, workers: int) -> None:
    from pocusiq.simulate.bmode import ImagingRegion, simulate_bmode
    from pocusiq.simulate.pairs import simulate_pair
    from pocusiq.simulate.phantoms import make_phantom
    from pocusiq.simulate.profiles import HIGH_END, POCUS

    for s in range(3):  # warm-up: imports, FFT plans, PSF caches
        simulate_pair(10_000 + s, 256, **DEFAULT)
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(n):
        simulate_pair(s, 256, **DEFAULT)
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    print(f"[speed] 1 process : {n / dt:6.1f} pairs/s wall ({1000 * dt / n:.1f} ms/pair, {n} pairs of 256x256); "
          f"CPU time {1000 * dc / n:.1f} ms/pair = {n / dc:.1f} pairs per CPU-second "
          f"(what one uncontended core gives; the machine is shared, see the load average)")
    if workers > 1:
        ctx = mp.get_context("fork")
        with ctx.Pool(workers) as pool:
            pool.map(_one, range(20_000, 20_000 + 2 * workers))  # warm-up in each worker
            t0 = time.perf_counter()
            pool.map(_one, range(n * workers), chunksize=4)
            dt = time.perf_counter() - t0
        print(f"[speed] {workers} processes: {n * workers / dt:6.1f} pairs/s ({n * workers} pairs)")
    # per stage
    rng = np.random.default_rng(0)
    t0 = time.perf_counter()
    reps = max(5, n // 4)
    for _ in range(reps):
        phantom = make_phantom("random_tissue", rng, width_mm=30.0, depth_mm=30.0, spacing_mm=30 / 256)
    t_ph = (time.perf_counter() - t0) / reps
    phantom = make_phantom("random_tissue", rng, width_mm=50.0, depth_mm=30.0, spacing_mm=30 / 256)
    region = ImagingRegion(25.0, 0.0, 30.0, 30.0)
    out = [f"phantom {1000 * t_ph:.1f} ms"]
    for profile in (POCUS, HIGH_END):
        simulate_bmode(phantom, profile, np.random.default_rng(1), region=region, spacing_mm=30 / 256)
        t0 = time.perf_counter()
        for k in range(reps):
            simulate_bmode(phantom, profile, np.random.default_rng(k), region=region, spacing_mm=30 / 256)
        out.append(f"{profile.name} image {1000 * (time.perf_counter() - t0) / reps:.1f} ms")
    print("[speed] per stage: " + ", ".join(out))


def _fwhm(x: np.ndarray, y: np.ndarray) -> float:
    peak = float(y.max())
    above = np.nonzero(y >= peak / 2)[0]
    i0, i1 = int(above[0]), int(above[-1])
    left = x[i0 - 1] + (peak / 2 - y[i0 - 1]) / (y[i0] - y[i0 - 1]) * (x[i0] - x[i0 - 1])
    right = x[i1] + (y[i1] - peak / 2) / (y[i1] - y[i1 + 1]) * (x[i1 + 1] - x[i1])
    return float(right - left)


def _pymust_pulse_echo_fwhm(profile, depth_mm: float) -> tuple[float, float]:
    """(pulse-echo FWHM mm, one-way transmit FWHM mm) from PyMUST pfield at ``depth_mm``."""
    import pymust

    def field(aperture_mm: float, focus_mm: float, x_m: np.ndarray, z_m: np.ndarray) -> np.ndarray:
        n = max(2, int(round(aperture_mm / profile.pitch_mm)))
        param = pymust.utils.Param()
        param.fc = profile.center_frequency_mhz * 1e6
        param.pitch = profile.pitch_mm * 1e-3
        param.width = 0.9 * profile.pitch_mm * 1e-3
        param.Nelements = n
        param.bandwidth = 100.0 * profile.fractional_bandwidth
        param.c = profile.sound_speed_m_s
        delays = pymust.txdelay(0.0, focus_mm * 1e-3, param)
        result = pymust.pfield(x_m, None, z_m, delays, param)
        rms = result[0] if isinstance(result, tuple) else result
        return np.asarray(rms, dtype=np.float64).ravel()

    half = max(6.0, 4.0 * profile.tx_aperture_mm * abs(depth_mm - profile.tx_focus_mm) / profile.tx_focus_mm + 3.0)
    x_mm = np.linspace(-half, half, 1201)
    x_m, z_m = x_mm * 1e-3, np.full_like(x_mm, depth_mm * 1e-3)
    tx = field(profile.tx_aperture_mm, profile.tx_focus_mm, x_m, z_m)
    if profile.dynamic_receive_focus:
        rx_aperture = min(depth_mm / profile.rx_f_number, profile.array_width_mm)
        rx = field(rx_aperture, depth_mm, x_m, z_m)
    else:
        rx = tx
    return _fwhm(x_mm, tx * rx), _fwhm(x_mm, tx)


def bench_beam() -> None:
    try:
        import pymust  # noqa: F401
    except ImportError:
        print("[beam] pymust not installed (pip install -e '.[bench]'); skipped")
        return
    from pocusiq.simulate.bmode import lateral_fwhm_mm
    from pocusiq.simulate.profiles import HIGH_END, ONE_WAY_FWHM_PER_LAMBDA_FNUMBER, POCUS

    for profile in (POCUS, HIGH_END):
        for factor in (1.0, 0.5, 1.5):
            depth = profile.tx_focus_mm * factor
            ours = float(lateral_fwhm_mm(profile, depth))
            must_pe, must_tx = _pymust_pulse_echo_fwhm(profile, depth)
            label = "focus" if factor == 1.0 else f"{factor:.1f} x focus"
            line = (f"[beam] {profile.name:8s} {label:13s} z={depth:5.1f} mm: ours {ours:.3f} mm, "
                    f"PyMUST pulse-echo {must_pe:.3f} mm, ratio ours/PyMUST {ours / must_pe:.3f}")
            if factor == 1.0:
                one_way = ONE_WAY_FWHM_PER_LAMBDA_FNUMBER * profile.wavelength_mm * profile.effective_f_number
                line += f" | one-way tx: ours {one_way:.3f}, PyMUST {must_tx:.3f} (ratio {one_way / must_tx:.3f})"
            print(line)


def bench_difficulty(n: int) -> None:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    from pocusiq.simulate.pairs import simulate_pair

    ssim, psnr, by_preset = [], [], {}
    for s in range(n):
        pair = simulate_pair(s, 256, **DEFAULT)
        v = structural_similarity(pair.low, pair.high, gaussian_weights=True, sigma=1.5,
                                  use_sample_covariance=False, data_range=255)
        p = peak_signal_noise_ratio(pair.high, pair.low, data_range=255)
        ssim.append(v)
        psnr.append(p)
        by_preset.setdefault(pair.phantom, []).append((v, p))
    ssim_a, psnr_a = np.array(ssim), np.array(psnr)
    print(f"[difficulty] {n} default pairs (seeds 0..{n - 1}): SSIM {ssim_a.mean():.3f} +- {ssim_a.std():.3f} "
          f"(min {ssim_a.min():.3f}, max {ssim_a.max():.3f}); PSNR {psnr_a.mean():.2f} +- {psnr_a.std():.2f} dB "
          f"(min {psnr_a.min():.2f}, max {psnr_a.max():.2f})  [paper, real pairs: SSIM 0.29, PSNR 19.16 dB]")
    for preset, vals in sorted(by_preset.items()):
        v = np.array(vals)
        print(f"[difficulty]   {preset:14s} n={len(v):3d}: SSIM {v[:, 0].mean():.3f}, PSNR {v[:, 1].mean():.2f} dB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed-pairs", type=int, default=40, help="pairs per process for the speed test")
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                        help="processes for the parallel speed test (default: this machine's cores, as pocusiq simulate)")
    parser.add_argument("--pairs", type=int, default=50, help="pairs for the SSIM/PSNR difficulty figures")
    parser.add_argument("--skip", nargs="*", default=[], choices=["speed", "beam", "difficulty"])
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    print(f"[env] {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} (1 min)")
    if "speed" not in args.skip:
        bench_speed(args.speed_pairs, args.workers)
    if "beam" not in args.skip:
        bench_beam()
    if "difficulty" not in args.skip:
        bench_difficulty(args.pairs)
    print(f"[env] load average at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
