"""Reflect vs replicate padding for inference: which continues an image more like its real tissue?

Each test image of a trained run's dataset is cropped to its top-left ``h x w``, padded back to
the generator's multiple with each mode and enhanced; the output on the crop is compared with
the output on the whole image (where the padding is replaced by the real continuation). Prints
the mean |difference|, the mean maximum |difference| and SSIM against the high-end target.

Usage:  python bench/padding.py RUN_DIR [--n 8]      (RUN_DIR: e.g. runs/demo, with data/ inside)
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path)
    parser.add_argument("--n", type=int, default=8)
    args = parser.parse_args(argv)
    from pocusiq.data.dataset import PairedDataset
    from pocusiq.metrics import ssim
    from pocusiq.models.checkpoints import load_generator, resolve_checkpoint_path
    from pocusiq.models.inference import from_model_range, to_model_range

    torch.set_num_threads(1)
    generator, _ = load_generator(resolve_checkpoint_path(args.run))
    dataset = PairedDataset(args.run / "data", "test")

    def run(x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return from_model_range(generator(to_model_range(x)))

    diffs: dict[str, list[tuple[float, float]]] = {"reflect": [], "replicate": []}
    scores: dict[str, list[float]] = {m: [] for m in diffs}
    m = generator.multiple
    for i in range(min(args.n, len(dataset))):
        item = dataset[i]
        low, high = item["low"].float()[None], item["high"].float()[0].numpy().astype(np.float64)
        full = run(low)[0, 0].numpy()
        size = low.shape[-1]
        for h, w in ((size * 9 // 16, size * 9 // 16), (size * 25 // 32, size * 25 // 32), (size * 15 // 16,) * 2,
                     (size * 25 // 32, size * 9 // 16)):
            crop = low[..., :h, :w]
            for mode in diffs:
                padded = F.pad(crop, (0, (-w) % m, 0, (-h) % m), mode=mode)
                out = run(padded)[0, 0, :h, :w].numpy()
                d = np.abs(out - full[:h, :w])
                diffs[mode].append((float(d.mean()), float(d.max())))
                scores[mode].append(float(ssim(out.astype(np.float64), high[:h, :w], data_range=1.0)))
    for mode in diffs:
        a = np.array(diffs[mode])
        print(f"{mode:9s}  mean|d| {a[:, 0].mean():.4f}  mean max|d| {a[:, 1].mean():.4f}  "
              f"SSIM vs target {np.mean(scores[mode]):.4f}  ({len(a)} crops)")


if __name__ == "__main__":
    main()
