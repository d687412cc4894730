"""The ``pocusiq`` command line: parse, call the library, print.

Each subcommand lives beside the code it drives, in a ``<area>/command.py`` module that
exposes ``add_arguments(parser)`` and ``run(args) -> int``; this file only registers them
and turns library errors (:class:`pocusiq.errors.PocusiqError`) and operating-system errors (disk
full, no permission) into a message and exit code 2. A command's ``--out`` folder (the folder
holding it, for a command module that sets ``OUT_IS_FILE = True``) is checked
(:func:`pocusiq.atomic.check_output_folder`) before the command runs.
Only the chosen subcommand's module is imported, so ``pocusiq --help`` does not import torch.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from pocusiq import __version__
from pocusiq.errors import PocusiqError

# name -> (module, one-line help), in the order of the data path.
COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("pocusiq.simulate.command", "simulate a paired low-end/high-end dataset"),
    "dataset": ("pocusiq.data.command", "validate, import or export paired datasets"),
    "acquire": ("pocusiq.acquire.command", "run a gantry acquisition plan into a session folder"),
    "calibrate": ("pocusiq.acquire.calibrate_command", "measure each probe's image placement on the gantry (wire phantom)"),
    "pair": ("pocusiq.pair.command", "turn an acquisition session into registered pairs"),
    "train": ("pocusiq.train.command", "train the pix2pix cGAN on a paired dataset"),
    "demo": ("pocusiq.train.demo_command", "simulate, train, evaluate and report (the demo)"),
    "benchmark": ("pocusiq.benchmark.command", "benchmark enhancement methods on a paired dataset"),
    "enhance": ("pocusiq.enhance.command", "enhance images, DICOM files and videos with a model"),
    "export": ("pocusiq.enhance.export_command", "export a trained generator (ONNX)"),
    "view": ("pocusiq.view.command", "write a self-contained HTML page of before | after comparisons"),
    "serve": ("pocusiq.view.serve_command", "local web app: upload, compare, download, live view"),
}

EXIT_ERROR = 2

EXTRAS: dict[str, tuple[str, str]] = {
    "serial": ("gantry", "pyserial"),
    "SimpleITK": ("pairing", "SimpleITK"),
    "pydicom": ("dicom", "pydicom"),
    "pylibjpeg": ("dicom", "pylibjpeg"),
    "av": ("video", "av (PyAV)"),
    "onnx": ("onnx", "onnx"),
    "onnxruntime": ("onnx", "onnxruntime"),
    "pytest": ("test", "pytest"),
    "pymust": ("bench", "pymust"),
    "starlette": ("view", "starlette"),
    "uvicorn": ("view", "uvicorn"),
    "multipart": ("view", "python-multipart"),
    "python_multipart": ("view", "python-multipart"),
    "playwright": ("test", "playwright"),
}
"""Top-level import name -> (pyproject extra that installs it, package name)."""


def missing_dependency_message(exc: ImportError) -> str:
    """What to install for a failed import: names the ``pocusiq[EXTRA]`` that provides it."""
    name = (exc.name or "").split(".")[0]
    if name in EXTRAS:
        extra, package = EXTRAS[name]
        return f"needs the optional package {package}, which is not installed: pip install 'pocusiq[{extra}]'"
    return f"a required package is missing ({type(exc).__name__}: {exc}); reinstall pocusiq (pip install 'pocusiq[all]')"


def build_parser(chosen: str | None = None) -> argparse.ArgumentParser:
    """The top-level parser; only ``chosen``'s module is imported to add its arguments."""
    parser = argparse.ArgumentParser(
        prog="pocusiq",
        description="POCUS image enhancement: simulate, acquire, pair, train, enhance, benchmark.",
    )
    parser.add_argument("--version", action="version", version=f"pocusiq {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in COMMANDS.items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_module=module_name)
        if name != chosen:
            continue
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:  # optional dependency missing / area not installed
            cmd.set_defaults(_unavailable=missing_dependency_message(exc))
            continue
        module.add_arguments(cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    chosen = next((arg for arg in argv if arg in COMMANDS), None)
    parser = build_parser(chosen)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_ERROR
    if getattr(args, "_unavailable", None):
        print(f"pocusiq {args.command}: {args._unavailable}", file=sys.stderr)
        return EXIT_ERROR
    module = importlib.import_module(args._module)
    try:
        out = getattr(args, "out", None)
        if isinstance(out, str):  # refuse an --out we cannot write before any work
            from pocusiq.atomic import check_output_folder

            if getattr(module, "OUT_IS_FILE", False):  # e.g. a calibration file, an HTML page
                out = os.path.dirname(out) or "."
            check_output_folder(out, "--out")
        return int(module.run(args) or 0)
    except PocusiqError as exc:
        print(f"pocusiq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except ImportError as exc:  # an optional dependency imported when first needed
        print(f"pocusiq {args.command}: {missing_dependency_message(exc)}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:  # disk full, permissions, a file in the way: a message, not a traceback
        print(f"pocusiq {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(f"pocusiq {args.command}: interrupted; completed work is kept", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
