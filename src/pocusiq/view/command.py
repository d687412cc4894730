"""``pocusiq view DIR`` (or ``--before DIR --after DIR``): write one self-contained HTML page.

Exit code 0 when every enhanced file got a comparison, 1 when some were skipped (each printed),
2 on a usage error (no pairs at all, unreadable folder or report).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pocusiq.view.frames import DEFAULT_CINE_MAX_SIDE, DEFAULT_MAX_CINE_FRAMES

PAGE_NAME = "pocusiq-view.html"


OUT_IS_FILE = True  # --out is the page; the cli checks the folder holding it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("folder", nargs="?", metavar="DIR",
                        help="a 'pocusiq enhance --out' folder (inputs found through its README-pocusiq.txt, "
                             "or the left half of --side-by-side files)")
    parser.add_argument("--before", metavar="DIR", help="folder of inputs (with --after, instead of DIR)")
    parser.add_argument("--after", metavar="DIR", help="folder of enhanced outputs, matched to --before by name")
    parser.add_argument("--out", metavar="FILE",
                        help=f"page to write (default: {PAGE_NAME} inside DIR or --after)")
    parser.add_argument("--report", action="append", default=[], metavar="FILE",
                        help="JSON report with per-file numbers (default: every *.json directly inside DIR)")
    parser.add_argument("--max-cine-frames", type=int, default=DEFAULT_MAX_CINE_FRAMES, metavar="N",
                        help=f"most frames shown per cine loop, evenly spaced (default {DEFAULT_MAX_CINE_FRAMES})")
    parser.add_argument("--cine-max-side", type=int, default=DEFAULT_CINE_MAX_SIDE, metavar="PX",
                        help=f"longest side of cine frames on the page (default {DEFAULT_CINE_MAX_SIDE})")
    parser.add_argument("--no-scores", action="store_true", help="skip NIQE/PIQE (faster for long loops)")


def run(args: argparse.Namespace) -> int:
    from pocusiq.errors import PocusiqError
    from pocusiq.view.page import PageOptions, write_page
    from pocusiq.view.pairs import pairs_from_dirs, pairs_from_enhance_dir
    from pocusiq.view.scores import find_reports, load_report

    if (args.before is None) != (args.after is None):
        print("pocusiq view: error: --before and --after go together", file=sys.stderr)
        return 2
    if args.before is not None and args.folder is not None:
        print("pocusiq view: error: give DIR or --before/--after, not both", file=sys.stderr)
        return 2
    if args.before is None and args.folder is None:
        print("pocusiq view: error: give an enhance output folder DIR, or --before DIR --after DIR", file=sys.stderr)
        return 2
    if args.max_cine_frames < 1 or args.cine_max_side < 16:
        print("pocusiq view: error: --max-cine-frames must be >= 1 and --cine-max-side >= 16", file=sys.stderr)
        return 2
    if args.folder is not None:
        folder = Path(args.folder)
        pairs, skipped = pairs_from_enhance_dir(folder)
        source = str(folder)
    else:
        folder = Path(args.after)
        pairs, skipped = pairs_from_dirs(args.before, args.after)
        source = f"{args.before} -> {args.after}"
    reports = [Path(p) for p in args.report]
    if not args.report:
        for path in find_reports(folder):
            try:
                load_report(path)
            except PocusiqError as exc:
                print(f"pocusiq view: warning: {exc}; ignored", file=sys.stderr)
                continue
            reports.append(path)
    if not pairs:
        for message in skipped:
            print(f"  skipped {message}", file=sys.stderr)
        print("pocusiq view: error: nothing to compare", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else folder / PAGE_NAME
    options = PageOptions(max_cine_frames=args.max_cine_frames, cine_max_side=args.cine_max_side,
                          reports=reports, scores=not args.no_scores)
    write_page(pairs, out, options, skipped, source)
    for message in skipped:
        print(f"  skipped {message}", file=sys.stderr)
    print(f"pocusiq view: {len(pairs)} comparison(s) -> {out} (open it in a browser; no server needed)")
    return 0 if not skipped else 1
