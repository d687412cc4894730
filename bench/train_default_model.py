"""Train the shipped default generators (``pocusiq.models.pretrained``) with one seeded command.

Usage::

    python bench/train_default_model.py --out runs/default               # the shipped CPU budget
    python bench/train_default_model.py --out runs/default --install     # and copy into the package
    python bench/train_default_model.py --out runs/gpu --supervised-steps 20000 --adapt-steps 5000  # bigger

The two sizes can train side by side (two processes, ``--sizes cpu`` and ``--sizes realtime``, same
``--out``): simulate first (``--sizes ""``), then start them a few seconds apart -- each opens the
finished dataset's writer for a moment to check it, and a second writer at that moment is refused
(``DatasetError``, nothing lost; rerun it).

The recipe (data, stages, losses) is :mod:`pocusiq.train.default_recipe`; the model card
(``src/pocusiq/models/pretrained/MODEL_CARD.md``) records the budget and every metric. Resumable:
rerun the same command after an interruption.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main(argv: list[str] | None = None) -> int:
    from pocusiq.train.default_recipe import HOLDOUT, DefaultRecipe, train_default_models

    shared = ROOT.parent / "shared" / "data" / "real"
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/default"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--n-pairs", type=int, default=120)
    p.add_argument("--size", type=int, default=512)
    p.add_argument("--crop", type=int, default=128)
    p.add_argument("--supervised-steps", type=int, default=500)
    p.add_argument("--fidelity-steps", type=int, default=150)
    p.add_argument("--adapt-steps", type=int, default=0, help="unpaired CUT stage on the real frames (off: it lowered fidelity, see the model card)")
    p.add_argument("--pocus", default=str(shared / "pocus"), help="real POCUS frames (adapt stage)")
    p.add_argument("--highend", default=str(shared / "carotid" / "images"), help="real high-end images (adapt stage)")
    p.add_argument("--holdout", default=HOLDOUT)
    p.add_argument("--sizes", default="cpu,realtime")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--upsample", default="resize", choices=["resize", "transpose"])
    p.add_argument("--skip-sharpen", type=float, default=1.0)
    p.add_argument("--install", action="store_true", help="copy the exported models into src/pocusiq/models/pretrained/")
    args = p.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    recipe = DefaultRecipe(out=str(args.out), seed=args.seed, n_pairs=args.n_pairs, size=args.size, crop=args.crop,
                           supervised_steps=args.supervised_steps, fidelity_steps=args.fidelity_steps,
                           adapt_steps=args.adapt_steps, upsample=args.upsample, skip_sharpen=args.skip_sharpen,
                           pocus_dir=args.pocus, highend_dir=args.highend, holdout=args.holdout,
                           sizes=tuple(s for s in args.sizes.split(",") if s))
    t0 = time.perf_counter()
    exported = train_default_models(recipe, log=lambda m: print(m, flush=True))
    total = time.perf_counter() - t0
    cpu = time.process_time()
    print(json.dumps({"wall_s": round(total, 1), "process_cpu_s": round(cpu, 1), "threads": args.threads,
                      "load_avg": os.getloadavg(), "timings_s": {k: round(v, 1) for k, v in recipe.timings.items()}}))
    if args.install:
        target = ROOT / "src" / "pocusiq" / "models" / "pretrained"
        for name, path in exported.items():
            shutil.copyfile(path, target / path.name)
            print(f"installed {target / path.name} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
