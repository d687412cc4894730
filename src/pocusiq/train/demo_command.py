"""``pocusiq demo``: simulate a small paired dataset, train the cpu preset, evaluate, report.

Writes ``./runs/demo/`` (``--out``): checkpoint, ``report.md``, ``triplets.png``; prints the
before -> after table. Re-running resumes/reuses the data and the checkpoint.
"""

from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="runs/demo", help="output folder (default runs/demo)")
    parser.add_argument("--n-pairs", type=int, default=240, help="simulated pairs (default 240)")
    parser.add_argument("--size", type=int, default=128, help="image side in pixels (default 128)")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default: the cpu preset's)")
    parser.add_argument("--minutes", type=float, default=9.0, help="time budget of the whole demo (default 9)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (default 1: fixed, so the same seed gives the same model on any load)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    from pocusiq.train.demo import DemoConfig, format_table, run_demo

    try:
        config = DemoConfig(out=args.out, n_pairs=args.n_pairs, size=args.size, seed=args.seed, steps=args.steps,
                            minutes=args.minutes, threads=args.threads, progress=not args.no_progress)
        result = run_demo(config)
    except ValueError as exc:
        print(f"pocusiq demo: error: {exc}", file=sys.stderr)
        return 2
    print()
    print(format_table(result.rows, result.n_test))
    print()
    print(f"trained {result.steps}/{result.max_steps} steps ({result.threads} thread(s)); "
          f"total {result.timings['total_s']:.0f} s")
    print(f"report: {result.report}\nfigure: {result.figure}\ncheckpoint: {result.checkpoint}")
    return 0
