"""Seconds per training step and peak memory of each training preset (not a test; prints figures).

Usage::

    .venv/bin/python bench/train_speed.py [--presets cpu paper] [--steps 5] [--threads 2] [--device cpu]

For each preset: builds the generator + discriminator + Adam optimisers
(:class:`pocusiq.train.trainer.Pix2PixTrainer`), runs 2 warm-up steps on random batches of the
preset's crop size and batch size, then times ``--steps`` steps with ``time.perf_counter``
(median and mean). Memory: on CPU, the growth of the process's peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``, KiB on Linux) from before the model is built
to after the timed steps — each preset runs in its own subprocess so the peaks do not mix; on
CUDA, ``torch.cuda.max_memory_allocated``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time


def measure(preset: str, steps: int, threads: int, device: str) -> dict:
    import resource

    import torch

    from pocusiq.train.presets import preset_config
    from pocusiq.train.trainer import Pix2PixTrainer

    torch.set_num_threads(threads)
    config = preset_config(preset)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    trainer = Pix2PixTrainer(config, device)
    b, s = config.data.batch_size, config.data.crop
    gen = torch.Generator().manual_seed(0)
    low, high = torch.rand(b, 1, s, s, generator=gen), torch.rand(b, 1, s, s, generator=gen)
    if trainer.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(trainer.device)
    for _ in range(2):
        trainer.train_step(low, high)
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        losses = trainer.train_step(low, high)
        float(losses["loss_g"])  # waits for the GPU
        times.append(time.perf_counter() - t0)
    out = {
        "preset": preset,
        "device": str(trainer.device),
        "threads": threads,
        "batch": b,
        "crop": s,
        "params_G": sum(p.numel() for p in trainer.generator.parameters()),
        "params_D": sum(p.numel() for p in trainer.discriminator.parameters()),
        "s_per_step_median": statistics.median(times),
        "s_per_step_mean": statistics.fmean(times),
        "steps_timed": steps,
    }
    if trainer.device.type == "cuda":
        out["peak_cuda_MiB"] = torch.cuda.max_memory_allocated(trainer.device) / 2**20
        out["gpu"] = torch.cuda.get_device_name(trainer.device)
    out["peak_rss_delta_MiB"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=["cpu", "paper"])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--one", default=None, help=argparse.SUPPRESS)  # child mode
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.steps, args.threads, args.device)))
        return 0
    print(f"{'preset':7} {'device':8} {'thr':>3} {'batch':>5} {'crop':>4} {'G params':>10} "
          f"{'s/step med':>10} {'mean':>7} {'peak RSS +MiB':>13} {'peak CUDA MiB':>13}")
    for preset in args.presets:
        cmd = [sys.executable, __file__, "--one", preset, "--steps", str(args.steps), "--threads",
               str(args.threads), "--device", args.device]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{preset}: failed: {proc.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(proc.stdout.strip().splitlines()[-1])
        cuda = f"{r['peak_cuda_MiB']:.0f}" if "peak_cuda_MiB" in r else "-"
        print(f"{r['preset']:7} {r['device']:8} {r['threads']:>3} {r['batch']:>5} {r['crop']:>4} "
              f"{r['params_G']:>10,} {r['s_per_step_median']:>10.3f} {r['s_per_step_mean']:>7.3f} "
              f"{r['peak_rss_delta_MiB']:>13.0f} {cuda:>13}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
