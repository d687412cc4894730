"""Fidelity table on the real handheld frames: NIQE, PIQE and every fidelity metric per method.

Usage::

    .venv/bin/python bench/fidelity.py [--data ../shared/data/real/pocus] [--model NAME=CKPT ...]
        [--default-model] [--frames N] [--json OUT.json]

For each real handheld frame (Clarius, Interson, the six Butterfly iQ frames; imaging region only,
found by :func:`pocusiq.imaging.region.find_imaging_region`, BT.601 luma, UI buttons masked), runs every
method — input (identity), unsharp mask (amount 1, sigma 1 px), CLAHE, NLM, median, bilateral
(the built-ins of :mod:`pocusiq.benchmark.baselines` with their defaults), and ``model:NAME`` for
each ``--model NAME=CKPT`` (and ``Enhancer.default()`` with ``--default-model`` where it exists) —
and scores the output with NIQE, PIQE and :func:`pocusiq.metrics.fidelity.fidelity_report`
against the frame (targets found in the frame). Prints, per method, the mean NIQE/PIQE and their
change from the input, the worst fidelity value over frames, and how many frames keep every target;
then one row per method and frame. ``--json`` writes every number.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

FRAMES = (
    "clarius_axial-lateral-resolution-2020.png",
    "interson-phantom.png",
    "butterfly-phantom/anechoic-3mm-3mm.png",
    "butterfly-phantom/anechoic-4.5mm-2mm.png",
    "butterfly-phantom/anechoic-6.7mm-1.3mm.png",
    "butterfly-phantom/grey-left.png",
    "butterfly-phantom/grey-mid.png",
    "butterfly-phantom/grey-right.png",
)
HELD_OUT = ("grey-", "clarius")
"""Frames never seen by the shipped models' training (``pocusiq.train.default_recipe.HOLDOUT``)."""
CLASSICAL = ("identity", "unsharp", "clahe", "nlm", "median", "bilateral")


def load(path: Path) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    from pocusiq.enhance.quality import region_grey
    from pocusiq.imaging.region import find_imaging_region

    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB"))
    return region_grey(rgb, find_imaging_region(rgb))


def methods(args) -> dict:
    from pocusiq import Enhancer
    from pocusiq.benchmark.baselines import BASELINES

    out = {name: BASELINES[name] for name in args.classical.split(",") if name}
    models = list(args.model)
    if args.default_model:
        if not hasattr(Enhancer, "default"):
            print("--default-model: Enhancer.default() does not exist in this version; skipped")
        else:
            enh = Enhancer.default()
            out["model:default"] = lambda img, e=enh: np.asarray(e(img))
    for spec in models:
        name, _, path = spec.partition("=")
        if not path:
            raise SystemExit(f"--model {spec!r}: expected NAME=CHECKPOINT")
        enh = Enhancer.from_checkpoint(path)
        out[f"model:{name}"] = lambda img, e=enh: np.asarray(e(img))
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data" / "real" / "pocus")
    parser.add_argument("--model", action="append", default=[], metavar="NAME=CKPT")
    parser.add_argument("--default-model", action="store_true")
    parser.add_argument("--frames", type=int, default=len(FRAMES))
    parser.add_argument("--classical", default=",".join(CLASSICAL),
                        help="classical filters to run (identity is needed for the changes; default: all)")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    from pocusiq.metrics import niqe, piqe
    from pocusiq.metrics.fidelity import fidelity_report, find_targets

    table = methods(args)
    rows = []
    for name in FRAMES[: args.frames]:
        grey, valid = load(args.data / name)
        t0 = time.process_time()
        targets = find_targets(grey, valid=valid)
        print(f"{name}: {grey.shape}, speckle {targets.speckle[0]:.1f} x {targets.speckle[1]:.1f} px, "
              f"{len(targets.points)} point targets, {len(targets.masks)} blobs "
              f"({time.process_time() - t0:.1f} s CPU)", flush=True)
        for method, fn in table.items():
            out = fn(grey)
            if out.dtype != np.uint8:
                out = np.clip(np.rint(out), 0, 255).astype(np.uint8)
            out = np.where(valid, out, grey)  # the imaging region only
            rep = fidelity_report(grey, out, targets=targets)
            row = {"frame": name, "method": method, "niqe": float(niqe(out)), "piqe": float(piqe(out))}
            row.update(rep.as_dict())
            rows.append(row)
    by = {}
    for row in rows:
        by.setdefault(row["method"], []).append(row)
    base = {r["frame"]: r for r in by["identity"]}

    def worst(vals, low):
        vals = [v for v in vals if isinstance(v, (int, float)) and math.isfinite(v)]
        return (min(vals) if low else max(vals)) if vals else math.nan

    head = (f"{'method':<16}{'NIQE':>7}{'dNIQE':>8}{'PIQE':>7}{'dPIQE':>8}{'contr.':>8}{'width':>7}"
            f"{'dgCNR':>7}{'pxgCNR':>7}{'new':>5}{'miss':>5}{'streak':>7}{'checker':>8}{'seam':>6}{'keeps':>7}")
    print("\nPer method: mean NIQE/PIQE (change vs input), worst fidelity over frames "
          "(contrast kept: min; width ratio: max; gCNR change at the speckle scale (the verdict's) and "
          "on pixels: min; new/missing spots: total; "
          "streak/checkerboard/seam ratios: max), frames keeping every target")
    print(head)
    for method, rs in by.items():
        n = float(np.mean([r["niqe"] for r in rs]))
        p = float(np.mean([r["piqe"] for r in rs]))
        dn = float(np.mean([r["niqe"] / base[r["frame"]]["niqe"] - 1 for r in rs]))
        dp = float(np.mean([r["piqe"] / base[r["frame"]]["piqe"] - 1 for r in rs]))
        print(f"{method:<16}{n:7.2f}{dn:+8.1%}{p:7.2f}{dp:+8.1%}"
              f"{worst([r['point_contrast_kept'] for r in rs], True):8.2f}"
              f"{worst([r['point_width_ratio'] for r in rs], False):7.2f}"
              f"{worst([r['gcnr_change'] for r in rs], True):+7.3f}"
              f"{worst([r['pixel_gcnr_change'] for r in rs], True):+7.3f}"
              f"{sum(r['invented_blobs'] for r in rs):5d}{sum(r['missing_blobs'] for r in rs):5d}"
              f"{worst([r['streak_ratio'] for r in rs], False):7.2f}"
              f"{worst([r['checkerboard_ratio'] for r in rs], False):8.2f}"
              f"{worst([r['seam_ratio'] for r in rs], False):6.2f}"
              f"{sum(int(r['keeps_every_target']) for r in rs):>4d}/{len(rs)}")
    # The bar of issue 10: the best classical filter that keeps every target on every frame (lowest
    # mean NIQE + PIQE rank), and whether each model beats it on BOTH means while keeping every target.
    faithful = [m for m in CLASSICAL if m in by and m != "identity" and all(r["keeps_every_target"] for r in by.get(m, []))]
    means = {m: (float(np.mean([r["niqe"] for r in rs])), float(np.mean([r["piqe"] for r in rs]))) for m, rs in by.items()}
    if faithful:
        bar = min(faithful, key=lambda m: (means[m][0] / means["identity"][0]) + (means[m][1] / means["identity"][1]))
        print(f"\nBar: {bar} (the best classical filter keeping every target): NIQE {means[bar][0]:.2f}, PIQE {means[bar][1]:.2f}")
        for m, rs in by.items():
            if not m.startswith("model:"):
                continue
            keeps = all(r["keeps_every_target"] for r in rs)
            beats = means[m][0] < means[bar][0] and means[m][1] < means[bar][1]
            print(f"  {m}: keeps every target on {sum(int(r['keeps_every_target']) for r in rs)}/{len(rs)} frames, "
                  f"NIQE {means[m][0]:.2f} ({means[m][0] / means[bar][0] - 1:+.1%} vs {bar}), "
                  f"PIQE {means[m][1]:.2f} ({means[m][1] / means[bar][1] - 1:+.1%}) -> "
                  f"{'MEETS the bar' if keeps and beats else 'does not meet the bar'}")
    held = [f for f in FRAMES[: args.frames] if any(k in f for k in HELD_OUT)]
    if held:
        print(f"\nHeld out even by the unpaired stage (--adapt-steps > 0; the default recipe trains on no real frame) "
              f"({len(held)} frames): mean NIQE / PIQE, frames keeping every target")
        for m, rs in by.items():
            hs = [r for r in rs if r["frame"] in held]
            print(f"  {m:<24} NIQE {np.mean([r['niqe'] for r in hs]):6.3f}  PIQE {np.mean([r['piqe'] for r in hs]):6.2f}  "
                  f"kept {sum(int(r['keeps_every_target']) for r in hs)}/{len(hs)}")
    print("\nPer frame:")
    for r in rows:
        print(f"  {r['frame'][:34]:<35}{r['method']:<14} NIQE {r['niqe']:6.2f} PIQE {r['piqe']:6.2f} "
              f"contr {r['point_contrast_kept']:.2f} width {r['point_width_ratio']:.2f} "
              f"dgCNR {r['gcnr_change']:+.3f} new {r['invented_blobs']} miss {r['missing_blobs']} "
              f"streak {r['streak_ratio']:.2f} {'KEEPS' if r['keeps_every_target'] else 'FAILS: ' + r['failures']}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
