"""``pocusiq simulate``: write a simulated paired dataset (resumable, any number of workers).

Usage::

    pocusiq simulate --out DIR --n N [--size 256] [--spacing MM | --depth-mm MM] [--seed S]
                     [--workers K] [--phantom PRESET] [--anatomy DIR [--anatomy-spacing MM]]
                     [--no-randomise-device]
                     [--profiles FILE --low-profile NAME --high-profile NAME]
                     [--fractions 0.8 0.1 0.1] [--no-progress]

Re-running the same command after an interruption simulates only the pairs that are missing
(see :mod:`pocusiq.data.simulated`).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pocusiq.data.splits import DEFAULT_FRACTIONS
from pocusiq.errors import PocusiqError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="dataset folder to write (resumed if it exists)")
    parser.add_argument("--n", type=int, required=True, help="number of pairs")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--spacing", type=float, default=None, metavar="MM",
                        help="pixel spacing in mm/pixel (default 0.08: what handheld apps display, 0.05-0.15)")
    parser.add_argument("--depth-mm", type=float, default=None, metavar="MM",
                        help="image depth (= width) in mm instead of --spacing: spacing = depth / size")
    parser.add_argument("--workers", type=int, default=None,
                        help="worker processes (default: the machine's CPU cores; same output for any value)")
    parser.add_argument("--anatomy", default=None, metavar="DIR",
                        help="build phantoms from the real B-mode images in DIR (despeckled, log compression undone)")
    parser.add_argument("--anatomy-spacing", type=float, default=None, metavar="MM",
                        help="pixel spacing (mm) of the --anatomy images (default: their imaging region is 38 mm wide)")
    parser.add_argument("--no-randomise-device", action="store_true",
                        help="image every pair with the low profile as given (default: draw it per pair from "
                             "pocusiq.simulate.device_ranges)")
    parser.add_argument("--phantom", default=None, help="simulator phantom preset (default: the simulator's mix)")
    parser.add_argument("--profiles", default=None, metavar="FILE", help="YAML/JSON file of user-defined transducer profiles")
    parser.add_argument("--low-profile", default="pocus", help="profile of the low-end images (default pocus)")
    parser.add_argument("--high-profile", default="high_end", help="profile of the high-end images (default high_end)")
    parser.add_argument(
        "--fractions", type=float, nargs=3, default=list(DEFAULT_FRACTIONS), metavar=("TRAIN", "VAL", "TEST"),
        help="shares of specimens per split (default 0.8 0.1 0.1)",
    )
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="PROFILE.FIELD=VALUE",
                        help="override a transducer profile value, e.g. --set pocus.noise_db=-40 (repeatable; "
                             "built-in or --profiles profiles)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    import tempfile

    with tempfile.TemporaryDirectory(prefix="pocusiq-profiles-") as tmp:
        profiles_path = args.profiles
        if args.overrides:  # overridden profiles go through a file like any user profiles
            import yaml

            from pocusiq.simulate.profiles import profiles_with_overrides

            profiles_path = str(Path(tmp) / "profiles.yaml")
            Path(profiles_path).write_text(yaml.safe_dump(profiles_with_overrides(args.profiles, args.overrides)))
        return _simulate(args, profiles_path)


def _simulate(args: argparse.Namespace, profiles_path: str | None) -> int:
    from pocusiq.data.simulated import SimulatedDatasetConfig, write_simulated_dataset

    from pocusiq.simulate.pairs import DEFAULT_SPACING_MM

    if args.spacing is not None and args.depth_mm is not None:
        print("pocusiq simulate: error: give --spacing or --depth-mm, not both", file=sys.stderr)
        return 2
    spacing = DEFAULT_SPACING_MM if args.spacing is None else args.spacing
    if args.depth_mm is not None:
        spacing = args.depth_mm / args.size
    workers = args.workers if args.workers is not None else max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))
    try:
        config = SimulatedDatasetConfig(
            n=args.n,
            size=args.size,
            seed=args.seed,
            phantom=args.phantom,
            low_profile=args.low_profile,
            high_profile=args.high_profile,
            profiles_path=profiles_path,
            fractions=tuple(args.fractions),
            spacing_mm=float(spacing),
            randomise_device=not args.no_randomise_device,
            anatomy=args.anatomy,
            anatomy_spacing_mm=args.anatomy_spacing,
        )
        summary = write_simulated_dataset(
            args.out, config, workers=workers, progress=not args.no_progress
        )
    except (ValueError, PocusiqError) as exc:
        print(f"pocusiq simulate: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{summary.root}: {len(summary.written)} pairs simulated, "
        f"{len(summary.skipped)} already complete ({config.n} requested; {config.spacing_mm:g} mm/pixel, "
        f"field of view {config.size * config.spacing_mm:g} mm)"
    )
    return 0
