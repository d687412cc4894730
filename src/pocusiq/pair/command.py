"""``pocusiq pair``: turn an acquisition session into a registered paired dataset.

Usage::

    pocusiq pair --session SESSION_DIR --out DATASET_DIR
    pocusiq pair --session sess --out ds --split test --min-ncc 0.4 --low pocus --high high_end
    pocusiq pair --session sess --out ds --calibration cal.json   # measured probe placement

Writes ``DATASET_DIR`` in the paired format (``low/``, ``high/``, ``manifest.csv``) with the
accepted pairs, and ``DATASET_DIR/pair_report.csv`` with one row per pose (status and reason).
Exit status: 0 if at least one pair was accepted, 1 if none was, 2 on errors.
"""

from __future__ import annotations

import argparse
import math
import sys

import numpy as np


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--session", required=True, metavar="SESSION_DIR", help="acquisition session folder")
    parser.add_argument("--out", required=True, metavar="DATASET_DIR", help="dataset folder to create")
    parser.add_argument("--split", choices=("train", "val", "test"), default="train",
                        help="split of all pairs (one session = one specimen; default train)")
    parser.add_argument("--low", default=None, metavar="DEVICE", help="low-end (POCUS) device name")
    parser.add_argument("--high", default=None, metavar="DEVICE", help="high-end device name")
    parser.add_argument("--size", type=int, default=256,
                        help="output images are SIZE x SIZE pixels (largest centred square of the "
                             "common field of view); 0 = keep the whole common rectangle at --spacing-mm")
    parser.add_argument("--spacing-mm", type=float, default=None,
                        help="output pixel spacing with --size 0 (default: the coarser device spacing)")
    parser.add_argument("--min-ncc", type=float, default=0.3, help="quality threshold (default 0.3)")
    parser.add_argument("--rigid-only", action="store_true", help="skip the affine refinement")
    parser.add_argument("--register", action=argparse.BooleanOptionalAction, default=None,
                        help="refine the placement by image registration (default: on, except with "
                             "--calibration, whose measured placement alone was 2-3x more accurate "
                             "than registration in bench/calibration.py: TRE median 0.018 vs 0.046 mm)")
    parser.add_argument("--ignore-mount", action="store_true",
                        help="ignore the plan's probe mounting offsets (registration finds them)")
    parser.add_argument("--calibration", default=None, metavar="CAL",
                        help="gantry calibration file (pocusiq calibrate): the devices' measured "
                             "placement replaces the plan's nominal mounting")
    parser.add_argument("--detect-region", action="store_true",
                        help="always detect the imaging region, even where the session logs one")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from pocusiq.pair.frames import PairingConfig
    from pocusiq.pair.register import RegistrationConfig
    from pocusiq.pair.session import pair_session

    from pocusiq.pair.frames import MAX_OUTPUT_SIDE

    if args.size < 0 or (args.size and not 8 <= args.size <= MAX_OUTPUT_SIDE):
        print(f"pocusiq pair: error: --size {args.size}: must be 0 (native spacing) or between 8 and "
              f"{MAX_OUTPUT_SIDE} pixels", file=sys.stderr)
        return 2
    config = PairingConfig(
        registration=RegistrationConfig(affine=not args.rigid_only),
        output_size=args.size or None,
        output_spacing_mm=args.spacing_mm,
        min_ncc=args.min_ncc,
        register=args.register if args.register is not None else not args.calibration,
    )
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(desc="pairing poses", unit="pose")

    def progress(done: int, total: int) -> None:
        if bar is not None:
            bar.total = total
            bar.update(done - bar.n)

    calibration = None
    if args.calibration:
        from pocusiq.acquire.calibration import load_calibration

        calibration = load_calibration(args.calibration)
    try:
        summary = pair_session(
            args.session,
            args.out,
            config=config,
            low_device=args.low,
            high_device=args.high,
            split=args.split,
            use_mount=not args.ignore_mount,
            use_logged_region=not args.detect_region,
            calibration=calibration,
            progress=progress,
            warn=lambda message: print(f"warning: {message}", file=sys.stderr),
        )
    finally:
        if bar is not None:
            bar.close()
    for row in summary.rows:
        if row.status != "accepted":
            print(f"pose {row.pose_index} frame {row.frame_index}: {row.status}: {row.reason}")
    print(
        f"{summary.dataset_dir}: {summary.accepted} pairs accepted, {summary.rejected} not "
        f"(rejection rate {summary.rejection_rate:.0%}); report {summary.report_path}"
    )
    tre = summary.tre_values()
    if tre.size:
        med = float(np.median([r.tre_median_mm for r in summary.rows
                               if r.status == "accepted" and not math.isnan(r.tre_median_mm)]))
        print(f"TRE against simulator truth: median {med:.3f} mm, per-pair p95 up to {tre.max():.3f} mm")
    return 0 if summary.accepted else 1
