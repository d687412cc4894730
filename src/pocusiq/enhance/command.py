"""``pocusiq enhance INPUT... [--model CKPT] --out DIR``: enhance images, DICOM files and videos (without
``--model``: the generator shipped with pocusiq, :meth:`pocusiq.enhance.enhancer.Enhancer.default`).

Thin layer over :func:`pocusiq.enhance.files.enhance_files`. Exit code 0 when every file was
enhanced, 1 when some failed (each failure is printed with its file name), 2 on a usage or
model error.
"""

from __future__ import annotations

import argparse
import sys

from pocusiq.enhance.enhancer import ENGINES


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="PNG/JPEG/TIFF images, DICOM files, MP4/AVI/MOV videos or folders (walked)")
    parser.add_argument("--model", default="default", metavar="CKPT",
                        help="generator checkpoint (.safetensors or a run folder), an exported .onnx file, or "
                             "'default' / 'default:realtime' for the model shipped with pocusiq (default: the "
                             "shipped cpu model; see pocusiq/models/pretrained/MODEL_CARD.md)")
    parser.add_argument("--out", required=True, metavar="DIR", help="output folder")
    parser.add_argument("--engine", choices=ENGINES, default="auto",
                        help="inference engine (auto: ONNX Runtime when available on CPU)")
    parser.add_argument("--device", default="cpu", help="torch device for --engine torch (cpu, cuda)")
    parser.add_argument("--roi", default="auto", metavar="auto|full|x,y,w,h",
                        help="region to enhance: detect the imaging region (auto), the whole frame (full), "
                             "or a pixel box x,y,w,h; everything outside is left untouched")
    parser.add_argument("--side-by-side", action="store_true",
                        help="also write <name>_side_by_side (input | enhanced) for viewing")
    parser.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    parser.add_argument("--tile-size", type=int, default=None, metavar="PX",
                        help="images larger than this are enhanced in blended tiles (default 2048)")
    parser.add_argument("--threads", type=int, default=0,
                        help="CPU threads for inference (0: library default)")


def run(args: argparse.Namespace) -> int:
    from pocusiq.enhance.enhancer import Enhancer, default_tiling
    from pocusiq.enhance.files import enhance_files
    from pocusiq.enhance.region import parse_box
    from pocusiq.enhance.tiling import TilingConfig

    roi = args.roi
    if roi not in ("auto", "full"):
        try:
            roi = parse_box(roi)
        except ValueError as exc:
            print(f"pocusiq enhance: error: {exc}", file=sys.stderr)
            return 2
    if args.threads > 0:
        import torch

        torch.set_num_threads(args.threads)
    if args.model in ("default", "default:cpu", "default:realtime"):
        kind = args.model.partition(":")[2] or "cpu"
        enhancer = Enhancer.default(kind, device=args.device, engine=args.engine, onnx_threads=max(args.threads, 0))
    else:
        enhancer = Enhancer.from_checkpoint(args.model, device=args.device, engine=args.engine,
                                            onnx_threads=max(args.threads, 0))
    if args.tile_size is not None:
        base = default_tiling(enhancer.multiple)
        try:
            enhancer.tiling = TilingConfig(multiple=base.multiple, tile_size=args.tile_size,
                                           overlap=min(base.overlap, max(args.tile_size // 4, 1)),
                                           batch_size=base.batch_size)
        except ValueError as exc:
            print(f"pocusiq enhance: error: --tile-size {args.tile_size}: {exc}", file=sys.stderr)
            return 2
    print(f"pocusiq enhance: model {enhancer.model_name}, engine {enhancer.engine_name}")

    def show(result) -> None:
        if result.ok:
            region = f", region {result.region_kind} {result.region}" if result.region else ""
            print(f"  ok   {result.source} -> {result.output} ({result.kind}, {result.frames} frame(s)"
                  f"{region}, {result.seconds:.2f} s)")
        else:
            print(f"  FAIL {result.error}", file=sys.stderr)

    report = enhance_files(enhancer, args.inputs, args.out, roi=roi, overwrite=args.overwrite,
                           side_by_side=args.side_by_side, on_result=show)
    if not report.results:
        print("pocusiq enhance: error: no image, DICOM or video files found in the inputs", file=sys.stderr)
        return 2
    failed = len(report.failed)
    print(f"pocusiq enhance: {len(report.results) - failed} of {len(report.results)} file(s) enhanced"
          f"{f', {failed} failed' if failed else ''}; outputs are machine-enhanced, not for diagnosis "
          f"(see {report.readme})")
    return 0 if failed == 0 else 1
