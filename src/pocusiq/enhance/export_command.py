"""``pocusiq export --onnx MODEL.onnx --model CKPT``: export a trained generator to ONNX.

The ONNX graph has dynamic batch, height and width (H, W multiples of the model's
``2**depth``, stored in its metadata). After writing, the export is checked against the torch
model on a random image; the maximum absolute difference on the [0, 1] scale is printed.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--onnx", required=True, metavar="MODEL.onnx", help="ONNX file to write")
    parser.add_argument("--model", required=True, metavar="CKPT",
                        help="generator checkpoint (.safetensors or a run folder)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing ONNX file")
    parser.add_argument("--check-size", type=int, default=None, metavar="PX",
                        help="side of the random test image for the parity check (default 2 multiples, >= 64)")


def run(args: argparse.Namespace) -> int:
    from pocusiq.enhance.enhancer import model_label, multiple_from_config
    from pocusiq.enhance.onnx_export import export_onnx, onnx_parity
    from pocusiq.errors import CheckpointError
    from pocusiq.models.checkpoints import load_generator, resolve_checkpoint_path

    target = Path(args.onnx)
    if target.exists() and not args.overwrite:
        raise CheckpointError(f"{target}: already exists (pass --overwrite to replace it)")
    checkpoint = resolve_checkpoint_path(args.model)
    module, config = load_generator(checkpoint, map_location="cpu")
    multiple = multiple_from_config(config)
    name = model_label(checkpoint)
    export_onnx(module, target, multiple=multiple, model_name=name)
    size = args.check_size or max(2 * multiple, 64)
    diff = onnx_parity(module, target, size=size)
    print(f"pocusiq export: wrote {target} (model {name}, H and W multiples of {multiple}, dynamic axes); "
          f"parity vs torch on a random {size}x{size} image: max |diff| = {diff:.2e} on the [0, 1] scale")
    return 0
