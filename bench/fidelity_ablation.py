"""Fidelity ablation (long-running, not in CI): what each fidelity term does.

Variants, each trained from scratch with the same budget on the same simulated pairs (cumulative,
so each row adds one thing to the row above):

* ``paper``: GAN + 100 L1 + 100 (1 - SSIM), tanh U-Net, uniform crops -- the POCUS-IQ recipe, the
  reference row;
* ``+lowfreq``: + 300 x low-frequency consistency with the input (sigma 3 px);
* ``+structure``: + 100 x structure (lost / unsupported edges);
* ``+invented``: + 300 x invented blobs (sigma 6 px);
* ``+targetcrops``: half the crops hold a simulated target;
* ``+residual``: output = input + learned detail, identity at start;
* ``+checkerboard``: + the recipe's checkerboard term (the output's Nyquist energy beyond the input's);
* ``+resize``: nearest x2 + 3x3 convolution decoder instead of transposed convolutions;
* ``+sharpskip``: the residual skip path is the unsharp mask (a fresh network IS the bar) -- the
  cpu size of the shipped recipe's supervised stage (:mod:`pocusiq.train.default_recipe`; the
  ablation's data and budget are its own).

Measured per variant: SSIM / PSNR on the simulated test split (input -> enhanced); NIQE / PIQE on
the real handheld frames of ``../shared/data/real/pocus`` (imaging region only, the frames are
NOT trained on); and :mod:`pocusiq.metrics.fidelity`'s per-frame verdict
(keeps every target), computed as ``bench/fidelity.py`` does. Output PNGs (input | enhanced per frame) go to ``<out>/<variant>/png`` --
look at them.

Measured (``--steps 80 --test-images 4``, cpu-size U-Net, batch 4 crops of 128 px, 1 thread, 2 shared
cores at load average 12-19; real frames: mean over the 8 frames of ``bench/fidelity.py``)::

    variant        SSIM sim test    PSNR sim test     NIQE real  PIQE real  frames keeping every target
    input          -                -                 8.928      80.09      8/8
    unsharp mask   -                -                 8.425      67.88      8/8
    paper          0.390 -> 0.379   20.17 -> 16.01    11.337     14.56      0/8
    +lowfreq       0.390 -> 0.378   20.17 -> 16.98    13.215     24.37      1/8
    +structure     0.390 -> 0.375   20.17 -> 16.93    11.980     23.58      0/8
    +invented      0.390 -> 0.374   20.17 -> 16.92    11.970     23.90      0/8
    +targetcrops   0.390 -> 0.372   20.17 -> 17.19    11.442     23.88      0/8
    +residual      0.390 -> 0.433   20.17 -> 20.91     7.727     59.72      7/8

At 80 steps the tanh U-Nets have not yet learned to reproduce their input (PSNR falls to 16-17 dB);
the terms then mostly trade PIQE for fidelity; the identity-initialised residual generator is what
makes them bite within a CPU budget. The shipped recipe (longer, plus the point-target term and the
unpaired stage) is in the model card.

Usage::

    python bench/fidelity_ablation.py --out runs/fidelity_ablation --steps 150          # CPU, small
    python bench/fidelity_ablation.py --out runs/fidelity_ablation --variants paper +lowfreq   # a subset
    python bench/fidelity_ablation.py --out runs/fidelity_ablation --table               # print saved rows
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

VARIANTS = ("paper", "+lowfreq", "+structure", "+invented", "+targetcrops", "+residual", "+checkerboard",
            "+resize", "+sharpskip")


def variant_config(variant: str, out: Path, data_root: Path, steps: int, seed: int, crop: int):
    from pocusiq.train.config import DataConfig, DiscriminatorConfig, LossConfig, ModelConfig, OptimConfig, TrainConfig
    from pocusiq.train.default_recipe import CHECKERBOARD_TOLERANCE, CHECKERBOARD_WEIGHT, LOWFREQ_SIGMA_PX, MODEL_SIZES

    upto = VARIANTS.index(variant)
    on = lambda name: VARIANTS.index(name) <= upto  # noqa: E731 - cumulative variants
    loss = LossConfig(
        lambda_gan=1.0, lambda_l1=100.0, lambda_ssim=100.0,
        lambda_lowfreq=300.0 if on("+lowfreq") else 0.0, lowfreq_sigma_px=LOWFREQ_SIGMA_PX,
        lambda_structure=100.0 if on("+structure") else 0.0, structure_sigma_px=1.0, structure_max_gain=2.5,
        lambda_invented=300.0 if on("+invented") else 0.0, invented_sigma_px=6.0, invented_margin=0.02,
        lambda_checkerboard=CHECKERBOARD_WEIGHT if on("+checkerboard") else 0.0,
        checkerboard_tolerance=CHECKERBOARD_TOLERANCE,
    )
    return TrainConfig(
        name=variant.replace("+", "plus_"), out_dir=str(out / "runs"), seed=seed, max_steps=steps,
        checkpoint_every=max(1, steps // 2), val_every=steps, log_every=10, device="cpu",
        model=ModelConfig(residual=on("+residual"), upsample="resize" if on("+resize") else "transpose",
                          skip_sharpen=1.0 if on("+sharpskip") else 0.0, **MODEL_SIZES["cpu"]),
        discriminator=DiscriminatorConfig(ndf=16, n_layers=3, norm="instance"), loss=loss,
        optim=OptimConfig(lr=2e-4, beta1=0.5, decay_start=0.5),
        data=DataConfig(root=str(data_root), crop=crop, flip=True, batch_size=4, max_val_images=4,
                        target_crop_fraction=0.5 if on("+targetcrops") else 0.0),
    )


def _fidelity_bench():
    """``bench/fidelity.py`` as a module: the same frames, region, luma and UI mask as its table."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("fidelity_bench", Path(__file__).with_name("fidelity.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def score_real(enhance, png_dir: Path | None) -> dict:
    """NIQE / PIQE and the fidelity verdict (:func:`pocusiq.metrics.fidelity.fidelity_report`) of
    ``enhance(region)`` on every real frame of ``bench/fidelity.py`` (loaded as it loads them)."""
    import numpy as np

    from pocusiq import metrics
    from pocusiq.metrics.fidelity import fidelity_report

    bench = _fidelity_bench()
    data = ROOT.parent / "shared" / "data" / "real" / "pocus"
    rows = []
    for name in bench.FRAMES:
        grey, valid = bench.load(data / name)
        out = np.asarray(enhance(grey))
        if out.dtype != np.uint8:
            out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        out = np.where(valid, out, grey)  # the imaging region only
        report = fidelity_report(grey, out)
        rows.append({"frame": name, "niqe": float(metrics.niqe(out)), "piqe": float(metrics.piqe(out)),
                     "keeps_every_target": bool(report.keeps_every_target), "fidelity": report.as_dict()})
        if png_dir is not None:
            from PIL import Image

            png_dir.mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.concatenate([grey, out], axis=1)).save(png_dir / Path(name).name)
    return {"frames": rows,
            "niqe": float(np.mean([r["niqe"] for r in rows])), "piqe": float(np.mean([r["piqe"] for r in rows])),
            "keeps_every_target": all(r["keeps_every_target"] for r in rows),
            "frames_kept": sum(r["keeps_every_target"] for r in rows)}


def run_variant(variant: str, args) -> dict:
    from pocusiq.data.dataset import PairedDataset
    from pocusiq.enhance.enhancer import Enhancer
    from pocusiq.train.evaluation import evaluate_generator
    from pocusiq.train.trainer import train

    config = variant_config(variant, args.out, args.data, args.steps, args.seed, args.crop)
    t0 = time.perf_counter()
    result = train(config, resume=(config.run_dir / "last.safetensors").is_file(), progress=False)
    seconds = time.perf_counter() - t0
    ckpt = result.last_checkpoint
    enhancer = Enhancer.from_checkpoint(ckpt)
    sim, _ = evaluate_generator(enhancer.module, PairedDataset(args.data, "test"), max_images=args.test_images)
    s = sim.summary()
    real = score_real(enhancer, args.out / config.name / "png")
    row = {"variant": variant, "steps": result.step, "train_seconds": round(seconds, 1), "checkpoint": str(ckpt),
           "ssim_input": s["ssim_input_mean"], "ssim": s["ssim_enhanced_mean"],
           "psnr_input": s["psnr_input_mean"], "psnr": s["psnr_enhanced_mean"], "n_test": s["n"], "real": real}
    (args.out / f"{config.name}.json").write_text(json.dumps(row, indent=2))
    return row


def baseline_rows(args) -> list[dict]:
    """Input and the unsharp mask (amount 1, sigma 1 px) on the real frames: the bar to beat."""
    import numpy as np
    from skimage.filters import unsharp_mask

    rows = []
    for name, fn in (("input", lambda x: x),
                     ("unsharp mask", lambda x: np.clip(np.round(unsharp_mask(x / 255.0, radius=1, amount=1) * 255), 0,
                                                       255).astype(np.uint8))):
        path = args.out / f"baseline_{name.replace(' ', '_')}.json"
        if not path.is_file():
            path.write_text(json.dumps({"variant": name, "real": score_real(fn, None)}, indent=2))
        rows.append(json.loads(path.read_text()))
    return rows


def print_table(args) -> None:
    rows = baseline_rows(args)
    for v in VARIANTS:
        p = args.out / f"{v.replace('+', 'plus_')}.json"
        if p.is_file():
            rows.append(json.loads(p.read_text()))
    print("| variant | steps | SSIM (sim test) | PSNR dB (sim test) | NIQE real | PIQE real | keeps every target |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        real = r["real"]
        keeps = f"{real['frames_kept']}/{len(real['frames'])} frames"
        sim = (f"{r['ssim_input']:.3f} -> {r['ssim']:.3f} | {r['psnr_input']:.2f} -> {r['psnr']:.2f}"
               if "ssim" in r else "- | -")
        print(f"| {r['variant']} | {r.get('steps', '-')} | {sim} | {real['niqe']:.3f} | {real['piqe']:.2f} | {keeps} |")


def main() -> int:
    p = argparse.ArgumentParser(description="fidelity ablation: each fidelity term's effect")
    p.add_argument("--out", type=Path, default=Path("runs/fidelity_ablation"))
    p.add_argument("--data", type=Path, default=None,
                   help="simulated dataset (default: <out>/sim512, simulated here: 120 pairs, 512 px, seed 0)")
    p.add_argument("--steps", type=int, default=150)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-images", type=int, default=8)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--table", action="store_true", help="only print the table of the rows saved in --out")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.data is None:
        args.data = args.out / "sim512"
    if not args.table:
        import torch

        from pocusiq.data.simulated import SimulatedDatasetConfig, write_simulated_dataset

        torch.set_num_threads(args.threads)
        write_simulated_dataset(args.data, SimulatedDatasetConfig(n=120, size=512, seed=args.seed), workers=1,
                                progress=False)
        for v in args.variants:
            row = run_variant(v, args)
            print(f"{v}: {row['steps']} steps in {row['train_seconds']:.0f} s, SSIM {row['ssim']:.3f}, "
                  f"NIQE {row['real']['niqe']:.3f}, PIQE {row['real']['piqe']:.2f}", flush=True)
    print(f"(load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    print_table(args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
