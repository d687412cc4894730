"""Speed of ``pocusiq benchmark``: the six built-in baselines on simulated test pairs.

Usage::

    .venv/bin/python bench/benchmark.py [--pairs 20] [--size 256] [--threads 1] [--data DIR]

Simulates ``--pairs`` pairs of ``--size`` x ``--size`` pixels (all in the test split) with the
physics simulator into a temporary folder, unless ``--data`` names an existing paired dataset,
then times one full :func:`pocusiq.benchmark.run_benchmark` of identity, median, bilateral, nlm,
srad and clahe with the default protocol (SSIM, PSNR, NIQE, PIQE, gCNR; report and figures
included), from a clean output folder, and a second, resumed run (which must compute nothing).

Prints the wall time of each run, the CPU time of this process (what an idle machine's wall time
would be, as the benchmark runs in one thread: it does not grow when other jobs share the
cores), the time per pair, and per method the mean seconds per image
spent in the method itself (from ``summary.json``); the rest of the wall time is reading images,
metrics and the report. The target the issue sets: well under a minute or two for 20 pairs of
256x256 on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenCV threads (default 1)")
    parser.add_argument("--data", default=None, help="existing paired dataset (default: simulate one)")
    args = parser.parse_args()

    import cv2
    import torch

    torch.set_num_threads(args.threads)
    cv2.setNumThreads(args.threads)

    from pocusiq.benchmark import available_methods, run_benchmark

    with tempfile.TemporaryDirectory(prefix="pocusiq-bench-") as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "data"
        if args.data is None:
            from pocusiq.data.simulated import SimulatedDatasetConfig, write_simulated_dataset

            started = time.perf_counter()
            write_simulated_dataset(
                data, SimulatedDatasetConfig(n=args.pairs, size=args.size, seed=0, fractions=(0.0, 0.0, 1.0)), progress=False
            )
            print(f"simulated {args.pairs} pairs of {args.size}x{args.size} in {time.perf_counter() - started:.1f} s (not part of the timing)")
        out = Path(tmp) / "bench"
        started, cpu_started = time.perf_counter(), time.process_time()
        result = run_benchmark(data, available_methods(), None, out, limit=args.pairs)
        first, first_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        n = result.summary["dataset"]["n_pairs"]
        started = time.perf_counter()
        again = run_benchmark(data, available_methods(), None, out, limit=args.pairs)
        second = time.perf_counter() - started

        print(f"cpu cores: {os.cpu_count()}, load average: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
        print(
            f"full run: {n} pairs x {len(result.methods)} methods (+ target): {first:.1f} s wall, "
            f"{first_cpu:.1f} s CPU of this process, {first / n:.2f} s wall per pair; failures: {len(result.failures)}"
        )
        print(f"resumed run: computed {again.computed}, reused {again.skipped}: {second:.1f} s wall")
        method_total = 0.0
        for method in result.methods:
            seconds = result.summary["methods"][method.name]["seconds_per_image"] or 0.0
            method_total += seconds * n
            print(f"  {method.name:<10} {1000 * seconds:8.1f} ms / image in the method")
        print(f"  methods together: {method_total:.1f} s; metrics, I/O and report: {first - method_total:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
