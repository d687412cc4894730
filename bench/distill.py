"""Distil the realtime generator from a teacher and compare both on the same simulated test pairs.

Pipeline (all on simulated data from the embedded physics simulator; nothing is downloaded):

1. simulate ``--pairs`` POCUS/high-end pairs (``--size`` px) into ``OUT/data`` (train/val/test
   split by specimen, :func:`pocusiq.data.simulated.write_simulated_dataset`);
2. teacher: ``--teacher CKPT``, or train one with the pix2pix recipe of ``--teacher-preset``
   (default ``paper``: U-Net depth 8, ngf 64, GAN + 100 L1 + 10 (1 - SSIM)) for
   ``--teacher-minutes`` of wall time (the step count is fixed after 20 timed steps so the
   learning-rate schedule completes), saved to ``OUT/teacher/last.safetensors``;
3. distil the realtime student (:mod:`pocusiq.train.presets`) on the train split's POCUS
   images (L1 + (1 - SSIM) to the teacher's outputs, plus ``--lambda-gt`` L1 to the high-end
   image), saved to ``OUT/realtime/best.safetensors``;
4. evaluate input, teacher and student on the test split: mean SSIM and PSNR (dB) against the
   high-end images with :mod:`pocusiq.metrics`, on uint8 images; prints a table and writes
   ``OUT/distill_results.json``.

Example (GPU):  python bench/distill.py --out runs/distill --device cuda --workers 14
Quick CPU check: python bench/distill.py --out /tmp/d --pairs 24 --size 64 --teacher-preset cpu \
                 --teacher-minutes 0.3 --student-steps 50 --crop 32
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch


def _stacks(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from pocusiq.data.dataset import PairedDataset

    ds = PairedDataset(root, split)
    items = [ds.read_arrays(i) for i in range(len(ds))]
    return np.stack([it["low"] for it in items]), np.stack([it["high"] for it in items]), ds.ids


def _unit(images: np.ndarray) -> np.ndarray:
    from pocusiq.imaging.intensity import to_unit

    return to_unit(images)


def train_teacher(args: argparse.Namespace, low: np.ndarray, high: np.ndarray, out: Path) -> Path:
    """pix2pix teacher with the preset's losses, for a wall-time budget; returns its checkpoint."""
    from pocusiq.train.checkpoints import save_checkpoint
    from pocusiq.train.presets import preset_config
    from pocusiq.train.trainer import Pix2PixTrainer

    cfg = preset_config(args.teacher_preset)
    cfg.name, cfg.out_dir, cfg.seed = "teacher", str(out), args.seed
    cfg.data.batch_size = args.teacher_batch or cfg.data.batch_size
    crop = min(cfg.data.crop or low.shape[1], low.shape[1], low.shape[2])
    cfg.max_steps = 10**9  # placeholder until the speed is known
    device = torch.device(args.device)
    trainer = Pix2PixTrainer(cfg, device)
    rng = np.random.default_rng(args.seed)
    lows = torch.from_numpy(_unit(low)).to(device)
    highs = torch.from_numpy(_unit(high)).to(device)
    n, h, w = lows.shape

    def batch() -> tuple[torch.Tensor, torch.Tensor]:
        idx = rng.integers(0, n, cfg.data.batch_size)
        tops = rng.integers(0, h - crop + 1, cfg.data.batch_size)
        lefts = rng.integers(0, w - crop + 1, cfg.data.batch_size)
        flips = rng.integers(0, 2, cfg.data.batch_size).astype(bool)
        pieces = []
        for stack in (lows, highs):
            p = [stack[i, t : t + crop, l : l + crop] for i, t, l in zip(idx, tops, lefts)]
            pieces.append(torch.stack([x.flip(-1) if f else x for x, f in zip(p, flips)])[:, None])
        return pieces[0], pieces[1]

    budget = args.teacher_minutes * 60.0
    start = time.perf_counter()
    step = 0
    warmup, timed = 20, 60  # steps 20..60 (after CUDA/cuDNN start-up) set the speed estimate
    for step in range(timed):
        if step == warmup:
            if device.type == "cuda":
                torch.cuda.synchronize()
            t_warm = time.perf_counter()
        trainer.set_step_lr(0)
        trainer.train_step(*batch())
    if device.type == "cuda":
        torch.cuda.synchronize()
    rate = (timed - warmup) / (time.perf_counter() - t_warm)
    cfg.max_steps = max(timed + 1, int(rate * (budget - (time.perf_counter() - start))) + timed)
    print(f"teacher: {rate:.1f} steps/s -> {cfg.max_steps} steps (batch {cfg.data.batch_size}, crop {crop})",
          flush=True)
    step = timed
    while True:
        if step >= cfg.max_steps:
            break
        trainer.set_step_lr(step)
        losses = trainer.train_step(*batch())
        step += 1
        if step % 500 == 0:
            print(f"teacher step {step}/{cfg.max_steps}: " + ", ".join(
                f"{k} {float(v):.3f}" for k, v in losses.items()), flush=True)
    path = out / "teacher" / "last.safetensors"
    save_checkpoint(path, generator=trainer.generator, discriminator=trainer.discriminator, config=cfg,
                    state={"step": step, "seconds": time.perf_counter() - start})
    print(f"teacher: {step} steps in {time.perf_counter() - start:.0f} s -> {path}", flush=True)
    return path


def evaluate(low: np.ndarray, high: np.ndarray, outputs: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    from pocusiq.metrics import psnr, ssim

    table = {}
    for name, images in {"input": low, **outputs}.items():
        s = np.asarray(ssim(images, high), dtype=float)
        p = np.asarray(psnr(images, high), dtype=float)
        table[name] = {"ssim": float(s.mean()), "ssim_std": float(s.std()), "psnr_db": float(p.mean()),
                       "psnr_std": float(p.std()), "n": int(len(images))}
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--pairs", type=int, default=1200)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--teacher", type=Path, default=None, help="existing teacher checkpoint")
    parser.add_argument("--teacher-preset", default="paper")
    parser.add_argument("--teacher-batch", type=int, default=8)
    parser.add_argument("--teacher-minutes", type=float, default=4.0)
    parser.add_argument("--student-steps", type=int, default=3000)
    parser.add_argument("--student-batch", type=int, default=16)
    parser.add_argument("--crop", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--lambda-gt", type=float, default=0.0)
    args = parser.parse_args(argv)

    from pocusiq import Enhancer
    from pocusiq.atomic import atomic_write_text
    from pocusiq.data.simulated import SimulatedDatasetConfig, write_simulated_dataset
    from pocusiq.imaging.intensity import from_unit
    from pocusiq.models import build_generator
    from pocusiq.train.distill import DistillConfig, config_dict, distill, save_student, teacher_targets
    from pocusiq.train.presets import preset_config

    torch.manual_seed(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    data = args.out / "data"
    write_simulated_dataset(data, SimulatedDatasetConfig(n=args.pairs, size=args.size, seed=args.seed),
                            workers=args.workers, progress=False)
    low_tr, high_tr, _ = _stacks(data, "train")
    low_te, high_te, test_ids = _stacks(data, "test")
    print(f"data: {len(low_tr)} train / {len(low_te)} test pairs of {args.size}^2 in "
          f"{time.perf_counter() - t0:.0f} s", flush=True)

    teacher_path = args.teacher or train_teacher(args, low_tr, high_tr, args.out)
    teacher = Enhancer.from_checkpoint(teacher_path, device=args.device)
    tcfg = teacher.module.config if teacher.module is not None else None
    print(f"teacher: {teacher.model_name} (ngf {getattr(tcfg, 'ngf', '?')}, depth {getattr(tcfg, 'depth', '?')})")

    student = build_generator(preset_config("realtime").model)
    dcfg = DistillConfig(steps=args.student_steps, batch_size=args.student_batch, crop=args.crop, lr=args.lr,
                         lambda_gt=args.lambda_gt, seed=args.seed, device=args.device)
    t1 = time.perf_counter()
    targets = teacher_targets(teacher, _unit(low_tr), batch=16)
    result = distill(teacher, student, low_tr, high=high_tr, config=dcfg, targets=targets, log_every=250,
                     callback=lambda s, r: print(f"student step {s}: loss {r['loss']:.4f} (L1 {r['l1']:.4f}, "
                                                 f"1-SSIM {r['ssim']:.4f})", flush=True))
    print(f"student: distilled in {time.perf_counter() - t1:.0f} s", flush=True)

    outputs = {}
    teacher_out = teacher_targets(teacher, _unit(low_te), batch=16)
    outputs["teacher"] = from_unit(teacher_out, np.uint8)
    student_enh = Enhancer(result.student, multiple=result.student.multiple, device="cpu")
    outputs["realtime"] = np.stack([student_enh(img) for img in low_te])
    table = evaluate(low_te, high_te, outputs)
    params = {"teacher": sum(p.numel() for p in teacher.module.parameters()) if teacher.module is not None else None,
              "realtime": sum(p.numel() for p in result.student.parameters())}
    summary = {
        "test_pairs": len(low_te), "size": args.size, "teacher_checkpoint": str(teacher_path),
        "teacher_model": teacher.model_name, "teacher_config": getattr(tcfg, "__dict__", None),
        "realtime_config": result.student.model_config.__dict__, "parameters": params,
        "distill_config": config_dict(dcfg), "distill_seconds": result.seconds,
        "metrics": table, "history": result.history,
    }
    path = save_student(args.out / "realtime" / "best.safetensors", result.student,
                        info={k: summary[k] for k in ("teacher_model", "distill_config", "metrics", "test_pairs")})
    atomic_write_text(args.out / "distill_results.json", json.dumps(summary, indent=2, default=str))
    print(f"\n{'model':<10} {'params':>10} {'SSIM':>14} {'PSNR (dB)':>16}   on {len(low_te)} simulated test pairs")
    for name, row in table.items():
        n_params = params.get(name)
        print(f"{name:<10} {n_params if n_params else '-':>10} {row['ssim']:>7.3f} ± {row['ssim_std']:.3f} "
              f"{row['psnr_db']:>8.2f} ± {row['psnr_std']:.2f}")
    t, s, i = table["teacher"], table["realtime"], table["input"]
    if t["ssim"] > i["ssim"] and t["psnr_db"] > i["psnr_db"]:
        print(f"realtime keeps {100 * (s['ssim'] - i['ssim']) / (t['ssim'] - i['ssim']):.0f}% of the teacher's "
              f"SSIM gain and {100 * (s['psnr_db'] - i['psnr_db']) / (t['psnr_db'] - i['psnr_db']):.0f}% of its PSNR gain")
    print(f"student checkpoint {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
