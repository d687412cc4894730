"""``pocusiq dataset``: validate, import or export paired datasets.

Usage::

    pocusiq dataset validate DIR
    pocusiq dataset import --format folder|usenhance|ab SRC --out DIR [--seed S]
                           [--fractions 0.8 0.1 0.1] [--specimen-pattern REGEX]
                           [--convert-rgb] [--spacing-mm MM] [--resume]
    pocusiq dataset export --format ab DIR --out OUT [--split train|val|test]

``validate`` prints one line per problem (``path: message``) and exits 1 if there is any,
0 if the dataset is valid; it modifies nothing.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter

from pocusiq.data.splits import DEFAULT_FRACTIONS

EXIT_PROBLEMS = 1
EXIT_ERROR = 2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="dataset_command", metavar="ACTION")
    sub.required = True

    validate = sub.add_parser("validate", help="report every problem of a paired dataset (modifies nothing)")
    validate.add_argument("root", metavar="DIR", help="dataset folder")

    imp = sub.add_parser("import", help="import paired images into the pocusiq format")
    imp.add_argument("--format", required=True, choices=("folder", "usenhance", "ab"), help="source layout")
    imp.add_argument("src", metavar="SRC", help="source folder")
    imp.add_argument("--out", required=True, help="dataset folder to write")
    imp.add_argument("--seed", type=int, default=0, help="split seed (default 0)")
    imp.add_argument(
        "--fractions", type=float, nargs=3, default=list(DEFAULT_FRACTIONS), metavar=("TRAIN", "VAL", "TEST"),
        help="shares of specimens per split (default 0.8 0.1 0.1)",
    )
    imp.add_argument(
        "--specimen-pattern", default=None, metavar="REGEX",
        help="regex giving the specimen from a file stem (group 'specimen' or group 1); "
        "default: the stem without a trailing frame number",
    )
    imp.add_argument("--convert-rgb", action="store_true", help="convert colour images to luma instead of failing")
    imp.add_argument("--spacing-mm", type=float, default=None, help="pixel spacing to record, in mm")
    imp.add_argument("--resume", action="store_true", help="continue an interrupted import into --out")

    exp = sub.add_parser("export", help="export a paired dataset to another layout")
    exp.add_argument("--format", required=True, choices=("ab",), help="target layout (ab: pix2pix A|B)")
    exp.add_argument("root", metavar="DIR", help="dataset folder")
    exp.add_argument("--out", required=True, help="output folder")
    exp.add_argument("--split", choices=("train", "val", "test"), default=None, help="only this split")


def _validate(args: argparse.Namespace) -> int:
    from pocusiq.data.manifest import read_manifest
    from pocusiq.data.validate import validate_dataset

    problems = validate_dataset(args.root)
    for problem in problems:
        print(problem)
    if problems:
        files = len({p.path for p in problems})
        print(f"{args.root}: {len(problems)} problem(s) in {files} file(s)/row(s)", file=sys.stderr)
        return EXIT_PROBLEMS
    rows = read_manifest(args.root)
    counts = Counter(row.split for row in rows)
    detail = ", ".join(f"{split} {counts[split]}" for split in ("train", "val", "test"))
    specimens = len({row.specimen for row in rows})
    print(f"{args.root}: OK, {len(rows)} pairs ({detail}), {specimens} specimens")
    return 0


def _import(args: argparse.Namespace) -> int:
    from pocusiq.data.importers import ImportOptions, import_dataset

    options = ImportOptions(
        fractions=tuple(args.fractions),
        seed=args.seed,
        specimen_pattern=args.specimen_pattern,
        convert_rgb=args.convert_rgb,
        spacing_mm=args.spacing_mm,
        resume=args.resume,
        progress=True,
    )
    summary = import_dataset(args.format, args.src, args.out, options)
    for note in summary.skipped:
        print(f"skipped {note}", file=sys.stderr)
    detail = ", ".join(f"{split} {summary.splits.get(split, 0)}" for split in ("train", "val", "test"))
    print(f"{summary.root}: imported {summary.pairs} pairs ({detail}) from {summary.specimens} specimens")
    return 0


def _export(args: argparse.Namespace) -> int:
    from pocusiq.data.exporters import export_ab

    summary = export_ab(args.root, args.out, split=args.split, progress=True)
    detail = ", ".join(f"{split} {n}" for split, n in sorted(summary.files.items()))
    print(f"{summary.root}: wrote {sum(summary.files.values())} A|B images ({detail})")
    return 0


def run(args: argparse.Namespace) -> int:
    actions = {"validate": _validate, "import": _import, "export": _export}
    try:
        return actions[args.dataset_command](args)
    except ValueError as exc:
        print(f"pocusiq dataset {args.dataset_command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
