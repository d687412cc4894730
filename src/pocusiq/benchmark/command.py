"""``pocusiq benchmark``: run enhancement methods on a paired dataset split and write a report.

Example::

    pocusiq benchmark --data DIR --split test --method identity --method median --method nlm \\
        --method model:runs/demo/best.safetensors --out runs/bench

Without ``--method`` every built-in baseline is run. Re-running with the same ``--out`` resumes:
results already in ``OUT/journal.jsonl`` for the same protocol are kept (``--fresh`` recomputes).
"""

from __future__ import annotations

import argparse
import sys

from pocusiq.benchmark.methods import available_methods
from pocusiq.benchmark.runner import run_benchmark

__all__ = ["add_arguments", "run"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the benchmark options to ``parser``."""
    parser.add_argument("--data", required=True, metavar="DIR", help="paired dataset folder (manifest.csv, low/, high/)")
    parser.add_argument(
        "--method",
        action="append",
        default=None,
        metavar="SPEC",
        help=(
            "method to benchmark (repeatable): a built-in name "
            f"({', '.join(available_methods())}), optionally with parameters (median:size=5), "
            "model:CHECKPOINT, or an importable module:function; prefix LABEL= to name it. "
            "Default: all built-ins. identity (the input column) is always included."
        ),
    )
    parser.add_argument("--split", default=None, choices=("train", "val", "test"), help="split to score (default: the protocol's, test)")
    parser.add_argument("--protocol", default=None, metavar="YAML", help="benchmark protocol file (default: the shipped default protocol)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override a protocol value, e.g. --set metrics.border_px=4 (repeatable; the hash records it)")
    parser.add_argument("--out", default="runs/bench", metavar="DIR", help="output folder (default: runs/bench)")
    parser.add_argument("--limit", type=int, default=None, metavar="N", help="score only the first N pairs of the split (quick checks)")
    parser.add_argument("--fresh", action="store_true", help="ignore results already in OUT and recompute everything")
    parser.add_argument("--no-report", action="store_true", help="skip report.md / report.html / figures")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the benchmark and print the summary table and output paths.

    Returns 0 on success, 1 if any method failed on any pair, 2 for bad arguments.
    """
    from pocusiq.benchmark.protocol import load_protocol
    from pocusiq.benchmark.report import results_table

    try:
        result = run_benchmark(
            args.data,
            args.method or available_methods(),
            load_protocol(args.protocol, args.overrides),
            args.out,
            split=args.split,
            limit=args.limit,
            resume=not args.fresh,
            progress=not args.no_progress,
            report=not args.no_report,
        )
    except ValueError as exc:  # bad arguments (e.g. --limit 0); library errors are reported by the CLI
        print(f"pocusiq benchmark: error: {exc}", file=sys.stderr)
        return 2
    summary = result.summary
    header, rows = results_table(summary)
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    print(f"protocol {summary['protocol']['name']} v{summary['protocol']['version']} hash {summary['protocol']['hash'][:12]}; "
          f"split {summary['dataset']['split']}, {summary['dataset']['n_pairs']} pairs; "
          f"computed {result.computed}, reused {result.skipped}")
    for line in [header, *rows]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths)).rstrip())
    for warning in summary.get("warnings", []):
        print(f"WARNING: {warning}")
    for failure in result.failures[:20]:
        print(f"FAILED: {failure['error']}")
    if len(result.failures) > 20:
        print(f"... {len(result.failures) - 20} more failures (see {result.paths['per_image_csv']})")
    for name in ("per_image_csv", "summary_json", "report_md", "report_html"):
        if name in result.paths:
            print(f"{name}: {result.paths[name]}")
    return 1 if result.failures else 0
