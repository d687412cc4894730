"""``pocusiq simulate``: write a simulated paired dataset (resumable, any number of workers).

Usage::

    pocusiq simulate --out DIR --n N [--size 256] [--seed S] [--workers K] [--phantom PRESET]
                     [--profiles FILE --low-profile NAME --high-profile NAME]
                     [--fractions 0.8 0.1 0.1] [--no-progress]

Re-running the same command after an interruption simulates only the pairs that are missing
(see :mod:`pocusiq.data.simulated`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pocusiq.data.splits import DEFAULT_FRACTIONS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="dataset folder to write (resumed if it exists)")
    parser.add_argument("--n", type=int, required=True, help="number of pairs")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels (default 256)")
    parser.add_argument("--seed", type=int, default=0, help="dataset seed (default 0)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1; same output for any value)")
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
        )
        summary = write_simulated_dataset(
            args.out, config, workers=args.workers, progress=not args.no_progress
        )
    except ValueError as exc:
        print(f"pocusiq simulate: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"{summary.root}: {len(summary.written)} pairs simulated, "
        f"{len(summary.skipped)} already complete ({config.n} requested)"
    )
    return 0
