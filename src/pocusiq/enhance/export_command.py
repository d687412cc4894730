"""``pocusiq export --onnx MODEL.onnx --model CKPT``: export a trained generator to ONNX.

The ONNX graph has dynamic batch, height and width (H, W multiples of the model's
``2**depth``, stored in its metadata). After writing, the export is checked against the torch
model on a random image; the maximum absolute difference on the [0, 1] scale is printed, and the
export fails (exit code 2, no file written) when it is above ``--tolerance`` or not finite (a
diverged model gives NaN). The output location is checked before the model is loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

#: Parity tolerance on the [0, 1] scale: 1e-3 is a quarter of a uint8 grey level; the tiny test
#: U-Net measures ~1e-7 and the demo model ~1e-6 (float32 rounding of folded BatchNorm).
DEFAULT_TOLERANCE = 1e-3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", required=True, metavar="MODEL.onnx", help="ONNX file to write")
    parser.add_argument("--model", required=True, metavar="CKPT",
                        help="generator checkpoint (.safetensors or a run folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing ONNX file")
    parser.add_argument("--check-size", type=int, default=None, metavar="PX",
                        help="side of the random test image for the parity check (default 2 multiples, >= 64)")
    parser.add_argument("--tolerance", type=float, default=DEFAULT_TOLERANCE, metavar="DIFF",
                        help=f"largest accepted max |torch - onnx| on the [0, 1] scale (default {DEFAULT_TOLERANCE:g})")


def run(args: argparse.Namespace) -> int:
    import math

    from pocusiq.atomic import atomic_write_bytes, check_output_folder
    from pocusiq.enhance import onnx_export
    from pocusiq.enhance.enhancer import model_label
    from pocusiq.errors import CheckpointError, ConfigError
    from pocusiq.models.checkpoints import load_generator, resolve_checkpoint_path

    target = Path(args.onnx)
    if not (math.isfinite(args.tolerance) and args.tolerance > 0):
        raise ConfigError(f"--tolerance must be a positive finite number, got {args.tolerance}")
    check_output_folder(target.parent, "--onnx")
    if target.is_dir():
        raise CheckpointError(f"--onnx {target}: is a folder; give a file name such as {target / 'model.onnx'}")
    if target.exists() and not args.overwrite:
        raise CheckpointError(f"{target}: already exists (pass --overwrite to replace it)")
    checkpoint = resolve_checkpoint_path(args.model)
    module, config = load_generator(checkpoint, map_location="cpu")
    multiple = config.multiple
    name = model_label(checkpoint)
    data = onnx_export.export_onnx_bytes(module, multiple=multiple, model_name=name)
    size = args.check_size or max(2 * multiple, 64)
    diff = onnx_export.onnx_parity(module, data, size=size)
    if not (math.isfinite(diff) and diff <= args.tolerance):
        reason = ("is not finite (the model outputs NaN/inf: diverged or corrupt), so it fails the"
                  if not math.isfinite(diff) else "exceeds the")
        raise CheckpointError(
            f"{checkpoint}: ONNX parity check failed: max |torch - onnx| = {diff:.2e} on the [0, 1] scale "
            f"({size}x{size} random image) {reason} tolerance {args.tolerance:.0e}; {target} was not written"
        )
    atomic_write_bytes(target, data)
    print(f"pocusiq export: wrote {target} (model {name}, H and W multiples of {multiple}, dynamic axes); "
          f"parity vs torch on a random {size}x{size} image: max |diff| = {diff:.2e} on the [0, 1] scale "
          f"(tolerance {args.tolerance:.0e})")
    return 0
