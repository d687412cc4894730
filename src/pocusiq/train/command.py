"""``pocusiq train``: train the pix2pix cGAN on a paired dataset folder.

Examples::

    pocusiq train data/sim --preset cpu --name sim-cpu
    pocusiq train data/sim --preset paper --name pretrain --set optim.lr=1e-4
    pocusiq train data/real --config examples/train_paper.yaml --init-from runs/pretrain/best.safetensors
    pocusiq train data/sim --preset cpu --name sim-cpu --resume        # continue after a kill
    torchrun --nproc_per_node 4 -m pocusiq.cli train data/sim --preset paper   # DDP
    pocusiq train --unpaired --pocus real/pocus --highend real/carotid/images \
        --init-from runs/sim-cpu/best.safetensors --name adapt       # CUT adaptation, fidelity terms on
"""

from __future__ import annotations

import argparse
import os


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("dataset", nargs="?", default=None, help="paired dataset folder (with manifest.csv)")
    parser.add_argument("--config", default=None, help="YAML/JSON TrainConfig file (may name a preset)")
    parser.add_argument("--preset", choices=("paper", "cpu", "realtime"), default=None, help="start from a preset (default: cpu unless --config is given)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a config value, e.g. --set optim.lr=1e-4 (repeatable)")
    parser.add_argument("--name", default=None, help="run name (folder under --out)")
    parser.add_argument("--out", default=None, help="folder holding runs (default: runs)")
    parser.add_argument("--steps", type=int, default=None, help="total training steps (max_steps)")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--device", default=None, help="auto (default), cpu, cuda, cuda:1, ...")
    parser.add_argument("--resume", action="store_true", help="continue from <out>/<name>/last.safetensors")
    parser.add_argument("--init-from", default=None, metavar="CKPT",
                        help="start the generator from this checkpoint (fine-tuning)")
    parser.add_argument("--init-discriminator", action="store_true",
                        help="with --init-from, also take the checkpoint's discriminator")
    parser.add_argument("--max-steps-this-run", type=int, default=None,
                        help="stop (saving last) after this many steps; finish later with --resume")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--unpaired", action="store_true",
                        help="unpaired CUT adaptation on --pocus and --highend folders (no DATASET); the "
                             "fidelity terms are on (see pocusiq.train.unpaired)")
    parser.add_argument("--pocus", default=None, metavar="DIR", help="with --unpaired: real POCUS frames")
    parser.add_argument("--highend", default=None, metavar="DIR", help="with --unpaired: real high-end images")
    parser.add_argument("--holdout", default=None, metavar="GLOBS",
                        help="with --unpaired: comma-separated POCUS file globs kept out of training")


def build_config(args: argparse.Namespace):
    """The :class:`TrainConfig` from a config file/preset, CLI flags and ``--set`` overrides."""
    from pocusiq.train.config import load_config

    overrides = list(args.overrides)
    flags = {
        "data.root": args.dataset, "name": args.name, "out_dir": args.out, "max_steps": args.steps,
        "seed": args.seed, "device": args.device, "init_from": args.init_from,
    }
    # string fields keep their text (pocusiq.config.parse_override): a name like "007" or a path
    # like "yes" or "a: b" stays a string
    pre = [f"{k}={v}" for k, v in flags.items() if v is not None]
    if args.init_discriminator:
        pre.append("init_discriminator=true")
    if getattr(args, "unpaired", False):
        from pocusiq.train.unpaired import UNPAIRED_OVERRIDES

        pre += list(UNPAIRED_OVERRIDES)
        for key, value in (("pocus_dir", args.pocus), ("highend_dir", args.highend), ("holdout", args.holdout)):
            if value is not None:
                pre.append(f"unpaired.{key}={value}")
    elif args.pocus or args.highend or args.holdout:
        from pocusiq.errors import ConfigError

        raise ConfigError("--pocus/--highend/--holdout need --unpaired")
    preset = args.preset if args.preset else (None if args.config else "cpu")
    return load_config(args.config, overrides=pre + overrides, preset=preset)


def run(args: argparse.Namespace) -> int:
    from pocusiq.train.trainer import train

    config = build_config(args)
    if config.unpaired.enabled:
        from pocusiq.train.unpaired import train_unpaired

        result = train_unpaired(config, resume=args.resume, max_steps_this_run=args.max_steps_this_run,
                                progress=not args.no_progress)
    else:
        result = train(config, resume=args.resume, max_steps_this_run=args.max_steps_this_run,
                       progress=not args.no_progress)
    if int(os.environ.get("RANK", "0")) != 0:  # rank 0 reports for a torchrun job
        return 0
    print(f"run: {result.run_dir}  steps: {result.step}/{config.max_steps}  ({result.steps_this_run} this run, "
          f"{result.seconds:.1f} s)")
    procs = f"{result.world_size} DDP process(es), {result.backend}" if result.backend else "1 process, no DDP"
    print(f"device: {result.device}, {procs}")
    if result.validations:
        v = result.validations[-1]
        print(f"validation ({v['n']} images): SSIM {v['ssim_input']:.3f} -> {v['ssim']:.3f}, "
              f"PSNR {v['psnr_input']:.2f} -> {v['psnr']:.2f} dB")
    if result.last_checkpoint:
        print(f"last: {result.last_checkpoint}")
    if result.best_checkpoint:
        print(f"best: {result.best_checkpoint} (val SSIM {result.best_ssim:.3f})")
    return 0
