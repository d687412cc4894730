"""Ablation (long-running, not in CI): loss terms x simulation pretraining, as in POCUS-IQ.

Protocol:

1. Simulate a *pretraining* set with the built-in profiles (``pocus`` -> ``high_end``) and a
   *target* set whose profiles differ (``dataclasses.replace`` of both built-ins: another
   frequency, noise level, dynamic range, smoothing and JPEG quality, written to a profiles
   YAML), so pretraining is a real transfer to different devices. The target set is split
   train/val/test by specimen.
2. For each loss variant (``gan+l1``: pix2pix, lambda_ssim 0; ``gan+l1+ssim``: the pocusiq
   default), train (a) from scratch on the target train split and (b) pretrain on the
   pretraining set, then fine-tune on the target train split (``init_from``, same steps as (a)).
3. Evaluate each final generator (best validation checkpoint) on the target *test* split:
   SSIM and PSNR before (input) -> after (enhanced), mean +- std.

Usage::

    python bench/ablation.py --out /tmp/ablation --preset paper --size 256 \\
        --n-pretrain 600 --n-target 300 --pretrain-steps 6000 --finetune-steps 3000   # GPU
    python bench/ablation.py --out /tmp/ablation --preset cpu --size 128 \\
        --n-pretrain 160 --n-target 120 --pretrain-steps 300 --finetune-steps 300     # reduced, CPU
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time
from pathlib import Path

import yaml


def target_profiles() -> dict:
    """Target-domain profiles: the built-ins shifted (dataclasses.replace), as a profiles-file dict."""
    from pocusiq.simulate.profiles import get_profile

    low = dataclasses.replace(
        get_profile("pocus"), name="pocus_target", center_frequency_mhz=3.2, noise_db=-34.0,
        dynamic_range_db=42.0, jpeg_quality=70, f_number=3.5,
        description="ablation target: a noisier, lower-frequency handheld probe with JPEG streaming",
    )
    high = dataclasses.replace(
        get_profile("high_end"), name="high_target", center_frequency_mhz=10.0, display_smoothing_mm=0.0,
        compounding_angles_deg=(-15.0, -7.5, 0.0, 7.5, 15.0), dynamic_range_db=66.0,
        description="ablation target: a higher-frequency console, 5-angle compounding, no smoothing",
    )

    def as_entry(p):
        d = dataclasses.asdict(p)
        d.pop("name")
        d["compounding_angles_deg"] = list(d["compounding_angles_deg"])
        return d

    return {"profiles": {"pocus_target": as_entry(low), "high_target": as_entry(high)}}


def simulate(out: Path, n: int, size: int, seed: int, workers: int, profiles: Path | None) -> Path:
    from pocusiq.data.simulated import SimulatedDatasetConfig, write_simulated_dataset

    kw = {}
    if profiles is not None:
        kw = dict(profiles_path=str(profiles), low_profile="pocus_target", high_profile="high_target")
    write_simulated_dataset(out, SimulatedDatasetConfig(n=n, size=size, seed=seed, **kw), workers=workers,
                            progress=False)
    return out


def make_config(args, name: str, root: Path, steps: int, lambda_ssim: float, init_from: str | None):
    from pocusiq.train.config import apply_overrides
    from pocusiq.train.presets import preset_config

    config = preset_config(args.preset)
    config = apply_overrides(config, list(args.set))
    config.name, config.out_dir = name, str(args.out / "runs")
    config.seed = args.seed
    config.data.root = str(root)
    config.max_steps = steps
    config.checkpoint_every = max(1, min(config.checkpoint_every, steps))
    config.val_every = max(1, steps // 5)
    config.log_every = max(1, min(config.log_every, steps // 20 or 1))
    config.loss.lambda_ssim = lambda_ssim
    config.init_from = init_from
    config.init_discriminator = init_from is not None
    config.device = args.device
    config.data.crop = min(config.data.crop or args.size, args.size)
    if config.data.crop % 2**config.model.depth:  # images smaller than the preset's crop: as the demo,
        config.data.crop = 1 << (config.data.crop.bit_length() - 1)  # a power-of-two crop and a
        config.model.depth = min(config.model.depth, config.data.crop.bit_length() - 1)  # U-Net to fit
    config.validate()
    return config


def evaluate(run_dir: Path, root: Path, device_name: str = "auto") -> dict:
    from pocusiq.data.dataset import PairedDataset
    from pocusiq.train.checkpoints import load_generator
    from pocusiq.train.distributed import resolve_device
    from pocusiq.train.evaluation import evaluate_generator

    device = resolve_device(device_name)  # the training device (--device), not CUDA regardless
    generator, _ = load_generator(run_dir, map_location=device)
    result, _ = evaluate_generator(generator, PairedDataset(root, "test"))
    return result.summary()


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _print_row(row) -> None:
    variant, pre, s, secs = row
    print(f"| {variant} | {pre} | {s['ssim_input_mean']:.3f} ± {s['ssim_input_std']:.3f} -> "
          f"{s['ssim_enhanced_mean']:.3f} ± {s['ssim_enhanced_std']:.3f} | "
          f"{s['psnr_input_mean']:.2f} ± {s['psnr_input_std']:.2f} -> "
          f"{s['psnr_enhanced_mean']:.2f} ± {s['psnr_enhanced_std']:.2f} | {secs:.0f} |", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description="pocusiq ablation: loss terms x simulation pretraining")
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--preset", default="cpu", choices=("cpu", "paper"))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--n-pretrain", type=int, default=160)
    parser.add_argument("--n-target", type=int, default=120)
    parser.add_argument("--pretrain-steps", type=int, default=300)
    parser.add_argument("--finetune-steps", type=int, default=300)
    parser.add_argument("--lambda-ssim", type=float, default=None, help="SSIM weight of the +ssim variant (default: preset's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=max(1, min(16, os.cpu_count() or 1)))
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--set", action="append", default=[], help="config override for every run")
    parser.add_argument("--variants", nargs="+", default=["gan+l1", "gan+l1+ssim"], choices=("gan+l1", "gan+l1+ssim"))
    args = parser.parse_args()

    import torch

    from pocusiq.atomic import atomic_write_text
    from pocusiq.train.presets import preset_config
    from pocusiq.train.trainer import train

    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    profiles_path = args.out / "target_profiles.yaml"
    atomic_write_text(profiles_path, yaml.safe_dump(target_profiles(), sort_keys=False))
    pre_root = simulate(args.out / "data_pretrain", args.n_pretrain, args.size, args.seed + 1000, args.workers, None)
    tgt_root = simulate(args.out / "data_target", args.n_target, args.size, args.seed, args.workers, profiles_path)
    print(f"simulated {args.n_pretrain} pretraining + {args.n_target} target pairs in {time.perf_counter() - t0:.0f} s",
          flush=True)
    default_ssim = preset_config(args.preset).loss.lambda_ssim
    lambdas = {"gan+l1": 0.0, "gan+l1+ssim": args.lambda_ssim if args.lambda_ssim is not None else default_ssim}
    rows = []
    for variant in args.variants:
        lam = lambdas[variant]
        tag = variant.replace("+", "_")
        t1 = time.perf_counter()
        scratch = train(make_config(args, f"{tag}_scratch", tgt_root, args.finetune_steps, lam, None),
                        resume=True, progress=False)
        rows.append((variant, "no", evaluate(scratch.run_dir, tgt_root, args.device), time.perf_counter() - t1))
        _print_row(rows[-1])
        t1 = time.perf_counter()
        pre = train(make_config(args, f"{tag}_pretrain", pre_root, args.pretrain_steps, lam, None),
                    resume=True, progress=False)
        init = str(pre.run_dir / "best.safetensors") if (pre.run_dir / "best.safetensors").is_file() else str(pre.last_checkpoint)
        fine = train(make_config(args, f"{tag}_finetune", tgt_root, args.finetune_steps, lam, init),
                     resume=True, progress=False)
        rows.append((variant, "yes", evaluate(fine.run_dir, tgt_root, args.device), time.perf_counter() - t1))
        _print_row(rows[-1])

    device = "cuda:" + torch.cuda.get_device_name(0) if _cuda() and args.device != "cpu" else "cpu"
    print()
    print(f"Ablation on the target test split ({rows[0][2]['n']} images, {args.size}x{args.size}); preset "
          f"{args.preset}; {args.finetune_steps} fine-tune/scratch steps, {args.pretrain_steps} pretraining "
          f"steps on {args.n_pretrain} pairs; device {device}; total {time.perf_counter() - t0:.0f} s")
    print()
    print("| loss | sim. pretraining | SSIM input -> enhanced | PSNR (dB) input -> enhanced | time (s) |")
    print("|---|---|---|---|---|")
    for row in rows:
        _print_row(row)
    atomic_write_text(args.out / "ablation.json", json.dumps(
        [{"loss": v, "pretrained": p, **s, "seconds": t} for v, p, s, t in rows], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
